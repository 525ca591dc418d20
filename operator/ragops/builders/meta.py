"""Names, labels and metadata shared by every child object."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ragops.models.resource import Resource

PART_OF = "ragops"
MANAGED_BY = "ragops"
# Lets the NetworkPolicy admit a store's clients (gateways, backup jobs) by label.
STORE_CLIENT_LABEL = "ragops.dev/vectorstore-client"
CONFIG_HASH_ANNOTATION = "ragops.dev/config-hash"


def selector_labels(resource: Resource[Any], app: str, component: str) -> dict[str, str]:
    """The labels a selector matches on. They never change after creation (selectors are immutable)."""
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": resource.name,
        "app.kubernetes.io/component": component,
    }


def labels(resource: Resource[Any], app: str, component: str) -> dict[str, str]:
    """The design's full label set for a child object."""
    return {
        **selector_labels(resource, app, component),
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def metadata(
    resource: Resource[Any],
    name: str,
    app: str,
    component: str,
    *,
    owned: bool = True,
    annotations: dict[str, str] | None = None,
    extra_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """ObjectMeta of a child; `owned=False` leaves out the ownerReference (retained PVCs)."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": resource.namespace,
        "labels": {**labels(resource, app, component), **(extra_labels or {})},
    }
    if annotations:
        meta["annotations"] = annotations
    if owned:
        meta["ownerReferences"] = [resource.owner_reference]
    return meta


def content_hash(value: Any) -> str:
    """Short stable hash of JSON-able content, used to roll pods when their configuration changes."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
