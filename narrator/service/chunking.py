"""A chapter's speech text -> the pieces sent to the service, and where each one lies.

The protocol notes recommend sentence-complete pieces, each ending in a space: the service
buffers them by its chunk schedule and never has to guess where a word ends. Sentences longer
than ``max_chars`` are cut at clause marks, then at spaces, so no piece exceeds the limit.

Every piece also carries its raw offsets in the text, so a chapter can be narrated in
segments and a segment's audio traced back to the exact stretch of text it speaks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_SENTENCE_ENDS = ".!?…"
_CLOSERS = "\"'”’)]»"
_CLAUSE_MARKS = ",;:—–"

# A sentence ends after a terminal mark and any run of further marks or closers, when
# whitespace or the end of the text follows; a newline ends one too. The run holds no
# whitespace, so a shorter match can never succeed where the longest one failed: this is the
# same rule as a character-by-character scan, at the regex engine's speed.
_BOUNDARY = re.compile(
    f"[{re.escape(_SENTENCE_ENDS)}][{re.escape(_SENTENCE_ENDS + _CLOSERS)}]*(?=\\s|\\Z)|\n"
)

# Where a sentence starts: the first non-whitespace character after such an end. Ends can be
# told from their surroundings alone (a terminal run holds no whitespace), so this finds the
# starts of :func:`sentence_spans` inside any stretch without scanning from the beginning.
_START = re.compile(
    f"(?:[{re.escape(_SENTENCE_ENDS)}][{re.escape(_SENTENCE_ENDS + _CLOSERS)}]*\\s|\n)\\s*(?=\\S)"
)
_RUN_OR_SPACE = frozenset(_SENTENCE_ENDS + _CLOSERS)
_VISIBLE = re.compile(r"\S")

#: A piece is about this long: within the sizes of the service's own default buffering
#: schedule (120 to 290), so each flushed piece is one ordinary generation; small enough that
#: the two a paced session keeps in flight are little to lose when a connection drops.
TARGET_CHARS = 200
#: No piece is longer: a longer sentence is cut at a clause mark, else at a space.
MAX_CHARS = 400


@dataclass(frozen=True)
class TextPiece:
    """One message: its ``text`` and the raw ``[start, end)`` of the chapter it covers.

    ``sentence_end`` is False when the piece stops inside an over-long sentence that had to
    be cut at a clause mark or a space, so a segment must never end after such a piece.
    """

    start: int
    end: int
    text: str
    sentence_end: bool


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` without its surrounding whitespace (as ``str.strip`` sees it)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The ``[start, end)`` of every sentence, surrounding whitespace excluded.

    A sentence ends at a terminal mark with optional closing quotes before whitespace or the
    end of the text, or at a newline, so a heading or a paragraph never runs into the next.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        newline = match.group() == "\n"
        stop = match.start() if newline else match.end()
        s, e = _trimmed(text, start, stop)
        if s < e:
            spans.append((s, e))
        start = match.end()
    s, e = _trimmed(text, start, len(text))
    if s < e:
        spans.append((s, e))
    return spans


def sentence_starts(text: str, start: int, end: int) -> list[int]:
    """The starts of :func:`sentence_spans` strictly inside ``(start, end)``, found from the
    stretch and its few characters before (the end of a sentence it may start with)."""
    scan = start
    while scan > 0 and (text[scan - 1].isspace() or text[scan - 1] in _RUN_OR_SPACE):
        scan -= 1
    starts = [m.end() for m in _START.finditer(text, scan, end) if start < m.end() < end]
    if scan == 0:  # the first sentence follows no end: only (perhaps) leading whitespace
        first = _VISIBLE.search(text)
        if first is not None and start < first.start() < end and first.start() not in starts:
            starts.insert(0, first.start())
    return starts


def sentences(text: str) -> Iterator[str]:
    """Split at sentence ends (a terminal mark, optional closing quotes, then whitespace)."""
    for start, end in sentence_spans(text):
        yield text[start:end]


def _find(text: str, sub: str, start: int, limit: int) -> int:
    """The last ``sub`` wholly inside ``text[start:limit]``, relative to ``start``; -1 if none."""
    found = text.rfind(sub, start, limit)
    return found - start if found >= 0 else -1


def _split_long(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Cut the over-long sentence ``text[start:end]`` at the last clause mark within the
    limit, else the last space, else at the limit; yields each part's raw offsets."""
    while end - start > max_chars:
        limit = start + max_chars
        cut = max(_find(text, mark + " ", start, limit) for mark in _CLAUSE_MARKS)
        if cut <= 0:
            cut = _find(text, " ", start, limit)
        else:
            cut += 1
        if cut <= 0:
            cut = max_chars
        yield _trimmed(text, start, start + cut)
        start, end = _trimmed(text, start + cut, end)
    if start < end:
        yield start, end


def message_pieces(
    text: str, target_chars: int = TARGET_CHARS, max_chars: int = MAX_CHARS
) -> list[TextPiece]:
    """Group sentences into messages of about ``target_chars``, each ending in one space.

    Parts of one message are joined by one space whatever lay between them in the text (a
    newline, several spaces). Pieces follow each other with only whitespace between.
    """
    pieces: list[TextPiece] = []
    parts: list[str] = []
    size = first = last = 0  # size: the length of the parts joined by single spaces
    whole = True
    for s_start, s_end in sentence_spans(text):
        for start, end in _split_long(text, s_start, s_end, max_chars):
            part = text[start:end]
            if parts and size + 1 + len(part) > target_chars:
                pieces.append(TextPiece(first, last, " ".join(parts) + " ", whole))
                parts = []
            if parts:
                size += 1 + len(part)
            else:
                first, size = start, len(part)
            parts.append(part)
            last, whole = end, end == s_end
    if parts:
        pieces.append(TextPiece(first, last, " ".join(parts) + " ", whole))
    return pieces


def chunk_text(
    text: str, target_chars: int = TARGET_CHARS, max_chars: int = MAX_CHARS
) -> list[str]:
    """Group sentences into pieces of about ``target_chars``, each ending in one space."""
    return [piece.text for piece in message_pieces(text, target_chars, max_chars)]
