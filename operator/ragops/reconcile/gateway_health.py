"""A pipeline's providers as its gateway sees them: `GET /health` on the gateway's Service, once its pods are ready.

The same rate limit and threads as the collections check (ragops.reconcile.background): one request per
pipeline a minute at most, never on a reconcile worker. `/health` is open (no API key). Only the components'
states and messages go into the condition, never the latencies, so a stable health causes no status writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ragops.builders import names
from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.resource import Resource
from ragops.reconcile.background import BackgroundChecks
from ragops.reconcile.conditions import Observation

if TYPE_CHECKING:
    import httpx

CONDITION = "ProvidersReady"
RETRY_SECONDS = 60.0
TIMEOUT_SECONDS = 10.0  # the gateway bounds each component's check to 3 s
WAIT_SECONDS = 0.25  # how long a reconcile waits for a check before going on without it
REASONS = {"llm": "LLMUnavailable", "embedding": "EmbeddingUnavailable", "qdrant": "QdrantUnavailable"}
FINE = ("ok", "disabled")


class GatewayHealth:
    """The production GatewayHealthChecker. `transport` replaces the network in tests."""

    def __init__(
        self,
        retry_seconds: float = RETRY_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
        on_late_answer: Callable[[str, str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._checks = BackgroundChecks(retry_seconds, wait_seconds, on_late_answer, "gateway-health")
        self._transport = transport

    def __call__(self, resource: Resource[RagPipelineSpec]) -> Observation | None:
        """The answer, or None while the first check of this generation is still running."""
        url = names.gateway_url(resource.name, resource.namespace)
        return self._checks.answer(
            resource, lambda: self._check(url), lambda error: unreachable(url, type(error).__name__, self.retry)
        )

    @property
    def retry(self) -> float:
        return self._checks.retry

    def close(self) -> None:
        self._checks.close()

    def _check(self, url: str) -> Observation:
        import httpx  # only once a gateway is ready: the operator starts without it

        try:
            with httpx.Client(transport=self._transport, timeout=TIMEOUT_SECONDS) as client:
                response = client.get(f"{url}/health")
            body = response.json()  # 503 (Qdrant down) carries the same body
        except (httpx.HTTPError, ValueError) as error:  # DNS, connection, timeout, not JSON
            return unreachable(url, type(error).__name__, self.retry)
        if not isinstance(body, Mapping) or not isinstance(body.get("components"), Mapping):
            return unreachable(url, f"HTTP {response.status_code}, no components in the body", self.retry)
        return observation(body["components"])


def observation(components: Mapping[str, Any]) -> Observation:
    """The condition for a /health body's components: True when every one is ok (or disabled)."""
    down = {name: c for name, c in components.items() if not isinstance(c, Mapping) or c.get("status") not in FINE}
    if not down:
        return Observation(CONDITION, True, "AllComponentsOk", "every component of the gateway answers")
    parts = []
    for name, component in sorted(down.items()):
        state = component.get("status", "unknown") if isinstance(component, Mapping) else "unknown"
        message = component.get("message") if isinstance(component, Mapping) else None
        parts.append(f"{name} is {state}" + (f": {message}" if message else ""))
    reason = REASONS.get(next(iter(down)), "ComponentDegraded") if len(down) == 1 else "ComponentDegraded"
    serving = "" if "qdrant" in down else " (retrieval keeps serving)"
    return Observation(CONDITION, False, reason, "; ".join(parts) + serving)


def unreachable(url: str, why: str, retry: float) -> Observation:
    return Observation(
        CONDITION,
        None,
        "GatewayUnreachable",
        f"cannot reach the gateway's /health at {url} ({why}); retrying every {int(retry)}s",
    )
