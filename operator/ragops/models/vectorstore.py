"""The VectorStore kind: a Qdrant cluster with its storage, collections, backups and security."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, model_validator

from ragops.models.base import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    IMAGE_MAX_LENGTH,
    IMAGE_PATTERN,
    POSITIVE_QUANTITY_RULE,
    QUANTITY_MAX_LENGTH,
    QUANTITY_PATTERN,
    RFC1035_LABEL_PATTERN,
    URL_MAX_LENGTH,
    URL_PATTERN,
    OptionalSecretKeyRef,
    ResourceRequirements,
    SecretRef,
    Spec,
    cel,
    field_rules,
    positive_quantity,
    with_rules,
)
from ragops.models.profiles import PROFILES, Profile
from ragops.models.qdrant_config import QdrantConfig
from ragops.models.rules import resources_rule, resources_within_limits
from ragops.models.scheduling import SchedulingSpec, SpreadPolicy

DEFAULT_QDRANT_IMAGE = "qdrant/qdrant:v1.20.0"
COLLECTION_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$"
# The longest VectorStore name whose derived names all stay valid (builders/names.py): the on-demand backup
# Job `<name>-backup-now-<8 hex>` is a label value (job-name, 63); the StatefulSet `<name>-qdrant` stays within
# 52 so its controller-revision-hash label `<sts>-<10>` fits 63; the CronJob `<name>-backup` within 52.
STORE_NAME_MAX_LENGTH = 43
STORE_NAME_PATTERN = RFC1035_LABEL_PATTERN  # Services `<name>-qdrant...` are RFC 1035 labels


def _cron_field(number: str, names: str = "") -> str:
    """One cron field as CronJob's parser takes it: `*`, values, ranges, steps, lists."""
    value = f"({number}{'|' + names if names else ''})"
    item = rf"(\*|{value}(-{value})?)(/[1-9][0-9]*)?"
    return rf"{item}(,{item})*"


_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT|sun|mon|tue|wed|thu|fri|sat"
# Five cron fields (minute hour day-of-month month day-of-week) with their ranges, or a macro such as @daily.
CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
    + _cron_field("[0-5]?[0-9]")
    + r" +"
    + _cron_field("[01]?[0-9]|2[0-3]")
    + r" +("
    + _cron_field("0?[1-9]|[12][0-9]|3[01]")
    + r"|\?) +"
    + _cron_field("0?[1-9]|1[0-2]", _MONTHS)
    + r" +("
    + _cron_field("[0-6]", _DAYS)
    + r"|\?))$"
)
RETENTION_PATTERN = r"^[1-9][0-9]{0,5}[hdw]$"
TIME_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"
# S3 bucket naming rules: 3-63 characters, lowercase letters, digits, dots and hyphens, letter or digit at both
# ends; the rest (no `..`, not an IP address, reserved prefixes and suffixes) are CEL rules below.
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"
BUCKET_RULES = [
    cel("!self.contains('..')", "bucket names may not contain two adjacent periods"),
    cel("!self.matches('^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$')", "bucket names may not look like an IP address"),
    cel(
        "!self.startsWith('xn--') && !self.startsWith('sthree-')",
        "bucket names may not start with xn-- or sthree-",
    ),
    cel(
        "!self.endsWith('-s3alias') && !self.endsWith('--ol-s3') && !self.endsWith('--x-s3')",
        "bucket names may not end with -s3alias, --ol-s3 or --x-s3",
    ),
]
# A relative key prefix: segments without `.`/`..`, no leading or doubled slash, no spaces or control characters.
PREFIX_PATTERN = r"^$|^([A-Za-z0-9!_*'()-][A-Za-z0-9!_.*'()-]*)(/[A-Za-z0-9!_*'()-][A-Za-z0-9!_.*'()-]*)*/?$"
REGION_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def check_bucket(value: str) -> str:
    """The model's side of BUCKET_RULES (same messages)."""
    for failed, rule in (
        (".." in value, BUCKET_RULES[0]),
        (re.fullmatch(r"[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+", value) is not None, BUCKET_RULES[1]),
        (value.startswith(("xn--", "sthree-")), BUCKET_RULES[2]),
        (value.endswith(("-s3alias", "--ol-s3", "--x-s3")), BUCKET_RULES[3]),
    ):
        if failed:
            raise ValueError(rule["message"])
    return value


class Distance(StrEnum):
    """Vector similarity used by a collection."""

    COSINE = "Cosine"
    EUCLID = "Euclid"
    DOT = "Dot"
    MANHATTAN = "Manhattan"


class QdrantSpec(SchedulingSpec):
    """The Qdrant server pods: image, count, size, where they run and extra Qdrant configuration."""

    image: str = Field(
        default=DEFAULT_QDRANT_IMAGE,
        min_length=1,
        max_length=IMAGE_MAX_LENGTH,
        pattern=IMAGE_PATTERN,
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
    spread: SpreadPolicy = Field(
        default=SpreadPolicy.PREFERRED,
        description="Distributed stores: Preferred spreads the Qdrant pods over nodes and zones when it can (and "
        "still schedules on a small cluster); Required never puts two of them on one node (a pod stays Pending "
        "until a node is free), so one node failure costs at most one replica.",
    )
    config: QdrantConfig | None = Field(
        default=None,
        description="Qdrant configuration the spec does not model, in Qdrant's keys (e.g. "
        "{storage: {optimizers: {default_segment_number: 4}}, log_level: WARN}); merged into production.yaml. "
        "Ports, paths, cluster, TLS and keys are the operator's. A change rolls the pods one at a time.",
    )


class SnapshotVolumeSpec(Spec):
    """The per-pod snapshot staging volume."""

    size: Annotated[str | None, AfterValidator(positive_quantity)] = Field(
        default=None,
        max_length=QUANTITY_MAX_LENGTH,
        pattern=QUANTITY_PATTERN,
        description="Size of each pod's snapshot volume. Default: the store's storage size (a full snapshot of "
        "a node fits).",
        json_schema_extra=field_rules(POSITIVE_QUANTITY_RULE),
    )
    storage_class_name: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="StorageClass of the snapshot volumes. Default: the cluster's default class.",
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

    size: Annotated[str | None, AfterValidator(positive_quantity)] = Field(
        default=None,
        max_length=QUANTITY_MAX_LENGTH,
        pattern=QUANTITY_PATTERN,
        description="Volume size per node, e.g. 100Gi. May grow (volumes are expanded in place), never shrink. "
        "Default: the profile's.",
        json_schema_extra=field_rules(POSITIVE_QUANTITY_RULE),
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
    snapshot_volume: SnapshotVolumeSpec | None = Field(
        default=None,
        description="A volume per Qdrant pod at /qdrant/snapshots (a generic ephemeral PVC, created and deleted "
        "with the pod), so backups and restores stage snapshots there instead of on the node's disk. Absent: "
        "an emptyDir limited to the storage size. Recommended for stores of 100Gi and more.",
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

    size: Annotated[str, AfterValidator(positive_quantity)] = Field(
        default="50Gi",
        max_length=QUANTITY_MAX_LENGTH,
        pattern=QUANTITY_PATTERN,
        description="Size of the backup volume.",
        json_schema_extra=field_rules(POSITIVE_QUANTITY_RULE),
    )
    storage_class_name: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="StorageClass of the backup volume. Default: the cluster's default class.",
    )


class S3Destination(Spec):
    """Backups written to S3-compatible object storage."""

    endpoint: str = Field(
        default="",
        max_length=URL_MAX_LENGTH,
        pattern=URL_PATTERN,
        description="Endpoint URL (http or https, with a host), e.g. https://minio.storage:9000. "
        "Empty: AWS S3 for the region.",
    )
    bucket: Annotated[str, AfterValidator(check_bucket)] = Field(
        min_length=3,
        max_length=63,
        pattern=BUCKET_PATTERN,
        description="Bucket name (must exist), following the S3 bucket naming rules.",
        json_schema_extra=field_rules(*BUCKET_RULES),
    )
    prefix: str = Field(
        default="",
        max_length=512,
        pattern=PREFIX_PATTERN,
        description="Key prefix under which backups are stored, e.g. team/docs (relative: no leading slash, "
        "no `.` or `..` segments).",
    )
    region: str = Field(
        default="us-east-1", min_length=1, max_length=64, pattern=REGION_PATTERN, description="Region of the bucket."
    )
    credentials_secret_ref: SecretRef = Field(
        description="Secret holding the keys `accessKeyId` and `secretAccessKey`."
    )


UNIQUE_COLLECTIONS_RULE = cel("self.all(c, self.exists_one(d, d.name == c.name))", "collection names must be unique")
ONE_DESTINATION_RULE = cel("has(self.pvc) != has(self.s3)", "set exactly one of backup.destination.pvc or .s3")


class BackupDestination(Spec):
    """Where backups go: exactly one of `pvc` or `s3`."""

    model_config = with_rules(ONE_DESTINATION_RULE)

    pvc: PvcDestination | None = Field(default=None, description="Store backups on a PVC.")
    s3: S3Destination | None = Field(default=None, description="Store backups in S3-compatible storage.")

    @model_validator(mode="after")
    def _exactly_one(self) -> BackupDestination:
        if (self.pvc is None) == (self.s3 is None):
            raise ValueError(ONE_DESTINATION_RULE["message"])
        return self


class BackupSpec(Spec):
    """Scheduled snapshots of every collection. Remove the whole section to stop backups."""

    schedule: str = Field(
        default="0 2 * * *",
        max_length=256,
        pattern=CRON_PATTERN,
        description="Five-field cron schedule (minute hour day month weekday), or a macro such as @daily, "
        "in the CronJob's time zone.",
    )
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        pattern=TIME_ZONE_PATTERN,
        description="IANA time zone of the schedule, e.g. Europe/Berlin. Default: the cluster's.",
    )
    retention: str = Field(
        default="30d",
        max_length=8,
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
        max_length=253,
        pattern=r"^$|^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
        description="Name of the backup to restore (as listed in status.lastBackup.name). Empty: no restore.",
    )
    overwrite: bool = Field(default=False, description="Allow replacing collections that already hold points.")
    from_store: str | None = Field(
        default=None,
        max_length=STORE_NAME_MAX_LENGTH,
        pattern=STORE_NAME_PATTERN,
        description="VectorStore (same namespace) whose backups to read, e.g. a deleted store whose backup PVC "
        "was retained. Default: this one. Backups are read from spec.backup.destination (the PVC "
        "`<fromStore>-backup` by default).",
    )


# A namespace name: the element of every "allowed namespaces" list (VectorStore and RagPipeline NetworkPolicies).
NamespaceName = Annotated[str, Field(max_length=63, pattern=DNS_LABEL_PATTERN)]


class SecuritySpec(Spec):
    """API keys and network access to Qdrant."""

    api_key_secret_ref: OptionalSecretKeyRef = Field(
        default_factory=OptionalSecretKeyRef,
        description="Secret with Qdrant's API key. Empty name: the operator generates `<name>-qdrant-api-key`.",
    )
    read_only_api_key: bool = Field(
        default=True,
        description="Also generate a read-only API key (key `readOnlyApiKey` of the same Secret). "
        "Renamed from readOnlyApiKey in v1alpha1 (Kubernetes acronym convention).",
    )
    allowed_namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=64,
        description="Other namespaces whose pods may reach Qdrant (the NetworkPolicy admits them).",
    )


class MonitoringSpec(Spec):
    """Prometheus integration."""

    service_monitor: bool = Field(
        default=False, description="Create a ServiceMonitor (needs the Prometheus Operator's CRDs)."
    )
    prometheus_namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Namespace of the Prometheus that scrapes Qdrant: the NetworkPolicy admits it to the HTTP "
        "port (metrics), and nothing else of it.",
    )


class VectorStoreSpec(Spec):
    """Desired state of a Qdrant vector store."""

    model_config = with_rules(resources_rule("qdrant", lambda p: PROFILES[p].qdrant))

    # metadata.name limits (a root CEL rule of the CRD; parse_resource checks the same).
    NAME_MAX_LENGTH: ClassVar[int] = STORE_NAME_MAX_LENGTH
    NAME_PATTERN: ClassVar[str] = STORE_NAME_PATTERN

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
                UNIQUE_COLLECTIONS_RULE  # type: ignore[list-item]
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
            raise ValueError(f"collections: {UNIQUE_COLLECTIONS_RULE['message']} (repeated: {', '.join(duplicates)})")
        return self

    @model_validator(mode="after")
    def _resources_within_limits(self) -> VectorStoreSpec:
        resources_within_limits("qdrant", self.qdrant.resources, PROFILES[self.profile].qdrant)
        return self
