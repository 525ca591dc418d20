"""Events on phase changes: a normal create says Ready once; problems someone should look at are Warnings."""

from __future__ import annotations

from tests.unit import fakes
from tests.unit.fakes import FakeKube
from tests.unit.samples import pipeline, store

from ragops.reconcile.children import ChildCache
from ragops.reconcile.ragpipeline import reconcile_pipeline
from ragops.reconcile.vectorstore import reconcile_vectorstore

STORE = ("VectorStore", "search", "docs")


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
