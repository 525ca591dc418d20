"""Pure comparison of a declared collection with the one Qdrant holds: what to create, update, or report.

Kept free of I/O so every rule (defaults, what is mutable, what is ignored) is testable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qdrant_client.http import models

from ragops.models.vectorstore import CollectionSpec

# The unnamed ("default") vector: the only one the operator declares. Qdrant's diff API addresses it as "".
DEFAULT_VECTOR = ""


@dataclass(frozen=True)
class CreateParams:
    """Arguments of `create_collection` for a declared collection."""

    vectors: models.VectorParams
    shard_number: int | None
    replication_factor: int | None


@dataclass(frozen=True)
class Mismatch:
    """A difference Qdrant cannot apply to an existing collection."""

    collection: str
    field: str
    live: object
    wanted: object

    def describe(self) -> str:
        return (
            f"collection {self.collection}: {self.field} is {self.live} in Qdrant but {self.wanted} is wanted; "
            f"Qdrant cannot change {self.field} of an existing collection: create a new collection "
            f"(and re-index into it), or set {self.field} back to {self.live}"
        )


@dataclass(frozen=True)
class Update:
    """What to change live on an existing collection; empty when it is in sync."""

    on_disk: bool | None = None
    replication_factor: int | None = None
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def needed(self) -> bool:
        return self.on_disk is not None or self.replication_factor is not None


def default_shards(nodes: int) -> int | None:
    """One shard per node in distributed mode; a single node keeps Qdrant's own default."""
    return nodes if nodes > 1 else None


def default_replication(nodes: int) -> int | None:
    """Two copies when there is a second node to hold one; a single node keeps Qdrant's default."""
    return min(2, nodes) if nodes > 1 else None


def create_params(spec: CollectionSpec, nodes: int) -> CreateParams:
    return CreateParams(
        vectors=models.VectorParams(
            size=spec.vector_size, distance=models.Distance(spec.distance.value), on_disk=spec.on_disk
        ),
        # An explicit shard count is honoured even on one node (local shards still parallelise work).
        shard_number=spec.shard_number or default_shards(nodes),
        # A single-node Qdrant is not in cluster mode: there is no other node to hold a copy.
        replication_factor=(spec.replication_factor or default_replication(nodes)) if nodes > 1 else None,
    )


def plan_update(spec: CollectionSpec, live: models.CollectionParams, nodes: int) -> Update:
    """Compare a declared collection with Qdrant's params of the existing one."""
    vectors = _default_vector(live.vectors)
    if vectors is None:
        names = sorted(live.vectors) if isinstance(live.vectors, dict) else []
        return Update(mismatches=[Mismatch(spec.name, "vectors", f"named vectors {names}", "a single unnamed vector")])
    mismatches = []
    if vectors.size != spec.vector_size:
        mismatches.append(Mismatch(spec.name, "vectorSize", vectors.size, spec.vector_size))
    if _value(vectors.distance) != spec.distance.value:
        mismatches.append(Mismatch(spec.name, "distance", _value(vectors.distance), spec.distance.value))
    on_disk = spec.on_disk if bool(vectors.on_disk) != spec.on_disk else None
    # The shard count default (one per node) applies at creation only: a store that later grows must not
    # turn its existing collections into mismatches. An explicit shardNumber is compared. None from Qdrant
    # (qdrant-client's local mode) means "not reported": nothing to compare.
    if spec.shard_number is not None and live.shard_number is not None and live.shard_number != spec.shard_number:
        mismatches.append(Mismatch(spec.name, "shardNumber", live.shard_number, spec.shard_number))
    replication = None
    if nodes > 1:
        # The replication default is part of the declared state (the field's documented default), so it is
        # kept in sync like an explicit value.
        wanted = spec.replication_factor or default_replication(nodes)
        if live.replication_factor is not None and live.replication_factor != wanted:
            replication = wanted
    return Update(on_disk=on_disk, replication_factor=replication, mismatches=mismatches)


def _default_vector(vectors: models.VectorParams | dict[str, models.VectorParams] | None) -> models.VectorParams | None:
    if isinstance(vectors, models.VectorParams):
        return vectors
    if isinstance(vectors, dict) and set(vectors) == {DEFAULT_VECTOR}:
        return vectors[DEFAULT_VECTOR]
    return None


def _value(distance: models.Distance | str) -> str:
    return distance.value if isinstance(distance, models.Distance) else str(distance)
