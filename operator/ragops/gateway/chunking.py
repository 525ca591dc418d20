"""Document splitting: character, token, sentence and recursive strategies with size and overlap.

Every splitter works on spans (start, end) of the original text and returns slices of it, so a chunk is
always verbatim source text (what a citation shows is what was stored) and sizes are measured exactly.

Units: `size` and `overlap` count characters, except for the `token` strategy, where they count tokens.
Tokens are runs of non-whitespace (`\\S+`): a deliberately simple tokenizer with no vocabulary and no
dependency. It undercounts compared with a model's BPE tokenizer (roughly 1 word ~ 1.3 BPE tokens for English),
so leave headroom when sizing against a model's context.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from ragops.models.ragpipeline import ChunkingSpec, ChunkingStrategy

Span = tuple[int, int]
# Finds separators in text[start:end]; `re.Pattern.finditer` has this shape.
Finder = Callable[[str, int, int], Iterator[re.Match[str]]]

TOKEN = re.compile(r"\S+")
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace, or at a blank line.
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n")
# Coarse to fine: paragraphs, lines, sentences, words, then a hard cut.
RECURSIVE_SEPARATORS = ("\n\n", "\n", ". ", " ")


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
    """Windows of `size` tokens sharing `overlap` tokens; each chunk keeps the original spacing."""
    _check(size, overlap)
    tokens = [match.span() for match in TOKEN.finditer(text)]
    chunks = []
    step = size - overlap
    start = 0
    while start < len(tokens):
        window = tokens[start : start + size]
        chunks.append(text[window[0][0] : window[-1][1]])
        if start + size >= len(tokens):
            break
        start += step
    return chunks


def split_sentence(text: str, size: int, overlap: int) -> list[str]:
    """Whole sentences packed up to `size` characters; trailing sentences up to `overlap` repeat in the next.

    A sentence longer than `size` is split further at words (then characters), so no chunk exceeds `size`.
    """
    _check(size, overlap)
    pieces: list[Span] = []
    for span in _split_keep(text, (0, len(text)), SENTENCE_END.finditer):
        pieces += _split_recursive(text, span, size, (" ",))
    return _merge(text, pieces, size, overlap)


def split_recursive(text: str, size: int, overlap: int) -> list[str]:
    """Split at the coarsest separator that yields pieces of at most `size`, then pack pieces up to `size`.

    The same idea as LangChain's RecursiveCharacterTextSplitter: paragraphs stay together when they fit,
    otherwise lines, sentences, words, and as a last resort a hard cut at `size` characters.
    """
    _check(size, overlap)
    return _merge(text, _split_recursive(text, (0, len(text)), size, RECURSIVE_SEPARATORS), size, overlap)


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


def _merge(text: str, pieces: list[Span], size: int, overlap: int) -> list[str]:
    """Pack contiguous pieces (each at most `size`) into chunks of at most `size` characters.

    After a chunk is emitted, the next one starts with the chunk's trailing pieces whose total length is at
    most `overlap` (and that still leave room for the next piece), so context carries across a boundary
    without ever cutting a piece in the middle.
    """
    chunks: list[str] = []
    current: list[Span] = []
    for piece in pieces:
        if current and piece[1] - current[0][0] > size:
            _emit(text, current, chunks)
            current = _tail(current, overlap)
            while current and piece[1] - current[0][0] > size:
                current.pop(0)
        current.append(piece)
    if current:
        _emit(text, current, chunks)
    return chunks


def _tail(pieces: list[Span], overlap: int) -> list[Span]:
    tail: list[Span] = []
    for piece in reversed(pieces):
        if pieces[-1][1] - piece[0] > overlap:
            break
        tail.insert(0, piece)
    return tail


def _emit(text: str, pieces: list[Span], chunks: list[str]) -> None:
    # Whitespace at the edges is the separators' leftovers: it carries no content and would only waste room.
    content = text[pieces[0][0] : pieces[-1][1]].strip()
    if content:
        chunks.append(content)
