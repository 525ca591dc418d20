"""Queries: embed the question, search the collection, and optionally answer (whole or streamed)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from ragops.gateway import sse
from ragops.gateway.answer import build_messages, citations
from ragops.gateway.providers.base import ChatModel, Embedder
from ragops.gateway.providers.errors import ProviderError
from ragops.gateway.store import ChunkStore, Hit, MetadataValue
from ragops.models.ragpipeline import RetrievalSpec

log = logging.getLogger("ragops.gateway.query")


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[int]
    model: str


@dataclass
class QueryService:
    retrieval: RetrievalSpec
    embedder: Embedder
    store: ChunkStore
    chat: ChatModel | None

    async def retrieve(
        self,
        question: str,
        top_k: int | None = None,
        threshold: float | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
    ) -> list[Hit]:
        [vector] = await self.embedder.embed([question])
        return await self.store.search(
            vector,
            top_k or self.retrieval.top_k,
            self.retrieval.score_threshold if threshold is None else threshold,
            metadata or {},
        )

    async def answer(self, question: str, hits: Sequence[Hit]) -> Answer | None:
        """None when there is nothing to answer with: no LLM, or no chunk (an LLM call would only guess)."""
        if self.chat is None or not hits:
            return None
        text = await self.chat.complete(build_messages(question, hits))
        return Answer(text, citations(text, len(hits)), self.chat.model)

    async def stream(self, question: str, hits: Sequence[Hit], chunks: list[dict[str, object]]) -> AsyncIterator[bytes]:
        """Events: `chunks` (the retrieved chunks), `token` per piece of answer, then `done` with the citations;
        `error` instead of `done` when the LLM fails after the stream has begun (the HTTP status is sent)."""
        yield sse.event("chunks", {"chunks": chunks})
        if self.chat is None or not hits:
            yield sse.event("done", {"answer": None, "citations": [], "model": None})
            return
        pieces: list[str] = []
        try:
            async for piece in self.chat.stream(build_messages(question, hits)):
                pieces.append(piece)
                yield sse.event("token", {"text": piece})
        except ProviderError as error:
            log.warning("answer stream failed: %s", type(error).__name__)
            yield sse.event("error", {"error": str(error), "status": error.status_code})
            return
        text = "".join(pieces)
        yield sse.event("done", {"answer": text, "citations": citations(text, len(hits)), "model": self.chat.model})
