"""Checks of something in the cluster (Qdrant's collections, a gateway's health) off the reconcile workers.

One check per resource runs at a time, on its own thread; its answer is cached per resource generation
for `retry` seconds, so an unreachable endpoint (an operator running outside the cluster, a NetworkPolicy)
costs one attempt per interval and a stable answer causes no status writes. A reconcile waits for a check
briefly, then goes on with the last answer; when the check ends late, `on_late_answer(namespace, name)`
(called from the check thread) has the resource reconciled again to report it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlsplit

from ragops.models.resource import Resource
from ragops.reconcile.conditions import Observation

CONNECT_SECONDS = 5.0
CHECK_THREADS = 4


class BackgroundChecks:
    def __init__(
        self,
        retry_seconds: float,
        wait_seconds: float,
        on_late_answer: Callable[[str, str], None] | None,
        thread_name: str,
    ) -> None:
        self.retry = retry_seconds
        self._wait = wait_seconds
        self._on_late_answer = on_late_answer
        self._lock = threading.Lock()
        self._last: dict[tuple[str, int], tuple[float, Observation]] = {}
        self._running: dict[str, Future[Observation]] = {}  # by resource uid
        self._late: set[str] = set()
        self._pool = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix=thread_name)

    def answer(
        self,
        resource: Resource[Any],
        check: Callable[[], Observation],
        on_error: Callable[[Exception], Observation],
    ) -> Observation | None:
        """The answer, or None while the first check of this generation is still running. `on_error` turns a
        bug in a check into an answer, so the resource is never left "checking" forever."""
        key = (resource.uid, resource.generation)
        with self._lock:
            cached = self._last.get(key)
            if cached and time.monotonic() - cached[0] < self.retry:
                return cached[1]
            future = self._running.get(resource.uid)
            started = future is None
            if future is None:
                future = self._pool.submit(check)
                self._running[resource.uid] = future
        if started:
            future.add_done_callback(lambda done: self._record(resource, key, done, on_error))
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
        return _result(future, on_error)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _record(
        self,
        resource: Resource[Any],
        key: tuple[str, int],
        done: Future[Observation],
        on_error: Callable[[Exception], Observation],
    ) -> None:
        if done.cancelled():
            return
        observation = _result(done, on_error)
        with self._lock:
            self._last = {k: v for k, v in self._last.items() if k[0] != resource.uid}
            self._last[key] = (time.monotonic(), observation)
            self._running.pop(resource.uid, None)
            late = resource.uid in self._late
            self._late.discard(resource.uid)
        if late and self._on_late_answer is not None:
            self._on_late_answer(resource.namespace, resource.name)


def _result(done: Future[Observation], on_error: Callable[[Exception], Observation]) -> Observation:
    try:
        return done.result()
    except Exception as error:
        return on_error(error)


def refused(url: str) -> str | None:
    """Why no TCP connection to the URL's host opens (None when one does): name resolution fails for an
    operator outside the cluster, which then spends no HTTP client and no timeout on it."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=CONNECT_SECONDS):
            return None
    except OSError as error:
        return type(error).__name__
