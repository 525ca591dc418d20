"""Status of both kinds. Every field the operator writes is listed here, so the CRD's status schema
lists it too (the API server silently prunes fields the schema does not know)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ragops.models.base import Spec


class Phase(StrEnum):
    """Coarse lifecycle phase."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    READY = "Ready"
    DEGRADED = "Degraded"
    FAILED = "Failed"


class Condition(Spec):
    """One observation about the resource, in the Kubernetes condition format."""

    type: str = Field(description="Condition type, e.g. Ready.")
    status: str = Field(pattern=r"^(True|False|Unknown)$", description="True, False or Unknown.")
    reason: str = Field(default="", description="One-word CamelCase reason.")
    message: str = Field(default="", description="What happened and, when something is wrong, what to change.")
    last_transition_time: str = Field(default="", description="When status last changed (RFC 3339).")
    observed_generation: int = Field(default=0, description="The spec generation this condition describes.")


class BackupRecord(Spec):
    """The outcome of a backup or restore Job."""

    name: str = Field(default="", description="Backup name (the Job's name).")
    time: str = Field(default="", description="When the Job finished (RFC 3339).")
    result: str = Field(default="", description="Succeeded, Failed or Running.")


class Endpoints(Spec):
    """In-cluster URLs."""

    http: str = Field(default="", description="HTTP (REST) URL.")
    grpc: str = Field(default="", description="gRPC URL (VectorStore only).")


class ResourceStatus(BaseModel):
    """Observed state, written by the operator."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    observed_generation: int = Field(default=0, description="The spec generation the operator last acted on.")
    phase: Phase = Field(default=Phase.PENDING, description="Pending, Progressing, Ready, Degraded or Failed.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Detailed conditions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    ready_replicas: int = Field(default=0, description="Pods ready.")
    replicas: int = Field(default=0, description="Pods desired.")
    endpoints: Endpoints = Field(default_factory=Endpoints, description="In-cluster URLs.")
    url: str = Field(default="", description="In-cluster URL of the main endpoint (printer column).")
    profile: str = Field(default="", description="The profile in effect.")
    last_backup: BackupRecord | None = Field(default=None, description="Last backup Job (VectorStore only).")
    last_restore: BackupRecord | None = Field(default=None, description="The restore Job (VectorStore only).")
    collections: list[str] = Field(default_factory=list, description="Collections present in Qdrant.")
    api_key_secret: str = Field(default="", description="Name of the Secret holding the API key (never the key).")
