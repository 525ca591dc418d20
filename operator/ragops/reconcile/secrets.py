"""Generated API keys: created once, then read back and reused forever (never rotated by a reconcile)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any


def generate_key() -> str:
    return secrets.token_urlsafe(32)


def secret_value(secret: Mapping[str, Any] | None, key: str) -> str | None:
    if not secret:
        return None
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        return None
    return base64.b64decode(encoded).decode()


def existing_or_new(secret: Mapping[str, Any] | None, key: str) -> str:
    return secret_value(secret, key) or generate_key()


def keys_hash(*values: str | None) -> str | None:
    """A short digest of key values, for a pod-template annotation that rolls pods when a key changes.

    Only this digest leaves the operator, never a value; None when no key is known yet."""
    if not any(values):
        return None
    digest = hashlib.sha256("\0".join(value or "" for value in values).encode()).hexdigest()
    return f"sha256:{digest[:16]}"
