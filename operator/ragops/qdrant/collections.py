"""Ensure the declared collections exist in Qdrant with the declared configuration.

Called by the operator on every reconcile of a Ready store, so a pass over collections that are already in
sync only reads (one list plus one read per declared collection, and on a distributed store one read of
each collection's shard placement) and writes nothing. It talks to Qdrant
through `CollectionsApi`, in Qdrant's REST JSON: the operator's implementation is `ragops.qdrant.rest`
(httpx only; qdrant-client's models would cost the operator about 50 MB).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ragops.models.vectorstore import CollectionSpec
from ragops.qdrant.plan import Update, create_params, default_replication, plan_update

log = logging.getLogger(__name__)

READY = "CollectionsReady"
IMMUTABLE = "CollectionImmutableField"
REJECTED = "CollectionRejected"
# Qdrant accepts any replication factor and silently places at most one replica of a shard per node.
UNPLACEABLE = "ReplicationFactorUnplaceable"
UNDER_REPLICATED = "CollectionUnderReplicated"


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

    async def cluster(self, name: str) -> dict[str, Any]: ...  # GET /collections/{name}/cluster


@dataclass(frozen=True)
class Unplaced:
    """A collection whose shards have fewer replicas than its replication factor asks for."""

    collection: str
    wanted: int  # the declared (or defaulted) replication factor
    nodes: int  # Qdrant nodes of the store
    replicas: dict[int, int]  # shard id -> replicas Qdrant placed, for the shards that lack some

    @property
    def reason(self) -> str:
        return UNPLACEABLE if self.wanted > self.nodes else UNDER_REPLICATED

    def describe(self) -> str:
        shards = ", ".join(f"shard {shard}: {count}" for shard, count in sorted(self.replicas.items()))
        if self.wanted > self.nodes:
            return (
                f"collection {self.collection}: replicationFactor {self.wanted} cannot be placed on "
                f"{self.nodes} Qdrant node(s), which hold at most one replica of a shard each (replicas: "
                f"{shards}); set replicationFactor to {self.nodes} or fewer, or add nodes"
            )
        return (
            f"collection {self.collection}: fewer replicas than replicationFactor {self.wanted} ({shards}); "
            "Qdrant does not add replicas by itself when the replication factor or the node count grows"
        )


@dataclass(frozen=True)
class CollectionsReport:
    """Outcome of one pass: the CollectionsReady condition's status, reason and message, and what exists."""

    ready: bool
    reason: str
    message: str
    present: list[str]
    unplaced: list[Unplaced] = field(default_factory=list)  # distributed stores: shards short of replicas


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
    refused: set[str] = set()
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
            refused.add(spec.name)
    if prune:
        for name in sorted(live - {spec.name for spec in desired}):
            log.info("deleting collection %s: no longer declared and pruneCollections is on", name)
            await api.delete(name)
            live.discard(name)
    present = sorted(live)
    unplaced = []
    if nodes > 1:
        for spec in desired:
            if spec.name in live and spec.name not in refused:
                gap = _unplaced(spec, await api.cluster(spec.name), nodes)
                if gap is not None:
                    unplaced.append(gap)
    # Messages are deterministic (sorted, no timestamps) so an unchanged situation never rewrites status.
    placement = [gap.describe() for gap in unplaced]
    if rejected:
        return CollectionsReport(False, REJECTED, "; ".join(rejected + immutable + placement), present, unplaced)
    if immutable:
        return CollectionsReport(False, IMMUTABLE, "; ".join(immutable + placement), present, unplaced)
    if unplaced:
        reason = UNPLACEABLE if any(gap.reason == UNPLACEABLE for gap in unplaced) else UNDER_REPLICATED
        return CollectionsReport(False, reason, "; ".join(placement), present, unplaced)
    declared = ", ".join(spec.name for spec in desired) or "none declared"
    return CollectionsReport(True, READY, f"collections in sync: {declared}", present)


def _unplaced(spec: CollectionSpec, cluster: dict[str, Any], nodes: int) -> Unplaced | None:
    """Compare the replicas Qdrant placed (one node's view of the cluster) with the replication factor."""
    wanted = spec.replication_factor or default_replication(nodes) or 1
    replicas = {int(shard["shard_id"]): 1 for shard in cluster.get("local_shards") or []}
    for shard in cluster.get("remote_shards") or []:
        replicas[int(shard["shard_id"])] = replicas.get(int(shard["shard_id"]), 0) + 1
    short = {shard: count for shard, count in replicas.items() if count < wanted}
    return Unplaced(spec.name, wanted, nodes, short) if short else None


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
