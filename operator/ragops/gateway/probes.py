"""Kubernetes probes and the Prometheus endpoint (all open: no API key)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ragops.gateway.metrics import GatewayMetrics

router = APIRouter(tags=["probes"])


@router.get("/healthz", summary="Liveness: the process serves requests")
async def healthz() -> dict[str, str]:
    # Deliberately checks nothing else: a dependency outage must not get the pod restarted.
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: Qdrant and the providers are usable")
async def readyz(request: Request) -> JSONResponse:
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is None:
        return JSONResponse(status_code=503, content={"status": "starting", "checks": {}})
    checks = await gateway.readiness()
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        status_code=200 if ready else 503, content={"status": "ready" if ready else "not ready", "checks": checks}
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: GatewayMetrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
