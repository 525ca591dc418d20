"""The gateway in-process: its ASGI app with its lifespan, Qdrant in local mode, providers faked over HTTP."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

import tests.gateway.minilm  # noqa: F401  (before anything loads numpy: it limits BLAS threads)
from ragops.gateway.app import create_app
from ragops.gateway.config import GatewayConfig, parse_pipeline
from ragops.gateway.service import Gateway
from ragops.secretfiles import Key
from tests.gateway.fakes import FakeClock, FakeProvider, RecordingSleep

DIMENSIONS = 64
PROVIDER_URL = "http://provider.test"
GATEWAY_URL = "http://gateway.test"

BASE_SPEC: dict[str, Any] = {
    "vectorStoreRef": {"name": "docs"},
    "collection": "manuals",
    "embedding": {"provider": "hash", "dimensions": DIMENSIONS, "batchSize": 64},
    "llm": {"provider": "none"},
    "chunking": {"strategy": "sentence", "size": 200, "overlap": 0},
    "retrieval": {"topK": 3, "scoreThreshold": 0.0},
    "resilience": {
        "timeoutSeconds": 5,
        "retries": 2,
        "backoffBaseMs": 100,
        "backoffMaxMs": 1000,
        "circuitBreaker": {"failureThreshold": 3, "recoverySeconds": 30},
    },
}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def manifest(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ragops.dev/v1alpha1",
        "kind": "RagPipeline",
        "metadata": {"name": "bot", "namespace": "search", "uid": "u-bot"},
        "spec": merge(BASE_SPEC, spec),
    }


OPENAI = {"provider": "openai", "endpoint": f"{PROVIDER_URL}/v1", "model": "m"}
OLLAMA = {"provider": "ollama", "endpoint": PROVIDER_URL, "model": "m"}


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    provider: FakeProvider
    clock: FakeClock
    sleep: RecordingSleep

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    async def ingest(self, *documents: tuple[str, str], **metadata: Any) -> httpx.Response:
        docs = [{"id": doc_id, "text": text, "metadata": metadata} for doc_id, text in documents]
        return await self.client.post("/v1/documents", json={"documents": docs})

    async def query(self, query: str, **options: Any) -> httpx.Response:
        return await self.client.post("/v1/query", json={"query": query, **options})

    async def metric(self, name: str, **labels: str) -> float:
        """Value of one sample on /metrics (0 when absent), read the way Prometheus would."""
        text = (await self.client.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0


Start = Callable[..., AbstractAsyncContextManager[Harness]]


@dataclass
class Parts:
    config: GatewayConfig
    provider: FakeProvider
    clock: FakeClock
    sleep: RecordingSleep


def gateway_parts(
    *,
    api_key: Key | None = None,
    embedding_api_key: Key | None = None,
    llm_api_key: Key | None = None,
    workers: int = 4,
    qdrant_url: str = ":memory:",
    real_network: bool = False,
    providers: dict[str, httpx.AsyncBaseTransport] | None = None,
    **spec: Any,
) -> Parts:
    """A gateway's config with the fake provider behind PROVIDER_URL; `providers` adds other fake servers by
    host (for example the real embedding model's)."""
    provider = FakeProvider(spec.get("embedding", {}).get("dimensions", DIMENSIONS))
    clock = FakeClock()
    sleep = RecordingSleep()
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=provider.app)
    if providers:
        transport = HostRouter({urlsplit(PROVIDER_URL).netloc: transport, **providers})
    config = GatewayConfig(
        pipeline=parse_pipeline(manifest(**spec)),
        qdrant_url=qdrant_url,
        api_key=api_key,
        embedding_api_key=embedding_api_key,
        llm_api_key=llm_api_key,
        workers=workers,
        # Real sockets only when a test points a provider at a loopback port itself.
        provider_transport=None if real_network else transport,
        sleep=sleep,
        clock=clock,
        rand=lambda: 0.5,
    )
    return Parts(config, provider, clock, sleep)


class HostRouter(httpx.AsyncBaseTransport):
    """Sends each request to the transport of its host (host[:port])."""

    def __init__(self, routes: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.routes = routes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.routes.get(request.url.netloc.decode())
        if transport is None:
            raise httpx.ConnectError(f"no fake server at {request.url.netloc.decode()}", request=request)
        return await transport.handle_async_request(request)


@pytest.fixture
def start() -> Start:
    """`async with start(spec overrides..., api_key=..., env=...) as h:` a running gateway."""

    @asynccontextmanager
    async def run(**options: Any) -> AsyncIterator[Harness]:
        parts = gateway_parts(**options)
        app = create_app(parts.config)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=GATEWAY_URL) as client:
                yield Harness(app, client, parts.provider, parts.clock, parts.sleep)

    return run


@dataclass
class Served:
    """A gateway on a real socket, for clients that bring their own HTTP stack (openai, LangChain)."""

    url: str
    app: FastAPI
    parts: Parts

    @property
    def provider(self) -> FakeProvider:
        return self.parts.provider


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Uvicorn on 127.0.0.1, an ephemeral port, in a thread with its own event loop; the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="gateway-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


ServeGateway = Callable[..., AbstractContextManager[Served]]


@pytest.fixture
def serve_gateway() -> ServeGateway:
    """`with serve_gateway(spec overrides..., api_key=...) as served:` a gateway listening on loopback."""

    @contextmanager
    def run(**options: Any) -> Iterator[Served]:
        parts = gateway_parts(**options)
        app = create_app(parts.config)
        with serve(app) as url:
            yield Served(url, app, parts)

    return run
