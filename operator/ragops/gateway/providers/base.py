"""The two provider roles as the gateway uses them, whatever API sits behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

# One chat message: {"role": "system" | "user" | "assistant", "content": "..."}.
Message = dict[str, str]


@dataclass(frozen=True)
class ChatOptions:
    """Per-request sampling settings (the OpenAI-compatible endpoint's); None: the pipeline's spec.llm."""

    temperature: float | None = None
    max_tokens: int | None = None


class Embedder(Protocol):
    role: str
    provider: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector of `dimensions` floats per text, in order."""
        ...

    async def check(self) -> str | None:
        """Readiness: None when the provider is usable, else a short reason (no secrets)."""
        ...


class ChatModel(Protocol):
    role: str
    provider: str
    model: str

    async def complete(self, messages: Sequence[Message], options: ChatOptions | None = None) -> str:
        """The whole answer."""
        ...

    def stream(self, messages: Sequence[Message], options: ChatOptions | None = None) -> AsyncIterator[str]:
        """The answer in pieces as the provider produces them."""
        ...

    async def check(self) -> str | None: ...
