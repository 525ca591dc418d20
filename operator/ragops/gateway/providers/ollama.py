"""Ollama's native API (`/api/embed`, `/api/chat`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from ragops.gateway.providers.base import ChatOptions, Message
from ragops.gateway.providers.errors import ProviderResponseError
from ragops.gateway.providers.parsing import check_vectors, dig
from ragops.gateway.providers.parsing import sampling as _sampling
from ragops.gateway.providers.transport import ProviderClient

DEFAULT_ENDPOINT = "http://localhost:11434"


@dataclass
class OllamaEmbedder:
    client: ProviderClient
    model: str
    dimensions: int
    role: str = "embedding"
    provider: str = "ollama"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        data = await self.client.post_json("/api/embed", {"model": self.model, "input": list(texts)})
        vectors = dig(self.role, self.provider, data, ["embeddings"])
        return check_vectors(self.role, self.provider, vectors, len(texts), self.dimensions)

    async def check(self) -> str | None:
        return await self.client.probe("/api/tags")


@dataclass
class OllamaChat:
    client: ProviderClient
    model: str
    temperature: float
    max_tokens: int
    role: str = "llm"
    provider: str = "ollama"

    def _body(self, messages: Sequence[Message], stream: bool, options: ChatOptions | None) -> dict[str, Any]:
        temperature, max_tokens = _sampling(self.temperature, self.max_tokens, options)
        return {
            "model": self.model,
            "messages": list(messages),
            "stream": stream,
            "options": {"temperature": temperature, "num_predict": max_tokens},
        }

    async def complete(self, messages: Sequence[Message], options: ChatOptions | None = None) -> str:
        data = await self.client.post_json("/api/chat", self._body(messages, stream=False, options=options))
        content = dig(self.role, self.provider, data, ["message", "content"])
        return content if isinstance(content, str) else ""

    async def stream(self, messages: Sequence[Message], options: ChatOptions | None = None) -> AsyncIterator[str]:
        async with self.client.stream("/api/chat", self._body(messages, stream=True, options=options)) as response:
            # Newline-delimited JSON objects; the last has "done": true.
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    raise ProviderResponseError(self.role, "ollama stream sent invalid JSON") from None
                if not isinstance(event, dict):
                    continue
                if "error" in event:
                    raise ProviderResponseError(self.role, "ollama stream reported an error")
                piece = (event.get("message") or {}).get("content")
                if isinstance(piece, str) and piece:
                    yield piece
                if event.get("done"):
                    return

    async def check(self) -> str | None:
        return await self.client.probe("/api/tags")
