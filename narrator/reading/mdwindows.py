"""Read Markdown a window of lines at a time, keeping its speech and what the chapter rules need.

The token stream is never held for the whole document (its tokens take ten times the memory
of the text): :func:`read_windows` (pass 1) parses a window at a time, says each window's
blocks and keeps that speech per section (the blocks between two top-level headings) in a
:class:`Skeleton`, with the headings, front matter and definitions. Which headings start
chapters is decided by :mod:`narrator.reading.markdown` (pass 2), which calls :func:`reread`
for a section that pass 1 could not know how to say.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markdown_it.token import Token

from narrator.reading import mdparse
from narrator.reading.speech_text import MarkdownSpeech, heading_title
from narrator.settings import ParseOptions

# fmt: off
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


@dataclass(eq=False, slots=True)
class Heading:
    """A heading as pass 1 met it; its title is set once every definition is known."""

    line: int  # 0-based; warnings say line + 1
    level: int
    source: str  # the inline Markdown, parsed once every link definition is known
    after_content: bool  # a paragraph, list, table, code or quote since the previous heading
    title: str = ""


@dataclass(eq=False, slots=True)
class Section:
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
class Skeleton:
    """What pass 1 keeps of the document: its tokens are gone, their speech is not."""

    headings: list[Heading] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
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


class Lines:
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


def read_windows(lines: Lines, first: int, options: ParseOptions) -> Skeleton:
    """Pass 1: parse a window of lines at a time, keep its speech and what the rules need.

    In CommonMark a block is final once the next one has started, so all of a window's
    top-level blocks but the last (which the window's end may have cut) are exactly those
    of a whole-document parse; the next window starts where that last block starts.
    """
    speech = MarkdownSpeech(options)
    book = Skeleton(sections=[Section(first, range(1), speech.paragraphs)])
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


def _complete_blocks(tokens: Sequence[Token], lines: Lines, start: int, end: int) -> int:
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


def _note(book: Skeleton, tokens: Sequence[Token], index: int, start: int, seen: bool) -> bool:
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
        book.headings.append(Heading(line, int(token.tag[1]), tokens[index + 1].content, seen))
        return False
    elif token.type == "front_matter":
        book.front_matter.append(token.content)
    return seen or (token.level == 0 and token.type in _CONTENT_TOKENS)


def _speak(
    book: Skeleton, tokens: list[Token], window: int, speech: MarkdownSpeech, options: ParseOptions
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
            section = Section(line, range(window, window + 1), speech.paragraphs)
            book.sections.append(section)
            begin = index + 3  # after open, inline, close
    speech.feed(tokens[begin:])
    section.html_depth = speech.html_depth
    return speech


def set_titles(book: Skeleton) -> None:
    """Heading titles, parsed as inline Markdown with every definition known."""
    env = book.env()
    parser = mdparse.parser(True, "titles")
    for heading in book.headings:
        heading.title = heading_title(parser.parseInline(heading.source, env)[0])
        heading.source = ""


def reread(
    lines: Lines, book: Skeleton, span: range, heading: bool, depth: int, options: ParseOptions
) -> Section:
    """A section parsed again, in its pass 1 windows, with every definition known."""
    cuts = book.cuts
    edges = cuts[bisect.bisect_right(cuts, span.start) : bisect.bisect_left(cuts, span.stop)]
    speech = MarkdownSpeech(options, depth)
    for begin, stop in zip([span.start, *edges], [*edges, span.stop], strict=True):
        env = book.env()
        tokens = mdparse.inline(mdparse.blocks(lines.source(begin, stop), begin == 0, env), env)
        speech.feed(tokens[3:] if heading and begin == span.start else tokens)
    return Section(span.start, range(0), speech.paragraphs, speech.html_depth)
