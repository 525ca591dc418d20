"""The PrometheusRule with a RagPipeline gateway's success-rate, circuit and latency alerts.

The series come from the gateway's /metrics (ragops/gateway/metrics.py) as scraped through the gateway's
ServiceMonitor, which labels them with the Service's `namespace` and `service`: the selectors below scope
every alert to this one pipeline. Success rate counts API routes only (/v1/...: probes and scrapes would
dilute it) and treats 5xx as failure; 4xx are the client's mistakes (bad key, too large, rate limited).
"""

from __future__ import annotations

from typing import Any

from ragops.builders import names
from ragops.gateway.metrics import CIRCUIT_STATE, REQUEST_DURATION, REQUESTS
from ragops.gateway.resilience import CircuitState
from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.resource import Resource

WINDOW = "5m"
# Seed thresholds (issue text).
SUCCESS_CRITICAL = 0.90
SUCCESS_WARNING = 0.95
P95_WARNING_SECONDS = 2
P95_CRITICAL_SECONDS = 5
API_ROUTES = "/v1/.*"


def build_prometheus_rule(resource: Resource[RagPipelineSpec], labels: dict[str, str]) -> dict[str, Any]:
    service = names.gateway(resource.name)
    scope = f'namespace="{resource.namespace}", service="{service}"'
    api = f'{scope}, route=~"{API_ROUTES}"'
    success = f'sum(rate({REQUESTS}{{{api}, status!~"5.."}}[{WINDOW}])) / sum(rate({REQUESTS}{{{api}}}[{WINDOW}]))'
    p95 = f"histogram_quantile(0.95, sum by (le) (rate({REQUEST_DURATION}_bucket{{{api}}}[{WINDOW}])))"
    who = f"RagPipeline {resource.namespace}/{resource.name}"

    def alert(name: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": expr,
            # `for` keeps one bad scrape interval from paging anyone.
            "for": duration,
            "labels": {
                "severity": severity,
                "namespace": resource.namespace,
                "ragpipeline": resource.name,
            },
            "annotations": {"summary": f"{who}: {summary}", "description": description},
        }

    rules = [
        alert(
            "RagGatewaySuccessRateCritical",
            f"({success}) < {SUCCESS_CRITICAL}",
            "2m",
            "critical",
            f"gateway success rate below {SUCCESS_CRITICAL:.0%}",
            f"Less than {SUCCESS_CRITICAL:.0%} of API requests to {service} succeeded over {WINDOW} "
            "(5xx: providers failing or timing out, or Qdrant unavailable). "
            "Success rate: {{ $value | humanizePercentage }}.",
        ),
        alert(
            "RagGatewaySuccessRateLow",
            f"({success}) < {SUCCESS_WARNING}",
            "5m",
            "warning",
            f"gateway success rate below {SUCCESS_WARNING:.0%}",
            f"Less than {SUCCESS_WARNING:.0%} of API requests to {service} succeeded over {WINDOW}. "
            "Success rate: {{ $value | humanizePercentage }}.",
        ),
        alert(
            "RagGatewayCircuitOpen",
            f"max({CIRCUIT_STATE}{{{scope}}}) >= {int(CircuitState.OPEN)}",
            "1m",
            "critical",
            "a provider circuit breaker is open",
            f"A gateway pod of {service} stopped calling its embedding or LLM provider after repeated failures "
            "(spec.resilience.circuitBreaker); requests needing it fail fast with 503.",
        ),
        alert(
            "RagGatewayLatencyHigh",
            f"({p95}) > {P95_WARNING_SECONDS}",
            "5m",
            "warning",
            f"gateway p95 latency above {P95_WARNING_SECONDS}s",
            f"95% of API requests to {service} took up to {{{{ $value | humanizeDuration }}}} to start answering "
            f"over {WINDOW} (threshold {P95_WARNING_SECONDS}s).",
        ),
        alert(
            "RagGatewayLatencyCritical",
            f"({p95}) > {P95_CRITICAL_SECONDS}",
            "5m",
            "critical",
            f"gateway p95 latency above {P95_CRITICAL_SECONDS}s",
            f"95% of API requests to {service} took up to {{{{ $value | humanizeDuration }}}} to start answering "
            f"over {WINDOW} (threshold {P95_CRITICAL_SECONDS}s).",
        ),
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": service,
            "namespace": resource.namespace,
            "labels": dict(labels),
            "ownerReferences": [resource.owner_reference],
        },
        "spec": {"groups": [{"name": f"ragops.gateway.{resource.namespace}.{resource.name}", "rules": rules}]},
    }
