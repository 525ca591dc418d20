"""Invalid specs are refused by the API server itself (schema and CEL), naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.integration.cluster import Cluster
from tests.integration.manifests import ragpipeline, vectorstore

pytestmark = pytest.mark.integration

CREATE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("bad profile", vectorstore(profile="huge"), "spec.profile"),
    ("vectorSize 0", vectorstore(collections=[{"name": "a", "vectorSize": 0}]), "vectorSize"),
    ("vectorSize too big", vectorstore(collections=[{"name": "a", "vectorSize": 70000}]), "vectorSize"),
    (
        "duplicate collections",
        vectorstore(collections=[{"name": "a", "vectorSize": 3}, {"name": "a", "vectorSize": 4}]),
        "collections",
    ),
    ("bad cron", vectorstore(backup={"schedule": "every day"}), "spec.backup.schedule"),
    ("bad retention", vectorstore(backup={"retention": "30 days"}), "spec.backup.retention"),
    (
        "two destinations",
        vectorstore(
            backup={"destination": {"pvc": {}, "s3": {"bucket": "b3x", "credentialsSecretRef": {"name": "s"}}}}
        ),
        "exactly one",
    ),
    ("unknown field", vectorstore(replicaz=3), "replicaz"),
    ("bad distance", vectorstore(collections=[{"name": "a", "vectorSize": 3, "distance": "Hamming"}]), "distance"),
    ("zero replicas", vectorstore(qdrant={"replicas": 0}), "spec.qdrant.replicas"),
    ("bad storage size", vectorstore(storage={"size": "lots"}), "spec.storage.size"),
    ("min above max", ragpipeline(gateway={"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}), "maxReplicas"),
    ("empty collection", {**ragpipeline(), "spec": {**ragpipeline()["spec"], "collection": ""}}, "spec.collection"),
    ("overlap not below size", ragpipeline(chunking={"size": 100, "overlap": 100}), "overlap"),
    ("bad chunking strategy", ragpipeline(chunking={"strategy": "paragraph"}), "spec.chunking.strategy"),
    ("temperature out of range", ragpipeline(llm={"temperature": 3}), "spec.llm.temperature"),
    ("missing vectorStoreRef", {**ragpipeline(), "spec": {"collection": "c"}}, "vectorStoreRef"),
]


@pytest.mark.parametrize(("case", "body", "field"), CREATE_CASES, ids=[c[0] for c in CREATE_CASES])
def test_invalid_spec_is_rejected_naming_the_field(
    cluster: Cluster, namespace: str, case: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(client.ApiException) as raised:
        cluster.create(namespace, body)
    assert raised.value.status in (400, 422), raised.value.body
    assert field in raised.value.body, raised.value.body


UPDATE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("storage shrink", vectorstore(storage={"size": "20Gi"}), {"spec": {"storage": {"size": "10Gi"}}}, "never shrink"),
    (
        "storage class change",
        vectorstore(storage={"storageClassName": "standard"}),
        {"spec": {"storage": {"storageClassName": "fast"}}},
        "storageClassName is immutable",
    ),
]


@pytest.mark.parametrize(("case", "body", "patch", "message"), UPDATE_CASES, ids=[c[0] for c in UPDATE_CASES])
def test_forbidden_transition_is_rejected(
    cluster: Cluster, namespace: str, case: str, body: dict[str, Any], patch: dict[str, Any], message: str
) -> None:
    cluster.create(namespace, body)
    with pytest.raises(client.ApiException) as raised:
        cluster.patch("VectorStore", namespace, "docs", patch)
    assert raised.value.status == 422
    assert message in raised.value.body and "spec.storage" in raised.value.body
