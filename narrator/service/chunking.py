"""A chapter's speech text -> the pieces sent to the service.

The protocol notes recommend sentence-complete pieces, each ending in a space: the service
buffers them by its chunk schedule and never has to guess where a word ends. Sentences longer
than ``max_chars`` are cut at clause marks, then at spaces, so no piece exceeds the limit.
"""

from __future__ import annotations

from collections.abc import Iterator

_SENTENCE_ENDS = ".!?…"
_CLOSERS = "\"'”’)]»"
_CLAUSE_MARKS = ",;:—–"


def sentences(text: str) -> Iterator[str]:
    """Split at sentence ends (a terminal mark, optional closing quotes, then whitespace)."""
    start = 0
    i = 0
    n = len(text)
    while i < n:
        if text[i] in _SENTENCE_ENDS:
            j = i + 1
            while j < n and (text[j] in _SENTENCE_ENDS or text[j] in _CLOSERS):
                j += 1
            if j == n or text[j].isspace():
                piece = text[start:j].strip()
                if piece:
                    yield piece
                start = j
                i = j
                continue
        elif text[i] == "\n":
            piece = text[start:i].strip()
            if piece:
                yield piece
            start = i + 1
        i += 1
    tail = text[start:].strip()
    if tail:
        yield tail


def _split_long(sentence: str, max_chars: int) -> Iterator[str]:
    """Cut an over-long sentence at the last clause mark, else the last space, within limit."""
    rest = sentence
    while len(rest) > max_chars:
        window = rest[:max_chars]
        cut = max(window.rfind(mark + " ") for mark in _CLAUSE_MARKS)
        if cut <= 0:
            cut = window.rfind(" ")
        else:
            cut += 1
        if cut <= 0:
            cut = max_chars
        yield rest[:cut].strip()
        rest = rest[cut:].strip()
    if rest:
        yield rest


def chunk_text(text: str, target_chars: int = 250, max_chars: int = 500) -> list[str]:
    """Group sentences into pieces of about ``target_chars``, each ending in one space."""
    pieces: list[str] = []
    current = ""
    for sentence in sentences(text):
        for part in _split_long(sentence, max_chars):
            if current and len(current) + 1 + len(part) > target_chars:
                pieces.append(current + " ")
                current = part
            else:
                current = f"{current} {part}" if current else part
    if current:
        pieces.append(current + " ")
    return pieces
