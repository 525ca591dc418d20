"""Declared collections, ensured through Qdrant's API once the store is ready.

Rate-limited per resource generation so an unreachable Qdrant (an operator running outside the
cluster, a NetworkPolicy) costs one attempt a minute, and a stable answer causes no status writes.
Checks run on their own threads (ragops.reconcile.background): a reconcile waits for one briefly, then
goes on with the last answer and is queued again when the check ends, so slow name resolution or a
hanging Qdrant never holds the reconcile workers. Qdrant is reached over its REST API with httpx
(ragops.qdrant.rest), not qdrant-client, whose models alone would add about 50 MB to the operator;
nothing is imported until a Qdrant answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ragops.builders import names
from ragops.models.resource import Resource
from ragops.models.vectorstore import VectorStoreSpec
from ragops.reconcile.background import BackgroundChecks, refused
from ragops.reconcile.conditions import Observation

RETRY_SECONDS = 60.0
TIMEOUT_SECONDS = 20.0
WAIT_SECONDS = 0.25  # how long a reconcile waits for a check before going on without it


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
        self._checks = BackgroundChecks(retry_seconds, wait_seconds, on_late_answer, "collections")

    def __call__(self, resource: Resource[VectorStoreSpec], api_key: str | None, nodes: int) -> Observation | None:
        """The answer, or None while the first check of this generation is still running."""
        url = names.qdrant_url(resource.name, resource.namespace)
        return self._checks.answer(
            resource,
            lambda: self._ensure(resource, api_key, nodes),
            lambda error: self._unreachable(url, type(error).__name__),
        )

    def close(self) -> None:
        self._checks.close()

    def _ensure(self, resource: Resource[VectorStoreSpec], api_key: str | None, nodes: int) -> Observation:
        url = names.qdrant_url(resource.name, resource.namespace)
        why = refused(url)
        if why is not None:
            return self._unreachable(url, why)

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
            f"cannot reach Qdrant at {url} ({why}); retrying every {int(self._checks.retry)}s",
        )
