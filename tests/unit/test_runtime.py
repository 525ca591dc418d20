"""The runtime between watch events and reconciles: what a restart, a repeated event or a slow Qdrant cost.

Driven with a fake API server that counts requests (tests/unit/fakes.py) and the real reconcilers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from tests.unit import fakes
from tests.unit.fakes import CHILD_KINDS, SELECTOR, FakeKube
from tests.unit.samples import pipeline, store

from ragops.models import parse_resource
from ragops.reconcile import collections as collections_module
from ragops.reconcile import runtime as runtime_module
from ragops.reconcile.children import ChildCache
from ragops.reconcile.conditions import Observation
from ragops.reconcile.context import CollectionsChecker, Context
from ragops.reconcile.runtime import Runtime
from ragops.reconcile.vectorstore import reconcile_vectorstore

STORE = ("VectorStore", "search", "docs")
PIPELINE = ("RagPipeline", "search", "bot")


def runtime_for(kube: FakeKube, collections: CollectionsChecker = fakes.unreachable) -> Runtime:
    def make_context(runtime: Runtime) -> Context:
        return fakes.context(kube, runtime.children, runtime.lookup, collections)

    return Runtime(make_context, workers=2)


def reconciles(runtime: Runtime) -> int:
    samples = [s for metric in runtime.metrics.reconciles.collect() for s in metric.samples]
    return int(sum(s.value for s in samples if s.name.endswith("_total")))


async def converge(runtime: Runtime) -> None:
    await asyncio.sleep(0.05)
    await runtime.idle()


async def converged_stack(kube: FakeKube) -> Runtime:
    """A running runtime that has created the sample stack's resources and all their children."""
    kube.add(store())
    kube.add(pipeline())
    runtime = runtime_for(kube)
    runtime.start(resync_seconds=3600)
    runtime.observe_parent(None, kube.body(*STORE))
    runtime.observe_parent(None, kube.body(*PIPELINE))
    await converge(runtime)
    return runtime


async def existing_stack(kube: FakeKube) -> None:
    """What an earlier operator process left: the resources and all their children."""
    await (await converged_stack(kube)).stop()


async def test_a_restarted_operator_reconciles_only_once_the_watches_delivered_what_it_listed() -> None:
    kube = FakeKube()
    await existing_stack(kube)
    kube.requests.clear()

    runtime = runtime_for(kube)
    runtime.prime(CHILD_KINDS, None, SELECTOR)
    runtime.start(resync_seconds=3600)
    # The pipeline's event comes first: reconciling it now would report its store missing.
    runtime.observe_parent(None, kube.body(*PIPELINE))
    await converge(runtime)
    assert reconciles(runtime) == 0

    runtime.observe_parent(None, kube.body(*STORE))
    for key, obj in list(kube.objects.items()):
        if key[0] in CHILD_KINDS:
            runtime.observe_child(None, obj)
    await converge(runtime)
    await runtime.stop()

    assert reconciles(runtime) >= 2
    # Nothing read one by one, nothing written: status, children and keys are as the first process left them.
    assert [r for r in kube.requests if r[0] != "LIST"] == []


async def test_an_object_listed_but_never_delivered_holds_reconciles_only_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime_module, "LISTING_TIMEOUT", 0.2)
    kube = FakeKube()
    await existing_stack(kube)
    runtime = runtime_for(kube)
    runtime.prime(CHILD_KINDS, None, SELECTOR)
    del kube.objects[("ConfigMap", "search", "bot-gateway")]  # deleted between the listing and the watch's
    runtime.start(resync_seconds=3600)
    runtime.observe_parent(None, kube.body(*STORE))
    runtime.observe_parent(None, kube.body(*PIPELINE))
    for key, obj in list(kube.objects.items()):
        if key[0] in CHILD_KINDS:
            runtime.observe_child(None, obj)
    await converge(runtime)
    assert reconciles(runtime) == 0

    await asyncio.sleep(0.3)
    await converge(runtime)
    await runtime.stop()
    assert ("ConfigMap", "search", "bot-gateway") in kube.objects  # re-created


async def test_the_watch_event_of_an_applied_child_does_not_reconcile_its_owner_again() -> None:
    kube = FakeKube()
    kube.add(store())
    runtime = runtime_for(kube)
    runtime.start(resync_seconds=3600)
    runtime.observe_parent(None, kube.body(*STORE))
    await converge(runtime)
    passes = reconciles(runtime)

    children = [obj for key, obj in kube.objects.items() if key[0] in CHILD_KINDS]
    for obj in children:  # the ADDED events of what the reconcile applied: versions it already has
        runtime.observe_child("ADDED", obj)
    await converge(runtime)
    assert reconciles(runtime) == passes

    config = next(obj for obj in children if obj["kind"] == "ConfigMap")
    edited = {**config, "data": {"edited": "by someone"}}
    edited["metadata"] = {**config["metadata"], "resourceVersion": "edited"}
    kube.objects[("ConfigMap", "search", config["metadata"]["name"])] = edited
    runtime.observe_child("MODIFIED", edited)  # someone else's edit
    await converge(runtime)
    await runtime.stop()
    assert reconciles(runtime) == passes + 1
    assert kube.objects[("ConfigMap", "search", config["metadata"]["name"])]["data"] == config["data"]


class SlowQdrant(collections_module.QdrantCollections):
    """A check that answers only when released (a slow resolver, a hanging Qdrant)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(wait_seconds=0.05, **kwargs)
        self.release = threading.Event()

    def _ensure(self, resource: Any, api_key: str | None, nodes: int) -> Observation:
        self.release.wait(5)
        return Observation("CollectionsReady", True, "Ensured", "1 collection ready")


def test_a_slow_collections_check_does_not_hold_the_reconcile_and_reports_when_done() -> None:
    woken: list[tuple[str, str]] = []
    checker = SlowQdrant(on_late_answer=lambda ns, name: woken.append((ns, name)))
    resource = parse_resource(store())

    started = time.monotonic()
    assert checker(resource, "key", 1) is None  # no answer yet
    assert time.monotonic() - started < 1
    checker.release.set()
    deadline = time.monotonic() + 5
    while not woken and time.monotonic() < deadline:
        time.sleep(0.01)

    assert woken == [("search", "docs")]  # the store is reconciled again...
    answer = checker(resource, "key", 1)  # ...and that pass gets the answer at once
    assert answer is not None and answer.reason == "Ensured"
    checker.close()


def test_while_a_check_runs_the_store_keeps_the_collections_condition_it_has() -> None:
    kube = FakeKube()
    kube.add(store())
    ready_sts = {"readyReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1}
    cache = ChildCache()
    answers: list[Observation | None] = [Observation("CollectionsReady", None, "QdrantUnreachable", "not from here")]

    def checker(resource: Any, api_key: str | None, nodes: int) -> Observation | None:
        return answers[-1]

    ctx = fakes.context(kube, cache, collections=checker)
    reconcile_vectorstore(ctx, kube.body(*STORE))  # creates the children
    sts = cache.get(("StatefulSet", "search", "docs-qdrant"))
    assert sts is not None
    cache.put({**sts, "metadata": {**sts["metadata"], "generation": 1}, "status": ready_sts})
    reconcile_vectorstore(ctx, kube.body(*STORE))  # Qdrant ready: the checker's answer is written
    assert kube.body(*STORE)["status"]["phase"] == "Ready"

    answers.append(None)  # the next check is still running
    kube.requests.clear()
    reconcile_vectorstore(ctx, kube.body(*STORE))
    assert kube.writes() == []
    condition = next(c for c in kube.body(*STORE)["status"]["conditions"] if c["type"] == "CollectionsReady")
    assert condition["reason"] == "QdrantUnreachable"


async def test_only_changes_a_reconcile_reads_queue_another_pass() -> None:
    kube = FakeKube()
    runtime = await converged_stack(kube)
    # The status each pass wrote comes back as a watch event of its resource: not a reason for another pass.
    runtime.observe_parent("MODIFIED", kube.body(*PIPELINE))
    await converge(runtime)
    passes = reconciles(runtime)

    def modified(kind: str, name: str, **changes: Any) -> None:
        obj = kube.body(kind, "search", name)
        kube.objects[(kind, "search", name)] = obj = {**obj, **changes}
        obj["metadata"] = {**obj["metadata"], "resourceVersion": f"{obj['metadata']['resourceVersion']}+"}
        runtime.observe_child("MODIFIED", obj)

    modified("HorizontalPodAutoscaler", "bot-gateway", status={"currentReplicas": 1, "desiredReplicas": 1})
    modified("Deployment", "bot-gateway", status={"replicas": 1, "unavailableReplicas": 1})  # nothing ready yet
    await converge(runtime)
    assert reconciles(runtime) == passes

    modified("Deployment", "bot-gateway", status={"observedGeneration": 1, "replicas": 1, "readyReplicas": 1})
    await converge(runtime)
    assert reconciles(runtime) == passes + 1

    hpa = kube.body("HorizontalPodAutoscaler", "search", "bot-gateway")
    modified("HorizontalPodAutoscaler", "bot-gateway", spec={**hpa["spec"], "maxReplicas": 9})  # someone's edit
    await converge(runtime)
    await runtime.stop()
    assert reconciles(runtime) == passes + 2
    assert kube.objects[("HorizontalPodAutoscaler", "search", "bot-gateway")]["spec"]["maxReplicas"] == 3  # reverted
