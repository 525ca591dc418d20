"""The alert rules pass Prometheus's own checker, and its rule unit tests prove the seed thresholds fire:
success rate below 90% critical and below 95% warning, p95 above 2 s warning and 5 s critical, circuit open.

promtool comes from hack/build-promtool.sh (`make test` builds it first, so CI never skips these)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit import samples
from tests.unit.test_dashboards import exposed, metric_names, operator_registry
from tests.unit.tools import SAMPLES, by_kind, find_helm, find_promtool, helm_template, run

from ragops.builders.prometheus_rule import build_prometheus_rule
from ragops.gateway.metrics import CIRCUIT_STATE, LATENCY_BUCKETS, REQUEST_DURATION, REQUESTS
from ragops.gateway.resilience import CircuitState
from ragops.models import parse_resource
from ragops.reconcile.context import OperatorSettings
from ragops.render import render_objects

ALERTS = (
    "RagGatewaySuccessRateCritical",
    "RagGatewaySuccessRateLow",
    "RagGatewayLatencyHigh",
    "RagGatewayLatencyCritical",
    "RagGatewayCircuitOpen",
)
NAMESPACE, PIPELINE, SERVICE = "search", "bot", "bot-gateway"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = find_promtool()
    if found is None:
        pytest.skip("promtool not found: run `bash hack/build-promtool.sh` (`make test` builds it)")
    return found


def pipeline_rule() -> dict[str, Any]:
    return build_prometheus_rule(parse_resource(samples.pipeline()), {"app.kubernetes.io/managed-by": "ragops"})


def sample_rules() -> list[dict[str, Any]]:
    """The PrometheusRules `ragops render` gives for every sample, monitoring turned on where it is off."""
    documents = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RagPipeline":
                doc.setdefault("metadata", {}).setdefault("namespace", "search")
                doc["spec"].setdefault("monitoring", {})["prometheusRule"] = True
            if doc:
                documents.append(doc)
    rules = by_kind(render_objects(documents, OperatorSettings(image="ragops:test")), "PrometheusRule")
    assert rules, "no sample has a RagPipeline"
    return rules


def write_rules(rule: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def test_every_rendered_rule_passes_promtool_check_rules(promtool: str, tmp_path: Path) -> None:
    for index, rule in enumerate([pipeline_rule(), *sample_rules()]):
        path = write_rules(rule, tmp_path / f"rules-{index}.yaml")
        result = run([promtool, "check", "rules", "--lint=all", "--lint-fatal", str(path)])
        assert result.returncode == 0, f"{rule['metadata']['name']}: {result.stdout}{result.stderr}"
        assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout, result.stdout


def test_promtool_refuses_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    """The check above can fail: a rule whose expression does not parse is refused."""
    rule = pipeline_rule()
    rule["spec"]["groups"][0]["rules"][0]["expr"] = "sum(rate(x[5m])"
    result = run([promtool, "check", "rules", str(write_rules(rule, tmp_path / "broken.yaml"))])
    assert result.returncode != 0


# --- promtool test rules: the thresholds fire, and only they ------------------------------------------


def _labels(**extra: str) -> str:
    pairs = {"namespace": NAMESPACE, "service": SERVICE, **extra}
    return "{" + ", ".join(f'{key}="{value}"' for key, value in pairs.items()) + "}"


def _traffic(ok_per_minute: int, failed_per_minute: int) -> list[dict[str, str]]:
    api = {"route": "/v1/query", "method": "POST"}
    series = [
        {"series": REQUESTS + _labels(**api, status="200"), "values": f"0+{ok_per_minute}x30"},
        {"series": REQUESTS + _labels(**api, status="503"), "values": f"0+{failed_per_minute}x30"},
        # Probes and scrapes are not API traffic: a flood of them must not lift the success rate.
        {"series": REQUESTS + _labels(route="/readyz", method="GET", status="200"), "values": "0+1000x30"},
    ]
    return series


def _latency(seconds: float, per_minute: int = 100) -> list[dict[str, str]]:
    """Every API request took `seconds`: buckets below it stay 0, the others count every request."""
    api = {"route": "/v1/query", "method": "POST"}
    series = []
    for bound in (*LATENCY_BUCKETS, "+Inf"):
        le = bound if isinstance(bound, str) else repr(float(bound))
        counting = bound == "+Inf" or float(bound) >= seconds
        series.append(
            {
                "series": f"{REQUEST_DURATION}_bucket" + _labels(**api, le=le),
                "values": f"0+{per_minute if counting else 0}x30",
            }
        )
    return series


def _circuit(state: CircuitState) -> list[dict[str, str]]:
    return [
        {"series": CIRCUIT_STATE + _labels(role="llm", provider="openai"), "values": f"{int(state)}x30"},
        {"series": CIRCUIT_STATE + _labels(role="embedding", provider="openai"), "values": "0x30"},
    ]


def _scenario(name: str, series: list[dict[str, str]], firing: set[str], rule: dict[str, Any]) -> dict[str, Any]:
    labels = {r["alert"]: r["labels"] for r in rule["spec"]["groups"][0]["rules"]}
    return {
        "name": name,
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": "20m",
                "alertname": alert,
                "exp_alerts": [{"exp_labels": labels[alert]}] if alert in firing else [],
            }
            for alert in ALERTS
        ],
    }


def test_seed_thresholds_fire_and_nothing_else(promtool: str, tmp_path: Path) -> None:
    rule = pipeline_rule()
    assert {r["alert"] for r in rule["spec"]["groups"][0]["rules"]} == set(ALERTS)
    # The annotations' templates are checked by `check rules` above; left out here, the expected alerts need
    # only their labels.
    bare = copy.deepcopy(rule)
    for alert in bare["spec"]["groups"][0]["rules"]:
        alert.pop("annotations")
    rules_file = write_rules(bare, tmp_path / "rules.yaml")
    healthy = _latency(0.3) + _circuit(CircuitState.CLOSED)
    scenarios = [
        _scenario("healthy: 99% success, 0.3 s", _traffic(99, 1) + healthy, set(), rule),
        _scenario("96%: fine", _traffic(96, 4) + healthy, set(), rule),
        _scenario("94%: warning", _traffic(94, 6) + healthy, {"RagGatewaySuccessRateLow"}, rule),
        _scenario("91%: warning only", _traffic(91, 9) + healthy, {"RagGatewaySuccessRateLow"}, rule),
        _scenario(
            "89%: critical and warning",
            _traffic(89, 11) + healthy,
            {"RagGatewaySuccessRateCritical", "RagGatewaySuccessRateLow"},
            rule,
        ),
        _scenario("p95 1.95 s: fine", _traffic(100, 0) + _latency(2.0) + _circuit(CircuitState.CLOSED), set(), rule),
        _scenario(
            "p95 4.85 s: warning",
            _traffic(100, 0) + _latency(5.0) + _circuit(CircuitState.CLOSED),
            {"RagGatewayLatencyHigh"},
            rule,
        ),
        _scenario(
            "p95 9.75 s: critical and warning",
            _traffic(100, 0) + _latency(10.0) + _circuit(CircuitState.CLOSED),
            {"RagGatewayLatencyHigh", "RagGatewayLatencyCritical"},
            rule,
        ),
        _scenario(
            "circuit half-open: not yet",
            _traffic(100, 0) + _latency(0.3) + _circuit(CircuitState.HALF_OPEN),
            set(),
            rule,
        ),
        _scenario(
            "circuit open",
            _traffic(100, 0) + _latency(0.3) + _circuit(CircuitState.OPEN),
            {"RagGatewayCircuitOpen"},
            rule,
        ),
        _scenario(
            "another pipeline's outage is not this one's",
            [
                {**s, "series": s["series"].replace(f'service="{SERVICE}"', 'service="other-gateway"')}
                for s in _traffic(0, 100) + _latency(30.0) + _circuit(CircuitState.OPEN)
            ]
            + _traffic(100, 0)
            + healthy,
            set(),
            rule,
        ),
    ]
    tests_file = tmp_path / "rules.test.yaml"
    tests_file.write_text(
        yaml.safe_dump(
            {"rule_files": [rules_file.name], "evaluation_interval": "1m", "tests": scenarios}, sort_keys=False
        )
    )
    result = run([promtool, "test", "rules", str(tests_file)], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the chart's own rules (the operator's alerts) ----------------------------------------------------


@pytest.fixture(scope="module")
def chart_rule(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    helm = find_helm()
    if helm is None:
        pytest.fail("helm not found: run `bash hack/build-control-plane.sh`", pytrace=False)
    docs = helm_template(helm, tmp_path_factory.mktemp("chart"), {"metrics": {"prometheusRule": {"enabled": True}}})
    (rule,) = by_kind(docs, "PrometheusRule")
    return rule


def test_chart_has_no_rule_unless_asked(tmp_path: Path) -> None:
    helm = find_helm()
    assert helm is not None
    assert not by_kind(helm_template(helm, tmp_path), "PrometheusRule")


def test_chart_rules_pass_promtool_and_use_what_the_operator_exports(
    promtool: str, chart_rule: dict[str, Any], tmp_path: Path
) -> None:
    result = run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", str(write_rules(chart_rule, tmp_path / "r.yaml"))]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    exported = exposed(operator_registry()) | {"up"}  # `up` is Prometheus's own, per scrape target
    for alert in chart_rule["spec"]["groups"][0]["rules"]:
        assert metric_names(alert["expr"]) <= exported, alert["alert"]
        assert 'namespace="ragops-system", job="ragops-metrics"' in alert["expr"], alert["alert"]


def test_chart_rules_fire_on_a_down_operator_errors_and_a_dead_watch(
    promtool: str, chart_rule: dict[str, Any], tmp_path: Path
) -> None:
    bare = copy.deepcopy(chart_rule)
    for alert in bare["spec"]["groups"][0]["rules"]:
        alert.pop("annotations")
    write_rules(bare, tmp_path / "rules.yaml")
    scope = {"namespace": "ragops-system", "job": "ragops-metrics"}

    def series(name: str, values: str, **labels: str) -> dict[str, str]:
        pairs = {**scope, **labels}
        return {"series": name + "{" + ", ".join(f'{k}="{v}"' for k, v in pairs.items()) + "}", "values": values}

    def expect(firing: dict[str, list[dict[str, str]]]) -> list[dict[str, Any]]:
        names = ("RagopsOperatorDown", "RagopsReconcileErrors", "RagopsWatchNotLive")
        return [
            {
                "eval_time": "40m",
                "alertname": name,
                "exp_alerts": [
                    {"exp_labels": {"severity": sev, "namespace": "ragops-system", **labels}}
                    for sev, labels in firing.get(name, [])
                ],
            }
            for name in names
        ]

    active, standby = {"pod": "ragops-a", "instance": "a"}, {"pod": "ragops-b", "instance": "b"}
    healthy = [
        series("up", "1x60", **active),
        series("up", "1x60", **standby),
        series("ragops_watch_live", "1x60", kind="VectorStore", **active),
        series("ragops_watch_live", "0x60", kind="VectorStore", **standby),  # paused on the standby
        series("ragops_reconcile_total", "0+100x60", kind="VectorStore", result="ok", **active),
        series("ragops_reconcile_total", "0+2x60", kind="VectorStore", result="error", **active),
    ]
    tests = [
        {
            "name": "healthy pair: active live, standby paused, 2% errors",
            "interval": "1m",
            "input_series": healthy,
            "alert_rule_test": expect({}),
        },
        {
            "name": "both replicas down",
            "interval": "1m",
            "input_series": [series("up", "0x60", **active), series("up", "0x60", **standby)],
            "alert_rule_test": expect({"RagopsOperatorDown": [("critical", {})]}),
        },
        {
            "name": "20% of VectorStore passes crash",
            "interval": "1m",
            "input_series": [
                *healthy[:4],
                series("ragops_reconcile_total", "0+80x60", kind="VectorStore", result="ok", **active),
                series("ragops_reconcile_total", "0+20x60", kind="VectorStore", result="error", **active),
            ],
            "alert_rule_test": expect({"RagopsReconcileErrors": [("warning", {"kind": "VectorStore"})]}),
        },
        {
            "name": "the active replica's watch is down",
            "interval": "1m",
            "input_series": [
                *healthy[:2],
                series("ragops_watch_live", "0x60", kind="VectorStore", **active),
                series("ragops_watch_live", "0x60", kind="VectorStore", **standby),
                *healthy[4:],
            ],
            "alert_rule_test": expect({"RagopsWatchNotLive": [("warning", {"kind": "VectorStore"})]}),
        },
    ]
    tests_file = tmp_path / "rules.test.yaml"
    tests_file.write_text(yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}))
    result = run([promtool, "test", "rules", str(tests_file)], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
