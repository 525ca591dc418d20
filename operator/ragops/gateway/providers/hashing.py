"""The offline `hash` embedder: deterministic, dependency-free, and NOT semantic.

Each lower-cased word (`\\w+`) is hashed (BLAKE2b) to one of `dimensions` positions and a sign, counts are
summed and the vector is L2-normalized. Texts sharing words score high under cosine similarity, synonyms
score nothing: good for trying the stack out and for tests, useless for real retrieval.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

WORD = re.compile(r"\w+")
OFFLOAD_CHARS = 50_000


@dataclass
class HashEmbedder:
    dimensions: int
    role: str = "embedding"
    provider: str = "hash"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if sum(len(text) for text in texts) < OFFLOAD_CHARS:
            return [self.vector(text) for text in texts]
        # Large batches in a thread: the event loop keeps serving queries and probes meanwhile.
        return await asyncio.to_thread(lambda: [self.vector(text) for text in texts])

    def vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in WORD.findall(text.lower()):
            code = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
            # The sign bit halves the bias collisions would add to unrelated texts' similarity.
            vector[code % self.dimensions] += 1.0 if code >> 63 else -1.0
        norm = math.sqrt(sum(x * x for x in vector))
        if norm == 0:
            # No words at all: a fixed unit vector, since a zero vector has no cosine similarity.
            vector[0] = 1.0
            return vector
        return [x / norm for x in vector]

    async def check(self) -> str | None:
        return None
