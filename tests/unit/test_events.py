"""Events on phase changes: a normal create says Ready once; problems someone should look at are Warnings."""

from __future__ import annotations

from tests.unit import fakes
from tests.unit.fakes import FakeKube
from tests.unit.samples import pipeline, store

from ragops.reconcile.children import ChildCache
from ragops.reconcile.ragpipeline import reconcile_pipeline
from ragops.reconcile.vectorstore import reconcile_vectorstore

STORE = ("VectorStore", "search", "docs")
PIPELINE = ("RagPipeline", "search", "bot")


def events(kube: FakeKube) -> list[str]:
    return [reason for method, kind, reason in kube.requests if kind == "Event"]


def test_a_store_rolling_out_then_ready_posts_one_event() -> None:
    kube = FakeKube()
    kube.add(store())
    cache = ChildCache()
    ctx = fakes.context(kube, cache)

    reconcile_vectorstore(ctx, kube.body(*STORE))
    assert kube.body(*STORE)["status"]["phase"] == "Progressing"
    assert events(kube) == []  # pods starting is not a problem

    sts = cache.get(("StatefulSet", "search", "docs-qdrant"))
    assert sts is not None
    status = {"readyReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1}
    cache.put({**sts, "metadata": {**sts["metadata"], "generation": 1}, "status": status})
    reconcile_vectorstore(ctx, kube.body(*STORE))
    assert kube.body(*STORE)["status"]["phase"] == "Ready"
    assert events(kube) == ["Ready"]


def test_a_pipeline_whose_store_does_not_exist_gets_a_warning() -> None:
    kube = FakeKube()
    kube.add(pipeline())
    ctx = fakes.context(kube, ChildCache())

    reconcile_pipeline(ctx, kube.body("RagPipeline", "search", "bot"))

    assert events(kube) == ["VectorStoreNotFound"]


def test_a_gateway_below_its_minimum_replicas_is_not_ready_yet() -> None:
    """After small -> medium the Deployment is fully rolled out at 1 pod until the HPA raises it to 2."""
    kube = FakeKube()
    kube.add(pipeline(profile="medium"))
    ready_store = {**store(), "status": {"conditions": [{"type": "QdrantReady", "status": "True"}]}}
    cache = ChildCache()
    ctx = fakes.context(kube, cache, lookup=lambda *key: ready_store if key == STORE else None)
    reconcile_pipeline(ctx, kube.body(*PIPELINE))
    deployment = cache.get(("Deployment", "search", "bot-gateway"))
    assert deployment is not None

    def rolled_out(pods: int) -> None:
        status = {"observedGeneration": 1, "readyReplicas": pods, "updatedReplicas": pods,
                  "conditions": [{"type": "Available", "status": "True"}]}
        meta = {**deployment["metadata"], "generation": 1}
        cache.put({**deployment, "metadata": meta, "spec": {**deployment["spec"], "replicas": pods}, "status": status})
        reconcile_pipeline(ctx, kube.body(*PIPELINE))

    rolled_out(1)
    status = kube.body(*PIPELINE)["status"]
    gateway = next(c for c in status["conditions"] if c["type"] == "GatewayReady")
    assert (status["phase"], gateway["status"]) == ("Progressing", "False")
    assert gateway["message"] == "1/2 gateway pods ready"

    rolled_out(2)
    assert kube.body(*PIPELINE)["status"]["phase"] == "Ready"
    assert events(kube) == ["Ready"]
