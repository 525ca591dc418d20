"""The gateway's parts wired together for one process, opened and closed with the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from ragops.gateway import tokens
from ragops.gateway.chat import ChatService
from ragops.gateway.config import MEMORY, GatewayConfig
from ragops.gateway.health import DISABLED, OK, Component, Health, timed
from ragops.gateway.ingest import Ingestor
from ragops.gateway.metrics import GatewayMetrics
from ragops.gateway.providers.factory import Providers, Runtime, build_providers
from ragops.gateway.query import QueryService
from ragops.gateway.store import ChunkStore, StoreError
from ragops.qdrant.client import connect

log = logging.getLogger("ragops.gateway")

# Readiness answers within the kubelet's 10 s probe timeout even when Qdrant hangs.
QDRANT_CHECK_SECONDS = 3.0
QDRANT_TIMEOUT_SECONDS = 10.0


@dataclass
class Gateway:
    config: GatewayConfig
    metrics: GatewayMetrics
    store: ChunkStore
    providers: Providers
    ingestor: Ingestor
    queries: QueryService
    chats: ChatService
    started: int = field(default_factory=lambda: int(time.time()))

    @property
    def model_id(self) -> str:
        """The pipeline as an OpenAI model: its RagPipeline name."""
        return self.config.pipeline.name

    async def health(self) -> Health:
        """Every component, checked concurrently, each bounded in time, with its latency; also exported
        as metrics (ragops_gateway_component_up, ..._component_check_seconds)."""
        checks: dict[str, Callable[[], Awaitable[str | None]]] = {
            "qdrant": self._qdrant,
            "embedding": self.providers.embedder.check,
        }
        if self.providers.chat is not None:
            checks["llm"] = self.providers.chat.check
        results = await asyncio.gather(*(timed(check) for check in checks.values()))
        components = dict(zip(checks, results, strict=True))
        if self.providers.chat is None:
            components["llm"] = Component(DISABLED, None, "no answering model (spec.llm absent or none)")
        for name, component in components.items():
            if component.status != DISABLED:
                self.metrics.component_up.labels(name).set(1.0 if component.status == OK else 0.0)
                self.metrics.component_check_seconds.labels(name).set((component.latency_ms or 0.0) / 1000)
        return Health(components)

    async def _qdrant(self) -> str | None:
        try:
            async with asyncio.timeout(QDRANT_CHECK_SECONDS):
                # Creates the collection when it is missing: a pod that started before Qdrant did heals here.
                await self.store.ensure_collection()
        except TimeoutError:
            return f"qdrant at {self.config.qdrant_url} did not answer within {QDRANT_CHECK_SECONDS:.0f}s"
        except StoreError as error:
            return str(error)
        return None


@asynccontextmanager
async def open_gateway(config: GatewayConfig, metrics: GatewayMetrics) -> AsyncIterator[Gateway]:
    spec = config.spec
    timeout = httpx.Timeout(float(spec.resilience.timeout_seconds))
    async with httpx.AsyncClient(transport=config.provider_transport, timeout=timeout) as http:
        runtime = Runtime(http=http, metrics=metrics, sleep=config.sleep, clock=config.clock, rand=config.rand)
        providers = build_providers(spec, runtime, embedding_key=config.embedding_api_key, llm_key=config.llm_api_key)
        qdrant = connect(config.qdrant_url, config.qdrant_api_key, timeout=QDRANT_TIMEOUT_SECONDS)
        try:
            store = ChunkStore(qdrant, spec.collection, spec.embedding.dimensions, local=config.qdrant_url == MEMORY)
            try:
                await store.ensure_collection()
            except StoreError as error:
                # Not fatal: /readyz keeps reporting it and retries, so the pod recovers once Qdrant is up.
                log.warning("collection %s not ready yet: %s", spec.collection, error)
            # The tokenizer serves token chunking, the chat history budget and usage: build it now, off the
            # event loop, rather than in the first request that needs it.
            await asyncio.to_thread(tokens.encoding)
            queries = QueryService(spec.retrieval, providers.embedder, store, providers.chat)
            yield Gateway(
                config=config,
                metrics=metrics,
                store=store,
                providers=providers,
                ingestor=Ingestor(spec, providers.embedder, store, metrics, config.workers),
                queries=queries,
                chats=ChatService(queries, providers.chat),
            )
        finally:
            await qdrant.close()
