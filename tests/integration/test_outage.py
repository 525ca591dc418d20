"""The operator after its API server went away: it must not go deaf, nor act on what it cached while blind.

Each test stops the whole control plane (etcd, API server, controllers) for longer than kopf's request
retries last (about a minute), while the operator keeps running, then changes things right after the API
server is back, before the watches have caught up."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from ragops.builders import names
from tests.integration.cluster import Cluster, Operator, wait_for
from tests.integration.faults import ControlPlane
from tests.integration.manifests import ragpipeline, vectorstore

pytestmark = pytest.mark.integration
RESYNC = 20.0
OUTAGE = 65.0  # past kopf's own retries (1+1+2+3+5+8+13+21 s), which then escalate


def _stack(cluster: Cluster, namespace: str) -> None:
    # The cluster itself recovers from an earlier outage first: its nodes (kwok) report Ready again.
    wait_for(
        lambda: all(
            c.status == "True" for n in cluster.core.list_node().items for c in n.status.conditions if c.type == "Ready"
        ),
        timeout=180,
        interval=1,
        what="every node Ready",
    )
    cluster.create(namespace, vectorstore(name="docs"))
    cluster.create(namespace, ragpipeline(name="bot", store="docs"))
    # After an earlier outage the controller-manager and kwok take up to a few minutes to act again (leader
    # election, nodes and pods marked ready anew): the chaos suite measured 20-150 s.
    cluster.wait_ready("VectorStore", namespace, "docs", timeout=300)
    cluster.wait_ready("RagPipeline", namespace, "bot", timeout=300)


def _outage(cluster: Cluster) -> None:
    plane = ControlPlane(cluster.name)
    plane.stop()
    time.sleep(OUTAGE)  # the fault itself: the control plane stays away this long
    plane.start()


def _exists(read: object) -> bool:
    try:
        read()  # type: ignore[operator]
        return True
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise


@pytest.mark.parametrize("operator", [RESYNC], indirect=True)
def test_children_deleted_after_a_long_outage_come_back_within_one_resync(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    _stack(cluster, namespace)
    _outage(cluster)
    # Right after the API server is back, before the watches have resumed.
    configmap, service = names.gateway("bot"), names.qdrant("docs")
    cluster.core.delete_namespaced_config_map(configmap, namespace)
    cluster.core.delete_namespaced_service(service, namespace)
    deleted = time.monotonic()

    wait_for(
        lambda: _exists(lambda: cluster.core.read_namespaced_config_map(configmap, namespace))
        and _exists(lambda: cluster.core.read_namespaced_service(service, namespace)),
        timeout=RESYNC + 15,
        interval=0.5,
        what="the deleted ConfigMap and Service made again",
    )
    repaired = time.monotonic() - deleted
    assert repaired < RESYNC + 15
    assert operator.process is not None and operator.process.poll() is None
    _, body = wait_for(lambda: (r := operator.health("/readyz"))[0] == 200 and r, what="/readyz 200")
    assert all(w["phase"] == "live" for w in body["watches"].values()), body
    assert operator.health("/healthz")[0] == 200
    print(f"repaired {repaired:.1f}s after the deletions; operator log: {operator.log_path}")


@pytest.mark.parametrize("operator", [RESYNC], indirect=True)
def test_a_pipeline_deleted_after_a_long_outage_causes_no_write(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    _stack(cluster, namespace)
    _outage(cluster)
    cluster.delete("RagPipeline", namespace, "bot")
    after_delete = cluster.audit_offset()
    wait_for(lambda: not _exists(lambda: cluster.get("RagPipeline", namespace, "bot")), what="the pipeline gone")

    # Three resync periods: time for a storm to show, and for garbage collection to remove the children.
    time.sleep(3 * RESYNC)
    writes = [
        w
        for w in cluster.writes_since(after_delete, namespace)
        if (w.get("objectRef") or {}).get("name", "").startswith("bot")
    ]
    # No status patch, no child applied again (a new gateway key Secret would be one), no Event.
    assert writes == [], [(w["verb"], w["objectRef"].get("resource"), w["objectRef"].get("name")) for w in writes]
    assert "reconcile crashed" not in operator.log()
