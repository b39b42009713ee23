"""Read a web page or an HTML document as a book: its main text, split at its headings.

The main text is ``<main>``, else the only ``<article>``, else ``<body>``, without the page's
navigation, header and footer, sidebars, scripts and forms. Chapters follow the Markdown
rule, so a document says the same whether it was written in Markdown or exported to HTML:
two or more ``h1`` make each ``h1`` a chapter; a single ``h1`` titles the book and the first
repeated lower level splits it; ``--heading-level`` overrides. What is spoken is
:mod:`narrator.reading.htmltext`'s, shared with EPUB.
"""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup, Tag

from narrator.errors import DocumentError, UsageError
from narrator.reading.book import Book, Chapter
from narrator.reading.documents import check_encoding, decode_text
from narrator.reading.drafts import stem
from narrator.reading.htmltext import Paragraph, attribute, parse_markup, speak, text_of
from narrator.reading.speech_text import finish_paragraph, join_paragraphs
from narrator.settings import ParseOptions

_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})""", re.I)
# What browsers do: a page labelled Latin-1 or ASCII is decoded as Windows-1252.
_WINDOWS_1252 = frozenset(("iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii"))
_PAGE_PARTS = ("nav", "aside", "script", "style", "noscript", "form", "template")


def read_html(data: bytes, source: Path, options: ParseOptions) -> Book:
    """The book an HTML document's bytes hold."""
    warnings: list[str] = []
    text = decode_text(data, source, options.encoding or _declared(data, warnings), warnings)
    soup = parse_markup(text)
    del text
    main = _main_text(soup)
    paragraphs = speak(main, options, drop_asides=True).paragraphs
    title_tag = soup.find("title")
    first_h1 = main.find("h1")
    title = (text_of(title_tag) if isinstance(title_tag, Tag) else "") or (
        text_of(first_h1) if isinstance(first_h1, Tag) else ""
    )
    chapters = _split(paragraphs, title or stem(source), options.heading_level, warnings)
    if not chapters:
        raise DocumentError(source, "nothing to narrate")
    html = soup.find("html")
    description = soup.find("meta", attrs={"name": "description"})
    return Book(
        source=source,
        title=title or stem(source),
        author=_meta(soup, "author"),
        chapters=tuple(chapters),
        warnings=tuple(warnings),
        description=attribute(description, "content").strip() or None
        if isinstance(description, Tag)
        else None,
        language=(attribute(html, "lang").strip() or None) if isinstance(html, Tag) else None,
    )


def _declared(data: bytes, warnings: list[str]) -> str | None:
    """The charset a ``<meta>`` near the top declares, if Python knows it."""
    match = _CHARSET.search(data[:4096])
    if match is None:
        return None
    name = match.group(1).decode("ascii").lower()
    if name in _WINDOWS_1252:
        return "cp1252"
    try:
        return check_encoding(name)
    except UsageError:
        warnings.append(f"declared charset {name!r} is unknown; read as UTF-8")
        return None


def _meta(soup: BeautifulSoup, name: str) -> str | None:
    tag = soup.find("meta", attrs={"name": name})
    return (attribute(tag, "content").strip() or None) if isinstance(tag, Tag) else None


def _main_text(soup: BeautifulSoup) -> Tag:
    """The element holding the page's text, with the page's furniture taken out of it."""
    articles = soup.find_all("article")
    found = soup.find("main") or (articles[0] if len(articles) == 1 else None)
    root = found if isinstance(found, Tag) else soup.find("body")
    root = root if isinstance(root, Tag) else soup
    for tag in root.find_all(_PAGE_PARTS):
        tag.decompose()
    for tag in root.find_all(("header", "footer")):
        if tag.find_parent(("article", "section", "main")) is None:
            tag.decompose()  # the page's, not an article's (which may hold its title)
    return root


def _split(
    paragraphs: list[Paragraph], title: str, override: int | None, warnings: list[str]
) -> list[Chapter]:
    """Chapters at the splitting level's headings; text before the first is an intro
    spoken under the book's title."""
    level, title_heading = _split_level(paragraphs, override)
    chapters: list[Chapter] = []
    heading: Paragraph | None = None
    body: list[str] = []

    def close() -> None:
        if heading is None:
            spoken = finish_paragraph(title.replace("_", " "))
            if body:
                _add(chapters, title, [spoken, *body] if spoken else body)
        elif body:
            _add(chapters, heading.raw, [heading.text, *body])
        else:
            warnings.append(f"heading {heading.raw!r} has nothing to narrate; skipped")

    for number, paragraph in enumerate(paragraphs):
        if paragraph.level and paragraph.level <= level and number != title_heading:
            close()
            heading, body = paragraph, []
        elif paragraph.level and paragraph.level < level:
            continue  # the book's title, or a heading above the split: not said in place
        else:
            body.append(paragraph.text)
    close()
    return chapters


def _add(chapters: list[Chapter], title: str, lines: list[str]) -> None:
    chapters.append(Chapter(len(chapters) + 1, title, join_paragraphs(lines)))


def _split_level(paragraphs: list[Paragraph], override: int | None) -> tuple[int, int | None]:
    """The heading level that starts chapters, and the position of a single ``h1`` that
    titles the book (as Markdown's rule: two ``h1`` split; else the first repeated level)."""
    levels = [p.level for p in paragraphs]
    top = [n for n, level in enumerate(levels) if level == 1]
    title = top[0] if len(top) == 1 else None
    if override is not None:
        return override, title if override > 1 else None
    if len(top) >= 2:
        return 1, None
    lower = sorted({level for level in levels if level > 1})
    repeated = [lv for lv in lower if levels.count(lv) >= 2]
    if repeated:
        return repeated[0], title
    if lower:
        return lower[0], title
    return 1, None
