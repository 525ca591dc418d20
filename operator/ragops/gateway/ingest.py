"""Ingestion: chunk, embed in batches of `embedding.batchSize` (at most `workers` batches in flight per pod),
then store. Nothing is written until every chunk of the request has its vector, so a provider failure
leaves the previous version of each document untouched."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragops.gateway.chunking import chunk
from ragops.gateway.metrics import GatewayMetrics
from ragops.gateway.providers.base import Embedder
from ragops.gateway.store import ChunkStore, DocumentChunks
from ragops.models.ragpipeline import RagPipelineSpec

# Requests with more text than this are chunked off the event loop.
OFFLOAD_CHARS = 200_000


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ingested:
    id: str
    chunks: int


class Ingestor:
    def __init__(
        self, spec: RagPipelineSpec, embedder: Embedder, store: ChunkStore, metrics: GatewayMetrics, workers: int
    ) -> None:
        self.spec = spec
        self.embedder = embedder
        self.store = store
        self.metrics = metrics
        # Shared by all requests of the pod: RAGOPS_WORKERS bounds the load one pod puts on the provider.
        self._slots = asyncio.Semaphore(workers)

    async def ingest(self, documents: Sequence[Document]) -> list[Ingested]:
        chunked = await self._chunk(documents)
        texts = [text for chunks in chunked for text in chunks]
        vectors = await self.embed(texts)
        stored = []
        offset = 0
        for doc, chunks in zip(documents, chunked, strict=True):
            stored.append(DocumentChunks(doc.id, chunks, vectors[offset : offset + len(chunks)], doc.metadata))
            offset += len(chunks)
        await self.store.replace(stored)
        self.metrics.documents_ingested.inc(len(documents))
        self.metrics.chunks_ingested.inc(len(texts))
        return [Ingested(doc.id, len(chunks)) for doc, chunks in zip(documents, chunked, strict=True)]

    async def _chunk(self, documents: Sequence[Document]) -> list[list[str]]:
        def split() -> list[list[str]]:
            return [chunk(doc.text, self.spec.chunking) for doc in documents]

        if sum(len(doc.text) for doc in documents) < OFFLOAD_CHARS:
            return split()
        # Splitting megabytes is pure Python work: in a thread, the event loop still answers probes meanwhile.
        return await asyncio.to_thread(split)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        size = self.spec.embedding.batch_size
        batches = [texts[start : start + size] for start in range(0, len(texts), size)]
        try:
            # A TaskGroup cancels the other batches as soon as one fails: their vectors would be thrown away.
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._embed_batch(batch)) for batch in batches]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [vector for task in tasks for vector in task.result()]

    async def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        async with self._slots:
            return await self.embedder.embed(texts)
