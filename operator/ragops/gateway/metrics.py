"""The gateway's Prometheus metrics, on a registry of their own per app (tests build several apps in one
process; the global registry would refuse the second set of names).

The names are a contract with `builders/prometheus_rule.py` and docs/gateway.md: change them together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "ragops_gateway"
# Buckets include the alert thresholds (2 s, 5 s) so the p95 alerts are exact at the boundary.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

REQUESTS = f"{PREFIX}_requests_total"
REQUEST_DURATION = f"{PREFIX}_request_duration_seconds"
PROVIDER_REQUESTS = f"{PREFIX}_provider_requests_total"
PROVIDER_FAILURES = f"{PREFIX}_provider_failures_total"
PROVIDER_DURATION = f"{PREFIX}_provider_request_duration_seconds"
CIRCUIT_STATE = f"{PREFIX}_circuit_state"
COMPONENT_UP = f"{PREFIX}_component_up"


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        # `route` is the route template (/v1/documents/{document_id}), never the raw path: bounded cardinality.
        self.requests = Counter(
            REQUESTS.removesuffix("_total"),
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            REQUEST_DURATION,
            "Seconds until the response starts (streams: time to first byte), by route.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.provider_requests = Counter(
            PROVIDER_REQUESTS.removesuffix("_total"),
            "Provider HTTP attempts (retries included) by role (embedding, llm), provider and outcome.",
            ["role", "provider", "outcome"],
            registry=r,
        )
        self.provider_failures = Counter(
            PROVIDER_FAILURES.removesuffix("_total"),
            "Provider calls that failed after their retries (or were refused by an open circuit).",
            ["role", "provider", "reason"],
            registry=r,
        )
        self.provider_duration = Histogram(
            PROVIDER_DURATION,
            "Seconds per provider HTTP attempt.",
            ["role", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.circuit_state = Gauge(
            CIRCUIT_STATE,
            "Circuit breaker state per provider role: 0 closed, 1 half-open, 2 open.",
            ["role", "provider"],
            registry=r,
        )
        self.documents_ingested = Counter(
            f"{PREFIX}_documents_ingested", "Documents ingested (re-ingests included).", registry=r
        )
        self.chunks_ingested = Counter(f"{PREFIX}_chunks_ingested", "Chunks embedded and stored.", registry=r)
        self.documents_deleted = Counter(f"{PREFIX}_documents_deleted", "Documents deleted.", registry=r)
        self.queries = Counter(
            f"{PREFIX}_queries",
            "Queries by mode (retrieve: chunks only, answer, stream; chat, chat_stream: /v1/chat/completions).",
            ["mode"],
            registry=r,
        )
        self.chat_tokens = Counter(
            f"{PREFIX}_chat_tokens",
            "Tokens of chat completions (cl100k_base, as reported in usage) by kind (prompt, completion).",
            ["kind"],
            registry=r,
        )
        # Set by every /health and /readyz call (the kubelet's readiness probe runs it every 10 s).
        self.component_up = Gauge(
            COMPONENT_UP, "1 when the component (qdrant, embedding, llm) passed its last check, else 0.", ["component"],
            registry=r,
        )
        self.component_check_seconds = Gauge(
            f"{PREFIX}_component_check_seconds", "Duration of the component's last health check.", ["component"],
            registry=r,
        )
