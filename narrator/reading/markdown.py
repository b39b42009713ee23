"""Split Markdown into chapters: which headings start one, and what is metadata, not text.

Markdown structure comes only from the token stream, so a ``#`` inside fenced code can never
start a chapter. :mod:`narrator.reading.mdwindows` reads the document a window at a time
(pass 1); pass 2, here, decides the chapters and joins their sections' speech, having a
section read again only where pass 1 could not know how to say it. What a chapter says is
the job of :mod:`narrator.reading.speech_text`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from narrator.reading.book import Book
from narrator.reading.drafts import META_LINE, Draft, normalised, stem
from narrator.reading.mdwindows import Heading, Lines, Skeleton, read_windows, reread, set_titles
from narrator.reading.speech_text import finish_paragraph
from narrator.settings import ParseOptions

# fmt: off
_META_KEYS = frozenset((
    "title", "subtitle", "author", "authors", "translator", "editor", "illustrator", "year",
    "date", "published", "publisher", "language", "source", "license",
))
# fmt: on


def split_markdown(text: str, name: Path | str, options: ParseOptions) -> Book:
    """Split Markdown at its chapter headings; see design.md "Chapters" for the rules."""
    return split_markdown_lines(Lines(normalised(text, name)), name, options)


def split_markdown_lines(lines: Lines, name: Path | str, options: ParseOptions) -> Book:
    """:func:`split_markdown` of a document already held as :class:`Lines` (and so never
    held as a str beside them)."""
    draft = Draft(Path(name))
    first = _take_leading_metadata(lines, draft.meta)
    book = read_windows(lines, first, options)
    for block in book.front_matter:
        draft.meta.update(_simple_yaml(block))
        _take_description(block, draft)
    set_titles(book)
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


def _take_leading_metadata(lines: Lines, meta: dict[str, str]) -> int:
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


# YAML values that are not text: null, booleans, numbers, and flow or block collections.
_NULL = re.compile(r"~|null|Null|NULL")
_NOT_TEXT = re.compile(
    r"true|True|TRUE|false|False|FALSE|[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
    r"|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[\[{].*"
)
_BLOCK_SCALAR = re.compile(r"([|>])[-+]?\d?")
_DESCRIPTION = re.compile(r"description:(?:[ \t]+(.*))?", re.IGNORECASE)


def _take_description(block: str, draft: Draft) -> None:
    """``description:`` of front matter as plain text, written as the files' comment.

    Unlike the one-line keys it may be a block scalar (``>`` or ``|``) or run over indented
    lines, as summaries often do. A value that is not text (a list, a number) is left out
    with a warning, not shown to players as a description.
    """
    draft.meta.pop("description", None)
    lines = block.split("\n")
    found = [(n, m) for n, line in enumerate(lines) if (m := _DESCRIPTION.fullmatch(line.rstrip()))]
    if not found:
        return
    number, match = found[-1]  # as YAML readers do, the last of a repeated key wins
    body = []
    for line in lines[number + 1 :]:
        if line.strip() and not line[:1].isspace():
            break
        body.append(line)
    text = _yaml_text((match.group(1) or "").strip(), body)
    if text is None:
        draft.warnings.append("front matter: 'description' is not text; ignored")
    elif text:
        draft.meta["description"] = text


def _yaml_text(value: str, body: list[str]) -> str | None:
    """The text of a YAML value whose first line is ``value`` and whose indented further
    lines are ``body``; "" for null or empty, None when the value is not text."""
    rest = [line.strip() for line in body]
    if _BLOCK_SCALAR.fullmatch(value):
        if value[0] == "|":
            return "\n".join(rest).strip()
        paragraphs = "\n".join(rest).strip().split("\n\n")
        return "\n".join(" ".join(p.split()) for p in paragraphs)
    first = next((line for line in rest if line), "")
    if not value:
        if first.startswith("- ") or first == "-" or META_LINE.match(first):
            return None  # a list or a mapping under the key
    elif _NULL.fullmatch(value):
        return ""
    elif _NOT_TEXT.fullmatch(value):
        return None
    if value[:1] not in "'\"":
        value = re.split(r"\s#", value, maxsplit=1)[0]
    return _unquote(" ".join(" ".join([value, *rest]).split()))


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value.strip()


def _metadata_match(heading: Heading) -> tuple[str, str] | None:
    match = META_LINE.fullmatch(heading.title)
    if match and match.group(1).lower() in _META_KEYS and match.group(2).strip():
        return match.group(1).lower(), match.group(2).strip()
    return None


def _drop_metadata_headings(headings: list[Heading], meta: dict[str, str]) -> list[Heading]:
    """``# Title: X`` / ``## Author: Y`` headings at the top, before any text, are metadata."""
    for count, heading in enumerate(headings):
        pair = _metadata_match(heading)
        if pair is None or heading.after_content:
            return headings[count:]
        meta.setdefault(*pair)
    return []


def _split_level(headings: Sequence[Heading], override: int | None) -> tuple[int, Heading | None]:
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
    lines: Lines,
    book: Skeleton,
    starts: set[int],
    skip: set[int],
    book_title: str,
    options: ParseOptions,
) -> None:
    """Pass 2: chapters from the sections' speech, each section read again if pass 1 could
    not know how to say it (a definition further on, raw HTML left open before a heading
    that is not spoken)."""
    stale = book.stale_windows()
    chapter: Heading | None = None
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
            section = reread(lines, book, span, heading is not None, depth, options)
        paragraphs.extend(section.paragraphs)
        depth = section.html_depth
    _add_chapter(draft, chapter, paragraphs, book_title)


def _add_chapter(
    draft: Draft, heading: Heading | None, paragraphs: list[str], book_title: str
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
