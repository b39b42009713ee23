"""The markdown-it parsers narrator reads with, hardened against hostile documents.

A document is untrusted input read before anything is paid for, so no paragraph may cost
more than a pass over it, and no text may be lost without being said: markdown-it drops
everything nested deeper than its ``maxNesting`` (20 levels), which :func:`blocks` narrates
instead as plain paragraphs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Literal

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline, image, link
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.footnote.index import footnote_inline, footnote_ref
from mdit_py_plugins.front_matter import front_matter_plugin

_MAX_LABEL = 999  # as CommonMark's link labels
# Openers whose content markdown-it parses one level deeper, in a call that returns at once
# when that level is its maxNesting: their text is gone from the token stream.
_CONTAINERS = frozenset(("blockquote_open", "list_item_open", "footnote_reference_open"))
# Quote and list markers at the start of a line, however many: what deep nesting is made of.
_CONTAINER_MARKS = re.compile(r"(?:[ \t]*(?:>|[-+*](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$)))*[ \t]*")

InlineRule = Callable[[StateInline, bool], bool]


def markdown_parser() -> MarkdownIt:
    """CommonMark plus the GitHub extensions that real documents use (tables, footnotes)."""
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    parser.use(front_matter_plugin).use(footnote_plugin)
    parser.inline.ruler.at("footnote_ref", _footnote_ref)
    # Each "[" tries a label nested up to maxNesting deep before it fails: on "[[[[..." or
    # "![![![..." that is some twenty steps a character. With no "]" ahead none can succeed.
    for name, rule, opener in (
        ("link", link, "["),
        ("image", image, "!["),
        ("footnote_inline", footnote_inline, "^["),
    ):
        parser.inline.ruler.at(name, _needs_close(rule, opener))
    return parser


@functools.cache
def parser(at_start: bool, phase: Literal["blocks", "inline", "titles"]) -> MarkdownIt:
    """One phase of the document's parser; front matter only at the top of the file."""
    md = markdown_parser()
    if not at_start:
        md.disable("front_matter")
    if phase == "blocks":
        md.core.ruler.enableOnly(["normalize", "block"])
        md.options["inline_definitions"] = True  # link definitions become tokens
    elif phase == "inline":
        md.core.ruler.enableOnly(["inline", "footnote_tail", "text_join"])
    elif phase == "titles":
        md.core.ruler.disable("footnote_tail")  # nothing to move: one inline token each
    return md


def blocks(source: str, at_start: bool, env: dict[str, Any]) -> list[Token]:
    """The block phase of ``source``; text nested too deep for markdown-it comes back as
    plain paragraphs in place of its top-level block, still to be parsed inline."""
    md = parser(at_start, "blocks")
    tokens = md.parse(source, env)
    deepest = md.options["maxNesting"] - 1
    if not any(_lost(token, deepest) for token in tokens):
        return tokens
    return _flatten_deep(tokens, source.split("\n"), deepest)


def inline(tokens: list[Token], env: dict[str, Any]) -> list[Token]:
    """The inline phase over tokens from :func:`blocks`, run apart from the block phase so
    that what markdown-it dropped is put back before any inline rule sees it."""
    state = StateCore("", parser(True, "inline"), env, tokens)
    state.md.core.process(state)
    return state.tokens


def _flatten_deep(tokens: list[Token], lines: list[str], deepest: int) -> list[Token]:
    """Each top-level block that lost text is said from its source lines instead: the
    nesting is layout a voice cannot render anyway, the words are what must not go."""
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        end = index
        if tokens[index].nesting == 1:  # to its closer: the next level 0 token that closes
            closers = (j for j in range(index + 1, len(tokens)) if tokens[j].level == 0)
            end = next(closers, len(tokens) - 1)
        block = tokens[index : end + 1]
        index = end + 1
        if block[0].map and any(_lost(token, deepest) for token in block):
            out.extend(_plain_paragraphs(lines, block[0].map))
        else:
            out.extend(block)
    return out


def _lost(token: Token, deepest: int) -> bool:
    """A container opened at markdown-it's last level: its content was never parsed."""
    return token.level >= deepest and token.nesting == 1 and token.type in _CONTAINERS


def _plain_paragraphs(lines: list[str], where: list[int]) -> list[Token]:
    """A block's lines without quote and list markers, a paragraph per item or blank line.

    Only the first paragraph has a map (the block's): the window logic sees one block.
    """
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in lines[where[0] : where[1]]:
        marks = _CONTAINER_MARKS.match(line)
        prefix = marks.group() if marks else ""
        text = line[len(prefix) :]
        if not text.strip() or prefix.strip(" \t>"):  # a blank line, or a new list item
            current = []
        if text.strip():
            if not current:
                paragraphs.append(current)
            current.append(text)
    tokens: list[Token] = []
    for paragraph in paragraphs:
        tokens += [
            Token("paragraph_open", "p", 1, map=None if tokens else where, block=True),
            Token("inline", "", 0, level=1, content="\n".join(paragraph), block=True),
            Token("paragraph_close", "p", -1, block=True),
        ]
    return tokens


def _footnote_ref(state: StateInline, silent: bool) -> bool:
    """The plugin's ``[^label]`` rule, refusing early what it would refuse after a scan.

    The plugin looks for the label's end from every ``[^``: on "[^[^[^..." that rescans the
    rest of the paragraph each time.
    """
    start = state.pos
    if not state.src.startswith("[^", start):
        return False
    end = _LABEL_ENDS.after(state.src, start + 2)
    if not start + 2 <= end < min(state.posMax, start + 3 + _MAX_LABEL) or state.src[end] != "]":
        return False
    return footnote_ref(state, silent)


class _NextStop:
    """Where a pattern next matches, remembered: every attempt in a paragraph that shares
    one stop costs nothing after the first, so a paragraph is searched about once."""

    def __init__(self, pattern: str) -> None:
        self._pattern = re.compile(pattern)
        self._memo: tuple[str, int, int] = ("", 0, -1)  # text, from, stop (-1: none)

    def after(self, text: str, position: int) -> int:
        # One tuple, read and replaced whole: a parser on another thread only misses it.
        seen, start, stop = self._memo
        if seen is text and start <= position and (stop < 0 or position <= stop):
            return stop
        match = self._pattern.search(text, position)
        stop = match.start() if match else -1
        self._memo = (text, position, stop)
        return stop


_LABEL_ENDS = _NextStop(r"[ \n\]]")  # what ends a footnote label, well or badly


#: Farthest a link's closing bracket may be: CommonMark caps a link label at 999 characters,
#: and no real link text comes near it. Without a cap, a paragraph of a million "[" keeps
#: markdown-it trying a link at each of them (linear, but some 17 s a megabyte).
MAX_BRACKET_SPAN = 1000


def _needs_close(rule: InlineRule, opener: str) -> InlineRule:
    closes = _NextStop(r"\]")

    def guarded(state: StateInline, silent: bool) -> bool:
        if state.src.startswith(opener, state.pos):
            close = closes.after(state.src, state.pos)
            if close < 0 or close >= state.posMax or close - state.pos > MAX_BRACKET_SPAN:
                return False
        return rule(state, silent)

    return guarded
