"""Hostile text: paragraphs built to make a parser or a pattern rescan them, and nesting
deeper than markdown-it reads. Each must be said, in about one pass, and nothing dropped.

Each hostile document below took minutes or hours before its fix (the work grew with the
square of its size) and takes well under a second now; the timeouts are generous so only a
return of the quadratic behaviour can trip them. A size is the smallest at which the old
code was far past its timeout, noted beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from narrator.errors import DocumentError
from narrator.reading.chapters import load_book, split_markdown
from narrator.settings import ParseOptions
from tests.helpers import time_limit

SENTINEL = "The first paragraph is plain prose."
KB = 1024

# (suffix, body): the body follows SENTINEL as its own paragraph.
HOSTILE: dict[str, tuple[str, Callable[[], str]]] = {
    # _URL tried its scheme from every word start: "a.a.a..." with "://" in the paragraph.
    "url scheme": (".txt", lambda: "see ://x " + "a." * (100 * KB)),
    # _FOOTNOTE_MARK scanned from every "[^" to the end; 200 KB took over a minute.
    "footnote marks in plain text": (".txt", lambda: "[^" * (100 * KB)),
    # The footnote plugin looked for a label's end from every "[^": 100 KB, over 30 s.
    "footnote marks in markdown": (".md", lambda: "[^" * (50 * KB)),
    # _HTML_TAG's lazy "[^>]*?" ran to the end from every "<a" in a raw HTML block.
    "unclosed tags in html": (".md", lambda: "<div\n" + "<a" * (512 * KB)),
    # _LOOSE_UNDERSCORE tried "_+(?!\w)" from every underscore of a run inside a word.
    "underscores inside a word": (".md", lambda: "a" + "_" * (100 * KB) + "a"),
    # Contents-list runs compared each heading with every earlier one in the run: 200 KB, > 30 s.
    "a contents list": (".txt", lambda: "".join(f"Chapter {n}\n" for n in range(20_000))),
    # Each contents list looked for its label back through every list before it: 1 MB, > 60 s.
    "repeated contents lists": (".txt", lambda: "Chapter 1\nChapter 2\nChapter 3\n" * 35_000),
    # Each caption searched and copied its whole line again: 1.6 MB took about 20 s.
    "illustrations on one line": (".txt", lambda: "word " * (200 * KB) + "[Illustration]" * 40_000),
}


@time_limit(8)
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_paragraph_is_read_in_about_one_pass(tmp_path: Path, name: str) -> None:
    suffix, body = HOSTILE[name]
    path = tmp_path / f"hostile{suffix}"
    path.write_text(f"{SENTINEL}\n\n{body()}\n", encoding="utf-8")
    book = load_book(path, ParseOptions())
    assert book.chapters[0].text.split("\n")[1] == SENTINEL


@time_limit(8)
def test_latex_like_macros_without_closing_braces_are_read_in_one_pass(tmp_path: Path) -> None:
    # _LATEX_MACRO scanned on for "}" from every backslash: 300 KB took about 20 s.
    path = tmp_path / "macros.md"
    path.write_text("\\a{ " * (75 * KB) + "\n\nLast words.\n", encoding="utf-8")
    assert load_book(path, ParseOptions()).chapters[0].text.endswith("Last words.")


def test_macros_and_tags_are_still_removed_as_before() -> None:
    text = (
        "# T\n\nThe ratio \\frac{1}{2} and \\sqrt[3]{x} stay out. A <span>tag</span> goes, "
        "a <br/> breaks, and a [^note] mark too: see www.example.com now.\n"
    )
    assert split_markdown(text, "t.md", ParseOptions()).chapters[0].text == (
        "T.\nThe ratio and stay out. A tag goes, a breaks, and a mark too: see now."
    )


# --- nesting deeper than markdown-it's limit --------------------------------------------------


def chapter_text(markdown: str) -> str:
    return "\n".join(c.text for c in split_markdown(markdown, "deep.md", ParseOptions()).chapters)


@pytest.mark.parametrize("depth", [19, 20, 30, 200, 5_000])
def test_deeply_nested_quotes_are_narrated(depth: int) -> None:
    text = chapter_text(f"# Title\n\nBefore.\n\n{'> ' * depth}deep *quoted* words\n\nAfter.\n")
    assert text == "Title.\nBefore.\ndeep quoted words.\nAfter."


@pytest.mark.parametrize("depth", [9, 10, 30, 200])
def test_deeply_nested_lists_are_narrated(depth: int) -> None:
    one_line = chapter_text(f"# Title\n\n{'- ' * depth}deep listed words\n")
    assert one_line == "Title.\ndeep listed words."
    indented = "".join(f"{'  ' * level}- item {level}\n" for level in range(depth))
    text = chapter_text(f"# Title\n\n{indented}\nAfter.\n")
    assert text.split("\n") == ["Title.", *(f"item {n}." for n in range(depth)), "After."]


def test_deep_quotes_across_many_windows_are_each_said_once() -> None:
    # More lines than one parse window holds: each deep block is cut and read whole.
    markdown = "# T\n\n" + "".join(f"{'> ' * 25}word{n} here.\n\n" for n in range(2_200))
    lines = chapter_text(markdown).split("\n")
    assert lines == ["T.", *(f"word{n} here." for n in range(2_200))]


def test_a_deep_quote_in_a_section_read_again_is_narrated() -> None:
    # The link is defined after its use, so the section is parsed a second time.
    markdown = f"# T\n\n{'> ' * 40}see [the site][s] now\n\n[s]: https://example.com\n"
    assert chapter_text(markdown) == "T.\nsee the site now."


def test_nothing_to_say_in_a_deep_quote_is_still_a_document_error() -> None:
    with pytest.raises(DocumentError, match="nothing to narrate"):
        chapter_text(">" * 5_000 + " ***\n")
