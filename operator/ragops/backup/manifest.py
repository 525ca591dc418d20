"""manifest.json: what a backup holds. Written last, so a backup without one is never taken as good."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# 1: one collection snapshot per node (restorable onto one node; see restore.py for clusters).
# 2: one shard snapshot per shard, with the collection's configuration and shard placement.
FORMAT = 2


class _Model(BaseModel):
    # Unknown fields are ignored so an older ragops can still read a newer manifest's known parts.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class SnapshotFile(_Model):
    """One node's snapshot of one collection."""

    node: int = Field(ge=0, description="Ordinal of the Qdrant pod the snapshot was taken on.")
    file: str = Field(description="Key relative to the backup's directory.")
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ShardFile(_Model):
    """One shard's snapshot (format 2), taken from one Active replica."""

    shard: int = Field(ge=0)
    nodes: list[int] = Field(description="Ordinals of the nodes that held a replica of the shard.")
    source: int = Field(ge=0, description="Ordinal of the node the snapshot was taken on.")
    file: str = Field(description="Key relative to the backup's directory.")
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class CollectionBackup(_Model):
    name: str
    points: int = Field(ge=0, description="Exact point count before the collection's snapshots were taken.")
    points_after: int | None = Field(
        default=None,
        ge=0,
        description="Exact point count after its snapshots; equal to `points` when no "
        "write changed the count meanwhile, and then a restore must bring back exactly that many.",
    )
    snapshots: list[SnapshotFile] = Field(default_factory=list, description="Format 1: per node.")
    shards: list[ShardFile] = Field(default_factory=list, description="Format 2: per shard.")
    config: dict[str, Any] | None = Field(
        default=None, description="Format 2: the body of `PUT /collections/{name}` that recreates it."
    )
    payload_indexes: dict[str, Any] = Field(
        default_factory=dict, description="Format 2: field name -> `field_schema` of each payload index."
    )

    @property
    def files(self) -> list[SnapshotFile | ShardFile]:
        return [*self.snapshots, *self.shards]

    @property
    def stable(self) -> bool:
        """No write changed the point count while the snapshots were taken."""
        return self.points_after is not None and self.points_after == self.points


class Manifest(_Model):
    format: int = FORMAT
    name: str
    store: str = Field(description="NAMESPACE/NAME of the VectorStore.")
    created_at: datetime = Field(description="Start of the backup (UTC); retention counts from here.")
    completed_at: datetime
    qdrant_version: str
    nodes: int = Field(ge=1, description="Qdrant nodes the backup was taken from; restore needs as many.")
    collections: list[CollectionBackup]

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        return cls.model_validate_json(data)

    @property
    def size(self) -> int:
        return sum(f.size for c in self.collections for f in c.files)
