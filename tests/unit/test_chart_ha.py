"""The chart's HA operator (replicas spread across nodes) and the NetworkPolicy around its metrics and
health ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.tools import CHART, by_kind, find_helm, helm_template, run

SELECTOR = {
    "app.kubernetes.io/name": "ragops",
    "app.kubernetes.io/instance": "ragops",
    "app.kubernetes.io/component": "operator",
}


@pytest.fixture(scope="module")
def helm() -> str:
    found = find_helm()
    if found is None:
        pytest.fail("helm not found: run `bash hack/build-control-plane.sh`", pytrace=False)
    return found


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(docs, "Deployment")
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["template"]["metadata"]["labels"].items() >= SELECTOR.items()
    return spec


# --- spread -------------------------------------------------------------------------------------------


def test_one_replica_has_no_spread(helm: str, tmp_path: Path) -> None:
    assert "topologySpreadConstraints" not in pod_spec(helm_template(helm, tmp_path))


@pytest.mark.parametrize("replicas", [2, 3])
def test_two_or_more_replicas_spread_across_nodes_by_default(helm: str, tmp_path: Path, replicas: int) -> None:
    spec = pod_spec(helm_template(helm, tmp_path, {"replicaCount": replicas}))
    assert spec["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            # Schedulable on a one-node cluster: the standby waits on the same node rather than Pending.
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": SELECTOR},
            "matchLabelKeys": ["pod-template-hash"],
        }
    ]


def test_spread_is_configurable(helm: str, tmp_path: Path) -> None:
    values = {
        "replicaCount": 2,
        "topologySpread": {
            "topologyKeys": ["kubernetes.io/hostname", "topology.kubernetes.io/zone"],
            "whenUnsatisfiable": "DoNotSchedule",
            "maxSkew": 2,
        },
    }
    constraints = pod_spec(helm_template(helm, tmp_path, values))["topologySpreadConstraints"]
    assert [(c["topologyKey"], c["whenUnsatisfiable"], c["maxSkew"]) for c in constraints] == [
        ("kubernetes.io/hostname", "DoNotSchedule", 2),
        ("topology.kubernetes.io/zone", "DoNotSchedule", 2),
    ]
    off = pod_spec(helm_template(helm, tmp_path, {"replicaCount": 2, "topologySpread": {"enabled": False}}))
    assert "topologySpreadConstraints" not in off


def test_explicit_constraints_replace_the_default(helm: str, tmp_path: Path) -> None:
    own = [{"maxSkew": 1, "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {}}]
    spec = pod_spec(helm_template(helm, tmp_path, {"replicaCount": 3, "topologySpreadConstraints": own}))
    assert spec["topologySpreadConstraints"] == own


@pytest.mark.parametrize(
    "bad",
    [
        {"topologySpread": {"whenUnsatisfiable": "Sometimes"}},
        {"topologySpread": {"maxSkew": 0}},
        {"topologySpread": {"topologyKeys": [""]}},
        {"topologySpread": {"unknown": True}},
        {"networkPolicy": {"allowedNamespaces": ["Not_A_Namespace"]}},
        {"networkPolicy": {"allowedPodSelectors": [{}]}},
        {"networkPolicy": {"unknown": True}},
        {"dashboards": {"enabled": "yes"}},
    ],
)
def test_values_schema_refuses_bad_spread_policy_and_dashboard_values(
    helm: str, tmp_path: Path, bad: dict[str, Any]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = run([helm, "template", "ragops", str(CHART), "-f", str(path)])
    assert result.returncode != 0, f"{bad} was accepted"


# --- NetworkPolicy ------------------------------------------------------------------------------------


def test_no_network_policy_by_default(helm: str, tmp_path: Path) -> None:
    assert not by_kind(helm_template(helm, tmp_path), "NetworkPolicy")


def test_network_policy_admits_only_the_listed_peers_to_metrics_and_health(helm: str, tmp_path: Path) -> None:
    values = {
        "networkPolicy": {
            "enabled": True,
            "allowedNamespaces": ["monitoring"],
            "allowedPodSelectors": [{"matchLabels": {"app": "probe"}}],
            "extraPeers": [
                {
                    "namespaceSelector": {"matchLabels": {"team": "sre"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                }
            ],
        }
    }
    docs = helm_template(helm, tmp_path, values)
    (policy,) = by_kind(docs, "NetworkPolicy")
    assert policy["metadata"]["namespace"] == "ragops-system"
    assert policy["spec"]["podSelector"] == {"matchLabels": SELECTOR}
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # the operator's own connections stay open
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}, {"port": "health", "protocol": "TCP"}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        {"podSelector": {"matchLabels": {"app": "probe"}}},
        {
            "namespaceSelector": {"matchLabels": {"team": "sre"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        },
    ]
    # The named ports exist on the operator container, so the policy matches what the Service scrapes.
    (container,) = pod_spec(docs)["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"health": 8081, "metrics": 9090}


def test_network_policy_without_peers_refuses_every_connection(helm: str, tmp_path: Path) -> None:
    (policy,) = by_kind(helm_template(helm, tmp_path, {"networkPolicy": {"enabled": True}}), "NetworkPolicy")
    assert policy["spec"]["ingress"] == [] and policy["spec"]["policyTypes"] == ["Ingress"]


def test_helm_lint_strict_with_every_feature_on(helm: str, tmp_path: Path) -> None:
    values = {
        "replicaCount": 2,
        "networkPolicy": {"enabled": True, "allowedNamespaces": ["monitoring"]},
        "dashboards": {"enabled": True},
        "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = run([helm, "lint", "--strict", str(CHART), "-f", str(path)])
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "[WARNING]" not in output and "[ERROR]" not in output, output
