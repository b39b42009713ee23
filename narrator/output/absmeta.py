"""Audiobookshelf's ``metadata.json`` for a narrated book: the one sidecar that settles the book.

Audiobookshelf (ABS) fills a book's details from several sources in a fixed order, each later
one overwriting the earlier ones: folder names, audio tags, ``.nfo``, ``desc.txt`` /
``reader.txt``, ``.opf`` and last ``metadata.json`` (its library setting
``metadataPrecedence``, default ``folderStructure, audioMetatags, nfoFile, txtFiles, opfFile,
absMetadata``). Writing this file therefore decides the title, author, narrator, description
and chapter list whatever the tags or folder names say, which is why the chapter titles from
the document are written here as well as into the audio tags.

The layout is the flat JSON that ABS 2.x writes itself when "store metadata with item" is on
(``LibraryItem.saveMetadataFile``, the format since ``metadata.abs`` was retired in v2.5;
older files nested the fields under ``"metadata"``, which ABS still reads). Fields we do not
know are written the way ABS writes unknown values: empty lists and ``null``. ABS reads a
chapter list all-or-nothing: one chapter without a title or with a non-numeric time and it
drops every chapter, so those are refused here with ``ValueError`` instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

GENRES = ("Audiobook",)


@dataclass(frozen=True)
class BookChapterMark:
    """One chapter of the book on the book's own timeline, in seconds."""

    start: float
    end: float
    title: str


def abs_metadata(
    *,
    title: str,
    author: str | None,
    description: str | None,
    language: str | None,
    narrator: str | None,
    chapters: Sequence[BookChapterMark],
) -> dict[str, object]:
    """The content of ``metadata.json``, keys in the order ABS writes them.

    Empty strings count as unknown (``null`` or an empty list), because ABS skips ``null``
    values when applying the file but would otherwise overwrite a good tag with ``""``.
    ``chapters`` must be in order of start; ids count from 0 as ABS numbers them.
    """
    if not title.strip():
        raise ValueError("an Audiobookshelf book needs a title")
    return {
        "tags": [],
        "chapters": _chapters(chapters),
        "title": title,
        "subtitle": None,
        "authors": [author] if _known(author) else [],
        "narrators": [narrator] if _known(narrator) else [],
        "series": [],
        "genres": list(GENRES),
        "publishedYear": None,
        "publishedDate": None,
        "publisher": None,
        "description": description if _known(description) else None,
        "isbn": None,
        "asin": None,
        "language": language if _known(language) else None,
        "explicit": False,
        "abridged": False,
    }


def render_abs_metadata(
    *,
    title: str,
    author: str | None,
    description: str | None,
    language: str | None,
    narrator: str | None,
    chapters: Sequence[BookChapterMark],
) -> bytes:
    """``metadata.json`` as bytes: UTF-8, two-space indent like ABS, a trailing newline.

    Non-ASCII stays literal (as ``JSON.stringify`` leaves it) so the file is readable and
    diffs cleanly between runs.
    """
    content = abs_metadata(
        title=title,
        author=author,
        description=description,
        language=language,
        narrator=narrator,
        chapters=chapters,
    )
    return (json.dumps(content, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _known(value: str | None) -> bool:
    return value is not None and value.strip() != ""


def _chapters(marks: Sequence[BookChapterMark]) -> list[dict[str, object]]:
    """ABS chapter objects, checked so that ABS keeps them rather than dropping them all."""
    out: list[dict[str, object]] = []
    previous_start = 0.0
    for index, mark in enumerate(marks):
        if not mark.title.strip():
            raise ValueError(
                f"chapter {index} has no title; Audiobookshelf would drop all chapters"
            )
        if not (math.isfinite(mark.start) and math.isfinite(mark.end)):
            raise ValueError(f"chapter {index} ({mark.title!r}) has a non-finite time")
        if mark.start < 0 or mark.end < mark.start:
            raise ValueError(
                f"chapter {index} ({mark.title!r}) runs from {mark.start} to {mark.end} s"
            )
        if mark.start < previous_start:
            raise ValueError(f"chapter {index} ({mark.title!r}) starts before the one before it")
        previous_start = mark.start
        out.append(
            {
                "id": index,
                "start": round(mark.start, 3),
                "end": round(mark.end, 3),
                "title": mark.title,
            }
        )
    return out
