"""Plain text split into chapters by heading lines.

Plain text has no syntax, so chapter headings are recognised line by line with the
conservative patterns real books use. What each chapter says is the job of
:mod:`narrator.reading.speech_text`; the draft it fills, of :mod:`narrator.reading.drafts`;
:mod:`narrator.reading.chapters` (which re-exports :func:`split_plain_text`) picks the splitter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from narrator.reading.book import Book
from narrator.reading.drafts import META_LINE, Draft, normalised, stem
from narrator.reading.speech_text import finish_paragraph, remove_illustrations, speak_plain
from narrator.settings import ParseOptions

_ROMAN = r"(?=[IVXLCDM])M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_NUMBER_WORDS = (
    "ONE|TWO|THREE|FOUR|FIVE|SIX|SEVEN|EIGHT|NINE|TEN|ELEVEN|TWELVE|THIRTEEN|FOURTEEN|"
    "FIFTEEN|SIXTEEN|SEVENTEEN|EIGHTEEN|NINETEEN|TWENTY|FIRST|SECOND|THIRD|FOURTH|FIFTH|"
    "SIXTH|SEVENTH|EIGHTH|NINTH|TENTH|LAST"
)
_KEYWORD_HEADING = re.compile(
    rf"(?:CHAPTER|Chapter|LETTER|Letter|BOOK|Book|PART|Part|VOLUME|Volume|STAVE|Stave)"
    rf" (?:{_ROMAN}|\d+|(?i:{_NUMBER_WORDS}))\.?(?:(?:[.:]| [-–—]) \S.*)?"
)
# "IX. THE ADVENTURE OF THE ENGINEER'S THUMB": a numeral and a title in capitals. A bare
# "I." is a sub-part (or the wrapped end of a sentence), never a chapter.
_ROMAN_CAPS_HEADING = re.compile(rf"{_ROMAN}\. (?=.*[A-Z])[^a-z]+")
_GUTENBERG_START = re.compile(r"\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG", re.I)
_GUTENBERG_END = re.compile(r"\*\*\* ?END OF (?:THE|THIS) PROJECT GUTENBERG", re.I)
_THE_END = re.compile(r"(?i:THE END|FINIS)\.?")
_CONTENTS_LABEL = re.compile(r"(?i:(?:table of )?contents)\.?:?")
_TOC_RUN = 3  # this many headings in a row with no prose between them are a contents list


def is_plain_heading(line: str) -> bool:
    """A chapter heading line in plain text: never indented (contents lists are)."""
    if line != line.lstrip() or not line.strip():
        return False
    line = line.rstrip()
    return bool(_KEYWORD_HEADING.fullmatch(line) or _ROMAN_CAPS_HEADING.fullmatch(line))


def split_plain_text(text: str, name: Path | str, options: ParseOptions) -> Book:
    """Split plain text at chapter-heading lines, after dropping Gutenberg's wrapper."""
    draft = Draft(Path(name))
    lines = normalised(text, name).split("\n")
    first, lines = _strip_gutenberg(lines, draft.meta)
    lines = _drop_back_matter(remove_illustrations(lines, keep=_caption_to_keep), draft)
    headings = _plain_headings(lines, draft, first)  # blanks contents lists in place
    title = draft.meta.get("title") or stem(name)
    gutenberg = first > 0
    starts = [number for number, _ in headings]
    intro = speak_plain(lines[: starts[0]] if starts else lines)
    if intro and gutenberg and starts:
        draft.warnings.append(
            f"front matter before {headings[0][1]!r} (lines {first + 1}-{first + starts[0]}) "
            "is the edition's, not the book's; skipped"
        )
    elif intro:
        draft.add_intro(title, intro)
    for number, (start, heading) in enumerate(headings):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        body = speak_plain(lines[start + _heading_height(lines, start) : end])
        spoken = finish_paragraph(heading)
        if body and spoken:
            draft.add(heading, [spoken, *body])
        else:
            draft.warnings.append(
                f"heading {heading!r} (line {first + start + 1}) has nothing to narrate; skipped"
            )
    return draft.build(title)


def _strip_gutenberg(lines: list[str], meta: dict[str, str]) -> tuple[int, list[str]]:
    """Drop the Project Gutenberg header and licence; return the body and its first line."""
    start = next((i for i, line in enumerate(lines) if _GUTENBERG_START.match(line)), None)
    if start is None:
        return 0, lines
    for line in lines[:start]:
        match = META_LINE.fullmatch(line.strip())
        if match and match.group(1).lower() in ("title", "author"):
            meta.setdefault(match.group(1).lower(), match.group(2).strip())
    end = next(
        (i for i, line in enumerate(lines) if i > start and _GUTENBERG_END.match(line)),
        len(lines),
    )
    return start + 1, lines[start + 1 : end]


def _caption_to_keep(caption: list[str]) -> str | None:
    """Pride and Prejudice hides "Chapter I." and "THE END" in illustration captions."""
    if caption and is_plain_heading(caption[-1]):
        return caption[-1]
    if _THE_END.fullmatch(" ".join(caption)):
        return "THE END"
    return None


def _drop_back_matter(lines: list[str], draft: Draft) -> list[str]:
    """After the last "THE END" come a printer's imprint or advertisements, not the book."""
    ends = [number for number, line in enumerate(lines) if _THE_END.fullmatch(line.strip())]
    if not ends or not any(line.strip() for line in lines[ends[-1] + 1 :]):
        return lines
    draft.warnings.append("text after 'THE END' is back matter; skipped")
    return lines[: ends[-1] + 1]


def _title_line(lines: Sequence[str], number: int) -> str | None:
    """The short line right under ``CHAPTER I.`` that names the chapter, if there is one."""
    if number + 1 >= len(lines):
        return None
    candidate = lines[number + 1].strip()
    after = lines[number + 2].strip() if number + 2 < len(lines) else ""
    if not candidate or after or len(candidate) > 80 or candidate[-1] in ".,;:":
        return None
    if lines[number + 1] != lines[number + 1].lstrip() or is_plain_heading(candidate):
        return None
    return candidate


def _heading_height(lines: Sequence[str], number: int) -> int:
    return 2 if _title_line(lines, number) else 1


def _plain_headings(lines: list[str], draft: Draft, first: int) -> list[tuple[int, str]]:
    """Heading lines that stand alone; runs of them with no prose between are a contents list.

    Runs are found among all heading-like lines, standing alone or not, because a contents
    list is often set without blank lines; its lines are blanked so they are not read either.
    """
    candidates = [number for number, line in enumerate(lines) if is_plain_heading(line)]
    runs: list[list[int]] = []
    keys: set[str] = set()  # the last run's headings, so a long run is checked in one pass
    for number in candidates:
        # A run goes on while no prose comes between, and not at a second "CHAPTER I": a
        # contents list names each chapter once, so a repeat is the real first chapter.
        key = _heading_key(lines[number])
        if runs and key not in keys and not _prose_between(lines, runs[-1][-1], number):
            runs[-1].append(number)
        else:
            runs.append([number])
            keys.clear()
        keys.add(key)
    headings = []
    floor = 0  # where the last contents list ended: its label was looked for before it
    for run in runs:
        if len(run) >= _TOC_RUN:
            _blank_contents(lines, run, draft, first, floor)
            floor = run[-1] + 1
            continue
        for number in filter(lambda n: _stands_alone(lines, n), run):
            title = _title_line(lines, number)
            headings.append((number, lines[number].strip() + (f" {title}" if title else "")))
    return headings


def _stands_alone(lines: Sequence[str], number: int) -> bool:
    """After a blank line; a numeral-and-capitals line must also be followed by one."""
    if number > 0 and lines[number - 1].strip():
        return False
    if _KEYWORD_HEADING.fullmatch(lines[number].rstrip()):
        return True
    return number + 1 >= len(lines) or not lines[number + 1].strip()


def _blank_contents(
    lines: list[str], run: Sequence[int], draft: Draft, first: int, floor: int
) -> None:
    draft.warnings.append(
        f"lines {first + run[0] + 1}-{first + run[-1] + 1} look like a table of contents; not read"
    )
    for number in run:
        height = _heading_height(lines, number)
        lines[number : number + height] = [""] * height
    label = next((n for n in range(run[0] - 1, floor - 1, -1) if lines[n].strip()), None)
    if label is not None and _CONTENTS_LABEL.fullmatch(lines[label].strip()):
        lines[label] = ""


def _heading_key(line: str) -> str:
    words = line.split()[: 2 if _KEYWORD_HEADING.fullmatch(line.strip()) else 1]
    return " ".join(words).upper().rstrip(".")


def _prose_between(lines: Sequence[str], first: int, second: int) -> bool:
    start = first + _heading_height(lines, first)
    return any(line.strip() for line in lines[start:second])
