"""OpenAI-compatible APIs: OpenAI, vLLM, TEI, LocalAI, LiteLLM... (`/embeddings`, `/chat/completions`)."""

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

DEFAULT_ENDPOINT = "https://api.openai.com/v1"


@dataclass
class OpenAIEmbedder:
    client: ProviderClient
    model: str
    dimensions: int
    # OpenAI's text-embedding-3 models shorten vectors on request; most compatible servers reject the
    # unknown field instead, so it is sent only to OpenAI itself (see factory.py).
    send_dimensions: bool = False
    role: str = "embedding"
    provider: str = "openai"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        body: dict[str, Any] = {"model": self.model, "input": list(texts), "encoding_format": "float"}
        if self.send_dimensions:
            body["dimensions"] = self.dimensions
        data = await self.client.post_json("/embeddings", body)
        items = dig(self.role, self.provider, data, ["data"])
        if not isinstance(items, list):
            raise ProviderResponseError(self.role, "openai answer: data is not a list")
        # The API may return items out of order; `index` says which input each belongs to.
        ordered = sorted(items, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
        vectors = [dig(self.role, self.provider, item, ["embedding"]) for item in ordered]
        return check_vectors(self.role, self.provider, vectors, len(texts), self.dimensions)

    async def check(self) -> str | None:
        return await self.client.probe("/models")


@dataclass
class OpenAIChat:
    client: ProviderClient
    model: str
    temperature: float
    max_tokens: int
    role: str = "llm"
    provider: str = "openai"

    def _body(self, messages: Sequence[Message], stream: bool, options: ChatOptions | None) -> dict[str, Any]:
        temperature, max_tokens = _sampling(self.temperature, self.max_tokens, options)
        return {
            "model": self.model,
            "messages": list(messages),
            "temperature": temperature,
            "max_tokens": max_tokens,
            "stream": stream,
        }

    async def complete(self, messages: Sequence[Message], options: ChatOptions | None = None) -> str:
        data = await self.client.post_json("/chat/completions", self._body(messages, stream=False, options=options))
        content = dig(self.role, self.provider, data, ["choices", 0, "message", "content"])
        return content if isinstance(content, str) else ""

    async def stream(self, messages: Sequence[Message], options: ChatOptions | None = None) -> AsyncIterator[str]:
        body = self._body(messages, stream=True, options=options)
        async with self.client.stream("/chat/completions", body) as response:
            async for line in response.aiter_lines():
                # Server-sent events: `data: {json}` lines, blank separators, `data: [DONE]` at the end.
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                try:
                    event = json.loads(payload)
                except json.JSONDecodeError:
                    raise ProviderResponseError(self.role, "openai stream sent invalid JSON") from None
                if isinstance(event, dict) and "error" in event:
                    raise ProviderResponseError(self.role, "openai stream reported an error")
                choices = event.get("choices") if isinstance(event, dict) else None
                if not choices:
                    continue  # e.g. the final usage event
                piece = (choices[0].get("delta") or {}).get("content")
                if isinstance(piece, str) and piece:
                    yield piece

    async def check(self) -> str | None:
        return await self.client.probe("/models")
