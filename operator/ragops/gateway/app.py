"""`create_app(config)`: the gateway as an ASGI app, for uvicorn and for in-process tests.

Middleware, outermost first: request metrics (counts refusals too), CORS (so preflights and error responses
carry CORS headers), rate limit (before auth: it also slows key guessing), auth, body size limit (after auth:
unauthenticated clients cannot make the pod buffer large bodies).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.cors import CORSMiddleware

from ragops import __version__
from ragops.gateway import openai_api, probes, routes
from ragops.gateway.config import GatewayConfig
from ragops.gateway.errors import install_error_handlers
from ragops.gateway.guards import ApiKeyAuth, BodyLimit, RateLimit, TokenBucket
from ragops.gateway.metrics import GatewayMetrics
from ragops.gateway.observe import RequestMetrics
from ragops.gateway.service import open_gateway

log = logging.getLogger("ragops.gateway")


SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key> (OpenAI clients)"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def _openapi(app: FastAPI, secured: bool) -> dict[str, Any]:
    """FastAPI's schema without its automatic 422 responses (invalid requests are 400 here, see errors.py: a
    schema promising 422 would send clients and fuzzers looking for a status that never comes), and with the
    API-key schemes on the /v1 operations when a key is configured (so /docs can send it)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
                if secured and path.startswith("/v1/"):
                    operation["security"] = [{"bearer": []}, {"apiKey": []}]
        if secured:
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(config: GatewayConfig) -> FastAPI:
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_gateway(config, metrics) as gateway:
            app.state.gateway = gateway
            yield
            del app.state.gateway

    resource = config.pipeline
    app = FastAPI(
        title=f"ragops gateway: {resource.namespace}/{resource.name}",
        version=__version__,
        description="RAG gateway of a RagPipeline: ingest documents, query with retrieval and cited answers, "
        "and chat with the pipeline through the OpenAI API (/v1/chat/completions, /v1/models).",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.config = config
    app.include_router(routes.router)
    app.include_router(openai_api.router)
    app.include_router(probes.router)
    install_error_handlers(app)
    app.openapi = lambda: _openapi(app, secured=bool(config.api_key))  # type: ignore[method-assign]

    gateway_spec = config.spec.gateway
    # add_middleware wraps what is already there: add innermost first.
    app.add_middleware(BodyLimit, limit=gateway_spec.max_request_bytes)
    if config.api_key:
        app.add_middleware(ApiKeyAuth, api_key=config.api_key)
    else:
        log.warning("no gateway API key (RAGOPS_GATEWAY_API_KEY[_FILE] unset): authentication is OFF")
    if gateway_spec.rate_limit.requests_per_second:
        bucket = TokenBucket(float(gateway_spec.rate_limit.requests_per_second), clock=config.clock)
        app.add_middleware(RateLimit, bucket=bucket)
    if gateway_spec.cors.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(gateway_spec.cors.allowed_origins),
            allow_methods=["GET", "POST", "DELETE"],
            # Any request header: the OpenAI SDKs add their own (x-stainless-*, openai-*), and a browser app on
            # an allowed origin should not fail its preflight over them. The origins are the restriction.
            allow_headers=["*"],
            max_age=600,
        )
    # The routers' own routes: the app's list wraps included routers, which do not expose a route template.
    own_routes = [*routes.router.routes, *openai_api.router.routes, *probes.router.routes]
    app.add_middleware(RequestMetrics, metrics=metrics, routes=own_routes)
    return app
