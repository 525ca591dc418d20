"""Small pieces of pod specs shared by every workload builder."""

from __future__ import annotations

import base64
from typing import Any


def http_probe(path: str, *, port: str = "http", period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
        "successThreshold": 1,
    }


def secret_env(env_name: str, secret: str, key: str, *, optional: bool = False) -> dict[str, Any]:
    """An env var read from a Secret key (the value never passes through the operator)."""
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": env_name, "valueFrom": {"secretKeyRef": ref}}


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()
