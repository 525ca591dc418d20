"""Does a live object already hold everything we would apply? Then applying is skipped (zero idle writes)."""

from __future__ import annotations

import re
from typing import Any

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_FACTORS = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
}


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field in `desired` has the same value in `live`.

    Fields the API server or other managers add (defaults, status, user labels) are ignored, so
    an object edited only outside our fields is left alone. Lists compare element by element.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return not desired
        return all(is_subset(value, live.get(key)) for key, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list):
            return not desired
        return len(desired) == len(live) and all(is_subset(d, v) for d, v in zip(desired, live, strict=True))
    if desired == live:
        return True
    if isinstance(desired, str) and isinstance(live, str):
        return _same_quantity(desired, live)
    return isinstance(desired, int | float) and isinstance(live, str) and _same_quantity(str(desired), live)


def quantity_value(value: str) -> float:
    """A Kubernetes quantity as a number; ValueError when it is not one."""
    match = _QUANTITY.match(value)
    if not match or match.group(2) not in _FACTORS:
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def _same_quantity(a: str, b: str) -> bool:
    """The API server normalizes quantities ("1024Mi" reads back as "1Gi")."""
    try:
        return abs(quantity_value(a) - quantity_value(b)) < 1e-9
    except ValueError:
        return False
