"""The last step of reading: the words as they will be said, after the user's rules.

Applied to each chapter's speech text before it is hashed and cut into pieces, so a changed
rule re-narrates exactly the chapters whose spoken text it changes (the text hash moves),
and ``--dry-run --show-text`` shows what the service will hear. In order:

1. Roman and arabic numerals in the spoken heading said as numbers ("Chapter XIV" ->
   "Chapter Fourteen"), for every engine: a heading is a title, not a sum.
2. For engines that read digits poorly (the local one), numbers, years, currency and common
   abbreviations spelled out as a narrator reads them.
3. The pronunciation rules: the run's (``--rules``) first, then the document's own
   (``rules:`` in its front matter, a path beside the document), in file order.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

from narrator.errors import DocumentError, UsageError
from narrator.reading.book import Book, Chapter
from narrator.reading.normalise import heading_numbers, spell_numbers
from narrator.reading.rules import Rules, apply_rules, load_rules, merge
from narrator.settings import ParseOptions


def speak_chapters(book: Book, chapters: list[Chapter], options: ParseOptions) -> None:
    """Replace each of ``book``'s ``chapters`` by the chapter as it will be said, in place:
    each old text is freed as its new one is made, so a book whose every heading changes
    ("Chapter 12" -> "Chapter Twelve") is never in memory twice."""
    rules = _rules(book, options)
    language = dict(book.settings).get("language") or getattr(book, "language", None) or "en"
    for number, chapter in enumerate(chapters):
        chapters[number] = _spoken(chapter, options, rules, language)


def _spoken(chapter: Chapter, options: ParseOptions, rules: Rules | None, language: str) -> Chapter:
    heading, newline, body = chapter.text.partition("\n")
    text = heading_numbers(heading) + newline + body
    if options.spell_numbers:
        text = spell_numbers(text, language)
    if rules is not None:
        text = apply_rules(text, rules)
    return chapter if text == chapter.text else dataclasses.replace(chapter, text=text)


def _rules(book: Book, options: ParseOptions) -> Rules | None:
    found: list[Rules] = []
    if options.rules is not None:
        found.append(_load(options.rules))
    own = dict(book.settings).get("rules")
    if own:
        path = (book.source.parent / own).resolve()
        try:
            found.append(_load(path))
        except UsageError as exc:
            raise DocumentError(book.source, f"front matter rules: {exc}") from exc
    return merge(*found) if found else None


def _load(path: Path) -> Rules:
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _cached(path, stamp)


@lru_cache(maxsize=16)
def _cached(path: Path, stamp: int) -> Rules:
    """A folder of documents shares one rules file: read and compiled once."""
    return load_rules(path)
