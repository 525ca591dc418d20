"""Declared collections, ensured through Qdrant's API once the store is ready.

Rate-limited per resource generation so an unreachable Qdrant (an operator running outside the
cluster, a NetworkPolicy) costs one attempt a minute, and a stable answer causes no status writes.
Checks run on their own threads: a reconcile waits for one briefly, then goes on with the last answer
and is queued again when the check ends, so slow name resolution or a hanging Qdrant never holds the
reconcile workers. Qdrant is reached over its REST API with httpx (ragops.qdrant.rest), not qdrant-client,
whose models alone would add about 50 MB to the operator; nothing is imported until a Qdrant answers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

from ragops.builders import names
from ragops.models.resource import Resource
from ragops.models.vectorstore import VectorStoreSpec
from ragops.reconcile.conditions import Observation

RETRY_SECONDS = 60.0
TIMEOUT_SECONDS = 20.0
CONNECT_SECONDS = 5.0
WAIT_SECONDS = 0.25  # how long a reconcile waits for a check before going on without it
CHECK_THREADS = 4


class QdrantCollections:
    """The production CollectionsChecker: talks to the store's client Service.

    `on_late_answer(namespace, name)` is called (from a check thread) when a check ends after its
    reconcile stopped waiting: the store should be reconciled again to report the answer."""

    def __init__(
        self,
        retry_seconds: float = RETRY_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
        on_late_answer: Callable[[str, str], None] | None = None,
    ) -> None:
        self._retry = retry_seconds
        self._wait = wait_seconds
        self._on_late_answer = on_late_answer
        self._lock = threading.Lock()
        self._last: dict[tuple[str, int], tuple[float, Observation]] = {}
        self._running: dict[str, Future[Observation]] = {}  # by resource uid
        self._late: set[str] = set()
        self._pool = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="collections")

    def __call__(self, resource: Resource[VectorStoreSpec], api_key: str | None, nodes: int) -> Observation | None:
        """The answer, or None while the first check of this generation is still running."""
        key = (resource.uid, resource.generation)
        with self._lock:
            cached = self._last.get(key)
            if cached and time.monotonic() - cached[0] < self._retry:
                return cached[1]
            future = self._running.get(resource.uid)
            started = future is None
            if future is None:
                future = self._pool.submit(self._ensure, resource, api_key, nodes)
                self._running[resource.uid] = future
        if started:
            future.add_done_callback(lambda done: self._record(resource, key, done))
        try:
            future.result(timeout=self._wait)
        except FutureTimeout:
            with self._lock:
                if not future.done():
                    self._late.add(resource.uid)
                    # The previous answer stands until the new one comes.
                    return cached[1] if cached else None
        except Exception:
            pass
        return self._answer(resource, future)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _answer(self, resource: Resource[VectorStoreSpec], done: Future[Observation]) -> Observation:
        try:
            return done.result()
        except Exception as error:  # a bug in a check must not leave the store "checking" forever
            return self._unreachable(names.qdrant_url(resource.name, resource.namespace), type(error).__name__)

    def _record(self, resource: Resource[VectorStoreSpec], key: tuple[str, int], done: Future[Observation]) -> None:
        if done.cancelled():
            return
        observation = self._answer(resource, done)
        with self._lock:
            self._last = {k: v for k, v in self._last.items() if k[0] != resource.uid}
            self._last[key] = (time.monotonic(), observation)
            self._running.pop(resource.uid, None)
            late = resource.uid in self._late
            self._late.discard(resource.uid)
        if late and self._on_late_answer is not None:
            self._on_late_answer(resource.namespace, resource.name)

    def _ensure(self, resource: Resource[VectorStoreSpec], api_key: str | None, nodes: int) -> Observation:
        url = names.qdrant_url(resource.name, resource.namespace)
        refused = _unreachable(url)
        if refused is not None:
            return self._unreachable(url, refused)

        async def run() -> Observation:
            from ragops.qdrant.collections import ensure_collections
            from ragops.qdrant.rest import QdrantRest

            api = QdrantRest(url, api_key, timeout=TIMEOUT_SECONDS)
            try:
                report = await asyncio.wait_for(
                    ensure_collections(
                        api, resource.spec.collections, nodes=nodes, prune=resource.spec.prune_collections
                    ),
                    TIMEOUT_SECONDS,
                )
            finally:
                await api.close()
            return Observation("CollectionsReady", report.ready, report.reason, report.message)

        try:
            return asyncio.run(run())
        except Exception as error:  # DNS, connection, timeout, HTTP errors: all "cannot reach it now"
            return self._unreachable(url, type(error).__name__)

    def _unreachable(self, url: str, why: str) -> Observation:
        return Observation(
            "CollectionsReady",
            None,
            "QdrantUnreachable",
            f"cannot reach Qdrant at {url} ({why}); retrying every {int(self._retry)}s",
        )


def _unreachable(url: str) -> str | None:
    """Why no TCP connection to the URL's host opens (None when one does): name resolution fails for an
    operator outside the cluster, which then spends no HTTP client and no timeout on it."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=CONNECT_SECONDS):
            return None
    except OSError as error:
        return type(error).__name__
