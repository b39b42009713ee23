"""The values that flow from the splitter to the narrator: a book and its chapters.

Kept apart from the splitter so that the pool, the writer and the manifest can speak of
chapters without importing any Markdown machinery.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Chapter:
    """One chapter: ``text`` is exactly what the narrator says, heading first."""

    index: int
    title: str
    text: str

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Book:
    """One document split into chapters; ``warnings`` are for the user, not errors.

    ``description`` is the document's own summary (front matter), tagged as the comment a
    player shows for the book; None when the document gives none. ``language`` (a BCP 47
    tag) and ``cover`` (image bytes and MIME type) are what an EPUB says of itself, so a run
    can tag its files without being told.
    """

    source: Path
    title: str
    author: str | None
    chapters: tuple[Chapter, ...]
    warnings: tuple[str, ...] = field(default=())
    source_sha256: str = ""
    description: str | None = None
    #: The document's own narration settings from its front matter (voice, model, speed,
    #: language, rules), as written; the run checks them and decides what applies.
    settings: tuple[tuple[str, str], ...] = ()
    language: str | None = None
    cover: tuple[bytes, str] | None = None
