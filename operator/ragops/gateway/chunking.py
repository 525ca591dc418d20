"""Document splitting: character, token, sentence and recursive strategies with size and overlap.

Every splitter works on spans (start, end) of the original text and returns slices of it, so a chunk is
always verbatim source text (what a citation shows is what was stored) and sizes are measured exactly.

Units: `size` and `overlap` count characters, except for the `token` strategy, where they count tokens
of OpenAI's cl100k_base BPE (see `tokens`): the tokenizer of OpenAI's embedding models, so a `token` chunk of
`size` <= 8191 always fits their input.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence

from ragops.gateway import tokens
from ragops.models.ragpipeline import ChunkingSpec, ChunkingStrategy

Span = tuple[int, int]
# Finds separators in text[start:end]; `re.Pattern.finditer` has this shape.
Finder = Callable[[str, int, int], Iterator[re.Match[str]]]

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace, or at a blank line.
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n")
# Coarse to fine: paragraphs, lines, sentences, words, then a hard cut.
RECURSIVE_SEPARATORS = ("\n\n", "\n", ". ", " ")
WORD_START = re.compile(r"(?<!\S)\S")


def split_character(text: str, size: int, overlap: int) -> list[str]:
    """Fixed windows of `size` characters, each starting `size - overlap` after the previous one."""
    _check(size, overlap)
    chunks = []
    step = size - overlap
    start = 0
    while True:
        piece = text[start : start + size]
        if piece.strip():
            chunks.append(piece)
        if start + size >= len(text):
            return chunks
        start += step


def split_token(text: str, size: int, overlap: int) -> list[str]:
    """Windows of `size` BPE tokens, each starting `size - overlap` tokens after the previous one, as verbatim
    slices of the text (edges trimmed of whitespace); none exceeds `size` tokens (see token_windows)."""
    return [text[start:end] for start, end in token_windows(text, size, overlap)]


def token_windows(text: str, size: int, overlap: int) -> list[Span]:
    """The spans of split_token. Re-encoding a slice can tokenize its edges differently from the whole
    text (a character whose bytes straddle two tokens comes whole), so each window is counted again and
    shortened until it fits. The one exception: a single character needs up to 4 tokens, so with `size`
    below 4 such a character makes a chunk of its own, over the limit, rather than being lost."""
    _check(size, overlap)
    spans = tokens.spans(text)
    windows: list[Span] = []
    step = size - overlap
    start = 0
    while start < len(spans):
        end = min(start + size, len(spans))
        while True:
            window = _trim(text, spans[start][0], spans[end - 1][1])
            if end - start == 1 or tokens.count(text[window[0] : window[1]]) <= size:
                break
            end -= 1
        if window[1] > window[0]:
            windows.append(window)
        if end == len(spans):
            break
        # A shortened window pulls the next start back to its end: no token is skipped.
        start = min(start + step, end)
    return windows


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentence(text: str, size: int, overlap: int) -> list[str]:
    """Whole sentences packed up to `size` characters; trailing sentences up to `overlap` repeat in the next.

    A sentence longer than `size` is split further at words (then characters), so no chunk exceeds `size`.
    """
    _check(size, overlap)
    pieces: list[Span] = []
    for span in _split_keep(text, (0, len(text)), SENTENCE_END.finditer):
        pieces += _split_recursive(text, span, size, (" ",))
    return _merge(text, pieces, size, overlap, word_overlap=False)


def split_recursive(text: str, size: int, overlap: int) -> list[str]:
    """Split at the coarsest separator that yields pieces of at most `size`, then pack pieces up to `size`.

    The same idea as LangChain's RecursiveCharacterTextSplitter: paragraphs stay together when they fit,
    otherwise lines, sentences, words, and as a last resort a hard cut at `size` characters. Overlap starts
    at a piece boundary when one is in reach, else at a word.
    """
    _check(size, overlap)
    pieces = _split_recursive(text, (0, len(text)), size, RECURSIVE_SEPARATORS)
    return _merge(text, pieces, size, overlap, word_overlap=True)


SPLITTERS: dict[ChunkingStrategy, Callable[[str, int, int], list[str]]] = {
    ChunkingStrategy.CHARACTER: split_character,
    ChunkingStrategy.TOKEN: split_token,
    ChunkingStrategy.SENTENCE: split_sentence,
    ChunkingStrategy.RECURSIVE: split_recursive,
}


def chunk(text: str, spec: ChunkingSpec) -> list[str]:
    """The chunks of `text` under the pipeline's chunking spec (empty for blank text)."""
    return SPLITTERS[spec.strategy](text, spec.size, spec.overlap)


def _check(size: int, overlap: int) -> None:
    # The model validates this too; the check keeps the functions safe to call directly (no endless loop).
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got size={size} overlap={overlap}")


def _split_keep(text: str, span: Span, finder: Finder) -> list[Span]:
    """Cut `span` after each separator match; the pieces are contiguous and cover the span."""
    start, end = span
    pieces = []
    cursor = start
    for match in finder(text, start, end):
        cut = match.end()
        if cut > cursor:
            pieces.append((cursor, cut))
            cursor = cut
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def _literal(separator: str) -> Finder:
    return re.compile(re.escape(separator)).finditer


def _split_recursive(text: str, span: Span, size: int, separators: Sequence[str]) -> list[Span]:
    """Spans of at most `size` characters, contiguous and covering `span`."""
    start, end = span
    if end - start <= size:
        return [span]
    for index, separator in enumerate(separators):
        if separator in text[start:end]:
            pieces = _split_keep(text, span, _literal(separator))
            result: list[Span] = []
            for piece in pieces:
                result += _split_recursive(text, piece, size, separators[index + 1 :])
            return result
    return [(cut, min(cut + size, end)) for cut in range(start, end, size)]


def _merge(text: str, pieces: list[Span], size: int, overlap: int, *, word_overlap: bool) -> list[str]:
    """Pack contiguous pieces (each at most `size`) into chunks of at most `size` characters.

    Each new chunk starts up to `overlap` characters before the previous chunk's end (and late enough to fit
    its first piece): at the earliest piece boundary in that range; failing one, at a word start when
    `word_overlap` (recursive: coarse pieces such as paragraphs would otherwise rarely leave room for any
    overlap), or else with no overlap (sentence: every chunk starts at a sentence).
    """
    chunks: list[str] = []
    starts = [piece[0] for piece in pieces]
    start = end = -1
    for first, last in pieces:
        if start < 0:
            start, end = first, last
        elif last - start <= size:
            end = last
        else:
            _emit(text, start, end, chunks)
            # last - size > start, so each chunk begins after the previous one: the loop always progresses.
            lowest = max(end - overlap, last - size)
            start = starts[bisect.bisect_left(starts, lowest)]  # `first` itself qualifies, so this exists
            if start == first and word_overlap:
                word = WORD_START.search(text, lowest, first)
                start = word.start() if word else first
            end = last
    if start >= 0:
        _emit(text, start, end, chunks)
    return chunks


def _emit(text: str, start: int, end: int, chunks: list[str]) -> None:
    # Whitespace at the edges is the separators' leftovers: it carries no content and would only waste room.
    content = text[start:end].strip()
    if content:
        chunks.append(content)
