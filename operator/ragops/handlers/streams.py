"""The one seam into kopf's watch loop: streams that never die, and relists the runtime can trust.

kopf ends a watch stream's task when a request escalates after its retries (an API server or etcd outage
longer than about a minute, a 5xx during a relist, an ERROR event in the stream) and nothing starts it again:
the operator then lives on, deaf, with a green health endpoint. `install()` wraps kopf's stream function so
that every stream (our kinds, their children, kopf's peering) is retried forever with a capped backoff, and
reports each phase: to the `WatchMonitor` (health, metrics) and, for every completed (re)list, to the runtime,
which replaces what it cached for that kind and scope (what the listing lacks was deleted while it was blind).

kopf calls `kopf._cogs.clients.watching.infinite_watch` through its module on every stream start, so
replacing the module attribute before the operator starts is enough; a test checks that the seam exists.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import aiohttp
from kopf._cogs.clients import errors as kopf_errors
from kopf._cogs.clients import watching as kopf_watching

from ragops.reconcile.watches import WatchMonitor

log = logging.getLogger(__name__)

HOOKS_ATTRIBUTE = "ragops_stream_hooks"  # set on kopf's OperatorSettings, which kopf hands to every stream
BACKOFF_BASE = 1.0
BACKOFF_MAX = 30.0
ObjectKey = tuple[str, str]  # namespace ("" for cluster-scoped), name


class StreamHooks(Protocol):
    """What the runtime does with a stream's life: the monitor, and a relist that replaces the cache."""

    watches: WatchMonitor

    def relist_started(self, kind: str, namespace: str | None) -> int: ...

    def relisted(self, kind: str, namespace: str | None, present: set[ObjectKey], mark: int) -> None: ...


_original_infinite_watch: Callable[..., AsyncIterator[Any]] | None = None


def install() -> None:
    """Wrap kopf's stream function (idempotent). Streams of an operator whose settings carry no hooks
    (another kopf operator in the same process) get the retries but report nowhere."""
    global _original_infinite_watch
    if _original_infinite_watch is not None:
        return
    _original_infinite_watch = kopf_watching.infinite_watch
    kopf_watching.infinite_watch = resilient_watch


def attach(settings: Any, hooks: StreamHooks) -> None:
    setattr(settings, HOOKS_ATTRIBUTE, hooks)


async def resilient_watch(
    *,
    settings: Any,
    resource: Any,
    namespace: str | None,
    operator_paused: Any = None,
    _iterations: int | None = None,
) -> AsyncIterator[Any]:
    """kopf's infinite_watch, one listing-and-watching round at a time, reporting each round and never
    letting an error end the stream."""
    original = _original_infinite_watch
    assert original is not None, "install() first"
    hooks: StreamHooks | None = getattr(settings, HOOKS_ATTRIBUTE, None)
    kind = str(resource.kind)
    try:
        async for event in _rounds(original, hooks, kind, settings, resource, namespace, operator_paused, _iterations):
            yield event
    finally:
        if hooks is not None:
            hooks.watches.stopped(kind, namespace)  # kopf ended the stream itself: stopping, or a kind gone


async def _rounds(
    original: Callable[..., AsyncIterator[Any]],
    hooks: StreamHooks | None,
    kind: str,
    settings: Any,
    resource: Any,
    namespace: str | None,
    operator_paused: Any,
    _iterations: int | None,
) -> AsyncIterator[Any]:
    failures = 0
    while _iterations is None or _iterations > 0:
        _iterations = None if _iterations is None else _iterations - 1
        mark = 0
        if hooks is not None:
            if operator_paused is not None and operator_paused.is_on():
                hooks.watches.paused(kind, namespace)  # kopf blocks below until this replica is active
            else:
                hooks.watches.listing(kind, namespace)
            mark = hooks.relist_started(kind, namespace)
        present: set[ObjectKey] = set()
        listed = False
        try:
            one_round = original(
                settings=settings,
                resource=resource,
                namespace=namespace,
                operator_paused=operator_paused,
                _iterations=1,
            )
            async for event in one_round:
                if event is kopf_watching.Bookmark.LISTED:
                    listed = True
                    failures = 0
                    if hooks is not None:
                        hooks.watches.listed(kind, namespace)
                        hooks.relisted(kind, namespace, present, mark)
                    present = set()
                elif isinstance(event, dict):
                    if hooks is not None:
                        hooks.watches.event(kind, namespace)
                    if not listed and event.get("type") is None:
                        meta = (event.get("object") or {}).get("metadata") or {}
                        present.add((str(meta.get("namespace") or ""), str(meta.get("name"))))
                yield event
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the errors kopf escalates: never the end of this stream
            failures += 1
            answered = isinstance(error, kopf_errors.APIError | kopf_watching.WatchingError)
            if hooks is not None:
                hooks.watches.failed(kind, namespace, _describe(error), answered=answered)
            delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failures - 1)) * (0.5 + random.random() / 2)
            log.warning("watching %s %s failed (%s); again in %.1fs", kind, _where(namespace), _describe(error), delay)
            await asyncio.sleep(delay)
            continue
        if not listed:
            # The round ended before its listing finished: kopf swallowed a lost connection (the API server
            # is not answering). Wait a little, as kopf would, then list again.
            failures += 1
            if hooks is not None:
                hooks.watches.failed(kind, namespace, "the listing did not complete (no answer)", answered=False)
            await asyncio.sleep(min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failures - 1)))


def _describe(error: BaseException) -> str:
    if isinstance(error, aiohttp.ClientResponseError):
        return f"HTTP {error.status}"
    if isinstance(error, kopf_errors.APIError):
        return f"HTTP {error.status}: {error}"[:200]
    return f"{type(error).__name__}: {error}"[:200]


def _where(namespace: str | None) -> str:
    return f"in {namespace}" if namespace else "cluster-wide"
