"""Load one document as a book: read and decode it, then split it by its kind.

The entry point callers use. The splitters themselves live in
:mod:`narrator.reading.markdown` and :mod:`narrator.reading.plaintext` (their public
functions are re-exported here), :mod:`narrator.reading.epub` and
:mod:`narrator.reading.html`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from narrator.reading.book import Book
from narrator.reading.documents import decode_text, read_document
from narrator.reading.drafts import normalised
from narrator.reading.markdown import split_markdown, split_markdown_lines
from narrator.reading.mdwindows import Lines
from narrator.reading.plaintext import is_plain_heading, split_plain_text
from narrator.reading.speaking import speak_chapters
from narrator.settings import ParseOptions

__all__ = [
    "EPUB_SUFFIXES",
    "HTML_SUFFIXES",
    "MARKDOWN_SUFFIXES",
    "is_plain_heading",
    "load_book",
    "split_markdown",
    "split_plain_text",
]

MARKDOWN_SUFFIXES = (".md", ".markdown")
EPUB_SUFFIXES = (".epub",)
HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def load_book(source: Path, options: ParseOptions) -> Book:
    """Read a document and split it by its kind (the suffix decides, not the content)."""
    data = read_document(source)
    digest = hashlib.sha256(data).hexdigest()
    warnings: list[str] = []
    suffix = source.suffix.lower()
    # The EPUB and HTML readers are imported only for their documents: their parsers
    # (BeautifulSoup, soupsieve, defusedxml) are a tenth of a second and 5 MB at every start.
    if suffix in EPUB_SUFFIXES:  # a zip archive: its bytes are never decoded as text
        from narrator.reading.epub import read_epub

        book = read_epub(data, source, options)
    elif suffix in HTML_SUFFIXES:  # decoded by the charset it declares
        from narrator.reading.html import read_html

        book = read_html(data, source, options)
    else:
        text = decode_text(data, source, options.encoding, warnings)
        del data  # not held beside the text while the book is split
        if suffix in MARKDOWN_SUFFIXES:
            lines = Lines(normalised(text, source))
            del text  # the lines' UTF-8 is all the split needs, and often far smaller
            book = split_markdown_lines(lines, source, options)
        else:
            book = split_plain_text(text, source, options)
    warnings.extend(book.warnings)
    chapters = list(book.chapters)  # the only reference left: spoken in place
    book = dataclasses.replace(book, chapters=(), source_sha256=digest, warnings=tuple(warnings))
    speak_chapters(book, chapters, options)
    return dataclasses.replace(book, chapters=tuple(chapters))
