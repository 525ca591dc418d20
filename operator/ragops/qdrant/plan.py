"""Pure comparison of a declared collection with the one Qdrant holds: what to create, update, or report.

Kept free of I/O so every rule (defaults, what is mutable, what is ignored) is testable on its own. It speaks
Qdrant's REST JSON (the bodies of PUT/PATCH /collections/{name}, the `config.params` of GET) rather than
qdrant-client's models: importing those costs the operator about 50 MB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ragops.models.vectorstore import CollectionSpec

# The unnamed ("default") vector: the only one the operator declares. Qdrant's diff API addresses it as "".
DEFAULT_VECTOR = ""


@dataclass(frozen=True)
class CreateParams:
    """A declared collection as Qdrant creates it."""

    size: int
    distance: str
    on_disk: bool
    shard_number: int | None
    replication_factor: int | None

    def body(self) -> dict[str, Any]:
        """The body of `PUT /collections/{name}`; unset counts are left to Qdrant."""
        body: dict[str, Any] = {"vectors": {"size": self.size, "distance": self.distance, "on_disk": self.on_disk}}
        if self.shard_number is not None:
            body["shard_number"] = self.shard_number
        if self.replication_factor is not None:
            body["replication_factor"] = self.replication_factor
        return body


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

    def body(self) -> dict[str, Any]:
        """The body of `PATCH /collections/{name}`."""
        body: dict[str, Any] = {}
        if self.on_disk is not None:
            body["vectors"] = {DEFAULT_VECTOR: {"on_disk": self.on_disk}}
        if self.replication_factor is not None:
            body["params"] = {"replication_factor": self.replication_factor}
        return body


def default_shards(nodes: int) -> int | None:
    """One shard per node in distributed mode; a single node keeps Qdrant's own default."""
    return nodes if nodes > 1 else None


def default_replication(nodes: int) -> int | None:
    """Two copies when there is a second node to hold one; a single node keeps Qdrant's default."""
    return min(2, nodes) if nodes > 1 else None


def create_params(spec: CollectionSpec, nodes: int) -> CreateParams:
    return CreateParams(
        size=spec.vector_size,
        distance=spec.distance.value,
        on_disk=spec.on_disk,
        # An explicit shard count is honoured even on one node (local shards still parallelise work).
        shard_number=spec.shard_number or default_shards(nodes),
        # A single-node Qdrant is not in cluster mode: there is no other node to hold a copy.
        replication_factor=(spec.replication_factor or default_replication(nodes)) if nodes > 1 else None,
    )


def plan_update(spec: CollectionSpec, live: Mapping[str, Any], nodes: int) -> Update:
    """Compare a declared collection with `live`, the `config.params` Qdrant reports for the existing one."""
    vectors = _default_vector(live.get("vectors"))
    if vectors is None:
        named = live.get("vectors")
        names = sorted(named) if isinstance(named, Mapping) else []
        return Update(mismatches=[Mismatch(spec.name, "vectors", f"named vectors {names}", "a single unnamed vector")])
    mismatches = []
    if vectors.get("size") != spec.vector_size:
        mismatches.append(Mismatch(spec.name, "vectorSize", vectors.get("size"), spec.vector_size))
    if vectors.get("distance") != spec.distance.value:
        mismatches.append(Mismatch(spec.name, "distance", vectors.get("distance"), spec.distance.value))
    on_disk = spec.on_disk if bool(vectors.get("on_disk")) != spec.on_disk else None
    # The shard count default (one per node) applies at creation only: a store that later grows must not
    # turn its existing collections into mismatches. An explicit shardNumber is compared. A missing count
    # (qdrant-client's local mode) means "not reported": nothing to compare.
    live_shards = live.get("shard_number")
    if spec.shard_number is not None and live_shards is not None and live_shards != spec.shard_number:
        mismatches.append(Mismatch(spec.name, "shardNumber", live_shards, spec.shard_number))
    replication = None
    if nodes > 1:
        # The replication default is part of the declared state (the field's documented default), so it is
        # kept in sync like an explicit value.
        wanted = spec.replication_factor or default_replication(nodes)
        live_replication = live.get("replication_factor")
        if live_replication is not None and live_replication != wanted:
            replication = wanted
    return Update(on_disk=on_disk, replication_factor=replication, mismatches=mismatches)


def _default_vector(vectors: Any) -> Mapping[str, Any] | None:
    """The single unnamed vector's params: `{"size": ...}` itself, or `{"": {"size": ...}}`."""
    if not isinstance(vectors, Mapping):
        return None
    if "size" in vectors:
        return vectors
    unnamed = vectors.get(DEFAULT_VECTOR)
    if set(vectors) == {DEFAULT_VECTOR} and isinstance(unnamed, Mapping):
        return unnamed
    return None
