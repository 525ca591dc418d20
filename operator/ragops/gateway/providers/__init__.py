"""Embedding and chat providers: OpenAI-compatible, Ollama, and the offline `hash` embedder."""

from ragops.gateway.providers.base import ChatModel, Embedder, Message
from ragops.gateway.providers.errors import (
    ProviderError,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
)

__all__ = [
    "ChatModel",
    "Embedder",
    "Message",
    "ProviderError",
    "ProviderResponseError",
    "ProviderTimeout",
    "ProviderUnavailable",
]
