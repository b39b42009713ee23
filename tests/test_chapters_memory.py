"""Markdown is split a window of lines at a time, and each chapter said on its own.

These documents put what a whole-document parse gets for free across chapter and window
boundaries: link and footnote definitions in another chapter than their uses, raw HTML left
open across a heading that is not spoken, a fence and a setext heading cut by a window's end.
"""

from __future__ import annotations

import pytest

from narrator.reading import mdwindows
from narrator.reading.book import Book
from narrator.reading.chapters import split_markdown
from narrator.settings import ParseOptions

DEFINITIONS_ELSEWHERE = """\
# One

See [the guide][guide] and [Home] first.[^later] Then [missing][nowhere].

[^early]: An early note, never said where it stands.

[home]: #home

# Two[^early]

Two cites a note[^early] and [guide][] and [^later][home].

| Where | Link |
|-------|------|
| [Home] | [guide] |

[guide]: https://example.org/guide "The guide"

[^later]: A later note.

# Three

[Home] [Two](#two)
"""

HTML_ACROSS_THE_TITLE = """\
## A

<div>

# Book

Still hidden.

</div>

Shown.

## B

B text.
"""


def _chapters(book: Book) -> list[tuple[str, str]]:
    return [(chapter.title, chapter.text) for chapter in book.chapters]


def _whole(text: str, monkeypatch: pytest.MonkeyPatch) -> Book:
    """The document parsed as one window: markdown-it's whole-document token stream."""
    with monkeypatch.context() as patch:
        patch.setattr(mdwindows, "_WINDOW_LINES", 10**9)
        patch.setattr(mdwindows, "_WINDOW_BYTES", 10**12)
        return split_markdown(text, "whole.md", ParseOptions())


@pytest.mark.parametrize("window", [4_000, 3, 1])
def test_definitions_in_another_chapter_still_resolve(
    window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mdwindows, "_WINDOW_LINES", window)
    book = split_markdown(DEFINITIONS_ELSEWHERE, "notes.md", ParseOptions())
    assert _chapters(book) == [
        ("One", "One.\nSee the guide and Home first. Then [missing][nowhere]."),
        # "[^early]" is a footnote reference, so no part of the title; "[^later][home]" is
        # a link whose text is "^later", as in the whole document.
        ("Two", "Two.\nTwo cites a note and guide and ^later.\nWhere: Home, Link: guide."),
    ]
    # Both links go to "#...", the second definition of "home" among them: navigation.
    assert book.warnings == ("heading 'Three' (line 21) has nothing to narrate; skipped",)


@pytest.mark.parametrize("window", [4_000, 2])
def test_html_left_open_across_an_unspoken_heading(
    window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mdwindows, "_WINDOW_LINES", window)
    book = split_markdown(HTML_ACROSS_THE_TITLE, "html.md", ParseOptions())
    assert book.title == "Book"
    assert _chapters(book) == [("A", "A.\nShown."), ("B", "B.\nB text.")]


def _long_book() -> tuple[str, list[str]]:
    """20,000 lines: a fence across line 4,000 and a setext heading just past the second
    window; returns the text and its chapter titles in order."""
    lines: list[str] = []
    titles: list[str] = []

    def fill(until: int) -> None:
        while len(lines) < until - 1:
            if len(lines) >= 1_000 * len(titles) and len(lines) < until - 3:
                titles.append(f"Chapter {len(titles) + 1}")
                lines.extend([f"# {titles[-1]}", ""])
            lines.extend([f"Line {len(lines)} of the story.", ""])
        lines.extend([""] * (until - len(lines)))

    fill(3_990)
    lines.extend(["```", *["# not a heading", "    code();"] * 10, "```", ""])
    fill(7_989)
    titles.append("A setext chapter")
    lines.extend([titles[-1], "================", ""])
    fill(20_000)
    return "\n".join(lines) + "\n", titles


def test_a_book_longer_than_a_window_splits_as_a_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    text, titles = _long_book()
    lines = mdwindows.Lines(text)
    # The first window ends inside the fence, the second between a setext heading's lines.
    assert mdwindows.read_windows(lines, 0, ParseOptions()).cuts[:2] == [3_990, 7_989]
    book = split_markdown(text, "long.md", ParseOptions())
    assert [chapter.title for chapter in book.chapters] == titles
    said = [chapter.text for chapter in book.chapters]
    assert not any("heading" in text or "code" in text for text in said)
    assert said[3].endswith("\nLine 3988 of the story.")  # then the fence: nothing to say
    assert said[8].startswith("A setext chapter.\nLine 7992 of the story.\n")
    assert _chapters(book) == _chapters(_whole(text, monkeypatch))


@pytest.mark.parametrize("window", [997, 50])
def test_window_boundaries_anywhere_give_the_same_book(
    window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, _ = _long_book()
    expected = _chapters(_whole(text, monkeypatch))
    monkeypatch.setattr(mdwindows, "_WINDOW_LINES", window)
    assert _chapters(split_markdown(text, "long.md", ParseOptions())) == expected
