"""One provider's HTTP calls with the pipeline's timeout, retries (backoff, jitter, Retry-After) and breaker.

Retried: timeouts, connection errors, 429 and 5xx. Not retried: other 4xx (the request itself is wrong, or
the key: repeating it cannot help). A call counts once towards the breaker, after its retries: a provider
that answers at all, even 4xx, is alive and resets the failure count. Streams are retried only until the
response headers arrive; once text has gone to the client, a failure ends the stream instead.

Logs name the role, provider, status and attempt, never the request body (document text), the API key or the
provider's error text (providers echo input in their errors).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from ragops.gateway.metrics import GatewayMetrics
from ragops.gateway.providers.errors import (
    ProviderError,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
)
from ragops.gateway.resilience import CircuitBreaker, CircuitOpenError, RetryPolicy, parse_retry_after
from ragops.secretfiles import Key, value_of

log = logging.getLogger("ragops.gateway.providers")

# Readiness probes must answer within the kubelet's probe timeout (10 s), whatever the call timeout is.
PROBE_TIMEOUT_SECONDS = 3.0
PROVIDER_MESSAGE_LIMIT = 300


@dataclass
class _Attempt:
    """Result of one HTTP attempt: a response to use, or an error and whether another attempt may help."""

    response: httpx.Response | None = None
    error: ProviderError | None = None
    outcome: str = "success"
    retriable: bool = False
    # False for answers that prove the provider is up (4xx): they close the breaker rather than trip it.
    provider_fault: bool = True


@dataclass
class ProviderClient:
    role: str  # embedding | llm
    provider: str  # openai | ollama
    base_url: str
    api_key: Key | None  # a file-backed key is re-read when its Secret rotates
    http: httpx.AsyncClient
    policy: RetryPolicy
    breaker: CircuitBreaker
    metrics: GatewayMetrics
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rand: Callable[[], float] = random.random

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        """POST a JSON body, return the decoded JSON answer."""
        response = await self._call(path, body, stream=False)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ProviderResponseError(self.role, f"{self.provider} answered with invalid JSON") from None

    @asynccontextmanager
    async def stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """POST and yield the streaming response; transport failures while reading become ProviderErrors."""
        response = await self._call(path, body, stream=True)
        try:
            yield response
        except httpx.TimeoutException:
            self._mid_stream_failure("timeout")
            raise ProviderTimeout(self.role, f"{self.provider} stream stalled") from None
        except httpx.TransportError:
            self._mid_stream_failure("connection_error")
            raise ProviderError(self.role, f"{self.provider} stream broke off") from None
        finally:
            await response.aclose()

    async def probe(self, path: str) -> str | None:
        """Readiness: None when the provider answers GET `path` and accepts our key; never touches the breaker.

        Any answer below 500 other than 401/403 counts: the path only has to prove a live server (some
        OpenAI-compatible servers have no /models and answer 404, which is fine).
        """
        if self.breaker.retry_after() > 0:
            return f"{self.role} provider circuit open (next trial in {self.breaker.retry_after():.0f}s)"
        try:
            async with asyncio.timeout(min(PROBE_TIMEOUT_SECONDS, self.policy.timeout_seconds)):
                response = await self.http.get(self._url(path), headers=self._headers())
        except (TimeoutError, httpx.TimeoutException):
            return f"{self.role} provider {self.provider} at {self.base_url} timed out"
        except httpx.TransportError:
            return f"{self.role} provider {self.provider} at {self.base_url} unreachable"
        if response.status_code in (401, 403):
            return f"{self.role} provider {self.provider} rejected the API key (HTTP {response.status_code})"
        if response.status_code >= 500:
            return f"{self.role} provider {self.provider} answered HTTP {response.status_code}"
        return None

    async def _call(self, path: str, body: dict[str, Any], *, stream: bool) -> httpx.Response:
        try:
            trial = self.breaker.acquire()
        except CircuitOpenError as error:
            self._fail("circuit_open")
            raise ProviderUnavailable(
                self.role, f"{self.provider} circuit open", retry_after=error.retry_after
            ) from None
        # The half-open trial is a single attempt: it should answer "is the provider back?" quickly.
        attempts = 1 if trial else self.policy.retries + 1
        try:
            result = _Attempt()
            for attempt in range(attempts):
                result = await self._attempt(path, body, stream=stream, number=attempt + 1)
                if result.response is not None:
                    self.breaker.record_success()
                    return result.response
                if not result.retriable or attempt == attempts - 1:
                    break
                assert result.error is not None
                delay = self.policy.delay(attempt, result.error.retry_after, self.rand)
                if delay is None:
                    break
                log.info("%s provider %s: retry %d in %.2fs", self.role, self.provider, attempt + 1, delay)
                await self.sleep(delay)
        except BaseException:
            self.breaker.release()  # cancelled (client went away): no verdict on the provider
            raise
        if result.provider_fault:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()
        assert result.error is not None
        self._fail(result.outcome)
        raise result.error

    async def _attempt(self, path: str, body: dict[str, Any], *, stream: bool, number: int) -> _Attempt:
        started = time.perf_counter()
        try:
            # An overall deadline: httpx's timeouts are per socket operation, so a server that dribbles bytes
            # could otherwise hold one call far beyond `timeoutSeconds`.
            async with asyncio.timeout(self.policy.timeout_seconds):
                request = self.http.build_request("POST", self._url(path), json=body, headers=self._headers())
                response = await self.http.send(request, stream=stream)
        except (TimeoutError, httpx.TimeoutException):
            return self._outcome(started, "timeout", number, ProviderTimeout(self.role, f"{self.provider} timed out"))
        except httpx.TransportError as failure:
            message = f"{self.provider} unreachable ({type(failure).__name__})"
            return self._outcome(started, "connection_error", number, ProviderError(self.role, message))
        status = response.status_code
        if status < 400:
            self._count(started, "success")
            return _Attempt(response=response)
        if stream:
            await response.aread()
            await response.aclose()
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        text = f"{self.provider} answered HTTP {status}"
        if status == 429:
            limited = ProviderUnavailable(self.role, text, retry_after=retry_after)
            return self._outcome(started, "http_429", number, limited)
        if status >= 500:
            return self._outcome(started, "http_5xx", number, ProviderError(self.role, text, retry_after=retry_after))
        refused = ProviderResponseError(self.role, text, detail=_provider_message(response))
        self._count(started, "http_4xx")
        log.warning("%s provider %s: HTTP %d (not retried)", self.role, self.provider, status)
        return _Attempt(error=refused, outcome="http_4xx", provider_fault=False)

    def _outcome(self, started: float, outcome: str, number: int, error: ProviderError) -> _Attempt:
        self._count(started, outcome)
        log.warning("%s provider %s: attempt %d failed: %s", self.role, self.provider, number, outcome)
        return _Attempt(error=error, outcome=outcome, retriable=True)

    def _count(self, started: float, outcome: str) -> None:
        self.metrics.provider_requests.labels(self.role, self.provider, outcome).inc()
        self.metrics.provider_duration.labels(self.role, self.provider).observe(time.perf_counter() - started)

    def _fail(self, reason: str) -> None:
        self.metrics.provider_failures.labels(self.role, self.provider, reason).inc()

    def _mid_stream_failure(self, reason: str) -> None:
        self.breaker.record_failure()
        self._fail(reason)
        log.warning("%s provider %s: stream failed: %s", self.role, self.provider, reason)

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def _headers(self) -> dict[str, str]:
        key = value_of(self.api_key)
        return {"Authorization": f"Bearer {key}"} if key else {}


def _provider_message(response: httpx.Response) -> str | None:
    """The provider's own error text, for the client's response only (it may quote the client's input)."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    if not isinstance(error, str):
        return None
    return error[:PROVIDER_MESSAGE_LIMIT]
