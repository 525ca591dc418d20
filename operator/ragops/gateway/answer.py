"""The prompt that turns retrieved chunks into a cited answer, and the citations read back from it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragops.gateway.providers.base import Message
from ragops.gateway.store import Hit

SYSTEM_PROMPT = (
    "You answer questions using only the numbered context passages you are given. "
    "After each statement, cite the passages that support it as [n], for example [1] or [2][3]. "
    "If the passages do not contain the answer, say that you do not know."
)
CITATION = re.compile(r"\[(\d+)\]")


def passages(hits: Sequence[Hit]) -> str:
    return "\n\n".join(
        f"[{number}] (document {hit.document_id}, chunk {hit.chunk_index})\n{hit.text}"
        for number, hit in enumerate(hits, start=1)
    )


def build_messages(question: str, hits: Sequence[Hit]) -> list[Message]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Context passages:\n\n{passages(hits)}\n\nQuestion: {question}"},
    ]


def citations(answer: str, count: int) -> list[int]:
    """Passage numbers the answer cites, in order of first citation; numbers outside 1..count are ignored
    (a model inventing [7] with five passages must not point a client at a chunk that is not there)."""
    seen: list[int] = []
    for match in CITATION.finditer(answer):
        number = int(match.group(1))
        if 1 <= number <= count and number not in seen:
            seen.append(number)
    return seen
