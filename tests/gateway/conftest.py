"""The gateway in-process: its ASGI app with its lifespan, Qdrant in local mode, providers faked over HTTP."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from ragops.gateway.app import create_app
from ragops.gateway.config import GatewayConfig, parse_pipeline
from ragops.gateway.service import Gateway
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


@pytest.fixture
def start() -> Start:
    """`async with start(spec overrides..., api_key=..., env=...) as h:` a running gateway."""

    @asynccontextmanager
    async def run(
        *,
        api_key: str | None = None,
        embedding_api_key: str | None = None,
        llm_api_key: str | None = None,
        workers: int = 4,
        qdrant_url: str = ":memory:",
        real_network: bool = False,
        **spec: Any,
    ) -> AsyncIterator[Harness]:
        provider = FakeProvider(spec.get("embedding", {}).get("dimensions", DIMENSIONS))
        clock = FakeClock()
        sleep = RecordingSleep()
        config = GatewayConfig(
            pipeline=parse_pipeline(manifest(**spec)),
            qdrant_url=qdrant_url,
            api_key=api_key,
            embedding_api_key=embedding_api_key,
            llm_api_key=llm_api_key,
            workers=workers,
            # Real sockets only when a test points a provider at a loopback port itself.
            provider_transport=None if real_network else httpx.ASGITransport(app=provider.app),
            sleep=sleep,
            clock=clock,
            rand=lambda: 0.5,
        )
        app = create_app(config)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=GATEWAY_URL) as client:
                yield Harness(app, client, provider, clock, sleep)

    return run
