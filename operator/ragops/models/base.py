"""Shared pydantic base and small reusable specs.

Every field carries a description: it becomes the CRD's description, so `kubectl explain` teaches the API.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Kubernetes quantity, as accepted by resource requests/limits and PVC sizes.
QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class Spec(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def wire(self) -> dict[str, Any]:
        """The model as it appears in a manifest (camelCase, unset optionals left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def with_rules(*rules: dict[str, str]) -> ConfigDict:
    """A Spec config that adds CEL validation rules to the model's CRD schema."""
    return ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={"x-kubernetes-validations": list(rules)},  # type: ignore[dict-item,arg-type]
    )


def cel(rule: str, message: str, *, field_path: str | None = None, reason: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    if reason:
        entry["reason"] = reason
    return entry


class SecretKeyRef(Spec):
    """A key of a Secret in the resource's namespace."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the Secret.")
    key: str = Field(
        default="apiKey",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret that holds the value.",
    )


class OptionalSecretKeyRef(Spec):
    """A Secret key reference; left empty, the operator generates and owns the Secret."""

    name: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Name of an existing Secret. Empty: the operator generates one, once, and never rotates it.",
    )
    key: str = Field(
        default="apiKey",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret that holds the value.",
    )


class ComputeResources(Spec):
    """CPU and memory as Kubernetes quantities."""

    cpu: str | None = Field(default=None, pattern=QUANTITY_PATTERN, description="CPU, e.g. 500m or 2.")
    memory: str | None = Field(default=None, pattern=QUANTITY_PATTERN, description="Memory, e.g. 512Mi or 4Gi.")


class ResourceRequirements(Spec):
    """Requests and limits; any value set here overrides the profile's."""

    requests: ComputeResources | None = Field(
        default=None, description="Minimum resources the scheduler reserves for each pod."
    )
    limits: ComputeResources | None = Field(default=None, description="Maximum resources each pod may use.")


class LocalObjectRef(Spec):
    """A reference to an object in the same namespace."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the object.")
