"""Plain-text splitting: the four Project Gutenberg books and small inline cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from narrator.errors import DocumentError
from narrator.reading.book import Book
from narrator.reading.chapters import is_plain_heading, split_plain_text
from narrator.settings import ParseOptions
from tests.conftest import CorpusBook

ONES = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"]
TENS = ["", "X", "XX", "XXX", "XL", "L", "LX"]
ROMAN = [TENS[n // 10] + ONES[n % 10] for n in range(1, 62)]

ALICE = [
    "Down the Rabbit-Hole",
    "The Pool of Tears",
    "A Caucus-Race and a Long Tale",
    "The Rabbit Sends in a Little Bill",
    "Advice from a Caterpillar",
    "Pig and Pepper",
    "A Mad Tea-Party",
    "The Queen’s Croquet-Ground",
    "The Mock Turtle’s Story",
    "The Lobster Quadrille",
    "Who Stole the Tarts?",
    "Alice’s Evidence",
]
HOLMES = [
    "A SCANDAL IN BOHEMIA",
    "THE RED-HEADED LEAGUE",
    "A CASE OF IDENTITY",
    "THE BOSCOMBE VALLEY MYSTERY",
    "THE FIVE ORANGE PIPS",
    "THE MAN WITH THE TWISTED LIP",
    "THE ADVENTURE OF THE BLUE CARBUNCLE",
    "THE ADVENTURE OF THE SPECKLED BAND",
    "THE ADVENTURE OF THE ENGINEER’S THUMB",
    "THE ADVENTURE OF THE NOBLE BACHELOR",
    "THE ADVENTURE OF THE BERYL CORONET",
    "THE ADVENTURE OF THE COPPER BEECHES",
]


def all_text(book: Book) -> str:
    return "\n".join(chapter.text for chapter in book.chapters)


def test_roman_list_is_right() -> None:
    assert len(ROMAN) == 61 and ROMAN[45] == "XLVI" and ROMAN[-1] == "LXI"


def test_alice_has_twelve_chapters_not_its_contents(corpus_book: CorpusBook) -> None:
    book = corpus_book("szmktk_pg11.txt")
    assert (book.title, book.author) == ("Alice's Adventures in Wonderland", "Lewis Carroll")
    expected = [f"CHAPTER {n}. {t}" for n, t in zip(ROMAN, ALICE, strict=False)]
    assert [c.title for c in book.chapters] == expected
    assert [c.index for c in book.chapters] == list(range(1, 13))
    first = book.chapters[0].text
    assert first.startswith("CHAPTER One. Down the Rabbit-Hole.\nAlice was beginning to get very")
    assert book.chapters[-1].text.endswith("the happy summer days.\nTHE END.")
    text = all_text(book)
    assert "*" not in text and "_" not in text
    assert "[Illustration" not in text and "Contents" not in text


def test_holmes_has_twelve_stories_and_no_sub_part_numerals(corpus_book: CorpusBook) -> None:
    book = corpus_book("davidharlyrp_pg1661.txt")
    assert (book.title, book.author) == ("The Adventures of Sherlock Holmes", "Arthur Conan Doyle")
    assert [c.title for c in book.chapters] == [
        f"{n}. {t}" for n, t in zip(ROMAN, HOLMES, strict=False)
    ]
    first = book.chapters[0].text.split("\n")
    assert first[:2] == [
        "ONE. A SCANDAL IN BOHEMIA.",  # the heading's numeral is said as a number
        first[1],
    ] and first[1].startswith("To Sherlock Holmes she is always the woman.")
    assert "\nI.\n" not in all_text(book) and "\nII.\n" not in all_text(book)
    # The wrapped "...said / I." at line 1505 stays inside its sentence.
    assert "said I." in book.chapters[1].text


def test_frankenstein_has_four_letters_and_24_chapters(corpus_book: CorpusBook) -> None:
    book = corpus_book("vyjayanv_pg84.txt")
    assert book.author == "Mary Wollstonecraft Shelley"
    expected = [f"Letter {n}" for n in range(1, 5)] + [f"Chapter {n}" for n in range(1, 25)]
    assert [c.title for c in book.chapters] == expected
    assert book.chapters[0].text.startswith("Letter 1.\nTo Mrs. Saville, England.\n")
    last = book.chapters[-1].text
    assert "Walton, in continuation." in last  # the unheaded section stays in chapter 24
    assert last.endswith("lost in darkness and distance.")


def test_pride_and_prejudice_finds_chapter_one_in_a_caption(corpus_book: CorpusBook) -> None:
    book = corpus_book("szmktk_pg1342.txt")
    assert (book.title, book.author) == ("Pride and Prejudice", "Jane Austen")
    titles = [c.title for c in book.chapters]
    assert len(titles) == 61
    assert titles[0] == "Chapter I."
    assert titles[45] == "Chapter XLVI."
    assert titles[12] == "CHAPTER XIII"  # no period in this edition
    expected = [f"CHAPTER {n}." for n in ROMAN]
    expected[0], expected[45], expected[12], expected[13] = (
        "Chapter I.",
        "Chapter XLVI.",
        "CHAPTER XIII",
        "CHAPTER XIV",
    )
    assert titles == expected
    assert book.chapters[0].text.startswith(
        "Chapter One.\nIt is a truth universally acknowledged, that a single man"
    )
    text = all_text(book)
    assert "Heading to Chapter" not in text  # the list of illustrations
    assert "CHISWICK PRESS" not in text  # the printer's imprint after THE END
    assert "He came down to see the place" not in text  # a caption
    assert book.chapters[-1].text.endswith("the means of uniting them.\nTHE END.")


@pytest.mark.parametrize(
    "name", ["szmktk_pg11.txt", "davidharlyrp_pg1661.txt", "vyjayanv_pg84.txt", "szmktk_pg1342.txt"]
)
def test_gutenberg_header_and_licence_are_not_read(corpus_book: CorpusBook, name: str) -> None:
    text = all_text(corpus_book(name))
    for junk in ("Gutenberg", "START OF", "END OF THE", "www.", "://", "Release date", "License"):
        assert junk not in text


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("CHAPTER I.", True),
        ("Chapter 12", True),
        ("Letter 1", True),
        ("CHAPTER IV. The Title", True),
        ("I. A SCANDAL IN BOHEMIA", True),
        ("IX. THE ADVENTURE OF THE ENGINEER’S THUMB", True),
        ("BOOK TWO", True),
        ("PART 3", True),
        ("VOLUME I", True),
        ("I.", False),
        (" CHAPTER I.     Down the Rabbit-Hole", False),
        ("   I.     A Scandal in Bohemia", False),
        ("Heading to Chapter IV.      18", False),
        ("I. went home", False),
        ("Chapter and verse", False),
        ("CHAPTER IIII.", False),
    ],
)
def test_heading_patterns(line: str, heading: bool) -> None:
    assert is_plain_heading(line) is heading


def test_no_headings_is_one_chapter_titled_after_the_file() -> None:
    book = split_plain_text("Once upon\na time.\n\nThe end\n", Path("tale.txt"), ParseOptions())
    assert [(c.title, c.text) for c in book.chapters] == [
        ("tale", "tale.\nOnce upon a time.\nThe end.")
    ]


def test_heading_line_inside_a_paragraph_is_prose() -> None:
    text = "Chapter 1\n\nHe read it in\nChapter 2\nof the report.\n"
    book = split_plain_text(text, "x.txt", ParseOptions())
    assert [c.title for c in book.chapters] == ["Chapter 1"]


def test_book_and_chapter_heading_together_warn_for_the_empty_one() -> None:
    text = "BOOK ONE\n\nChapter 1\n\nText one.\n\nChapter 2\n\nText two.\n"
    book = split_plain_text(text, "x.txt", ParseOptions())
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2"]
    assert book.warnings == ("heading 'BOOK ONE' (line 1) has nothing to narrate; skipped",)


def test_blank_plain_text_is_refused() -> None:
    with pytest.raises(DocumentError, match="empty document"):
        split_plain_text("\n \n", "x.txt", ParseOptions())


def test_only_illustrations_is_nothing_to_narrate() -> None:
    with pytest.raises(DocumentError, match="nothing to narrate"):
        split_plain_text("[Illustration]\n\n*   *   *\n", "x.txt", ParseOptions())
