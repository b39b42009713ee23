"""Split one document into chapters: Markdown through markdown-it tokens, plain text by headings.

Markdown structure comes only from the token stream, so a ``#`` inside fenced code can never
start a chapter. The stream is never held for the whole document (its tokens take ten times
the memory of the text): pass 1 parses a window of lines at a time, says each window's blocks
and keeps that speech per section (the blocks between two top-level headings) with what the
chapter rules need; pass 2 decides the chapters and joins their sections' speech, reading a
section again only where pass 1 could not know how to say it. Plain text lives in
:mod:`narrator.reading.plaintext`; what a chapter says, in :mod:`narrator.reading.speech_text`.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markdown_it.token import Token

from narrator.reading import mdparse
from narrator.reading.book import Book
from narrator.reading.documents import decode_text, read_document
from narrator.reading.plaintext import (
    META_LINE,
    Draft,
    is_plain_heading,
    normalised,
    split_plain_text,
    stem,
)
from narrator.reading.speech_text import MarkdownSpeech, finish_paragraph, heading_title
from narrator.settings import ParseOptions

# split_plain_text and is_plain_heading are re-exported: callers import them from here.
__all__ = [
    "MARKDOWN_SUFFIXES",
    "is_plain_heading",
    "load_book",
    "split_markdown",
    "split_plain_text",
]

MARKDOWN_SUFFIXES = (".md", ".markdown")

# fmt: off
_META_KEYS = frozenset((
    "title", "subtitle", "author", "authors", "translator", "editor", "illustrator", "year",
    "date", "published", "publisher", "language", "source", "license",
))
_CONTENT_TOKENS = frozenset((
    "paragraph_open", "bullet_list_open", "ordered_list_open", "table_open", "fence",
    "code_block", "blockquote_open",
))
# fmt: on
# A window is this many lines or bytes, whichever comes first; doubled while one block
# fills it. Its tokens are the only ones alive at a time.
_WINDOW_LINES = 4_000
_WINDOW_BYTES = 256 * 1024
_BLANK_LINE = re.compile(rb"\n[ \t]*\n")


def load_book(source: Path, options: ParseOptions) -> Book:
    """Read a document and split it by its kind (the suffix decides, not the content)."""
    data = read_document(source)
    digest = hashlib.sha256(data).hexdigest()
    warnings: list[str] = []
    text = decode_text(data, source, options.encoding, warnings)
    del data  # not held beside the text while the book is split
    if source.suffix.lower() in MARKDOWN_SUFFIXES:
        lines = _Lines(normalised(text, source))
        del text  # the lines' UTF-8 is all the split needs, and often far smaller
        book = _split_markdown(lines, source, options)
    else:
        book = split_plain_text(text, source, options)
    warnings.extend(book.warnings)
    return dataclasses.replace(book, source_sha256=digest, warnings=tuple(warnings))


# --- Markdown -------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Heading:
    line: int  # 0-based; warnings say line + 1
    level: int
    source: str  # the inline Markdown, parsed once every link definition is known
    after_content: bool  # a paragraph, list, table, code or quote since the previous heading
    title: str = ""


@dataclass(eq=False, slots=True)
class _Section:
    """The blocks after a top-level heading (or before the first), said as a heading's would be:
    from a fresh start, as if all definitions were known. Pass 2 checks both."""

    line: int  # where it starts: its heading, or the top of the document
    windows: range  # the pass 1 windows it spans
    paragraphs: list[str] = field(default_factory=list)
    html_depth: int = 0  # raw HTML elements left open at its end


class _Lookups(dict[str, Any]):
    """A table of link or footnote definitions that notes the labels looked up in vain."""

    def __init__(self, entries: dict[str, Any]) -> None:
        super().__init__(entries)
        self.missed: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        if not dict.__contains__(self, key):
            self.missed.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        found = dict.__contains__(self, key)
        if not found and isinstance(key, str):
            self.missed.add(key)
        return found


# No footnote label holds a space; with it the table is never empty, so the footnote plugin
# always looks labels up (and an unknown one is noted) just as with the whole document's.
_NO_LABEL = ": "


@dataclass
class _Skeleton:
    """What pass 1 keeps of the document: its tokens are gone, their speech is not."""

    headings: list[_Heading] = field(default_factory=list)
    sections: list[_Section] = field(default_factory=list)
    front_matter: list[str] = field(default_factory=list)
    references: dict[str, dict[str, Any]] = field(default_factory=dict)
    footnotes: dict[str, int] = field(default_factory=dict)  # ":label" -> -1, as the plugin
    cuts: list[int] = field(default_factory=list)  # lines where a window ended: block starts
    missed: dict[int, tuple[set[str], set[str]]] = field(default_factory=dict)  # by window

    def env(self) -> dict[str, Any]:
        """A fresh markdown-it env with every definition, as a whole-document parse has it
        before its inline phase (so a link may come before its definition)."""
        env: dict[str, Any] = {}
        if self.references:
            env["references"] = self.references  # read only: every label is already there
        if self.footnotes:
            env["footnotes"] = {"refs": dict(self.footnotes)}  # the plugin numbers them here
        return env

    def window_env(self) -> dict[str, Any]:
        """An env with the definitions met so far, noting the labels that were not found."""
        notes = _Lookups(self.footnotes)
        notes[_NO_LABEL] = -1
        return {"references": _Lookups(self.references), "footnotes": {"refs": notes}}

    def stale_windows(self) -> set[int]:
        """Windows that looked up a label defined only further on: their speech may be wrong."""
        return {
            window
            for window, (links, notes) in self.missed.items()
            if not (links.isdisjoint(self.references) and notes.isdisjoint(self.footnotes))
        }


class _Lines:
    """The document as numbered lines, cut out by line number a window at a time.

    Held as UTF-8: a str takes up to four bytes for every character once a single emoji is
    in it, and only one window's worth is ever decoded.
    """

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8", "surrogatepass")
        self.starts = array("q", [0])
        position = self.data.find(b"\n")
        while position >= 0:
            self.starts.append(position + 1)
            position = self.data.find(b"\n", position + 1)
        self.count = len(self.starts)

    def source(self, start: int, end: int) -> str:
        stop = self.starts[end] if end < self.count else None
        return self.data[self.starts[start] : stop].decode("utf-8", "surrogatepass")

    def line(self, number: int) -> str:
        return self.source(number, number + 1).removesuffix("\n")

    def window_end(self, start: int, scale: int) -> int:
        limit = self.starts[start] + _WINDOW_BYTES * scale
        by_size = bisect.bisect_right(self.starts, limit, start + 1, self.count)
        return min(start + _WINDOW_LINES * scale, max(by_size, start + 1), self.count)


def split_markdown(text: str, name: Path | str, options: ParseOptions) -> Book:
    """Split Markdown at its chapter headings; see design.md "Chapters" for the rules."""
    return _split_markdown(_Lines(normalised(text, name)), name, options)


def _split_markdown(lines: _Lines, name: Path | str, options: ParseOptions) -> Book:
    draft = Draft(Path(name))
    first = _take_leading_metadata(lines, draft.meta)
    book = _read(lines, first, options)
    for block in book.front_matter:
        draft.meta.update(_simple_yaml(block))
    _set_titles(book)
    headings = _drop_metadata_headings(book.headings, draft.meta)
    level, title_heading = _split_level(headings, options.heading_level)
    top = [h.title for h in headings if h.level == 1]
    title = (top[0] if len(top) == 1 else "") or draft.meta.get("title") or stem(name)
    starts = {h.line for h in headings if h.level <= level and h is not title_heading}
    # Headings not spoken in place: the book's title, those above the split, metadata.
    skip = {h.line for h in headings if h.line not in starts and h.level < level}
    skip |= {h.line for h in book.headings} - {h.line for h in headings}
    _add_markdown_chapters(draft, lines, book, starts, skip, title, options)
    return draft.build(title)


def _take_leading_metadata(lines: _Lines, meta: dict[str, str]) -> int:
    """Undelimited ``title: ...`` lines at the very top (500 Lines style) are metadata.

    A line-based check on purpose: it looks only at ``key: value`` lines, never at Markdown.
    Returns how many lines to read as blank (one per key), so line numbers match the file.
    """
    found: dict[str, str] = {}
    for number in range(lines.count):
        match = META_LINE.fullmatch(lines.line(number).rstrip())
        if match is None:
            break
        found[match.group(1).lower()] = _unquote(match.group(2))
    if "title" not in found:
        return 0
    meta.update(found)
    return len(found)


def _simple_yaml(block: str) -> dict[str, str]:
    """The top-level ``key: value`` pairs of front matter; lists and nesting are ignored."""
    found = {}
    for line in block.split("\n"):
        match = META_LINE.fullmatch(line.rstrip())
        if match and match.group(2).strip():
            found[match.group(1).lower()] = _unquote(match.group(2))
    return found


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value.strip()


def _read(lines: _Lines, first: int, options: ParseOptions) -> _Skeleton:
    """Pass 1: parse a window of lines at a time, keep its speech and what the rules need.

    In CommonMark a block is final once the next one has started, so all of a window's
    top-level blocks but the last (which the window's end may have cut) are exactly those
    of a whole-document parse; the next window starts where that last block starts.
    """
    speech = MarkdownSpeech(options)
    book = _Skeleton(sections=[_Section(first, range(1), speech.paragraphs)])
    after_content = False
    start, scale, window = first, 1, 0
    while start < lines.count:
        end = lines.window_end(start, scale)
        env = book.window_env()
        tokens = mdparse.blocks(lines.source(start, end), start == 0, env)
        last = end == lines.count
        kept = len(tokens) if last else _complete_blocks(tokens, lines, start, end)
        if not (kept or last):
            scale *= 2  # one block fills the window
            continue
        following = lines.count if last else start + _map(tokens[kept])[0]
        del tokens[kept:]
        for index in range(kept):
            after_content = _note(book, tokens, index, start, after_content)
        links, notes = env["references"], env["footnotes"]["refs"]
        links.missed.clear()  # the block rules' look-ups are not the links'
        notes.missed.clear()
        tokens = mdparse.inline(tokens, env)
        if links.missed or notes.missed:
            book.missed[window] = (links.missed, notes.missed)
        speech = _speak(book, tokens, window, speech, options)
        if not last:
            book.cuts.append(following)
        start, scale, window = following, 1, window + 1
    return book


def _complete_blocks(tokens: Sequence[Token], lines: _Lines, start: int, end: int) -> int:
    """How many of a window's tokens hold top-level blocks that a longer window would not
    change: all before the last block, except where the rule below looks further on."""
    front_matter = bool(tokens) and tokens[0].type == "front_matter"
    if start == 0 and lines.data.startswith(b"---") and not front_matter:
        return 0  # front matter whose closing line may lie past the window: not an hr
    blocks = [i for i, t in enumerate(tokens) if t.level == 0 and t.nesting >= 0 and t.map]
    blank = -1  # the blank line found last: blocks before it need no search of their own
    for index in blocks[:-1]:
        # "[": a link definition, whose title may go on past the window, or one whose label
        # or address did and so became a paragraph or a setext heading. A blank line ends
        # all of these, so that one is final if a blank line follows within the window.
        begin = lines.starts[start + _map(tokens[index])[0]]
        if lines.data[begin : begin + 4].lstrip(b" ")[:1] != b"[" or begin <= blank:
            continue
        found = _BLANK_LINE.search(lines.data, begin, lines.starts[end])
        if found is None:
            return index
        blank = found.start()
    return blocks[-1] if blocks else 0


def _map(token: Token) -> list[int]:
    assert token.map is not None  # block-opening tokens always have one
    return token.map


def _note(book: _Skeleton, tokens: Sequence[Token], index: int, start: int, seen: bool) -> bool:
    """Keep what the chapter rules need from one block token; returns whether there has
    been content since the last top-level heading."""
    token = tokens[index]
    if token.type == "definition":  # at any depth: in quotes and lists too
        meta = token.meta
        where = [start + line for line in _map(token)]
        entry = {"title": meta["title"], "href": meta["url"], "map": where}
        book.references.setdefault(meta["id"], entry)  # the first definition wins
    elif token.type == "footnote_reference_open":
        book.footnotes[":" + token.meta["label"]] = -1
    elif token.level != 0:
        pass
    elif token.type == "heading_open":
        line = start + _map(token)[0]
        book.headings.append(_Heading(line, int(token.tag[1]), tokens[index + 1].content, seen))
        return False
    elif token.type == "front_matter":
        book.front_matter.append(token.content)
    return seen or (token.level == 0 and token.type in _CONTENT_TOKENS)


def _speak(
    book: _Skeleton, tokens: list[Token], window: int, speech: MarkdownSpeech, options: ParseOptions
) -> MarkdownSpeech:
    """Say a window's blocks, each top-level heading starting a section; returns the speech
    of the section still open (its paragraphs are the section's own list)."""
    section = book.sections[-1]
    section.windows = range(section.windows.start, window + 1)
    begin = 0
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.level == 0:
            speech.feed(tokens[begin:index])
            section.html_depth = speech.html_depth
            speech = MarkdownSpeech(options)
            line = book.headings[len(book.sections) - 1].line
            section = _Section(line, range(window, window + 1), speech.paragraphs)
            book.sections.append(section)
            begin = index + 3  # after open, inline, close
    speech.feed(tokens[begin:])
    section.html_depth = speech.html_depth
    return speech


def _set_titles(book: _Skeleton) -> None:
    """Heading titles, parsed as inline Markdown with every definition known."""
    env = book.env()
    parser = mdparse.parser(True, "titles")
    for heading in book.headings:
        heading.title = heading_title(parser.parseInline(heading.source, env)[0])
        heading.source = ""


def _metadata_match(heading: _Heading) -> tuple[str, str] | None:
    match = META_LINE.fullmatch(heading.title)
    if match and match.group(1).lower() in _META_KEYS and match.group(2).strip():
        return match.group(1).lower(), match.group(2).strip()
    return None


def _drop_metadata_headings(headings: list[_Heading], meta: dict[str, str]) -> list[_Heading]:
    """``# Title: X`` / ``## Author: Y`` headings at the top, before any text, are metadata."""
    for count, heading in enumerate(headings):
        pair = _metadata_match(heading)
        if pair is None or heading.after_content:
            return headings[count:]
        meta.setdefault(*pair)
    return []


def _split_level(headings: Sequence[_Heading], override: int | None) -> tuple[int, _Heading | None]:
    """The heading level that starts chapters, and the single ``#`` that titles the book."""
    top = [h for h in headings if h.level == 1]
    title = top[0] if len(top) == 1 else None
    if override is not None:
        return override, title if override > 1 else None
    if len(top) >= 2:
        return 1, None
    levels = sorted({h.level for h in headings if h.level > 1})
    repeated = [lv for lv in levels if sum(h.level == lv for h in headings) >= 2]
    if repeated:
        return repeated[0], title
    if levels:
        return levels[0], title
    return 1, None


def _add_markdown_chapters(
    draft: Draft,
    lines: _Lines,
    book: _Skeleton,
    starts: set[int],
    skip: set[int],
    book_title: str,
    options: ParseOptions,
) -> None:
    """Pass 2: chapters from the sections' speech, each section read again if pass 1 could
    not know how to say it (a definition further on, raw HTML left open before a heading
    that is not spoken)."""
    stale = book.stale_windows()
    chapter: _Heading | None = None
    paragraphs: list[str] = []
    depth = 0
    sections, book.sections = book.sections[::-1], []
    ends = [*(h.line for h in book.headings), lines.count]
    for heading, end in zip([None, *book.headings], ends, strict=True):
        section = sections.pop()  # and let its speech go once said
        if heading is not None and heading.line in starts:
            _add_chapter(draft, chapter, paragraphs, book_title)
            chapter, paragraphs, depth = heading, [], 0
        elif heading is not None and heading.line not in skip:
            spoken = finish_paragraph(heading.title)
            paragraphs.extend([spoken] if spoken else [])
            depth = 0
        if depth or not stale.isdisjoint(section.windows):
            span = range(section.line, end)
            section = _reread(lines, book, span, heading is not None, depth, options)
        paragraphs.extend(section.paragraphs)
        depth = section.html_depth
    _add_chapter(draft, chapter, paragraphs, book_title)


def _add_chapter(
    draft: Draft, heading: _Heading | None, paragraphs: list[str], book_title: str
) -> None:
    if heading is None:
        if paragraphs:
            draft.add_intro(book_title, paragraphs)
    elif paragraphs:
        spoken = finish_paragraph(heading.title)
        draft.add(heading.title, [spoken, *paragraphs] if spoken else paragraphs)
    else:
        draft.warnings.append(
            f"heading {heading.title!r} (line {heading.line + 1}) has nothing to narrate; skipped"
        )


def _reread(
    lines: _Lines, book: _Skeleton, span: range, heading: bool, depth: int, options: ParseOptions
) -> _Section:
    """A section parsed again, in its pass 1 windows, with every definition known."""
    cuts = book.cuts
    edges = cuts[bisect.bisect_right(cuts, span.start) : bisect.bisect_left(cuts, span.stop)]
    speech = MarkdownSpeech(options, depth)
    for begin, stop in zip([span.start, *edges], [*edges, span.stop], strict=True):
        env = book.env()
        tokens = mdparse.inline(mdparse.blocks(lines.source(begin, stop), begin == 0, env), env)
        speech.feed(tokens[3:] if heading and begin == span.start else tokens)
    return _Section(span.start, range(0), speech.paragraphs, speech.html_depth)
