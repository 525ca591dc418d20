"""The VectorStore kind: a Qdrant cluster with its storage, collections, backups and security."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from ragops.models.base import (
    DNS_SUBDOMAIN_PATTERN,
    QUANTITY_PATTERN,
    OptionalSecretKeyRef,
    ResourceRequirements,
    Spec,
    cel,
    with_rules,
)
from ragops.models.profiles import Profile

DEFAULT_QDRANT_IMAGE = "qdrant/qdrant:v1.20.0"
COLLECTION_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$"
# Five cron fields (minute hour day-of-month month day-of-week); names allowed in the last two.
CRON_PATTERN = r"^([0-9*,/-]+)\s+([0-9*,/-]+)\s+([0-9*,/?LW-]+)\s+([0-9A-Za-z*,/-]+)\s+([0-9A-Za-z*,/?#L-]+)$"
RETENTION_PATTERN = r"^[1-9][0-9]*[hdw]$"


class Distance(StrEnum):
    """Vector similarity used by a collection."""

    COSINE = "Cosine"
    EUCLID = "Euclid"
    DOT = "Dot"
    MANHATTAN = "Manhattan"


class QdrantSpec(Spec):
    """The Qdrant server pods."""

    image: str = Field(
        default=DEFAULT_QDRANT_IMAGE,
        min_length=1,
        description="Qdrant container image. Changing it rolls the pods one by one (highest ordinal first).",
    )
    replicas: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Qdrant nodes. More than 1 runs Qdrant in distributed (cluster) mode. Default: the profile's.",
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="Requests and limits of each Qdrant pod; fields set here override the profile."
    )


class StorageSpec(Spec):
    """Persistent storage of each Qdrant node."""

    model_config = with_rules(
        cel(
            "(has(self.storageClassName) ? self.storageClassName : '') == "
            "(has(oldSelf.storageClassName) ? oldSelf.storageClassName : '')",
            "storageClassName is immutable: PVCs keep the class they were created with; "
            "create a new VectorStore and restore a backup into it to change class",
            field_path=".storageClassName",
        ),
        cel(
            "!has(oldSelf.size) || (has(self.size) && quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0)",
            "storage size may grow but never shrink (and may not be unset once set)",
            field_path=".size",
        ),
    )

    size: str | None = Field(
        default=None,
        max_length=32,
        pattern=QUANTITY_PATTERN,
        description="Volume size per node, e.g. 100Gi. May grow (volumes are expanded in place), never shrink. "
        "Default: the profile's.",
    )
    storage_class_name: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="StorageClass of the volumes; immutable. Default: the cluster's default class.",
    )
    retain_on_delete: bool = Field(
        default=True,
        description="Keep the PersistentVolumeClaims (the data) when the VectorStore is deleted.",
    )


class CollectionSpec(Spec):
    """A collection the operator ensures through Qdrant's API."""

    name: str = Field(pattern=COLLECTION_NAME_PATTERN, max_length=255, description="Collection name.")
    vector_size: int = Field(ge=1, le=65536, description="Dimension of the vectors; fixed once the collection exists.")
    distance: Distance = Field(
        default=Distance.COSINE, description="Similarity metric; fixed once the collection exists."
    )
    shard_number: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Shards of the collection (distributed stores). Default: one per Qdrant node. "
        "Fixed once the collection exists.",
    )
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Copies of each shard (distributed stores). Default: 2 when the store has 2+ nodes, else 1.",
    )
    on_disk: bool = Field(default=False, description="Keep the original vectors on disk instead of in RAM.")


class PvcDestination(Spec):
    """Backups written to a PersistentVolumeClaim the operator creates."""

    size: str = Field(default="50Gi", pattern=QUANTITY_PATTERN, description="Size of the backup volume.")
    storage_class_name: str | None = Field(
        default=None, pattern=DNS_SUBDOMAIN_PATTERN, description="StorageClass of the backup volume."
    )


class S3Destination(Spec):
    """Backups written to S3-compatible object storage."""

    endpoint: str = Field(
        default="",
        description="Endpoint URL, e.g. https://minio.storage:9000. Empty: AWS S3 for the region.",
    )
    bucket: str = Field(min_length=3, max_length=63, description="Bucket name (must exist).")
    prefix: str = Field(default="", description="Key prefix under which backups are stored.")
    region: str = Field(default="us-east-1", description="Region of the bucket.")
    credentials_secret_ref: OptionalSecretKeyRef = Field(
        description="Secret holding `accessKeyId` and `secretAccessKey` (the `key` field is not used)."
    )


class BackupDestination(Spec):
    """Where backups go: exactly one of `pvc` or `s3`."""

    model_config = with_rules(cel("has(self.pvc) != has(self.s3)", "set exactly one of backup.destination.pvc or .s3"))

    pvc: PvcDestination | None = Field(default=None, description="Store backups on a PVC.")
    s3: S3Destination | None = Field(default=None, description="Store backups in S3-compatible storage.")

    @model_validator(mode="after")
    def _exactly_one(self) -> BackupDestination:
        if (self.pvc is None) == (self.s3 is None):
            raise ValueError("set exactly one of pvc or s3")
        return self


class BackupSpec(Spec):
    """Scheduled snapshots of every collection. Remove the whole section to stop backups."""

    schedule: str = Field(
        default="0 2 * * *",
        pattern=CRON_PATTERN,
        description="Five-field cron schedule (minute hour day month weekday), in the CronJob's time zone.",
    )
    time_zone: str | None = Field(
        default=None, description="IANA time zone of the schedule, e.g. Europe/Berlin. Default: the cluster's."
    )
    retention: str = Field(
        default="30d",
        pattern=RETENTION_PATTERN,
        description="How long backups are kept, e.g. 30d, 12h or 2w; older ones are pruned by each backup run.",
    )
    suspend: bool = Field(default=False, description="Pause the schedule without removing the configuration.")
    destination: BackupDestination = Field(
        default_factory=lambda: BackupDestination(pvc=PvcDestination()),
        description="Where backups are written. Default: a 50Gi PVC.",
        json_schema_extra={"default": {"pvc": {}}},
    )


class RestoreSpec(Spec):
    """Bootstrap the collections from a named backup, once."""

    backup_name: str = Field(
        default="",
        pattern=r"^$|^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
        description="Name of the backup to restore (as listed in status.lastBackup.name). Empty: no restore.",
    )
    overwrite: bool = Field(default=False, description="Allow replacing collections that already hold points.")
    from_store: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="VectorStore (same namespace) whose backups to read, e.g. a deleted store whose backup PVC "
        "was retained. Default: this one. Backups are read from spec.backup.destination (the PVC "
        "`<fromStore>-backup` by default).",
    )


class SecuritySpec(Spec):
    """API keys and network access to Qdrant."""

    api_key_secret_ref: OptionalSecretKeyRef = Field(
        default_factory=OptionalSecretKeyRef,
        description="Secret with Qdrant's API key. Empty name: the operator generates `<name>-qdrant-api-key`.",
    )
    read_only_api_key: bool = Field(
        default=True, description="Also generate a read-only API key (key `readOnlyApiKey` of the same Secret)."
    )
    allowed_namespaces: list[Annotated[str, Field(max_length=63)]] = Field(
        default_factory=list,
        max_length=64,
        description="Other namespaces whose pods may reach Qdrant (the NetworkPolicy admits them).",
    )


class MonitoringSpec(Spec):
    """Prometheus integration."""

    service_monitor: bool = Field(
        default=False, description="Create a ServiceMonitor (needs the Prometheus Operator's CRDs)."
    )


class VectorStoreSpec(Spec):
    """Desired state of a Qdrant vector store."""

    profile: Profile = Field(
        default=Profile.SMALL, description="Hardware profile (small, medium, large) that sizes every child."
    )
    qdrant: QdrantSpec = Field(default_factory=QdrantSpec, description="Qdrant pods.")
    storage: StorageSpec = Field(default_factory=StorageSpec, description="Persistent storage per node.")
    collections: list[CollectionSpec] = Field(
        default_factory=list,
        max_length=64,
        description="Collections the operator creates and keeps configured.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "x-kubernetes-validations": [
                cel("self.all(c, self.exists_one(d, d.name == c.name))", "collection names must be unique")  # type: ignore[list-item]
            ],
        },
    )
    prune_collections: bool = Field(
        default=False,
        description="Delete collections removed from `collections`. Off: removed collections are left in Qdrant.",
    )
    backup: BackupSpec | None = Field(
        default=None, description="Scheduled backups. Absent: no backups (the CronJob is removed)."
    )
    restore: RestoreSpec = Field(default_factory=RestoreSpec, description="One-off restore from a backup.")
    security: SecuritySpec = Field(default_factory=SecuritySpec, description="API keys and network access.")
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec, description="Prometheus integration.")

    @model_validator(mode="after")
    def _unique_collections(self) -> VectorStoreSpec:
        names = [collection.name for collection in self.collections]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"collections: duplicate names {duplicates}")
        return self
