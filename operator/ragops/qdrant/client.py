"""How the gateway opens a qdrant-client (the operator itself uses ragops.qdrant.rest, without qdrant-client)."""

from __future__ import annotations

import math
from collections.abc import Generator

import httpx
from qdrant_client import AsyncQdrantClient

from ragops.secretfiles import Key, SecretFile

MEMORY = ":memory:"
API_KEY_HEADER = "api-key"


class RotatingApiKey(httpx.Auth):
    """Sets Qdrant's `api-key` header on every request from a key file, so a rotated Secret is used at once.

    During a rotation the Qdrant pods restart one at a time with the new key, so for the length of the roll
    some pods still want the old one: a request refused with 401/403 is sent once more with the other key
    (the previous value of the file), and no client is locked out while nodes and clients disagree."""

    requires_request_body = True  # a refused request is sent again, body included

    def __init__(self, key: SecretFile) -> None:
        self._key = key
        self._current: str | None = None
        self._previous: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        value = self._key.get()
        if value != self._current:
            self._previous, self._current = self._current, value
        request.headers[API_KEY_HEADER] = value
        response = yield request
        if response.status_code in (401, 403) and self._previous and self._previous != value:
            request.headers[API_KEY_HEADER] = self._previous
            yield request


def connect(url: str, api_key: Key | None, timeout: float = 10.0) -> AsyncQdrantClient:
    """An async REST client for `url`; `:memory:` gives qdrant-client's local mode (tests, dry runs).

    The compatibility check is off: it costs an extra synchronous request on every construction, and the
    operator builds a client per reconcile pass; the image's version is pinned by the operator anyway.
    The key goes in the `api-key` header directly rather than through `api_key=`, which makes qdrant-client
    warn about plain HTTP: in-cluster traffic to Qdrant is plain HTTP behind a NetworkPolicy by design.
    A file-backed key (SecretFile) is read per request through httpx's auth hook (qdrant-client passes extra
    arguments to its httpx client), for the same reason not through `auth_token_provider`.
    """
    if url == MEMORY:
        return AsyncQdrantClient(location=MEMORY)
    # qdrant-client takes whole seconds; round up so a sub-second budget does not become "no timeout".
    seconds = math.ceil(timeout)
    if isinstance(api_key, SecretFile):
        return AsyncQdrantClient(url=url, auth=RotatingApiKey(api_key), timeout=seconds, check_compatibility=False)
    headers = {API_KEY_HEADER: api_key} if api_key else None
    return AsyncQdrantClient(url=url, headers=headers, timeout=seconds, check_compatibility=False)
