"""Ensure the declared collections exist in Qdrant with the declared configuration.

Called by the operator on every reconcile of a Ready store, so a pass over collections that are already in
sync only reads (one list plus one read per declared collection) and writes nothing.

qdrant-client's local mode (`:memory:`) keeps vector size, distance and on_disk but neither records
shard_number/replication_factor (it reports None, which is never compared) nor applies vector diffs on
update: only the create/report/prune logic can be exercised there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from ragops.models.vectorstore import CollectionSpec
from ragops.qdrant.plan import DEFAULT_VECTOR, Update, create_params, plan_update

log = logging.getLogger(__name__)

READY = "CollectionsReady"
IMMUTABLE = "CollectionImmutableField"
REJECTED = "CollectionRejected"


@dataclass(frozen=True)
class CollectionsReport:
    """Outcome of one pass: the CollectionsReady condition's status, reason and message, and what exists."""

    ready: bool
    reason: str
    message: str
    present: list[str]


async def ensure_collections(
    client: AsyncQdrantClient, desired: Sequence[CollectionSpec], *, nodes: int, prune: bool
) -> CollectionsReport:
    """Create missing collections, apply live-changeable settings, report the rest; prune only if asked.

    Connection errors propagate (the caller reports Qdrant as unreachable). Qdrant refusing a request
    (4xx, e.g. an invalid parameter) becomes a not-ready report naming the collection, and the other
    collections are still handled.
    """
    live = {c.name for c in (await client.get_collections()).collections}
    immutable: list[str] = []
    rejected: list[str] = []
    for spec in desired:
        try:
            if spec.name in live:
                immutable += await _update(client, spec, nodes)
            else:
                await _create(client, spec, nodes)
                live.add(spec.name)
        except UnexpectedResponse as error:
            if (error.status_code or 500) >= 500:
                raise
            rejected.append(f"collection {spec.name}: Qdrant refused the change ({_reason(error)})")
    if prune:
        for name in sorted(live - {spec.name for spec in desired}):
            log.info("deleting collection %s: no longer declared and pruneCollections is on", name)
            await client.delete_collection(name)
            live.discard(name)
    present = sorted(live)
    # Messages are deterministic (sorted, no timestamps) so an unchanged situation never rewrites status.
    if rejected:
        return CollectionsReport(False, REJECTED, "; ".join(rejected + immutable), present)
    if immutable:
        return CollectionsReport(False, IMMUTABLE, "; ".join(immutable), present)
    declared = ", ".join(spec.name for spec in desired) or "none declared"
    return CollectionsReport(True, READY, f"collections in sync: {declared}", present)


async def _create(client: AsyncQdrantClient, spec: CollectionSpec, nodes: int) -> None:
    params = create_params(spec, nodes)
    log.info("creating collection %s", spec.name)
    await client.create_collection(
        spec.name,
        vectors_config=params.vectors,
        shard_number=params.shard_number,
        replication_factor=params.replication_factor,
    )


async def _update(client: AsyncQdrantClient, spec: CollectionSpec, nodes: int) -> list[str]:
    """Apply what can change live; return descriptions of what cannot."""
    info = await client.get_collection(spec.name)
    plan = plan_update(spec, info.config.params, nodes)
    if plan.needed:
        log.info("updating collection %s: %s", spec.name, _changes(plan))
        await client.update_collection(
            spec.name,
            vectors_config={DEFAULT_VECTOR: models.VectorParamsDiff(on_disk=plan.on_disk)}
            if plan.on_disk is not None
            else None,
            collection_params=models.CollectionParamsDiff(replication_factor=plan.replication_factor)
            if plan.replication_factor is not None
            else None,
        )
    return [mismatch.describe() for mismatch in plan.mismatches]


def _changes(plan: Update) -> str:
    changes = []
    if plan.on_disk is not None:
        changes.append(f"onDisk -> {plan.on_disk}")
    if plan.replication_factor is not None:
        changes.append(f"replicationFactor -> {plan.replication_factor}")
    return ", ".join(changes)


def _reason(error: UnexpectedResponse) -> str:
    # Qdrant's error body is {"status": {"error": "..."}}; fall back to the HTTP status line.
    try:
        body = error.structured()
        status = body.get("status")
        if isinstance(status, dict) and status.get("error"):
            return str(status["error"])
    except Exception:  # a non-JSON body: the status line says enough
        pass
    return f"HTTP {error.status_code} {error.reason_phrase}"
