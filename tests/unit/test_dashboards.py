"""The Grafana dashboards: one JSON source in the chart (dashboards/ at the repo root points there), shipped
as sidecar ConfigMaps only when asked, and every panel's query uses metrics the code really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from prometheus_client import CollectorRegistry
from tests.unit.tools import CHART, REPO, by_kind, find_helm, find_promtool, helm_template, run

from ragops.builders.prometheus_rule import (
    P95_CRITICAL_SECONDS,
    P95_WARNING_SECONDS,
    SUCCESS_CRITICAL,
    SUCCESS_WARNING,
)
from ragops.gateway.metrics import GatewayMetrics
from ragops.reconcile.context import Context
from ragops.reconcile.runtime import Runtime

DASHBOARDS = CHART / "dashboards"
QDRANT_METRICS = Path(__file__).parent / "data" / "qdrant-metrics.txt"
EXPECTED = {"ragops-operator", "ragops-gateway", "ragops-qdrant"}
# Grafana's variables as they could be expanded (what promtool parses in place of each).
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan", "start", "end",
}  # fmt: skip


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out += panel.get("panels", [])  # a collapsed row keeps its panels inside
    return out


def queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the panels, and the metric of each templating variable's query."""
    exprs = [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.*),\s*\w+\)", variable["query"]["query"])
            assert match, variable
            exprs.append(match.group(1))
    return exprs


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects: identifiers outside strings, label matchers, ranges and
    by/on/... label lists that are neither functions nor keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        name, call = match.groups()
        if call or name.lower() in PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def exposed(registry: CollectorRegistry) -> set[str]:
    """Series names a prometheus_client registry exposes (also for labelled metrics with no child yet)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "gauge": ("",),
        "info": ("_info",),
    }
    return {family.name + suffix for family in registry.collect() for suffix in suffixes[family.type]}


def qdrant_exposed() -> set[str]:
    names = set()
    for line in QDRANT_METRICS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, kind = line.split()
        names |= {name + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}
    return names


def operator_registry() -> CollectorRegistry:
    # The runtime owns the registry `ragops run` serves on its metrics port (handlers/__init__.py).
    return Runtime(lambda runtime: cast(Context, None)).metrics.registry


EXPORTED = {
    "ragops-operator": lambda: exposed(operator_registry()),
    "ragops-gateway": lambda: exposed(GatewayMetrics().registry),
    "ragops-qdrant": qdrant_exposed,
}


# --- the extraction itself -------------------------------------------------------------------------------


def test_metric_names_reads_selectors_not_labels_functions_or_strings() -> None:
    expr = (
        'sum by (le, kind) (rate(a_bucket{job=~"x(y)", le!="b"}[$__rate_interval])) / on (kind) group_left '
        'max(b_total offset 5m) > bool 2 or vector(0) unless c{d="e"} and histogram_quantile(0.9, d:rule)'
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "d:rule"}


# --- files -----------------------------------------------------------------------------------------------


def test_one_source_of_truth_the_repo_dashboards_are_the_charts() -> None:
    assert set(dashboards()) == EXPECTED
    assert (REPO / "dashboards").resolve() == DASHBOARDS.resolve(), "dashboards/ must point at the chart's"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dashboard_is_importable_and_every_panel_queries(name: str) -> None:
    board = dashboards()[name]
    assert board["uid"] == name and board["title"].startswith("ragops / ")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in panels(board):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}" and target["expr"].strip(), panel["title"]
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval"}
            assert used <= set(variables), f"{panel['title']} uses undefined variables {used - set(variables)}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_query_uses_metrics_the_code_exports(name: str) -> None:
    exported = EXPORTED[name]()
    assert exported, name
    used = {metric for expr in queries(dashboards()[name]) for metric in metric_names(expr)}
    assert used, name
    unknown = used - exported
    assert not unknown, f"{name} queries metrics nothing exports: {sorted(unknown)}"


def test_the_gateway_dashboard_shows_what_the_alerts_page_on() -> None:
    board = dashboards()["ragops-gateway"]
    by_title = {p["title"]: p for p in panels(board)}
    success = [s["value"] for s in by_title["Success rate"]["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    latency = [s["value"] for s in by_title["p95 latency"]["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert success == [None, SUCCESS_CRITICAL, SUCCESS_WARNING]
    assert latency == [None, P95_WARNING_SECONDS, P95_CRITICAL_SECONDS]
    used = {m for expr in queries(board) for m in metric_names(expr)}
    assert {"ragops_gateway_requests_total", "ragops_gateway_circuit_state"} <= used


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = find_promtool()
    if promtool is None:
        pytest.skip("promtool not built: run `bash hack/build-promtool.sh` (make test builds it)")
    rules = []
    for name, board in dashboards().items():
        for index, expr in enumerate(queries(board)):
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            expr = re.sub(r"\$\w+", ".*", expr)
            rules.append({"record": f"dashboard:{name.replace('-', '_')}:{index}", "expr": expr})
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


# --- the chart --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> str:
    found = find_helm()
    if found is None:
        pytest.fail("helm not found: run `bash hack/build-control-plane.sh`", pytrace=False)
    return found


def test_chart_ships_no_dashboards_by_default(helm: str, tmp_path: Path) -> None:
    assert not by_kind(helm_template(helm, tmp_path), "ConfigMap")


def test_chart_ships_each_dashboard_as_a_sidecar_configmap(helm: str, tmp_path: Path) -> None:
    docs = helm_template(helm, tmp_path, {"dashboards": {"enabled": True}})
    maps = {m["metadata"]["name"]: m for m in by_kind(docs, "ConfigMap")}
    assert set(maps) == {"ragops-dashboard-operator", "ragops-dashboard-gateway", "ragops-dashboard-qdrant"}
    for config_map in maps.values():
        assert config_map["metadata"]["namespace"] == "ragops-system"
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ragops"
        assert config_map["metadata"]["annotations"]["grafana_folder"] == "ragops"
        ((file_name, content),) = config_map["data"].items()
        assert json.loads(content) == json.loads((DASHBOARDS / file_name).read_text()), file_name


def test_chart_dashboards_follow_the_sidecars_namespace_and_label(helm: str, tmp_path: Path) -> None:
    values = {"dashboards": {"enabled": True, "namespace": "monitoring", "label": "dash", "labelValue": "yes"}}
    maps = by_kind(helm_template(helm, tmp_path, values), "ConfigMap")
    assert len(maps) == len(EXPECTED)
    for config_map in maps:
        assert config_map["metadata"]["namespace"] == "monitoring"
        labels = config_map["metadata"]["labels"]
        assert labels["dash"] == "yes" and "grafana_dashboard" not in labels
