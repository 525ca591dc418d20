"""Shared pydantic base and small reusable specs.

Every field carries a description: it becomes the CRD's description, so `kubectl explain` teaches the API.
Every string has a maxLength: the API server bounds the cost of CEL rules by it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Kubernetes quantity (k8s.io/apimachinery resource.Quantity), without a sign: sizes and CPU are never negative.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# Names the operator derives Service names from: an RFC 1035 label (starts with a letter, no dots).
RFC1035_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
_HOST = r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*)"
# An http(s) URL with a host, an optional port and path; no credentials, query or fragment. Empty: the default.
URL_PATTERN = r"^$|^https?://" + _HOST + r"(:[0-9]{1,5})?(/[^\s?#]*)?$"
# A container image reference: [registry[:port]/]path[:tag][@sha256:digest]. Empty: the operator's default.
IMAGE_PATTERN = (
    r"^$|^([A-Za-z0-9][-A-Za-z0-9.]*(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)
QUANTITY_MAX_LENGTH = 32
URL_MAX_LENGTH = 2048
IMAGE_MAX_LENGTH = 512
_ACRONYMS = ("Api", "Cpu", "Url", "Id", "Ip", "Tls", "Http", "Dns", "Uid", "Ttl", "Json", "Yaml")


def k8s_camel(name: str) -> str:
    """snake_case -> the JSON name the Kubernetes API conventions ask for: camelCase with acronyms in
    capitals after the first word (`target_cpu_utilization` -> `targetCPUUtilization`)."""
    camel = to_camel(name)
    words: list[str] = re.findall(r"^[a-z0-9]+|[A-Z][a-z0-9]*", camel)
    return words[0] + "".join(word.upper() if word in _ACRONYMS else word for word in words[1:])


_BINARY_SUFFIXES = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIXES = {"n": -3, "u": -2, "m": -1, "": 0, "k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def quantity(value: str) -> Decimal | None:
    """A quantity's value (to compare two), None when `value` is not one."""
    match = re.fullmatch(QUANTITY_PATTERN, value)
    if match is None:
        return None
    number, suffix = Decimal(match.group(1)), match.group(3) or ""
    if suffix in _BINARY_SUFFIXES:
        return number * Decimal(1024) ** _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return number * Decimal(1000) ** _DECIMAL_SUFFIXES[suffix]
    try:
        return number * Decimal(10) ** int(suffix[1:])
    except (InvalidOperation, ValueError):
        return None


class Spec(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=k8s_camel,
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
        alias_generator=k8s_camel,
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


def field_rules(*rules: dict[str, str]) -> dict[str, Any]:
    """`json_schema_extra` for a field with its own CEL rules."""
    return {"x-kubernetes-validations": list(rules)}


POSITIVE_QUANTITY_RULE = cel("isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))", "must be above zero")


def positive_quantity(value: str | None) -> str | None:
    """The model's side of POSITIVE_QUANTITY_RULE."""
    if value is not None and not (quantity(value) or 0) > 0:
        raise ValueError("must be above zero")
    return value


class SecretKeyRef(Spec):
    """A key of a Secret in the resource's namespace."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the Secret.")
    key: str = Field(
        default="apiKey",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="Key inside the Secret that holds the value.",
    )


class SecretRef(Spec):
    """A Secret in the resource's namespace whose keys are fixed by its use."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the Secret.")


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
        pattern=SECRET_KEY_PATTERN,
        description="Key inside the Secret that holds the value.",
    )


class ComputeResources(Spec):
    """CPU and memory as Kubernetes quantities."""

    cpu: Annotated[str | None, AfterValidator(positive_quantity)] = Field(
        default=None,
        max_length=QUANTITY_MAX_LENGTH,
        pattern=QUANTITY_PATTERN,
        description="CPU, e.g. 500m or 2.",
        json_schema_extra=field_rules(POSITIVE_QUANTITY_RULE),
    )
    memory: Annotated[str | None, AfterValidator(positive_quantity)] = Field(
        default=None,
        max_length=QUANTITY_MAX_LENGTH,
        pattern=QUANTITY_PATTERN,
        description="Memory, e.g. 512Mi or 4Gi.",
        json_schema_extra=field_rules(POSITIVE_QUANTITY_RULE),
    )


class ResourceRequirements(Spec):
    """Requests and limits; any value set here overrides the profile's."""

    requests: ComputeResources | None = Field(
        default=None, description="Minimum resources the scheduler reserves for each pod."
    )
    limits: ComputeResources | None = Field(default=None, description="Maximum resources each pod may use.")


class LocalObjectRef(Spec):
    """A reference to an object in the same namespace."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the object.")
