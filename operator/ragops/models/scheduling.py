"""Where pods may run: node selection, tolerations, affinity, priority and how strictly peers spread.

The Kubernetes shapes of nodeSelector, tolerations and priorityClassName are modelled field by field;
`affinity` is passed through as the Kubernetes object (its schema is large and versioned with the cluster),
limited to its three known sections, and validated by the API server when the pods' owner is applied.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from ragops.models.base import DNS_SUBDOMAIN_PATTERN, Spec, cel, field_rules, with_rules

# A label key: optional DNS-subdomain prefix and a name of up to 63 characters.
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_KEY_PATTERN = r"^(" + DNS_SUBDOMAIN_PATTERN[1:-1] + "/)?" + _NAME + "$"
LABEL_VALUE_PATTERN = r"^$|^" + _NAME + "$"


def label_keys_rule(field: str) -> dict[str, str]:
    """A CEL rule that a map's keys are Kubernetes label keys (CEL regexes are string literals: escape)."""
    return cel(
        "self.all(k, size(k) <= 316 && k.matches('" + LABEL_KEY_PATTERN.replace("\\", "\\\\") + "'))",
        f"{field} keys must be label keys ([prefix/]name)",
    )


NODE_SELECTOR_KEYS_RULE = label_keys_rule("nodeSelector")
AFFINITY_SECTIONS = ("nodeAffinity", "podAffinity", "podAntiAffinity")
AFFINITY_MESSAGE = "affinity takes nodeAffinity, podAffinity and podAntiAffinity only"


class SpreadPolicy(StrEnum):
    """How strictly a distributed store's Qdrant pods are kept on different nodes."""

    PREFERRED = "Preferred"
    REQUIRED = "Required"


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


EXISTS_NO_VALUE_RULE = cel(
    "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
    "a toleration with operator Exists takes no value",
)
SECONDS_NEED_NO_EXECUTE_RULE = cel(
    "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
    "tolerationSeconds applies to effect NoExecute only",
)


class Toleration(Spec):
    """A Kubernetes toleration (core/v1 Toleration)."""

    model_config = with_rules(EXISTS_NO_VALUE_RULE, SECONDS_NEED_NO_EXECUTE_RULE)

    key: str | None = Field(
        default=None,
        max_length=316,
        pattern=LABEL_KEY_PATTERN,
        description="Taint key to tolerate. Empty with operator Exists: every taint.",
    )
    operator: TolerationOperator = Field(default=TolerationOperator.EQUAL, description="Exists or Equal.")
    value: str | None = Field(
        default=None, max_length=63, pattern=LABEL_VALUE_PATTERN, description="Taint value (operator Equal)."
    )
    effect: TaintEffect | None = Field(
        default=None, description="Taint effect to tolerate (NoSchedule, PreferNoSchedule, NoExecute). Empty: all."
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, le=31_536_000, description="How long a NoExecute taint is tolerated before eviction."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator == TolerationOperator.EXISTS and self.value:
            raise ValueError(EXISTS_NO_VALUE_RULE["message"])
        if self.toleration_seconds is not None and self.effect != TaintEffect.NO_EXECUTE:
            raise ValueError(SECONDS_NEED_NO_EXECUTE_RULE["message"])
        return self

    def as_k8s(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class SchedulingSpec(Spec):
    """The scheduling knobs every pod-owning section shares."""

    node_selector: dict[str, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]] = Field(
        default_factory=dict,
        max_length=32,
        description="Node labels the pods require, e.g. {node-pool: vectors}.",
        json_schema_extra=field_rules(NODE_SELECTOR_KEYS_RULE),
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=32, description="Taints the pods tolerate (e.g. dedicated nodes)."
    )
    affinity: dict[str, Any] = Field(
        default_factory=dict,
        description="Kubernetes affinity (nodeAffinity, podAffinity, podAntiAffinity) as in a pod spec; "
        "the operator adds its own anti-affinity term when spread is Required.",
        json_schema_extra={
            "properties": {
                section: {
                    "type": "object",
                    "description": f"Kubernetes {section}, as in a pod spec (checked by the API server).",
                    "x-kubernetes-preserve-unknown-fields": True,
                }
                for section in AFFINITY_SECTIONS
            },
        },
    )
    priority_class_name: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="PriorityClass of the pods (must exist), e.g. to keep Qdrant from being preempted.",
    )

    @model_validator(mode="after")
    def _node_selector_keys(self) -> SchedulingSpec:
        bad = sorted(k for k in self.node_selector if len(k) > 316 or not re.fullmatch(LABEL_KEY_PATTERN, k))
        if bad:
            raise ValueError(f"{NODE_SELECTOR_KEYS_RULE['message']} (not: {', '.join(bad)})")
        return self

    @model_validator(mode="after")
    def _affinity_sections(self) -> SchedulingSpec:
        unknown = sorted(set(self.affinity) - set(AFFINITY_SECTIONS))
        if unknown:
            raise ValueError(f"{AFFINITY_MESSAGE} (not: {', '.join(unknown)})")
        return self
