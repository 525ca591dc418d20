"""Chunkers honour size and overlap, keep text verbatim, and lose nothing."""

from __future__ import annotations

import itertools
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragops.gateway import tokens
from ragops.gateway.chunking import (
    chunk,
    split_character,
    split_recursive,
    split_sentence,
    split_token,
    token_windows,
)
from ragops.models.ragpipeline import ChunkingSpec, ChunkingStrategy

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
]


def prose(seed: int, sentences: int = 40) -> str:
    """Random sentences and paragraphs, deterministic per seed."""
    rng = random.Random(seed)
    parts = []
    for i in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 14))]
        parts.append(" ".join(words).capitalize() + rng.choice([".", "!", "?"]))
        parts.append("\n\n" if i % 7 == 6 else " ")
    return "".join(parts).strip()


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def test_character_windows_have_exact_size_and_overlap() -> None:
    text = "abcdefghijklmnopqrstuvwxyz"
    chunks = split_character(text, 10, 3)
    assert chunks == ["abcdefghij", "hijklmnopq", "opqrstuvwx", "vwxyz"]
    for first, second in itertools.pairwise(chunks):
        assert first[-3:] == second[:3]


def test_character_without_overlap_reassembles_the_text() -> None:
    text = prose(1)
    assert "".join(split_character(text, 37, 0)) == text


def test_token_windows_count_bpe_tokens_and_share_overlap() -> None:
    # In cl100k_base each of these words (with its leading space) is one token.
    text = "The quick brown fox jumps over the lazy dog"
    chunks = split_token(text, 4, 1)
    assert chunks == ["The quick brown fox", "fox jumps over the", "the lazy dog"]
    assert [tokens.count(c) for c in chunks] == [4, 4, 3]


def test_token_counts_are_real_bpe_tokens_not_words() -> None:
    # Eleven tokens for ten words ("zeta" is two): a whitespace count would say ten.
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    assert tokens.count(text) == 11
    assert split_token(text, 10, 0) == ["alpha beta gamma delta epsilon zeta eta theta iota", "kappa"]


def test_token_chunks_keep_original_spacing() -> None:
    assert split_token("one  two\nthree four", 5, 0) == ["one  two\nthree", "four"]


def test_special_token_text_is_ordinary_text() -> None:
    assert split_token("before <|endoftext|> after", 100, 0) == ["before <|endoftext|> after"]


def test_the_tokenizer_loads_without_any_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """The BPE file ships in a package: building the encoding must not touch the network."""
    import tiktoken.load

    def no_download(blobpath: str) -> bytes:
        if "://" in blobpath:
            raise AssertionError(f"tried to download {blobpath}")
        with open(blobpath, "rb") as file:
            return file.read()

    monkeypatch.setattr(tiktoken.load, "read_file", no_download)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # no cache either: read the bundled file itself
    tokens.encoding.cache_clear()
    try:
        assert tokens.count("The quick brown fox") == 4
    finally:
        tokens.encoding.cache_clear()


TEXTS = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs", "Cc"]), min_size=0, max_size=400
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(text=TEXTS, size=st.integers(4, 40), overlap_ratio=st.floats(0, 0.9))
def test_token_chunks_never_exceed_the_limit_and_lose_nothing(text: str, size: int, overlap_ratio: float) -> None:
    overlap = min(size - 1, int(size * overlap_ratio))
    windows = token_windows(text, size, overlap)
    chunks = [text[start:end] for start, end in windows]
    assert split_token(text, size, overlap) == chunks
    assert all(tokens.count(c) <= size for c in chunks)
    assert all(c and c == c.strip() for c in chunks)
    assert [start for start, _ in windows] == sorted(start for start, _ in windows)
    covered = {index for start, end in windows for index in range(start, end)}
    assert all(index in covered for index, char in enumerate(text) if not char.isspace())


def test_with_a_tiny_size_a_character_of_several_tokens_is_kept_whole() -> None:
    # U+0081 is two byte-level tokens in cl100k_base: with size 1 it cannot fit, and is not dropped either.
    assert split_token("\x81", 1, 0) == ["\x81"]


def test_sentences_are_not_cut_when_they_fit() -> None:
    text = "The cat sat. The dog ran far away! Where is the bird? It flew."
    chunks = split_sentence(text, 35, 0)
    assert chunks == ["The cat sat. The dog ran far away!", "Where is the bird? It flew."]


def test_sentence_overlap_repeats_trailing_sentences() -> None:
    text = "One two. Three four. Five six. Seven eight."
    chunks = split_sentence(text, 25, 12)
    assert chunks == ["One two. Three four.", "Three four. Five six.", "Five six. Seven eight."]


def test_sentence_longer_than_size_is_split_at_words() -> None:
    text = "This single sentence is considerably longer than the chunk size allows."
    chunks = split_sentence(text, 20, 0)
    assert all(len(c) <= 20 for c in chunks)
    assert words(" ".join(chunks)) == words(text)


def test_recursive_prefers_paragraphs_then_lines() -> None:
    text = "First paragraph, short.\n\nSecond paragraph, also short.\nWith a second line."
    assert split_recursive(text, 55, 0) == [
        "First paragraph, short.",
        "Second paragraph, also short.\nWith a second line.",
    ]
    assert split_recursive(text, 30, 0) == [
        "First paragraph, short.",
        "Second paragraph, also short.",
        "With a second line.",
    ]


def test_recursive_hard_cuts_text_without_separators() -> None:
    assert split_recursive("x" * 25, 10, 0) == ["x" * 10, "x" * 10, "x" * 5]


@pytest.mark.parametrize("strategy", [ChunkingStrategy.SENTENCE, ChunkingStrategy.RECURSIVE])
@pytest.mark.parametrize(("size", "overlap"), [(40, 0), (80, 20), (200, 60), (500, 499)])
def test_packing_strategies_bound_size_and_overlap_and_lose_nothing(
    strategy: ChunkingStrategy, size: int, overlap: int
) -> None:
    text = prose(size + overlap)
    chunks = chunk(text, ChunkingSpec(strategy=strategy, size=size, overlap=overlap))
    assert chunks
    assert all(0 < len(c) <= size for c in chunks)
    # Verbatim slices of the source, in order: each chunk is found at or after the previous one's start.
    positions = []
    for piece in chunks:
        position = text.find(piece, positions[-1] if positions else 0)
        assert position >= 0
        positions.append(position)
    # Nothing lost: every word of the text is inside some chunk's span.
    covered = set()
    for position, piece in zip(positions, chunks, strict=True):
        covered.update(range(position, position + len(piece)))
    for match in re.finditer(r"\w+", text):
        assert match.start() in covered
    # Consecutive chunks share at most `overlap` characters.
    shared = [positions[i - 1] + len(chunks[i - 1]) - positions[i] for i in range(1, len(chunks))]
    assert all(s <= overlap for s in shared)
    if overlap >= 60:  # room for a whole short sentence: context must actually carry over somewhere
        assert any(s > 0 for s in shared)


def test_overlap_must_be_smaller_than_size() -> None:
    for splitter in (split_character, split_token, split_sentence, split_recursive):
        with pytest.raises(ValueError, match="overlap < size"):
            splitter("text", 5, 5)


def test_blank_text_has_no_chunks() -> None:
    for strategy in ChunkingStrategy:
        assert chunk("   \n ", ChunkingSpec(strategy=strategy, size=10, overlap=2)) == []
