"""What the Markdown and the plain-text splitter share: the book draft both fill, and the
rules they must agree on (line ends, the file-stem title, ``key: value`` metadata lines).

Kept apart so that neither splitter imports the other: each one's own rules stay private.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from narrator.errors import DocumentError
from narrator.reading.book import Book, Chapter
from narrator.reading.speech_text import finish_paragraph, join_paragraphs
from narrator.reading.textclean import without_surrogates

# Metadata written as "key: value" (front matter, leading lines, "## Author: ..." headings).
META_LINE = re.compile(r"([A-Za-z_]+): (.*)")


@dataclass
class Draft:
    """A book being assembled: chapters get their index when they are kept."""

    source: Path
    meta: dict[str, str] = field(default_factory=dict)
    chapters: list[Chapter] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, title: str, paragraphs: Sequence[str]) -> None:
        self.chapters.append(Chapter(len(self.chapters) + 1, title, join_paragraphs(paragraphs)))

    def add_intro(self, title: str, paragraphs: Sequence[str]) -> None:
        """Text before the first heading, spoken under the book's title."""
        # A title taken from a file stem ("my_book") should not be read with its underscores.
        spoken = finish_paragraph(title.replace("_", " "))
        self.add(title, [spoken, *paragraphs] if spoken else paragraphs)

    def build(self, title: str) -> Book:
        if not self.chapters:
            raise DocumentError(self.source, "nothing to narrate")
        author = self.meta.get("author") or self.meta.get("authors")
        return Book(
            source=self.source,
            title=title,
            author=author or None,
            chapters=tuple(self.chapters),
            warnings=tuple(self.warnings),
            description=self.meta.get("description") or None,
            settings=tuple((k, self.meta[k]) for k in DOCUMENT_SETTINGS if self.meta.get(k)),
        )


#: Front matter keys that choose how the document is narrated.
DOCUMENT_SETTINGS = ("voice", "model", "speed", "language", "rules")


def normalised(text: str, name: Path | str) -> str:
    """Unix line ends, no byte-order mark; copies only when something changes."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text or text.isspace():  # what ``not text.strip()`` says, without a copy
        raise DocumentError(name, "empty document")
    return text


def stem(name: Path | str) -> str:
    """The title a file's name gives; bytes of it that are not UTF-8 become U+FFFD."""
    return without_surrogates(Path(name).stem or str(name))
