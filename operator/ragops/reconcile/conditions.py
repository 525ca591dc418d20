"""Conditions and status: computed fresh each pass, written only when something changed."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ragops.models.status import Condition, Phase, ResourceStatus


@dataclass(frozen=True)
class Observation:
    """One condition as a reconcile pass sees it."""

    type: str
    ok: bool | None  # None: Unknown
    reason: str
    message: str
    problem: bool | None = None  # default: False status is a problem; informational conditions say False

    @property
    def is_problem(self) -> bool:
        return self.ok is False if self.problem is None else self.problem

    @property
    def status(self) -> str:
        return "Unknown" if self.ok is None else ("True" if self.ok else "False")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    previous: Iterable[Mapping[str, Any]], observations: Iterable[Observation], generation: int
) -> list[Condition]:
    """New conditions, keeping lastTransitionTime where a condition's status did not change."""
    before = {c.get("type"): c for c in previous}
    merged = []
    for observation in observations:
        old = before.get(observation.type)
        changed = old is None or old.get("status") != observation.status
        merged.append(
            Condition(
                type=observation.type,
                status=observation.status,
                reason=observation.reason,
                message=observation.message,
                last_transition_time=now() if changed or not old else str(old.get("lastTransitionTime") or now()),
                observed_generation=generation,
            )
        )
    return merged


def status_changed(previous: Mapping[str, Any], status: ResourceStatus) -> bool:
    """Whether writing `status` would change anything. Transition times only move when a condition's
    status moves, so comparing without them avoids rewriting an unchanged status."""
    return _without_times(previous) != _without_times(status_payload(status))


def status_payload(status: ResourceStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


def _without_times(status: Mapping[str, Any]) -> dict[str, Any]:
    copy = dict(status)
    copy["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []
    ]
    return copy


def phase_of(ready: bool, progressing: bool, failed: bool, degraded: bool) -> Phase:
    if failed:
        return Phase.FAILED
    if ready and degraded:
        return Phase.DEGRADED
    if ready:
        return Phase.READY
    if progressing:
        return Phase.PROGRESSING
    return Phase.PENDING
