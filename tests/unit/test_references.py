"""References checked each pass: a missing Secret, key, StorageClass, VectorStore or collection is a condition
naming the field, a Warning Event, and a re-check that clears it once the object appears (issue 12)."""

from __future__ import annotations

import base64
from typing import Any

from tests.unit import fakes
from tests.unit.fakes import FakeKube
from tests.unit.samples import pipeline, store

from ragops.builders import PipelineInputs, build_pipeline_children
from ragops.models import parse_resource, resolve_pipeline
from ragops.reconcile.children import ChildCache
from ragops.reconcile.context import Outcome
from ragops.reconcile.ragpipeline import reconcile_pipeline
from ragops.reconcile.references import RECHECK_SECONDS
from ragops.reconcile.report import WAIT_SECONDS
from ragops.reconcile.vectorstore import reconcile_vectorstore

STORE = ("VectorStore", "search", "docs")
PIPELINE = ("RagPipeline", "search", "bot")
READY = {"conditions": [{"type": "QdrantReady", "status": "True"}], "collections": ["manuals"]}


class ClusterKube(FakeKube):
    """FakeKube plus the cluster-scoped StorageClass read."""

    def __init__(self, storage_classes: set[str] | None = None) -> None:
        super().__init__()
        self.storage_classes = storage_classes or set()

    def get_cluster_scoped(self, kind: str, name: str) -> dict[str, Any] | None:
        self.requests.append(("GET", kind, name))
        return {"metadata": {"name": name}} if name in self.storage_classes else None


def secret(name: str, **data: str) -> dict[str, Any]:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "search"}, "data": encoded}


def condition(kube: FakeKube, key: tuple[str, str, str], kind: str = "ReferencesResolved") -> dict[str, Any]:
    return next(c for c in kube.body(*key)["status"]["conditions"] if c["type"] == kind)


def events(kube: FakeKube) -> list[str]:
    return [reason for _, kind, reason in kube.requests if kind == "Event"]


def pipeline_with_llm_key() -> dict[str, Any]:
    return pipeline(llm={"provider": "openai", "apiKeySecretRef": {"name": "openai", "key": "apiKey"}})


def run_pipeline(kube: FakeKube, store_body: dict[str, Any] | None) -> Outcome:
    ctx = fakes.context(kube, ChildCache(), lookup=lambda *key: store_body if key == STORE else None)
    return reconcile_pipeline(ctx, kube.body(*PIPELINE))


def test_a_missing_llm_secret_fails_the_pipeline_naming_the_field_and_clears_once_created() -> None:
    kube = FakeKube()
    kube.add(pipeline_with_llm_key())
    ready_store = {**store(), "status": READY}

    outcome = run_pipeline(kube, ready_store)
    found = condition(kube, PIPELINE)
    assert (found["status"], found["reason"]) == ("False", "SecretNotFound")
    assert found["message"] == 'spec.llm.apiKeySecretRef: Secret "openai" not found (key openai/apiKey)'
    body = kube.body(*PIPELINE)
    assert body["status"]["phase"] == "Failed"
    assert condition(kube, PIPELINE, "Ready")["reason"] == "SecretNotFound"
    assert events(kube) == ["SecretNotFound"]
    assert outcome.requeue_after == RECHECK_SECONDS  # re-checked: no restart, no spec change needed

    # An idle re-check while it is still missing writes nothing and posts nothing.
    writes = len(kube.writes())
    run_pipeline(kube, ready_store)
    assert len(kube.writes()) == writes

    kube.add(secret("openai", token="x"))  # the Secret appears, with the wrong key
    run_pipeline(kube, ready_store)
    found = condition(kube, PIPELINE)
    assert (found["reason"], found["message"]) == (
        "SecretKeyNotFound",
        'spec.llm.apiKeySecretRef: Secret "openai" has no key "apiKey"',
    )
    assert events(kube) == ["SecretNotFound", "SecretKeyNotFound"]  # a new problem, same phase: still announced

    kube.add(secret("openai", apiKey="sk-test"))
    outcome = run_pipeline(kube, ready_store)
    assert condition(kube, PIPELINE)["status"] == "True"
    assert kube.body(*PIPELINE)["status"]["phase"] == "Progressing"  # waiting for its pods now
    assert outcome.requeue_after == WAIT_SECONDS  # the usual wait for pods, no faster re-check any more


def test_every_pipeline_secret_is_checked_and_each_read_once() -> None:
    kube = FakeKube()
    kube.add(
        pipeline(
            embedding={"provider": "openai", "apiKeySecretRef": {"name": "keys", "key": "embed"}},
            llm={"provider": "openai", "apiKeySecretRef": {"name": "keys", "key": "chat"}},
            gateway={"auth": {"apiKeySecretRef": {"name": "clients"}}},
        )
    )
    kube.add(secret("keys", embed="e"))
    run_pipeline(kube, {**store(), "status": READY})
    message = condition(kube, PIPELINE)["message"]
    assert message == (
        'spec.llm.apiKeySecretRef: Secret "keys" has no key "chat"; '
        'spec.gateway.auth.apiKeySecretRef: Secret "clients" not found (key clients/apiKey)'
    )
    secret_reads = [r for r in kube.reads() if r[1] == "Secret"]
    assert sorted(secret_reads) == [("GET", "Secret", "clients"), ("GET", "Secret", "keys")]


def test_a_pipeline_without_references_reads_no_secret_and_its_gateway_gets_no_llm_key() -> None:
    kube = FakeKube()
    kube.add(pipeline())  # hash embeddings, no llm, generated gateway key
    run_pipeline(kube, {**store(), "status": READY})
    assert condition(kube, PIPELINE)["status"] == "True"
    assert [r for r in kube.reads() if r[1] == "Secret" and r[2] != "bot-gateway-api-key"] == []

    resource = parse_resource(pipeline())
    inputs = PipelineInputs(
        resolve_pipeline(resource.spec),
        "ragops:1",
        ("docs-qdrant-api-key", "apiKey"),
        "k",
        operator_namespace="ragops-system",
    )
    deployment = next(o for o in build_pipeline_children(resource, inputs) if o["kind"] == "Deployment")
    env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "RAGOPS_LLM_API_KEY" not in env and "RAGOPS_EMBEDDING_API_KEY" not in env


def test_a_collection_the_store_does_not_have_is_reported() -> None:
    kube = FakeKube()
    kube.add(pipeline(collection="faq"))
    run_pipeline(kube, {**store(), "status": READY})
    found = condition(kube, PIPELINE)
    assert (found["reason"], found["message"]) == (
        "CollectionNotFound",
        'spec.collection: VectorStore "docs" has no collection "faq" (declare it in the VectorStore\'s '
        "spec.collections)",
    )
    assert kube.body(*PIPELINE)["status"]["phase"] == "Failed"


def test_a_missing_store_is_reported_as_a_reference_and_waited_for() -> None:
    kube = FakeKube()
    kube.add(pipeline())
    outcome = run_pipeline(kube, None)
    found = condition(kube, PIPELINE)
    assert (found["reason"], found["message"]) == (
        "VectorStoreNotFound",
        'spec.vectorStoreRef.name: VectorStore "docs" not found in namespace "search"',
    )
    assert kube.body(*PIPELINE)["status"]["phase"] == "Pending"  # created in any order: not a failure
    assert outcome.requeue_after == RECHECK_SECONDS


def run_store(kube: FakeKube, cache: ChildCache | None = None) -> Outcome:
    return reconcile_vectorstore(fakes.context(kube, ChildCache() if cache is None else cache), kube.body(*STORE))


def make_qdrant_ready(kube: FakeKube, cache: ChildCache) -> None:
    sts = cache.get(("StatefulSet", "search", "docs-qdrant"))
    assert sts is not None
    status = {"readyReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1}
    cache.put({**sts, "metadata": {**sts["metadata"], "generation": 1}, "status": status})


def test_missing_s3_credentials_leave_the_store_serving_but_degraded() -> None:
    kube = FakeKube()
    kube.add(store(backup={"destination": {"s3": {"bucket": "backups", "credentialsSecretRef": {"name": "s3"}}}}))
    kube.add(secret("s3", accessKeyId="a"))
    cache = ChildCache()
    run_store(kube, cache)
    make_qdrant_ready(kube, cache)
    outcome = run_store(kube, cache)
    found = condition(kube, STORE)
    assert (found["reason"], found["message"]) == (
        "SecretKeyNotFound",
        'spec.backup.destination.s3.credentialsSecretRef: Secret "s3" has no key "secretAccessKey"',
    )
    assert kube.body(*STORE)["status"]["phase"] == "Degraded"
    assert "SecretKeyNotFound" in events(kube)
    assert outcome.requeue_after == RECHECK_SECONDS


def test_a_missing_qdrant_key_secret_or_storage_class_fails_the_store() -> None:
    kube = ClusterKube(storage_classes={"standard"})
    kube.add(store(storage={"storageClassName": "fast"}, security={"apiKeySecretRef": {"name": "qdrant-key"}}))
    run_store(kube)
    found = condition(kube, STORE)
    assert found["reason"] == "SecretNotFound"
    assert found["message"] == (
        'spec.security.apiKeySecretRef: Secret "qdrant-key" not found (key qdrant-key/apiKey); '
        'spec.storage.storageClassName: StorageClass "fast" not found'
    )
    assert kube.body(*STORE)["status"]["phase"] == "Failed"
    assert events(kube) == ["SecretNotFound"]

    kube.add(secret("qdrant-key", apiKey="k"))
    kube.storage_classes.add("fast")
    run_store(kube)
    assert condition(kube, STORE)["status"] == "True"
    assert kube.body(*STORE)["status"]["phase"] == "Progressing"


def test_a_replication_factor_above_the_node_count_is_reported() -> None:
    kube = FakeKube()
    kube.add(store(collections=[{"name": "manuals", "vectorSize": 768, "replicationFactor": 3}]))
    run_store(kube)
    found = condition(kube, STORE, "ReplicationSatisfied")
    assert (found["status"], found["reason"]) == ("False", "ReplicationFactorAboveNodes")
    assert found["message"].startswith(
        'spec.collections[0].replicationFactor: 3 copies of collection "manuals" asked for, but the store has '
        "1 Qdrant node"
    )
