"""Monitoring children (ServiceMonitor, PrometheusRule) on a cluster with and without the Prometheus Operator."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.integration.cluster import REPO, Cluster, Operator, kubectl_binary, wait_for
from tests.integration.manifests import ragpipeline, vectorstore

pytestmark = pytest.mark.integration

# Stand-ins for the Prometheus Operator's CRDs (same group, version, names); the e2e suite uses them too.
MONITORING_CRDS = REPO / "e2e" / "fixtures" / "monitoring-crds.yaml"


@pytest.fixture
def without_prometheus_operator(cluster: Cluster) -> Iterator[None]:
    kubectl = [kubectl_binary(), "--kubeconfig", cluster.kubeconfig]
    subprocess.run([*kubectl, "delete", "--ignore-not-found", "-f", str(MONITORING_CRDS)], check=True,
                   capture_output=True)
    yield
    subprocess.run([*kubectl, "delete", "--ignore-not-found", "-f", str(MONITORING_CRDS)], check=True,
                   capture_output=True)


@pytest.mark.parametrize("operator", [3.0], indirect=True)  # resync every 3 s: the CRDs appear later
def test_monitoring_without_the_prometheus_operator_is_reported_then_created_once_it_exists(
    cluster: Cluster, namespace: str, without_prometheus_operator: None, operator: Operator
) -> None:
    cluster.create(namespace, vectorstore(monitoring={"serviceMonitor": True}))
    cluster.create(namespace, ragpipeline(monitoring={"serviceMonitor": True, "prometheusRule": True}))

    def reported(kind: str, name: str) -> dict[str, object] | None:
        obj = cluster.get(kind, namespace, name)
        status = obj.get("status") or {}
        done = status.get("phase") == "Degraded" and status.get("observedGeneration") == obj["metadata"]["generation"]
        return obj if done else None

    store = wait_for(lambda: reported("VectorStore", "docs"), 60, what="VectorStore Degraded")
    pipeline = wait_for(lambda: reported("RagPipeline", "bot"), 60, what="RagPipeline Degraded")
    for obj, fields in ((store, ["spec.monitoring.serviceMonitor"]),
                        (pipeline, ["spec.monitoring.serviceMonitor", "spec.monitoring.prometheusRule"])):
        conditions = {c["type"]: c for c in obj["status"]["conditions"]}  # type: ignore[index]
        assert conditions["Ready"]["status"] == "True", "the stack itself works"
        applied = conditions["ChildrenApplied"]
        assert (applied["status"], applied["reason"]) == ("False", "KindNotServed")
        assert "Prometheus Operator" in applied["message"]
        for field in fields:
            assert field in applied["message"]
    # Everything else exists; the missing kinds are not retried in a loop (only the timer looks again).
    cluster.apps.read_namespaced_stateful_set("docs-qdrant", namespace)
    cluster.apps.read_namespaced_deployment("bot-gateway", namespace)
    assert operator.reconciles("error") == 0
    events = cluster.core.list_namespaced_event(namespace).items
    assert any(e.reason == "KindNotServed" for e in events), [e.reason for e in events]

    subprocess.run([kubectl_binary(), "--kubeconfig", cluster.kubeconfig, "apply", "--server-side", "-f",
                    str(MONITORING_CRDS)], check=True, capture_output=True)
    custom = client.CustomObjectsApi(cluster.api)
    for plural, name in (("prometheusrules", "bot-gateway"), ("servicemonitors", "bot-gateway"),
                         ("servicemonitors", "docs-qdrant")):
        wait_for(lambda plural=plural, name=name: custom.get_namespaced_custom_object(
            "monitoring.coreos.com", "v1", namespace, plural, name), 60, what=f"{plural}/{name} once its CRD exists")
    cluster.wait_ready("VectorStore", namespace, "docs")
    cluster.wait_ready("RagPipeline", namespace, "bot")
