"""Providers of a pipeline spec, each with its own breaker and the spec's retry policy."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from ragops.gateway.metrics import GatewayMetrics
from ragops.gateway.providers import ollama, openai
from ragops.gateway.providers.base import ChatModel, Embedder
from ragops.gateway.providers.hashing import HashEmbedder
from ragops.gateway.providers.transport import ProviderClient
from ragops.gateway.resilience import CircuitBreaker, RetryPolicy
from ragops.models.ragpipeline import (
    EmbeddingProvider,
    EmbeddingSpec,
    LLMProvider,
    LLMSpec,
    RagPipelineSpec,
    ResilienceSpec,
)
from ragops.secretfiles import Key

DEFAULT_ENDPOINTS = {"openai": openai.DEFAULT_ENDPOINT, "ollama": ollama.DEFAULT_ENDPOINT}


@dataclass(frozen=True)
class Runtime:
    """What providers share: the HTTP client, metrics, and the clock and sleep (replaced in tests)."""

    http: httpx.AsyncClient
    metrics: GatewayMetrics
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random


@dataclass
class Providers:
    embedder: Embedder
    chat: ChatModel | None  # None: llm.provider is `none` (retrieval only)


def build_providers(
    spec: RagPipelineSpec, runtime: Runtime, *, embedding_key: Key | None, llm_key: Key | None
) -> Providers:
    providers = Providers(embedder=HashEmbedder(spec.embedding.dimensions), chat=None)
    if spec.embedding.provider is not EmbeddingProvider.HASH:
        client = _client("embedding", spec.embedding.provider.value, spec.embedding, embedding_key, spec, runtime)
        providers.embedder = _embedder(spec.embedding, client)
    llm = answering_model(spec)
    if llm is not None:
        client = _client("llm", llm.provider.value, llm, llm_key, spec, runtime)
        providers.chat = _chat(llm, client)
    return providers


def answering_model(spec: RagPipelineSpec) -> LLMSpec | None:
    """The LLM that answers, or None for retrieval only: `spec.llm` absent or `provider: none`."""
    # getattr: spec.llm becomes optional (absent = retrieval only); tolerate both model versions.
    llm: LLMSpec | None = getattr(spec, "llm", None)
    if llm is None or llm.provider is LLMProvider.NONE:
        return None
    return llm


def endpoint(provider: str, configured: str) -> str:
    return (configured or DEFAULT_ENDPOINTS[provider]).rstrip("/")


def _embedder(spec: EmbeddingSpec, client: ProviderClient) -> Embedder:
    if spec.provider is EmbeddingProvider.OLLAMA:
        return ollama.OllamaEmbedder(client, spec.model, spec.dimensions)
    is_openai = urlsplit(client.base_url).hostname == urlsplit(openai.DEFAULT_ENDPOINT).hostname
    return openai.OpenAIEmbedder(client, spec.model, spec.dimensions, send_dimensions=is_openai)


def _chat(spec: LLMSpec, client: ProviderClient) -> ChatModel:
    if spec.provider is LLMProvider.OLLAMA:
        return ollama.OllamaChat(client, spec.model, spec.temperature, spec.max_tokens)
    return openai.OpenAIChat(client, spec.model, spec.temperature, spec.max_tokens)


def _client(
    role: str,
    provider: str,
    spec: EmbeddingSpec | LLMSpec,
    api_key: Key | None,
    pipeline: RagPipelineSpec,
    runtime: Runtime,
) -> ProviderClient:
    resilience: ResilienceSpec = pipeline.resilience
    breaker = CircuitBreaker(
        failure_threshold=resilience.circuit_breaker.failure_threshold,
        recovery_seconds=float(resilience.circuit_breaker.recovery_seconds),
        clock=runtime.clock,
    )
    # Read at scrape time, so the gauge is right even when no call has moved the breaker lately.
    runtime.metrics.circuit_state.labels(role, provider).set_function(lambda: float(breaker.current()))
    return ProviderClient(
        role=role,
        provider=provider,
        base_url=endpoint(provider, spec.endpoint),
        api_key=api_key,
        http=runtime.http,
        policy=RetryPolicy.from_spec(resilience),
        breaker=breaker,
        metrics=runtime.metrics,
        sleep=runtime.sleep,
        rand=runtime.rand,
    )
