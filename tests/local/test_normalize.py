"""The number speller behind ``normalizedAlignment``, on literal text (no socket needed)."""

from __future__ import annotations

import itertools

import pytest

from narrator.local.normalize import normalize, spell_integer, spell_ordinal


@pytest.mark.parametrize(
    ("number", "spoken"),
    [
        (0, "zero"),
        (7, "seven"),
        (12, "twelve"),
        (19, "nineteen"),
        (20, "twenty"),
        (42, "forty-two"),
        (100, "one hundred"),
        (115, "one hundred fifteen"),
        (999, "nine hundred ninety-nine"),
        (1000, "one thousand"),
        (1_000_001, "one million one"),
        (2024, "two thousand twenty-four"),
        (7_300_000_019, "seven billion three hundred million nineteen"),
        (10**15, "one zero zero zero zero zero zero zero zero zero zero zero zero zero zero zero"),
    ],
)
def test_integers_are_spelled_in_words(number: int, spoken: str) -> None:
    assert spell_integer(number) == spoken


@pytest.mark.parametrize(
    ("number", "spoken"),
    [(1, "first"), (2, "second"), (3, "third"), (12, "twelfth"), (20, "twentieth"),
     (21, "twenty-first"), (100, "one hundredth"), (105, "one hundred fifth")],
)  # fmt: skip
def test_ordinals_change_only_the_last_word(number: int, spoken: str) -> None:
    assert spell_ordinal(number) == spoken


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("Chapter 12. ", "Chapter twelve. "),
        ("1,500 words", "one thousand five hundred words"),
        ("pi is 3.14, ", "pi is three point one four, "),
        ("the 21st day", "the twenty-first day"),
        ("agent 007 ", "agent zero zero seven "),
        ("MP3 and 1990s stay. ", "MP3 and 1990s stay. "),
        ("No numbers. ", "No numbers. "),
    ],
)
def test_normalize_spells_numbers_and_keeps_everything_else(text: str, normalized: str) -> None:
    pieces = normalize(text)
    assert "".join(p.text for p in pieces) == normalized
    # The pieces cover the input exactly once, in order.
    assert pieces[0].start == 0 and pieces[-1].stop == len(text)
    assert all(a.stop == b.start for a, b in itertools.pairwise(pieces))
