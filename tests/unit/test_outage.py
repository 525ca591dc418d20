"""What the runtime does after its watches were blind: relists replace the cache, the deleted stay deleted.

The sequences of the outage issues, driven through the runtime's stream hooks (what handlers/streams.py
calls on every (re)list) against the fake API server, with the real reconcilers."""

from __future__ import annotations

import asyncio

from tests.unit.fakes import SELECTOR, FakeKube
from tests.unit.test_runtime import PIPELINE, STORE, converge, converged_stack, reconciles

from ragops.reconcile import runtime as runtime_module
from ragops.reconcile.children import ChildCache
from ragops.reconcile.runtime import Runtime


def present(kube: FakeKube, kind: str) -> set[tuple[str, str]]:
    """What a fresh listing of `kind` finds."""
    return {(k[1], k[2]) for k in kube.objects if k[0] == kind}


def relist(runtime: Runtime, kube: FakeKube, kind: str) -> None:
    mark = runtime.relist_started(kind, None)
    runtime.relisted(kind, None, present(kube, kind), mark)


def test_a_listing_forgets_cached_children_it_lacks_but_not_those_stored_after_it_began() -> None:
    cache = ChildCache()
    old = {"kind": "ConfigMap", "metadata": {"namespace": "a", "name": "old", "uid": "1"}}
    kept = {"kind": "ConfigMap", "metadata": {"namespace": "a", "name": "kept", "uid": "2"}}
    other_namespace = {"kind": "ConfigMap", "metadata": {"namespace": "b", "name": "old", "uid": "3"}}
    for obj in (old, kept, other_namespace):
        cache.put(obj)
    mark = cache.mark()
    newer = {"kind": "ConfigMap", "metadata": {"namespace": "a", "name": "new", "uid": "4"}}
    cache.put(newer)  # applied while the listing ran: the listing may predate it

    forgotten = cache.replace("ConfigMap", "a", [("ConfigMap", "a", "kept")], mark)

    assert [f["metadata"]["name"] for f in forgotten] == ["old"]
    assert cache.get(("ConfigMap", "a", "old")) is None
    assert cache.get(("ConfigMap", "a", "kept")) is not None
    assert cache.get(("ConfigMap", "a", "new")) is not None
    assert cache.get(("ConfigMap", "b", "old")) is not None  # another scope's listing did not see it


async def test_children_deleted_while_the_watch_was_down_are_made_again_after_the_relist() -> None:
    kube = FakeKube()
    runtime = await converged_stack(kube)
    configmap = next(k for k in kube.objects if k[0] == "ConfigMap")
    service = next(k for k in kube.objects if k[0] == "Service")
    # Deleted while the watches were down: no DELETED event reaches the runtime.
    del kube.objects[configmap]
    del kube.objects[service]
    kube.requests.clear()

    for kind in ("ConfigMap", "Service"):
        relist(runtime, kube, kind)
    await converge(runtime)

    assert configmap in kube.objects and service in kube.objects
    assert ("PATCH", "ConfigMap", configmap[2]) in kube.requests
    await runtime.stop()


async def test_the_resync_repairs_a_child_deleted_unseen_with_one_list_per_kind() -> None:
    kube = FakeKube()
    runtime = await converged_stack(kube)
    runtime.prime(["ConfigMap", "Service", "Deployment"], None, SELECTOR)  # as at startup: misses mean absent
    configmap = next(k for k in kube.objects if k[0] == "ConfigMap")
    del kube.objects[configmap]
    kube.requests.clear()

    listings = await asyncio.get_running_loop().run_in_executor(None, runtime._list_everything)
    for kind, namespace, found, mark in listings:
        runtime.relisted(kind, namespace, found, mark)
    await converge(runtime)

    assert configmap in kube.objects
    lists = [r for r in kube.requests if r[0] == "LIST"]
    assert len(lists) == 5  # VectorStore, RagPipeline and the three child kinds: no GET per child
    assert not [r for r in kube.requests if r[0] == "GET"]
    await runtime.stop()


async def test_a_resource_deleted_while_unwatched_is_forgotten_by_the_relist_and_causes_no_write() -> None:
    kube = FakeKube()
    runtime = await converged_stack(kube)
    relist(runtime, kube, "RagPipeline")  # the stream's first listing, at startup
    mark = runtime.relist_started("RagPipeline", None)  # it was live: from now on reconciles wait for it
    kube.vanish(PIPELINE)
    kube.requests.clear()

    runtime.enqueue(PIPELINE)  # a resync, or a child's DELETED event from the garbage collector
    await converge(runtime)
    assert kube.writes() == []  # held while the resource stream relists

    runtime.relisted("RagPipeline", None, present(kube, "RagPipeline"), mark)
    await converge(runtime)

    assert runtime.lookup(*PIPELINE) is None
    assert kube.writes() == []
    await runtime.stop()


async def test_a_resource_whose_status_write_answers_404_is_forgotten_not_retried() -> None:
    kube = FakeKube()
    runtime = await converged_stack(kube)
    kube.vanish(PIPELINE)  # gone, and no listing told the runtime
    # A change that needs a new status, so the reconcile writes and meets the 404.
    body = runtime.lookup(*PIPELINE)
    assert body is not None
    runtime.parents[PIPELINE] = {**body, "status": {}}
    kube.requests.clear()

    runtime.enqueue(PIPELINE)
    await converge(runtime)
    await asyncio.sleep(runtime_module.BACKOFF_BASE * 1.5)  # a retry would have come by now
    await converge(runtime)

    assert runtime.lookup(*PIPELINE) is None
    assert [r for r in kube.requests if r == ("GET", "RagPipeline", "bot")] == [("GET", "RagPipeline", "bot")]
    assert len([r for r in kube.requests if r[1] == "RagPipeline/status"]) == 1
    await runtime.stop()


async def test_a_resource_reconciled_too_often_is_slowed_down_and_counted(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime_module, "STORM_LIMIT", 5)
    kube = FakeKube()
    runtime = await converged_stack(kube)
    before = reconciles(runtime)

    for _ in range(20):
        runtime.enqueue(STORE)
        await converge(runtime)

    assert reconciles(runtime) - before <= 5
    throttled = [s for m in runtime.metrics.throttled.collect() for s in m.samples if s.name.endswith("_total")]
    assert sum(s.value for s in throttled) >= 1
    await runtime.stop()
