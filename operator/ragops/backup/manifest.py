"""manifest.json: what a backup holds. Written last, so a backup without one is never taken as good."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

FORMAT = 1


class _Model(BaseModel):
    # Unknown fields are ignored so an older ragops can still read a newer manifest's known parts.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class SnapshotFile(_Model):
    """One node's snapshot of one collection."""

    node: int = Field(ge=0, description="Ordinal of the Qdrant pod the snapshot was taken on.")
    file: str = Field(description="Key relative to the backup's directory.")
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class CollectionBackup(_Model):
    name: str
    points: int = Field(ge=0, description="Exact point count when the backup started (informational).")
    snapshots: list[SnapshotFile]


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
        return sum(s.size for c in self.collections for s in c.snapshots)
