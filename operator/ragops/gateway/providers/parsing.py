"""Checks on provider answers: a malformed answer becomes a ProviderResponseError, not a KeyError."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ragops.gateway.providers.base import ChatOptions
from ragops.gateway.providers.errors import ProviderResponseError


def sampling(temperature: float, max_tokens: int, options: ChatOptions | None) -> tuple[float, int]:
    """The request's temperature and max_tokens where it sets them, else the pipeline's."""
    if options is None:
        return temperature, max_tokens
    return (
        temperature if options.temperature is None else options.temperature,
        max_tokens if options.max_tokens is None else options.max_tokens,
    )


def check_vectors(role: str, provider: str, vectors: Any, count: int, dimensions: int) -> list[list[float]]:
    """`vectors` as `count` lists of `dimensions` finite floats."""
    if not isinstance(vectors, list) or len(vectors) != count:
        got = len(vectors) if isinstance(vectors, list) else type(vectors).__name__
        raise ProviderResponseError(role, f"{provider} returned {got} embeddings for {count} texts")
    result = []
    for vector in vectors:
        if not isinstance(vector, list) or len(vector) != dimensions:
            size = len(vector) if isinstance(vector, list) else type(vector).__name__
            # The usual cause is a model whose native size differs from spec.embedding.dimensions.
            raise ProviderResponseError(
                role, f"{provider} returned vectors of size {size}, spec.embedding.dimensions is {dimensions}"
            )
        try:
            floats = [float(x) for x in vector]
        except (TypeError, ValueError):
            raise ProviderResponseError(role, f"{provider} returned a non-numeric vector") from None
        if not all(math.isfinite(x) for x in floats):
            raise ProviderResponseError(role, f"{provider} returned a vector with NaN or infinity")
        result.append(floats)
    return result


def dig(role: str, provider: str, data: Any, path: Sequence[str | int]) -> Any:
    """data[path[0]][path[1]]... or a ProviderResponseError naming the missing step."""
    for step in path:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            raise ProviderResponseError(role, f"{provider} answer lacks {'.'.join(map(str, path))}") from None
    return data
