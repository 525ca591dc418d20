"""The reconcile loop: watch events in, one coalesced reconcile per resource at a time, out.

kopf delivers watch events for our kinds and their children; the runtime keeps the latest bodies,
queues the affected resource (a burst of events becomes one pass), runs reconciles in worker threads,
retries transient failures with backoff and re-checks everything on a timer.

What it caches is only as good as its watches: every (re)list replaces what was cached for its kind and
scope (`relisted`), reconciles wait while a resource stream relists after an outage, and the periodic resync
checks the cache against one names-only LIST per kind, so nothing deleted while the operator was blind is
taken for present. A resource that turns out to be gone (404) is forgotten, and one reconciled too often is
slowed down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ragops import GROUP
from ragops.reconcile.children import ChildCache, controller_uid, key_of, list_keys, prime, slim
from ragops.reconcile.context import Context, Outcome
from ragops.reconcile.kube import KubeError
from ragops.reconcile.metrics import OperatorMetrics
from ragops.reconcile.ragpipeline import reconcile_pipeline
from ragops.reconcile.vectorstore import reconcile_vectorstore
from ragops.reconcile.watches import DEFAULT_DEAD_AFTER, DEFAULT_DEAF_EXIT_FACTOR, WatchMonitor

log = logging.getLogger(__name__)

ResourceKey = tuple[str, str, str]  # kind, namespace, name
RECONCILERS: dict[str, Callable[[Context, Mapping[str, Any]], Outcome]] = {
    "VectorStore": reconcile_vectorstore,
    "RagPipeline": reconcile_pipeline,
}
BACKOFF_BASE = 1.0
BACKOFF_MAX = 300.0
# After a restart, reconciles wait until the watches have delivered everything listed at startup, or this long
# (an object deleted between that listing and the watch's own is never delivered).
LISTING_TIMEOUT = 60.0
# A resource reconciled more often than this within a minute is slowed down (whatever the cause: a loop between
# the operator and another controller, a child that keeps changing): one pass per STORM_DELAY until it calms.
STORM_WINDOW = 60.0
STORM_LIMIT = 30
STORM_DELAY = 30.0


class Runtime:
    def __init__(
        self,
        make_context: Callable[[Runtime], Context],
        workers: int = 8,
        metrics: OperatorMetrics | None = None,
        *,
        dead_after: float = DEFAULT_DEAD_AFTER,
        on_fatal: Callable[[str], None] | None = None,
    ) -> None:
        self.parents: dict[ResourceKey, Mapping[str, Any]] = {}
        self.children = ChildCache()
        self.metrics = metrics or OperatorMetrics()
        self.context = make_context(self)
        self._workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._queue: asyncio.Queue[ResourceKey] = asyncio.Queue()
        self._queued: set[ResourceKey] = set()
        self._running: set[ResourceKey] = set()
        self._dirty: set[ResourceKey] = set()  # changed while running: run again right after
        self._failures: dict[ResourceKey, int] = {}
        self._timers: dict[ResourceKey, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._uids: dict[str, ResourceKey] = {}
        self._unseen: set[ResourceKey] = set()  # parents listed at startup, not delivered yet
        self._ready = True  # False while waiting for what was listed at startup
        self._held: set[ResourceKey] = set()  # enqueued before ready, or while a resource stream relists
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stored: dict[ResourceKey, int] = {}  # when each parent was last stored (a ChildCache mark)
        self._listed_once: set[tuple[str, str | None]] = set()
        self._blind: set[tuple[str, str | None]] = set()  # resource streams relisting after having been live
        self._recent: dict[ResourceKey, deque[float]] = {}  # start times of recent passes (storm guard)
        self._scope: tuple[Sequence[str] | None, str] = (None, "")  # namespaces and child selector, from prime()
        self._kinds: list[str] = []
        self.watches = WatchMonitor(self.metrics.registry, dead_after=dead_after)
        self.heartbeat = time.monotonic()  # the event loop's last tick (liveness)
        self._on_fatal = on_fatal
        self._deaf_since: float | None = None

    # -- inputs ---------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """The startup listing has been delivered (reconciles run)."""
        return self._ready

    def lookup(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.parents.get((kind, namespace, name))

    def observe_parent(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        key = _resource_key(body)
        if not self._ready:
            self._unseen.discard(key)
            self._open_when_listed()
        if event_type == "DELETED" or body.get("metadata", {}).get("deletionTimestamp"):
            self._forget(key, body)
        else:
            known = self.parents.get(key)
            if known is not None and _version(known) == _version(body):
                return  # delivered again, unchanged
            self.parents[key] = slim(body)
            self._stored[key] = self.children.mark()
            self._uids[body["metadata"]["uid"]] = key
            if known is None or _beyond_status(known, body):
                self.enqueue(key)  # not for the status the last pass wrote: nothing to do about it
        self._count(key[0])
        if key[0] == "VectorStore":
            # Pipelines bound to this store wait for it, or follow its readiness and API-key Secret.
            for other, other_body in list(self.parents.items()):
                if other[0] == "RagPipeline" and other[1] == key[1] and _store_ref(other_body) == key[2]:
                    self.enqueue(other)

    def observe_child(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        known = self.children.get(key_of(body))
        if event_type == "DELETED":
            self.children.remove(key_of(body))
        else:
            if known is not None and _version(known) == _version(body):
                return  # cached from the apply that made this version: its owner has seen it
            self.children.put(body)
        if not self._ready:
            self._open_when_listed()
        self.metrics.children.set(len(self.children))
        owner = self._owner_of(body)
        if owner is not None and (known is None or event_type == "DELETED" or _matters(known, body)):
            self.enqueue(owner)

    def wake(self, key: ResourceKey) -> None:
        """`enqueue` from any thread (a background check that has an answer)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile: the operator is stopping
                loop.call_soon_threadsafe(self.enqueue, key)

    def enqueue(self, key: ResourceKey, delay: float = 0.0) -> None:
        if not self._ready or self._blind:
            self._held.add(key)
            return
        if delay > 0:
            if key in self._timers:
                self._timers[key].cancel()
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(delay, self._fire_timer, key)
            return
        if key in self._running:
            self._dirty.add(key)
            return
        if key not in self._queued and key in self.parents:
            self._queued.add(key)
            self._queue.put_nowait(key)
            self.metrics.queue_depth.set(len(self._queued))

    # -- the watch streams (handlers/streams.py) ------------------------------------------------

    def relist_started(self, kind: str, namespace: str | None) -> int:
        """A stream starts (again) with a listing: until it is done, what is cached for it may be stale."""
        stream = (kind, namespace)
        if kind in RECONCILERS and stream in self._listed_once:
            if not self._blind:
                log.info("the %s stream %s relists: reconciles wait for it", kind, namespace or "cluster-wide")
            self._blind.add(stream)
        return self.children.mark()

    def relisted(self, kind: str, namespace: str | None, present: set[tuple[str, str]], mark: int) -> None:
        """A listing of `kind` found exactly `present` (namespace, name): forget what it lacks, repair owners."""
        stream = (kind, namespace)
        self._listed_once.add(stream)
        if kind in RECONCILERS:
            gone = [
                key
                for key in self.parents
                if key[0] == kind
                and (namespace is None or key[1] == namespace)
                and (key[1], key[2]) not in present
                and self._stored.get(key, 0) < mark
            ]
            for key in gone:
                log.info("%s %s/%s was deleted while unwatched: forgotten", *key)
                self._forget(key, self.parents[key])
            self._unseen -= {k for k in self._unseen if k[0] == kind and (k[1], k[2]) not in present}
            if self._blind and stream in self._blind:
                self._blind.discard(stream)
                if not self._blind:
                    log.info("resource streams relisted: reconciling what waited")
                    self._release()
        else:
            self._drop_children(self.children.replace(kind, namespace, ((kind, *k) for k in present), mark))
        if not self._ready:
            self._open_when_listed()

    def _drop_children(self, forgotten: Iterable[Mapping[str, Any]]) -> None:
        """Children a listing lacks were deleted unseen: their owners must make them again."""
        owners = set()
        for body in forgotten:
            log.info("%s %s/%s was deleted while unwatched", *key_of(body))
            owner = self._owner_of(body)
            if owner is not None:
                owners.add(owner)
        self.metrics.children.set(len(self.children))
        for owner in owners:
            self.enqueue(owner)

    # -- lifecycle ------------------------------------------------------------------------------

    def prime(self, kinds: Iterable[str], namespaces: Sequence[str] | None, label_selector: str) -> None:
        """List every resource and child (names only) before the watches start; blocking, call in a thread.

        A miss in the child cache then means "absent" (no GET before creating a child), and reconciles wait
        until the watches have delivered what the listing found: a restarted operator decides nothing from a
        half-filled cache (no pipeline finds its store missing, no child is read one by one)."""
        started = time.monotonic()
        self._kinds = list(kinds)
        self._scope = (namespaces, label_selector)
        unprimed = prime(self.context.kube, self.children, self._kinds, namespaces, label_selector)
        for kind in RECONCILERS:
            keys = list_keys(self.context.kube, kind, namespaces)
            self._unseen.update(key for key in keys or [] if key not in self.parents)
        self._ready = not self._unseen and not self.children.unseen()
        log.info(
            "listed %d resources and %d children in %.2fs%s",
            len(self._unseen),
            self.children.unseen(),
            time.monotonic() - started,
            f" (not {', '.join(unprimed)})" if unprimed else "",
        )

    def start(self, resync_seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        if not self._ready:
            asyncio.get_running_loop().call_later(LISTING_TIMEOUT, self._open, f"{LISTING_TIMEOUT:.0f}s passed")
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self._workers)]
        self._tasks.append(asyncio.create_task(self._resync(resync_seconds)))
        self._tasks.append(asyncio.create_task(self._pulse()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for timer in self._timers.values():
            timer.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
        close = getattr(self.context.collections, "close", None)
        if close is not None:
            close()

    async def idle(self) -> None:
        """Wait until nothing is queued or running (tests and benchmarks)."""
        while self._queued or self._running:
            await asyncio.sleep(0.05)

    # -- internals ------------------------------------------------------------------------------

    def _open_when_listed(self) -> None:
        if not self._unseen and not self.children.unseen():
            self._open("the watches delivered everything listed at startup")

    def _open(self, why: str) -> None:
        if self._ready:
            return
        self._ready = True
        log.info("reconciling %d resources: %s", len(self.parents), why)
        self._release()

    def _release(self) -> None:
        held, self._held = self._held, set()
        for key in held:
            self.enqueue(key)

    def _fire_timer(self, key: ResourceKey) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    async def _pulse(self) -> None:
        """Every second: the liveness heartbeat, the watch-age metrics, and the last resort against deafness:
        streams dead (while the API server answers) for twice the liveness bound end the process, so that
        whatever runs it starts a fresh one, in a cluster or not."""
        while True:
            await asyncio.sleep(1.0)
            self.heartbeat = time.monotonic()
            self.watches.refresh_ages()
            deaf = self.watches.deaf()
            now = time.monotonic()
            if not deaf:
                self._deaf_since = None
                continue
            if self._deaf_since is None:
                self._deaf_since = now
                log.error("not watching: %s", "; ".join(deaf))
            elif now - self._deaf_since > self.watches.dead_after * (DEFAULT_DEAF_EXIT_FACTOR - 1):
                log.critical("still not watching, exiting so that a fresh process starts: %s", "; ".join(deaf))
                if self._on_fatal is not None:
                    self._on_fatal("; ".join(deaf))
                    self._on_fatal = None

    async def _resync(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(seconds)
            if self._kinds:
                try:
                    listings = await loop.run_in_executor(self._executor, self._list_everything)
                except Exception:
                    log.exception("resync: could not list; trusting the cache this time")
                    listings = []
                for kind, namespace, present, mark in listings:
                    self.relisted(kind, namespace, present, mark)
            for key in list(self.parents):
                self.enqueue(key)

    def _list_everything(self) -> list[tuple[str, str | None, set[tuple[str, str]], int]]:
        """One names-only LIST per kind (per watched namespace): what the resync checks the cache against."""
        namespaces, selector = self._scope
        listings = []
        for kind in [*RECONCILERS, *self._kinds]:
            for namespace in namespaces if namespaces is not None else [None]:
                mark = self.children.mark()
                keys = list_keys(self.context.kube, kind, [namespace] if namespace else None,
                                 "" if kind in RECONCILERS else selector)
                if keys is not None:
                    listings.append((kind, namespace, {(k[1], k[2]) for k in keys}, mark))
        return listings

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self.metrics.queue_depth.set(len(self._queued))
            body = self.parents.get(key)
            if body is None:
                continue
            if self._storming(key):
                continue
            self._running.add(key)
            started = time.monotonic()
            try:
                outcome = await loop.run_in_executor(self._executor, RECONCILERS[key[0]], self.context, body)
            except KubeError as error:
                if error.not_found and await loop.run_in_executor(self._executor, self._gone, key):
                    log.info("%s %s/%s is gone (deleted while unwatched): forgotten", *key)
                    self._running.discard(key)
                    self._dirty.discard(key)
                    self._forget(key, body)
                    continue
                log.exception("%s %s/%s: reconcile crashed", *key)
                outcome = Outcome("error")
            except Exception:
                log.exception("%s %s/%s: reconcile crashed", *key)
                outcome = Outcome("error")
            finally:
                self._running.discard(key)
            self.metrics.duration.labels(kind=key[0]).observe(time.monotonic() - started)
            self.metrics.reconciles.labels(kind=key[0], result=outcome.result).inc()
            self._after(key, outcome)

    def _after(self, key: ResourceKey, outcome: Outcome) -> None:
        if outcome.result == "error":
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failures - 1)) * (0.5 + random.random() / 2)
            self.enqueue(key, delay)
        else:
            self._failures.pop(key, None)
            if outcome.requeue_after:
                self.enqueue(key, outcome.requeue_after)
        if key in self._dirty:
            self._dirty.discard(key)
            self.enqueue(key)

    def _gone(self, key: ResourceKey) -> bool:
        """After a 404 in its reconcile: is the resource itself gone? (One GET, only on that path.)"""
        try:
            return self.context.kube.get(*key) is None
        except KubeError:
            return False

    def _storming(self, key: ResourceKey) -> bool:
        """Count this pass; past STORM_LIMIT in STORM_WINDOW, put it off by STORM_DELAY instead."""
        now = time.monotonic()
        recent = self._recent.setdefault(key, deque())
        while recent and now - recent[0] > STORM_WINDOW:
            recent.popleft()
        if len(recent) >= STORM_LIMIT:
            self.metrics.throttled.labels(kind=key[0]).inc()
            if key not in self._timers:
                log.warning(
                    "%s %s/%s was reconciled %d times in %.0fs: slowing down to one pass per %.0fs",
                    *key, len(recent), STORM_WINDOW, STORM_DELAY,
                )
                self.enqueue(key, STORM_DELAY)
            return True
        recent.append(now)
        return False

    def _owner_of(self, body: Mapping[str, Any]) -> ResourceKey | None:
        for ref in body.get("metadata", {}).get("ownerReferences") or []:
            if ref.get("controller") and str(ref.get("apiVersion", "")).startswith(f"{GROUP}/"):
                return self._uids.get(str(ref.get("uid")))
        # Jobs made by a backup CronJob belong to the CronJob; their outcome matters to its VectorStore.
        owner_uid = controller_uid(body)
        if owner_uid is not None:
            owner = self.children.get(("CronJob", body["metadata"]["namespace"], _owner_name(body)))
            if owner is not None:
                return self._owner_of(owner)
        return None

    def _count(self, kind: str) -> None:
        self.metrics.managed.labels(kind=kind).set(sum(1 for k in self.parents if k[0] == kind))

    def _forget(self, key: ResourceKey, body: Mapping[str, Any]) -> None:
        self.parents.pop(key, None)
        self._count(key[0])
        self._stored.pop(key, None)
        self._recent.pop(key, None)
        self._held.discard(key)
        self._uids.pop(body.get("metadata", {}).get("uid", ""), None)
        self._failures.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer:
            timer.cancel()


def _resource_key(body: Mapping[str, Any]) -> ResourceKey:
    meta = body["metadata"]
    return body["kind"], meta["namespace"], meta["name"]


def _beyond_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether anything but status (and the version bookkeeping) differs."""
    ignored = ("resourceVersion", "managedFields")
    old_meta = {k: v for k, v in old.get("metadata", {}).items() if k not in ignored}
    new_meta = {k: v for k, v in new.get("metadata", {}).items() if k not in ignored}
    if old_meta != new_meta:
        return True
    keys = (set(old) | set(new)) - {"metadata", "status"}
    return any(old.get(k) != new.get(k) for k in keys)


def _readiness(obj: Mapping[str, Any]) -> Any:
    """The part of a child's status a reconcile reads (vectorstore._qdrant_ready, ragpipeline._deployment_ready,
    jobs.job_result); other status changes (an HPA's metrics, a rollout's intermediate counts) change nothing."""
    status = obj.get("status") or {}
    kind = obj.get("kind")
    if kind in ("StatefulSet", "Deployment"):
        available = [c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Available"]
        fields = ("observedGeneration", "readyReplicas", "updatedReplicas")
        return tuple(status.get(f) for f in fields), available
    if kind == "Job":
        return status.get("conditions"), status.get("completionTime")
    return None


def _matters(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether a child's change can change its owner's reconcile."""
    return _beyond_status(old, new) or _readiness(old) != _readiness(new)


def _version(body: Mapping[str, Any]) -> str | None:
    return body.get("metadata", {}).get("resourceVersion")  # type: ignore[no-any-return]


def _store_ref(body: Mapping[str, Any]) -> str | None:
    ref = (body.get("spec") or {}).get("vectorStoreRef") or {}
    name = ref.get("name")
    return str(name) if name else None


def _owner_name(body: Mapping[str, Any]) -> str:
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("name"))
    return ""
