"""Request guards as ASGI middleware: API-key auth, rate limit and body size limit.

Probes and metrics stay open (the kubelet and Prometheus carry no key), and so do the API docs: they hold
no data and a browser cannot add a header to open them.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragops.gateway.responses import send_error
from ragops.secretfiles import Key, value_of

OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/health", "/metrics", "/docs", "/docs/oauth2-redirect", "/openapi.json"}
)


def is_open(scope: Scope) -> bool:
    return scope["type"] != "http" or scope["path"] in OPEN_PATHS


class ApiKeyAuth:
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`; compared in constant time.

    A file-backed key is looked up on every request (a cached stat), so a rotated Secret takes effect
    without a restart, and the old key stops working at the same moment."""

    def __init__(self, app: ASGIApp, api_key: Key) -> None:
        self.app = app
        self._key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_open(scope) or self._presented(Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        await send_error(send, 401, "missing or invalid API key", {"WWW-Authenticate": "Bearer"})

    def _presented(self, headers: Headers) -> bool:
        candidates = [headers.get("x-api-key", "")]
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(token.strip())
        expected = (value_of(self._key) or "").encode()
        return bool(expected) and any(c and hmac.compare_digest(c.encode(), expected) for c in candidates)


@dataclass
class TokenBucket:
    """`rate` tokens per second, holding at most `rate` (one second's burst)."""

    rate: float
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.tokens = self.rate
        self.updated = self.clock()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one will be available."""
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimit:
    """Per-pod token bucket (`gateway.rateLimit.requestsPerSecond`); over the limit: 429 with Retry-After."""

    def __init__(self, app: ASGIApp, bucket: TokenBucket) -> None:
        self.app = app
        self.bucket = bucket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_open(scope):
            wait = self.bucket.take()
            if wait > 0:
                # Retry-After takes whole seconds; round up so a client that obeys it finds a token.
                retry = str(max(1, math.ceil(wait)))
                await send_error(send, 429, "rate limit exceeded", {"Retry-After": retry})
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuses bodies over `limit` bytes with 413: early from Content-Length, else while reading (chunked)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        # Read the body here (bounded by the limit) and replay it: the routes read it whole anyway, and this
        # way an oversized chunked body is refused before any handler sees part of it.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            message = next(replay, None)
            # After the body, later receives wait for the disconnect as usual (streaming responses need that).
            return message if message is not None else await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, send: Send) -> None:
        await send_error(send, 413, f"request body larger than {self.limit} bytes (gateway.maxRequestBytes)")
