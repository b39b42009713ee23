"""Numbered headings, numbers, money and abbreviations spelled out for speech engines."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from narrator.reading.normalise import heading_numbers, spell_numbers


@pytest.mark.parametrize(
    ("heading", "spoken"),
    [
        ("Chapter XIV", "Chapter Fourteen"),
        ("Book II", "Book Two"),
        ("CHAPTER IV.", "CHAPTER Four."),
        ("Part III: The End", "Part Three: The End"),
        ("XII. The Return", "Twelve. The Return"),
        ("Chapter 12", "Chapter Twelve"),
        ("Chapter I", "Chapter One"),
        ("Chapter 21", "Chapter Twenty-One"),
        ("Chapter 101", "Chapter One Hundred and One"),
        ("Book II, Chapter IV", "Book Two, Chapter Four"),
        ("chapter xxi", "chapter Twenty-One"),
        ("ACT V, SCENE ii", "ACT Five, SCENE Two"),
        ("Canto XXXIV", "Canto Thirty-Four"),
        # Gutenberg and Markdown forms from the corpus: Alice, Pride and Prejudice, Willows.
        (" CHAPTER I.     Down the Rabbit-Hole", " CHAPTER One.     Down the Rabbit-Hole"),
        ("Chapter I.]", "Chapter One.]"),
        ("CHAPTER XIV.", "CHAPTER Fourteen."),
        ("I. THE RIVER BANK", "ONE. THE RIVER BANK"),
        ("IV. MR. BADGER", "FOUR. MR. BADGER"),
        ("CHAPTER XXI. THE END", "CHAPTER TWENTY-ONE. THE END"),
        ("IX: Wayfarers All", "Nine: Wayfarers All"),
        ("III) Notes", "Three) Notes"),
        ("VII", "Seven"),
    ],
)
def test_heading_numbers_are_said_as_words(heading: str, spoken: str) -> None:
    assert heading_numbers(heading) == spoken


@pytest.mark.parametrize(
    "heading",
    [
        "I Remember",
        "I, Robot",
        "MIX",
        "CIVIL WAR",
        "DID IT",
        "LIVID",
        "MILD",
        "DIM LIGHTS",
        "CV",
        "CV: My Career",
        "The Civil War",
        "Appendix C",
        "Part D",
        "Chapter IIII",
        "Chapter VX",
        "Chapter Mix",
        "Section 1.2",
        "Chapter 3a",
        "Chapter's End",
        "Henry VIII",
    ],
)
def test_words_and_non_numerals_stay(heading: str) -> None:
    assert heading_numbers(heading) == heading


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("It happened in 1984, they said.", "It happened in nineteen eighty-four, they said."),
        ("The 21st century and the 2nd day.", "The twenty-first century and the second day."),
        ("He paid $3.50 for it.", "He paid three dollars and fifty cents for it."),
        ("£20 is enough.", "twenty pounds is enough."),
        ("Only €5 each.", "Only five euros each."),
        ("Only €1 each.", "Only one euro each."),
        ("It cost $0.99.", "It cost ninety-nine cents."),
        ("$1,000,000 was stolen.", "one million dollars was stolen."),
        ("A $5 million deal.", "A five million dollars deal."),
        ("Pi is 3.14.", "Pi is three point one four."),
        ("About 1,500 men.", "About one thousand five hundred men."),
        ("It is 1.10 metres.", "It is one point one zero metres."),
        ("Prices rose 50%.", "Prices rose fifty percent."),
        ("He had 1984 sheep.", "He had one thousand nine hundred and eighty-four sheep."),
        (
            "Born in 2005, since 1850, by 2010.",
            "Born in two thousand and five, since eighteen fifty, by twenty ten.",
        ),
        ("From 1100 until 2099.", "From eleven hundred until twenty ninety-nine."),
        ("In 2000.", "In two thousand."),
        ("We met on June 5, 1984 there.", "We met on June fifth, nineteen eighty-four there."),
        ("We met in May 1999.", "We met in May nineteen ninety-nine."),
        ("The 1980s were loud.", "The nineteen eighties were loud."),
        ("Published (1908) in London.", "Published (nineteen oh-eight) in London."),
        ("London, 1850.", "London, eighteen fifty."),
        ("She counted 3 ducks.", "She counted three ducks."),
        ("Dr. Watson came.", "Doctor Watson came."),
        ("Mr. Darcy and Mrs. Bennet met Ms. Lee.", "Mister Darcy and Missus Bennet met Miz Lee."),
        ("St. Paul's is on Baker St.", "Saint Paul's is on Baker Street."),
        ("She lives on Elm St. near the park.", "She lives on Elm Street near the park."),
        ("Fruit, e.g. apples, i.e. food.", "Fruit, for example apples, that is food."),
        ("Apples, pears, etc.", "Apples, pears, et cetera."),
        ("Apples, pears, etc. and more.", "Apples, pears, et cetera and more."),
        ("E.g. this one.", "For example this one."),
        ("Smith vs. Jones", "Smith versus Jones"),
        ("Symphony No. 5 in C minor.", "Symphony number five in C minor."),
        ("No. I said no.", "No. I said no."),
    ],
)
def test_spell_numbers_in_english(text: str, spoken: str) -> None:
    assert spell_numbers(text) == spoken


@pytest.mark.parametrize(
    "text",
    [
        "At 10:30 we left.",
        "On 2024-01-05 it rained.",
        "Version 1.2.3 is out.",
        "Call 555-1234 now.",
        "It runs 24/7.",
        "The v2 engine and the A4 paper.",
        "A 12345678901234567890 digit run.",
        "Dr. and St. alone stay.",
        "The mid-1990s term.",
    ],
)
def test_joined_or_unclear_tokens_are_left_for_the_engine(text: str) -> None:
    assert spell_numbers(text) == text


def test_other_languages_get_their_own_number_words() -> None:
    assert spell_numbers("Er kam 1984 mit 3 Freunden.", "de") == (
        "Er kam neunzehnhundertvierundachtzig mit drei Freunden."
    )
    assert spell_numbers("Il a 21 ans.", "fr-FR") == "Il a vingt et un ans."
    assert spell_numbers("I have 3.", "en-GB") == "I have three."


def test_unsupported_language_leaves_text_unchanged() -> None:
    assert spell_numbers("Dr. Who had 3 cats in 1984.", "xx") == "Dr. Who had 3 cats in 1984."


def test_a_megabyte_of_prose_takes_well_under_a_second() -> None:
    paragraph = (
        "Mr. Bennet said on June 5, 1812, that Dr. Jones paid $3.50 for 21 apples, e.g. "
        "the 2nd crate, which was 50% of the 1,500 bought in 1811 from St. Mary's. "
    )
    text = paragraph * (1_000_000 // len(paragraph))
    started = time.perf_counter()
    spoken = spell_numbers(text)
    assert time.perf_counter() - started < 2.0  # about 0.1 s on one core; generous for CI
    assert not re.search(r"\d", spoken)


def test_corpus_chapter_headings_become_words(corpus_dir: Path) -> None:
    text = (corpus_dir / "szmktk_pg11.txt").read_text(encoding="utf-8-sig")
    headings = [line for line in text.splitlines() if line.startswith("CHAPTER ")]
    assert headings
    for heading in headings:
        spoken = heading_numbers(heading)
        assert not re.search(r"\b[IVXLC]+\b", spoken), spoken
        assert spoken.startswith("CHAPTER ")
