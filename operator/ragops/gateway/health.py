"""Per-component health (the seeds' contract): `{"status": "ok|degraded|unavailable", "components": {...}}`.

Qdrant is the one component the gateway cannot serve without: when it is down the pod is `unavailable`
(503, out of its Service). A provider outage only makes it `degraded`: whatever does not need that
provider keeps working (retrieval while the LLM is down, deletes always), and taking every pod out of the
Service would turn one provider's outage into a total one.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

OK = "ok"
DOWN = "down"
DISABLED = "disabled"
ESSENTIAL = ("qdrant",)


@dataclass(frozen=True)
class Component:
    status: str  # ok | down | disabled
    latency_ms: float | None
    message: str | None = None

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"status": self.status, "latencyMs": self.latency_ms}
        if self.message:
            body["message"] = self.message
        return body


@dataclass(frozen=True)
class Health:
    components: dict[str, Component]

    @property
    def status(self) -> str:
        if any(self.components[name].status == DOWN for name in ESSENTIAL if name in self.components):
            return "unavailable"
        if any(component.status == DOWN for component in self.components.values()):
            return "degraded"
        return "ok"

    @property
    def serving(self) -> bool:
        return self.status != "unavailable"

    def body(self) -> dict[str, object]:
        return {"status": self.status, "components": {name: c.body() for name, c in self.components.items()}}


async def timed(check: Callable[[], Awaitable[str | None]]) -> Component:
    """Run one check (None = fine, else the reason) and time it."""
    started = time.perf_counter()
    problem = await check()
    latency = round((time.perf_counter() - started) * 1000, 2)
    return Component(OK if problem is None else DOWN, latency, problem)
