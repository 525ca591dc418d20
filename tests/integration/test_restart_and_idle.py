"""Crash safety and idle cost, measured on the API server itself (audit log of write requests)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.cluster import Cluster, Operator, wait_for
from tests.integration.manifests import ragpipeline, vectorstore

pytestmark = pytest.mark.integration
STORES = 4


def _create_stack(cluster: Cluster, namespace: str) -> None:
    for i in range(STORES):
        cluster.create(namespace, vectorstore(name=f"s{i}", backup={}))
        cluster.create(namespace, ragpipeline(name=f"p{i}", store=f"s{i}"))


def _all_ready(cluster: Cluster, namespace: str) -> None:
    for i in range(STORES):
        cluster.wait_ready("VectorStore", namespace, f"s{i}")
        cluster.wait_ready("RagPipeline", namespace, f"p{i}")


def test_killed_mid_reconcile_then_restarted_converges_without_duplicates(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    _create_stack(cluster, namespace)
    # Kill as soon as the first children appear: reconciles are in flight.
    wait_for(lambda: cluster.core.list_namespaced_config_map(namespace).items[1:], what="first children")
    operator.kill()
    operator.start()
    _all_ready(cluster, namespace)

    names = Counter(s.metadata.name for s in cluster.core.list_namespaced_secret(namespace).items)
    assert all(count == 1 for count in names.values())
    assert len([n for n in names if n.endswith("-api-key")]) == 2 * STORES
    assert len(cluster.apps.list_namespaced_stateful_set(namespace).items) == STORES
    assert len(cluster.apps.list_namespaced_deployment(namespace).items) == STORES
    # Generated API keys survive restarts: clients holding them keep working.
    keys = {s.metadata.name: s.data for s in cluster.core.list_namespaced_secret(namespace).items}
    operator.stop()
    operator.start()
    wait_for(lambda: operator.reconciles() >= 2 * STORES, what="a full pass after restart")
    assert {s.metadata.name: s.data for s in cluster.core.list_namespaced_secret(namespace).items} == keys


@pytest.mark.parametrize("operator", [2.0], indirect=True)  # resync every 2 s
def test_idle_passes_make_zero_writes(cluster: Cluster, namespace: str, operator: Operator) -> None:
    creation = cluster.audit_offset()
    _create_stack(cluster, namespace)
    _all_ready(cluster, namespace)
    # The same query does see the operator's writes (applies, status) while it converges.
    verbs = Counter(w["verb"] for w in cluster.writes_since(creation, namespace))
    assert verbs["patch"] >= STORES * 10, verbs
    # Let the last status writes and their watch events settle before measuring.
    before = operator.reconciles()
    wait_for(lambda: operator.reconciles() >= before + 2 * STORES, timeout=30, what="one full resync")

    offset = cluster.audit_offset()
    start = operator.reconciles()
    wait_for(lambda: operator.reconciles() >= start + 3 * 2 * STORES, timeout=60, what="three idle resyncs")

    writes = cluster.writes_since(offset, namespace)
    assert [(w["verb"], w["objectRef"].get("resource"), w["objectRef"].get("name")) for w in writes] == []
