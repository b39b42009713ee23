"""XHTML and HTML as speech: the words a narrator says, by the rules Markdown follows.

Shared by the EPUB and the HTML reader so that the same markup is said the same way from
either: headings said, links' text kept, images' alt text only when asked for, code,
scripts, navigation and notes left out, tables and lists read as sentences. Markup is parsed
with Python's forgiving ``html.parser`` (through BeautifulSoup): real books ship malformed
XHTML, and an unclosed tag must cost nothing but its own tidiness.

The walk is iterative, so a hostile document nested ten thousand levels deep cannot exhaust
the interpreter's stack.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, Tag
from bs4.element import NavigableString, PageElement, PreformattedString

from narrator.reading.speech_text import finish_paragraph, is_speakable
from narrator.settings import ParseOptions

# fmt: off
_DROPPED = frozenset((
    "head", "script", "style", "noscript", "template", "nav", "svg", "math", "pre", "iframe",
    "object", "embed", "audio", "video", "canvas", "map", "form", "button", "input", "select",
    "textarea", "option", "datalist", "rt", "rp",
))
_BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "ol", "p",
    "section", "summary", "ul",
))
# Notes are read nowhere in the running text; page-break markers carry print page numbers.
_NOTE_TYPES = frozenset((
    "footnote", "footnotes", "endnote", "endnotes", "rearnote", "rearnotes", "note", "notes",
    "pagebreak",
))
_NOTE_ROLES = frozenset((
    "doc-footnote", "doc-endnote", "doc-endnotes", "doc-pagebreak", "doc-noteref",
))
# fmt: on
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_CODE = frozenset(("code", "kbd", "samp", "tt"))
_PLAIN_CODE = re.compile(r"[\w .-]+")  # as in Markdown: code that reads as words is kept
# What a link to a note says: "1", "[12]", "*", "†", "iv".
_NOTE_MARK = re.compile(r"[\[(]?\s*(?:\d{1,4}|[*†‡§¶]{1,3}|[ivx]{1,5})\s*[\])]?")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.IGNORECASE)


@dataclass(frozen=True)
class Paragraph:
    """One spoken paragraph: ``text`` as said, ``raw`` before punctuation was finished (a
    heading's title, a table cell); ``level`` is 1 to 6 for a heading."""

    text: str
    level: int = 0
    raw: str = ""


@dataclass
class Speech:
    """A document's paragraphs, and where each element ``id`` falls among them (the index of
    the first paragraph at or after it), so a table of contents can cut at an anchor."""

    paragraphs: list[Paragraph] = field(default_factory=list)
    anchors: dict[str, int] = field(default_factory=dict)


def parse_markup(text: str) -> BeautifulSoup:
    """A forgiving parse of HTML or XHTML (an XML declaration is not worth a warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BeautifulSoup(text, "html.parser")


def attribute(tag: Tag, name: str) -> str:
    """An attribute as one string (BeautifulSoup gives ``class`` as a list)."""
    value = tag.get(name)
    if isinstance(value, list):
        return " ".join(value)
    return value or ""


def epub_types(tag: Tag) -> set[str]:
    """The structural semantics of an element, prefixes dropped (``z3998:fiction`` is
    ``fiction``), lower case."""
    found = attribute(tag, "epub:type").split() + attribute(tag, "role").split()
    return {value.rsplit(":", 1)[-1].lower() for value in found}


def text_of(tag: Tag) -> str:
    """An element's text, whitespace normalised (a label, a title)."""
    return " ".join(tag.get_text(" ").split())


def speak(root: Tag, options: ParseOptions, *, drop_asides: bool = False) -> Speech:
    """What ``root`` says, paragraph by paragraph.

    ``drop_asides`` leaves out every ``<aside>`` (a web page's sidebars); otherwise only
    asides marked as notes go, since a book's sidebars are part of its text.
    """
    walker = _Walker(options, drop_asides)
    walker.walk(root)
    walker.flush()
    return walker.speech


class _Walker:
    """Walks a tree in document order, gathering inline text until a block ends it."""

    def __init__(self, options: ParseOptions, drop_asides: bool) -> None:
        self.options = options
        self.drop_asides = drop_asides
        self.speech = Speech()
        self.parts: list[str] = []
        self.heading = 0

    def walk(self, root: Tag) -> None:
        stack: list[tuple[PageElement, bool]] = [(root, False)]
        while stack:
            node, leaving = stack.pop()
            if isinstance(node, Tag):
                if leaving:
                    self._leave(node)
                elif self._enter(node):
                    stack.append((node, True))
                    stack.extend((child, False) for child in reversed(node.contents))
            elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
                self.parts.append(str(node))  # comments, CDATA, declarations are not text

    def _enter(self, tag: Tag) -> bool:
        """Handle an element on the way in; True when its children are to be walked."""
        name = tag.name
        if self._is_dropped(tag):
            return False
        self._anchor(tag)
        if name == "table":
            self.flush()
            self._table(tag)
            return False
        if name == "br":
            self.parts.append(" ")
        elif name == "img":
            alt = attribute(tag, "alt")
            if self.options.image_alt_text and not self.heading and alt.strip():
                self.parts.append(f" {alt} ")
        elif name in _CODE:
            code = tag.get_text()
            keep = self.heading or _PLAIN_CODE.fullmatch(code)
            self.parts.append(code if keep else " ")
            return False
        elif name in _BLOCKS or name in _HEADINGS:
            self.flush()
            self.heading = _HEADINGS.get(name, self.heading)
        return True

    def _leave(self, tag: Tag) -> None:
        if tag.name in _BLOCKS or tag.name in _HEADINGS:
            self.flush()

    def flush(self) -> None:
        """End the paragraph being gathered (a heading if one is open)."""
        raw = " ".join("".join(self.parts).split())
        level, self.parts, self.heading = self.heading, [], 0
        text = finish_paragraph(raw) if raw else None
        if text:
            self.speech.paragraphs.append(Paragraph(text, level, raw))

    def _anchor(self, tag: Tag) -> None:
        for name in ("id", "name") if tag.name == "a" else ("id",):
            value = attribute(tag, name)
            if value:
                self.speech.anchors.setdefault(value, len(self.speech.paragraphs))

    def _is_dropped(self, tag: Tag) -> bool:
        name = tag.name
        if name in _DROPPED or tag.has_attr("hidden"):
            return True
        if _HIDDEN_STYLE.search(attribute(tag, "style")):
            return True
        types = epub_types(tag)
        if name == "aside" and (self.drop_asides or types & _NOTE_TYPES):
            return True
        if types & _NOTE_TYPES or types & _NOTE_ROLES or types & {"noteref"}:
            return True
        if "footnotes" in attribute(tag, "class").split():
            return True
        return _is_note_reference(tag)

    def _table(self, table: Tag) -> None:
        """Each row a sentence; with header cells, "header: cell" as Markdown tables say."""
        for inner in table.find_all(id=True):
            self._anchor(inner)
        caption = table.find("caption")
        if isinstance(caption, Tag):
            self._paragraph(self._inline(caption))
        rows = [row for row in table.find_all("tr") if row.find_parent("table") is table]
        headers: list[str] = []
        if rows:
            first = rows[0]
            cells = _cells(first)
            if _in_head(first, table) or (cells and all(cell.name == "th" for cell in cells)):
                headers = [self._inline(cell) for cell in cells]
                rows = rows[1:]
        for row in rows:
            spoken = []
            for position, cell in enumerate(self._inline(cell) for cell in _cells(row)):
                if not is_speakable(cell):
                    continue
                header = headers[position] if position < len(headers) else ""
                spoken.append(f"{header}: {cell}" if is_speakable(header) else cell)
            self._paragraph(", ".join(spoken))

    def _inline(self, tag: Tag) -> str:
        """A cell's words on one line, by the same rules as the running text."""
        inner = _Walker(self.options, self.drop_asides)
        inner.walk(tag)
        inner.flush()
        return " ".join(p.raw for p in inner.speech.paragraphs)

    def _paragraph(self, raw: str) -> None:
        text = finish_paragraph(raw)
        if text:
            self.speech.paragraphs.append(Paragraph(text, 0, raw))


def _cells(row: Tag) -> list[Tag]:
    return [cell for cell in row.find_all(["td", "th"], recursive=False) if isinstance(cell, Tag)]


def _in_head(row: Tag, table: Tag) -> bool:
    head = row.find_parent("thead")
    return head is not None and head.find_parent("table") is table


def _is_note_reference(tag: Tag) -> bool:
    """A superscript link, or a link to an anchor whose text is only a note mark."""
    if tag.name == "sup":
        return tag.find("a") is not None
    if tag.name != "a" or "#" not in attribute(tag, "href"):
        return False
    return _NOTE_MARK.fullmatch(tag.get_text().strip()) is not None


def first_heading(paragraphs: Iterable[Paragraph]) -> str:
    """The title of the first heading among ``paragraphs``, or ""."""
    return next((p.raw for p in paragraphs if p.level), "")
