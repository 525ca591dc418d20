"""The PrometheusRule: identity and ownership, per-pipeline scoping, seed thresholds, and metric names that
the gateway really exports."""

from __future__ import annotations

import re
from typing import Any

from ragops.builders.prometheus_rule import build_prometheus_rule
from ragops.models import parse_resource
from tests.gateway.conftest import Start, manifest

LABELS = {"app.kubernetes.io/instance": "bot", "app.kubernetes.io/managed-by": "ragops"}


def rule() -> dict[str, Any]:
    return build_prometheus_rule(parse_resource(manifest()), LABELS)


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in rule()["spec"]["groups"][0]["rules"]}


def test_identity_labels_and_owner() -> None:
    obj = rule()
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    assert obj["kind"] == "PrometheusRule"
    assert obj["metadata"]["name"] == "bot-gateway"
    assert obj["metadata"]["namespace"] == "search"
    assert obj["metadata"]["labels"] == LABELS
    assert obj["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "ragops.dev/v1alpha1",
            "kind": "RagPipeline",
            "name": "bot",
            "uid": "u-bot",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_every_selector_is_scoped_to_this_pipeline() -> None:
    for alert in alerts().values():
        selectors = re.findall(r"\{([^{}]*)\}\[?", alert["expr"])
        assert selectors, alert["alert"]
        for selector in selectors:
            assert 'namespace="search"' in selector and 'service="bot-gateway"' in selector, alert["expr"]


def test_seed_thresholds_and_severities() -> None:
    found = {name: (a["labels"]["severity"], a["expr"]) for name, a in alerts().items()}
    assert found["RagGatewaySuccessRateCritical"][0] == "critical"
    assert found["RagGatewaySuccessRateCritical"][1].endswith(" < 0.9")
    assert found["RagGatewaySuccessRateLow"][0] == "warning"
    assert found["RagGatewaySuccessRateLow"][1].endswith(" < 0.95")
    assert found["RagGatewayCircuitOpen"][0] == "critical"
    assert found["RagGatewayCircuitOpen"][1].endswith(" >= 2")
    assert found["RagGatewayLatencyHigh"][0] == "warning"
    assert found["RagGatewayLatencyHigh"][1].endswith(" > 2")
    assert found["RagGatewayLatencyCritical"][0] == "critical"
    assert found["RagGatewayLatencyCritical"][1].endswith(" > 5")
    for name in ("RagGatewaySuccessRateCritical", "RagGatewaySuccessRateLow", "RagGatewayLatencyHigh"):
        assert "[5m]" in found[name][1]
    for name in ("RagGatewayLatencyHigh", "RagGatewayLatencyCritical"):
        assert found[name][1].startswith("(histogram_quantile(0.95, ")
    for alert in alerts().values():
        assert alert["labels"]["ragpipeline"] == "bot" and alert["annotations"]["summary"].startswith(
            "RagPipeline search/bot"
        )


def test_success_rate_counts_5xx_on_api_routes_as_failure() -> None:
    expr = alerts()["RagGatewaySuccessRateCritical"]["expr"]
    assert 'status!~"5.."' in expr
    assert expr.count('route=~"/v1/.*"') == 2


async def test_alerts_use_metrics_the_gateway_exports(start: Start) -> None:
    names = {m for a in alerts().values() for m in re.findall(r"(ragops_gateway_\w+)\{", a["expr"])}
    assert len(names) == 3
    async with start(embedding={"provider": "openai", "endpoint": "http://provider.test/v1"}) as h:
        await h.query("cats")
        exported = (await h.client.get("/metrics")).text
    for name in names:
        assert re.search(rf"^{name}\{{", exported, re.MULTILINE), name


def test_no_yaml_strings_only_plain_data() -> None:
    def walk(value: Any) -> None:
        assert isinstance(value, dict | list | str | bool | int | float), type(value)
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(rule())
