"""Rules that combine a spec section with its profile, once as CEL (admission) and once in Python (the models).

Both sides carry the same message, so whichever refuses a spec says the same thing.
"""

from __future__ import annotations

from collections.abc import Callable

from ragops.models.base import ResourceRequirements, cel, quantity
from ragops.models.profiles import Profile, Sizing

RESOURCES = ("cpu", "memory")


def resources_message(section: str) -> str:
    return f"{section}.resources: requests may not exceed limits (an unset value comes from the profile)"


def resources_rule(section: str, sizing: Callable[[Profile], Sizing]) -> dict[str, str]:
    """requests <= limits for cpu and memory of `self.<section>.resources`, the profile filling unset values."""
    checks = []
    for resource in RESOURCES:
        request = _effective(
            section, "requests", resource, {p: getattr(sizing(p), f"request_{resource}") for p in Profile}
        )
        limit = _effective(section, "limits", resource, {p: getattr(sizing(p), f"limit_{resource}") for p in Profile})
        checks.append(
            f"(!isQuantity({request}) || !isQuantity({limit}) || quantity({request}).compareTo(quantity({limit})) <= 0)"
        )
    return cel(" && ".join(checks), resources_message(section), field_path=f".{section}.resources")


def resources_within_limits(section: str, override: ResourceRequirements | None, sizing: Sizing) -> None:
    """The model's side of `resources_rule`; raises ValueError with its message."""
    for resource in RESOURCES:
        requests = override.requests if override else None
        limits = override.limits if override else None
        request = (getattr(requests, resource) if requests else None) or getattr(sizing, f"request_{resource}")
        limit = (getattr(limits, resource) if limits else None) or getattr(sizing, f"limit_{resource}")
        low, high = quantity(request), quantity(limit)
        if low is not None and high is not None and low > high:
            raise ValueError(resources_message(section))


def _effective(section: str, kind: str, resource: str, defaults: dict[Profile, str]) -> str:
    path = f"self.{section}.resources"
    table = "{" + ", ".join(f"'{p.value}': '{value}'" for p, value in defaults.items()) + "}"
    present = f"has({path}) && has({path}.{kind}) && has({path}.{kind}.{resource})"
    return f"({present} ? {path}.{kind}.{resource} : {table}[self.profile])"
