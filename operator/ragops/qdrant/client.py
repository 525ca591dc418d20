"""How the gateway opens a qdrant-client (the operator itself uses ragops.qdrant.rest, without qdrant-client)."""

from __future__ import annotations

import math

from qdrant_client import AsyncQdrantClient

MEMORY = ":memory:"


def connect(url: str, api_key: str | None, timeout: float = 10.0) -> AsyncQdrantClient:
    """An async REST client for `url`; `:memory:` gives qdrant-client's local mode (tests, dry runs).

    The compatibility check is off: it costs an extra synchronous request on every construction, and the
    operator builds a client per reconcile pass; the image's version is pinned by the operator anyway.
    The key goes in the `api-key` header directly rather than through `api_key=`, which makes qdrant-client
    warn about plain HTTP: in-cluster traffic to Qdrant is plain HTTP behind a NetworkPolicy by design.
    """
    if url == MEMORY:
        return AsyncQdrantClient(location=MEMORY)
    headers = {"api-key": api_key} if api_key else None
    # qdrant-client takes whole seconds; round up so a sub-second budget does not become "no timeout".
    return AsyncQdrantClient(url=url, headers=headers, timeout=math.ceil(timeout), check_compatibility=False)
