"""The normalised text a generation's ``normalizedAlignment`` follows: numbers as spoken.

The service's ``normalizedAlignment`` is not a copy of ``alignment``: it begins with a space
and follows the text as normalised for speech, so ``"12"`` becomes ``" twelve"``. Here
numbers are the only thing normalised: whole numbers (``1,000`` with its commas too),
decimals (``3.5``: "three point five") and ordinals (``21st``: "twenty-first"), in American
English without "and". Digits glued to letters (``MP3``) are left as they are. A small
speller rather than a dependency: it only has to be right for what it claims to handle.

Each normalised piece remembers the span of input characters it came from, so that its
timing can be taken from theirs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ("", "thousand", "million", "billion", "trillion")
_IRREGULAR_ORDINALS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
_NUMBER = re.compile(
    r"(?<![^\W_])"  # not glued to a letter or a digit before
    r"(?P<whole>\d{1,3}(?:,\d{3})+|\d+)"
    r"(?:\.(?P<fraction>\d+)|(?P<ordinal>st|nd|rd|th))?"
    r"(?![^\W_])"  # nor to a letter or digit after
)


def spell_integer(number: int) -> str:
    """``123`` -> ``"one hundred twenty-three"``; beyond the trillions, digit by digit."""
    if number < 0:
        return "minus " + spell_integer(-number)
    if number >= 1000 ** len(_SCALES):
        return spell_digits(str(number))
    if number == 0:
        return _ONES[0]
    words: list[str] = []
    for power in range(len(_SCALES) - 1, -1, -1):
        group, number = divmod(number, 1000**power)
        if group:
            words.append(_below_thousand(group))
            if _SCALES[power]:
                words.append(_SCALES[power])
    return " ".join(words)


def _below_thousand(number: int) -> str:
    hundreds, rest = divmod(number, 100)
    words = [f"{_ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_ONES[rest])
    return " ".join(words)


def spell_digits(digits: str) -> str:
    """``"007"`` -> ``"zero zero seven"``."""
    return " ".join(_ONES[int(d)] for d in digits)


def spell_ordinal(number: int) -> str:
    """``21`` -> ``"twenty-first"``: the last word of the cardinal becomes an ordinal."""
    cardinal = spell_integer(number)
    head, hyphen, last = cardinal.rpartition("-") if "-" in cardinal else ("", "", cardinal)
    prefix, space, last = last.rpartition(" ")
    if last in _IRREGULAR_ORDINALS:
        last = _IRREGULAR_ORDINALS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + hyphen + prefix + space + last


def _spoken(match: re.Match[str]) -> str:
    whole = match["whole"].replace(",", "")
    if len(whole) > 1 and whole.startswith("0"):  # a code or an id, not a quantity
        spoken = spell_digits(whole)
    elif match["ordinal"]:
        spoken = spell_ordinal(int(whole))
    else:
        spoken = spell_integer(int(whole))
    if match["fraction"]:
        spoken += " point " + spell_digits(match["fraction"])
    return spoken


@dataclass(frozen=True)
class Piece:
    """Normalised ``text`` standing for the input characters ``start`` to ``stop``."""

    text: str
    start: int
    stop: int


def normalize(text: str) -> list[Piece]:
    """``text`` as normalised pieces, in order; unchanged characters are pieces of their own."""
    pieces: list[Piece] = []
    done = 0
    for match in _NUMBER.finditer(text):
        pieces += [Piece(c, i, i + 1) for i, c in enumerate(text[done : match.start()], done)]
        pieces.append(Piece(_spoken(match), match.start(), match.end()))
        done = match.end()
    pieces += [Piece(c, i, i + 1) for i, c in enumerate(text[done:], done)]
    return pieces
