"""Declared collections, ensured through Qdrant's API once the store is ready.

Rate-limited per resource generation so an unreachable Qdrant (an operator running outside the
cluster, a NetworkPolicy) costs one attempt a minute, and a stable answer causes no status writes.
qdrant-client (about 60 MB of the operator's memory once imported) is loaded only when a Qdrant answers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from urllib.parse import urlsplit

from ragops.builders import names
from ragops.models.resource import Resource
from ragops.models.vectorstore import VectorStoreSpec
from ragops.reconcile.conditions import Observation

RETRY_SECONDS = 60.0
TIMEOUT_SECONDS = 20.0
CONNECT_SECONDS = 5.0


class QdrantCollections:
    """The production CollectionsChecker: talks to the store's client Service."""

    def __init__(self, retry_seconds: float = RETRY_SECONDS) -> None:
        self._retry = retry_seconds
        self._lock = threading.Lock()
        self._last: dict[tuple[str, int], tuple[float, Observation]] = {}

    def __call__(self, resource: Resource[VectorStoreSpec], api_key: str | None, nodes: int) -> Observation:
        key = (resource.uid, resource.generation)
        with self._lock:
            cached = self._last.get(key)
        if cached and time.monotonic() - cached[0] < self._retry:
            return cached[1]
        observation = self._ensure(resource, api_key, nodes)
        with self._lock:
            self._last = {k: v for k, v in self._last.items() if k[0] != resource.uid}
            self._last[key] = (time.monotonic(), observation)
        return observation

    def _ensure(self, resource: Resource[VectorStoreSpec], api_key: str | None, nodes: int) -> Observation:
        url = names.qdrant_url(resource.name, resource.namespace)
        refused = _unreachable(url)
        if refused is not None:
            return self._unreachable(url, refused)

        async def run() -> Observation:
            from ragops.qdrant.client import connect
            from ragops.qdrant.collections import ensure_collections

            client = connect(url, api_key, timeout=TIMEOUT_SECONDS)
            try:
                report = await asyncio.wait_for(
                    ensure_collections(
                        client, resource.spec.collections, nodes=nodes, prune=resource.spec.prune_collections
                    ),
                    TIMEOUT_SECONDS,
                )
            finally:
                await client.close()
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
    operator outside the cluster, which then never loads qdrant-client."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=CONNECT_SECONDS):
            return None
    except OSError as error:
        return type(error).__name__
