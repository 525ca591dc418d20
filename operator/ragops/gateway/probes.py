"""Kubernetes probes, per-component health and the Prometheus endpoint (all open: no API key)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from ragops.gateway.metrics import GatewayMetrics

router = APIRouter(tags=["probes"])


class ComponentOut(BaseModel):
    status: Literal["ok", "down", "disabled"]
    latency_ms: float | None = Field(alias="latencyMs", description="Duration of the check; null when disabled.")
    message: str | None = Field(default=None, description="What is wrong (down) or why it is off (disabled).")


class HealthOut(BaseModel):
    status: Literal["ok", "degraded", "unavailable", "starting"] = Field(
        description="ok; degraded: a provider is down, retrieval still serves; unavailable: Qdrant is down."
    )
    components: dict[str, ComponentOut] = Field(description="qdrant, embedding, llm.")


HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "ok or degraded: the pod serves."},
    503: {"model": HealthOut, "description": "unavailable (Qdrant unreachable, collection mismatch) or starting."},
}


@router.get("/healthz", summary="Liveness: the process serves requests")
async def healthz() -> dict[str, str]:
    # Deliberately checks nothing else: a dependency outage must not get the pod restarted.
    return {"status": "ok"}


async def _health(request: Request) -> JSONResponse:
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is None:
        return JSONResponse(status_code=503, content={"status": "starting", "components": {}})
    health = await gateway.health()
    return JSONResponse(status_code=200 if health.serving else 503, content=health.body())


@router.get(
    "/health",
    summary="Each component (qdrant, embedding, llm) with its state and latency",
    response_model=HealthOut,
    responses=HEALTH_RESPONSES,
)
async def health(request: Request) -> JSONResponse:
    return await _health(request)


@router.get(
    "/readyz",
    summary="Readiness: fails only when the pod cannot serve at all (Qdrant); body as /health",
    response_model=HealthOut,
    responses=HEALTH_RESPONSES,
)
async def readyz(request: Request) -> JSONResponse:
    # A provider outage leaves the pod in its Service (degraded): retrieval keeps serving.
    return await _health(request)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: GatewayMetrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
