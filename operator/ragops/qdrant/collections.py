"""Ensure the declared collections exist in Qdrant with the declared configuration.

Called by the operator on every reconcile of a Ready store, so a pass over collections that are already in
sync only reads (one list plus one read per declared collection) and writes nothing. It talks to Qdrant
through `CollectionsApi`, in Qdrant's REST JSON: the operator's implementation is `ragops.qdrant.rest`
(httpx only; qdrant-client's models would cost the operator about 50 MB).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ragops.models.vectorstore import CollectionSpec
from ragops.qdrant.plan import Update, create_params, plan_update

log = logging.getLogger(__name__)

READY = "CollectionsReady"
IMMUTABLE = "CollectionImmutableField"
REJECTED = "CollectionRejected"


class QdrantRefused(Exception):
    """Qdrant answered a request with a 4xx: the request, not Qdrant's availability, is the problem."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class CollectionsApi(Protocol):
    """The collection calls of Qdrant's REST API. Refusals (4xx) raise QdrantRefused; anything else that
    goes wrong (connection, timeout, 5xx) raises whatever the transport raises."""

    async def names(self) -> set[str]: ...

    async def params(self, name: str) -> dict[str, Any]: ...  # `config.params` of GET /collections/{name}

    async def create(self, name: str, body: dict[str, Any]) -> None: ...  # PUT /collections/{name}

    async def update(self, name: str, body: dict[str, Any]) -> None: ...  # PATCH /collections/{name}

    async def delete(self, name: str) -> None: ...


@dataclass(frozen=True)
class CollectionsReport:
    """Outcome of one pass: the CollectionsReady condition's status, reason and message, and what exists."""

    ready: bool
    reason: str
    message: str
    present: list[str]


async def ensure_collections(
    api: CollectionsApi, desired: Sequence[CollectionSpec], *, nodes: int, prune: bool
) -> CollectionsReport:
    """Create missing collections, apply live-changeable settings, report the rest; prune only if asked.

    Connection errors propagate (the caller reports Qdrant as unreachable). Qdrant refusing a request
    (4xx, e.g. an invalid parameter) becomes a not-ready report naming the collection, and the other
    collections are still handled.
    """
    live = await api.names()
    immutable: list[str] = []
    rejected: list[str] = []
    for spec in desired:
        try:
            if spec.name in live:
                immutable += await _update(api, spec, nodes)
            else:
                log.info("creating collection %s", spec.name)
                await api.create(spec.name, create_params(spec, nodes).body())
                live.add(spec.name)
        except QdrantRefused as error:
            rejected.append(f"collection {spec.name}: Qdrant refused the change ({error})")
    if prune:
        for name in sorted(live - {spec.name for spec in desired}):
            log.info("deleting collection %s: no longer declared and pruneCollections is on", name)
            await api.delete(name)
            live.discard(name)
    present = sorted(live)
    # Messages are deterministic (sorted, no timestamps) so an unchanged situation never rewrites status.
    if rejected:
        return CollectionsReport(False, REJECTED, "; ".join(rejected + immutable), present)
    if immutable:
        return CollectionsReport(False, IMMUTABLE, "; ".join(immutable), present)
    declared = ", ".join(spec.name for spec in desired) or "none declared"
    return CollectionsReport(True, READY, f"collections in sync: {declared}", present)


async def _update(api: CollectionsApi, spec: CollectionSpec, nodes: int) -> list[str]:
    """Apply what can change live; return descriptions of what cannot."""
    plan = plan_update(spec, await api.params(spec.name), nodes)
    if plan.needed:
        log.info("updating collection %s: %s", spec.name, _changes(plan))
        await api.update(spec.name, plan.body())
    return [mismatch.describe() for mismatch in plan.mismatches]


def _changes(plan: Update) -> str:
    changes = []
    if plan.on_disk is not None:
        changes.append(f"onDisk -> {plan.on_disk}")
    if plan.replication_factor is not None:
        changes.append(f"replicationFactor -> {plan.replication_factor}")
    return ", ".join(changes)
