"""Spell out what speech engines misread: numbered headings, numbers, money and abbreviations.

eSpeak reads "1912" as "nineteen hundred twelve", "$3.50" as "dollar three point five zero",
"XIV" as "roman fourteen", and breaks a sentence after "Dr."; smaller service models share
some of these faults. Every number word comes from ``num2words`` (no number tables here), in
the document's language where ``num2words`` has it.

Both functions are pure. ``spell_numbers`` scans English text twice (abbreviations, then
numbers), each with a pattern that ``re`` can skip through at C speed, and calls a cached
``num2words`` only for what matched: about 50 ms for a megabyte of novel prose.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from types import ModuleType
from typing import cast

__all__ = ["heading_numbers", "spell_numbers"]

# --- headings -------------------------------------------------------------------------------

_KEYWORDS = "chapter|book|part|volume|act|scene|canto|section|appendix"
_STRICT_ROMAN = re.compile(
    r"(?=[MDCLXVI])M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
)
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
# A numeral after a keyword ("Chapter XIV", "BOOK ii", "Part 3"), or a numeral alone at the
# start of the heading ("XII. The Return"); a letter, apostrophe or decimal after it means a
# word ("Part Civil"), a contraction or a section number ("Section 1.2"), not a numeral.
_HEADING_NUMBER = re.compile(
    rf"(?<!\w)(?P<keyword>(?i:{_KEYWORDS})\s+)(?P<number>[MDCLXVI]+|[ivx]+|\d{{1,6}})"
    r"(?![\w'’]|[.,]\d)"
    r"|^(?P<lead>\s*)(?P<numeral>[XVI]+|[XVI]*L[XVI]*)(?=\s*(?:[.:)]|$))"
)


def heading_numbers(title: str) -> str:
    """Numbers in a heading said as words: "Chapter XIV" -> "Chapter Fourteen".

    Converted: a valid Roman numeral (strict form, I to MMMCMXCIX; lower case only from
    i, v, x) or an Arabic number after a heading keyword (chapter, book, part, volume, act,
    scene, canto, section, appendix; any case), and a Roman numeral below C alone at the
    start followed by ".", ":", ")" or the end ("XII. The Return"). Left alone: a pronoun
    ("I Remember"), words that happen to be numerals ("MIX", "CIVIL", "CV") elsewhere, and a
    single C, D, L or M after a keyword, which names a lettered part ("Appendix C").

    The words are in title case ("CHAPTER IV." -> "CHAPTER Four."), or upper case when the
    rest of the heading has words and all are upper case ("I. THE RIVER BANK" -> "ONE. THE
    RIVER BANK"): a numeral next to a capitalised keyword alone says nothing about the style.
    """
    if not any(char.isdigit() or char in "IVXLCDMivx" for char in title):
        return title
    rest = _HEADING_NUMBER.sub("", title)
    upper = rest.isupper()

    def replace(match: re.Match[str]) -> str:
        value = _heading_value(match["number"] or match["numeral"])
        if value is None:
            return match[0]
        words = _words(value, "en")
        words = words.upper() if upper else _title_case(words)
        return (match["keyword"] or match["lead"] or "") + words

    return _HEADING_NUMBER.sub(replace, title)


def _heading_value(number: str) -> int | None:
    if number.isdigit():
        return int(number)
    if number.islower():
        number = number.upper()
    elif number in ("C", "D", "L", "M"):
        return None
    if not _STRICT_ROMAN.fullmatch(number):
        return None
    values = [_ROMAN_VALUES[char] for char in number]
    return sum(
        -value if value < after else value
        for value, after in zip(values, [*values[1:], 0], strict=True)
    )


def _title_case(words: str) -> str:
    return " ".join(
        word if word == "and" else "-".join(part.capitalize() for part in word.split("-"))
        for word in words.split()
    )


# --- running text ---------------------------------------------------------------------------

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
)
_NUMBER = r"\d{1,3}(?:,\d{3})+(?!\d)|\d{1,15}(?!\d)"
# Each pattern below starts with one character class and tests what comes before it by a
# lookbehind placed after that character: ``re`` can then skip to candidates at C speed,
# where a leading lookbehind or alternation is tried at every position (several times slower).
_NUMBER_START = re.compile(r"[$£€\d](?<![\w.,:/-].)")
_NUMERIC = re.compile(
    rf"(?P<money>(?P<symbol>[$£€])\s?(?P<amount>(?:{_NUMBER})(?:\.\d{{1,15}})?)"
    r"(?:\s(?P<scale>thousand|million|billion|trillion)\b)?(?![\w]|[.,]\d))"
    rf"|(?P<digits>{_NUMBER})(?:\.(?P<fraction>\d{{1,15}}))?"
    r"(?P<suffix>st|nd|rd|th|s|%)?(?![\w:/-]|[.,]\d)"
)
_ABBREVIATION = re.compile(
    r"[eEiIvMDSNn](?<![\w.].)"
    r"(?:(?<=[eE])\.g\.|(?<=[iI])\.e\.|(?<=e)tc\.|(?<=v)s\.|(?<=M)rs?\.|(?<=M)s\."
    r"|(?<=D)r\.|(?<=S)t\.|(?<=[Nn])o\.(?=\s?\d))"
)
_OTHER = re.compile(r"(?<![\w.,:/-])\d{1,15}(?![\w:/-]|[.,]\d)")
_YEAR_WORD_BEFORE = re.compile(
    r"(?:(?<!\w)(?i:in|of|since|until|till|by|from|year|circa|c\.|ca\.)"
    rf"|(?<!\w)(?:{_MONTHS})\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?,?)?)\s+$"
)
_MONTH_BEFORE = re.compile(rf"(?<!\w)(?:{_MONTHS})\.?\s+$")
_ALONE_BEFORE = re.compile(r"(?:^|[(\[,—–])\s*$", re.MULTILINE)
_ALONE_AFTER = re.compile(r"\s*(?:[)\]—–]|[.,;!?]?\s*$)", re.MULTILINE)
_CAPITALISED_BEFORE = re.compile(r"(?<!\w)[A-Z][\w'’-]*\s+$")
_SPELLED = {
    "e.g.": "for example",
    "i.e.": "that is",
    "etc.": "et cetera",
    "vs.": "versus",
    "Mr.": "Mister",
    "Mrs.": "Missus",
    "Ms.": "Miz",
}
_CURRENCIES = {"$": "USD", "£": "GBP", "€": "EUR"}
_CENTS_MARK = "\x00"


def spell_numbers(text: str, language: str = "en") -> str:
    """Numbers, money and common abbreviations as words, for engines that read digits badly.

    English gets everything: cardinals ("1,500"), decimals ("3.14" -> "three point one
    four"), ordinals ("21st"), percentages, money ("$3.50" -> "three dollars and fifty
    cents"), decades ("the 1980s"), years, and abbreviations ("Dr.", "Mr.", "St.", "e.g.",
    "No. 5"). A four-digit number from 1100 to 2099 is said as a year after in, of, since,
    until, till, by, from, year, circa, c., ca. or a month (with or without a day), or when it
    stands alone: at the start of a line or after "(", "[", ",", or a dash, and before the end
    of a line (after optional punctuation), ")", "]" or a dash. Number-like tokens joined by
    ":", "/", "-" or dots (times, dates, versions, phone numbers) are left for the engine.

    Another language that ``num2words`` knows gets whole numbers only, years from 1100 to
    2099 as years: separators, ordinals and abbreviations are written differently in each.
    A language it does not know leaves the text unchanged.
    """
    lang = _converter_language(language)
    if lang is None:
        return text
    if lang.split("_")[0] != "en":
        return _OTHER.sub(lambda match: _other_number(match[0], lang), text)
    return _english_numbers(_ABBREVIATION.sub(_abbreviation, text), lang)


def _num2words() -> ModuleType:
    """``num2words``, imported when first needed: it loads every language it has (60
    modules, 3.5 MB at every start), and a run that spells no numbers never needs them."""
    import num2words  # type: ignore[import-untyped]

    return cast(ModuleType, num2words)


@lru_cache(maxsize=64)
def _converter_language(language: str) -> str | None:
    """``num2words``' name for a document language ("en-GB" -> "en"), or None."""
    base, _, region = (language.strip() or "en").replace("-", "_").partition("_")
    for candidate in (f"{base.lower()}_{region.upper()}", base.lower()):
        if candidate in _num2words().CONVERTER_CLASSES:
            return candidate
    return None


def _other_number(digits: str, lang: str) -> str:
    value = int(digits)
    if len(digits) == 4 and 1100 <= value <= 2099:
        return _words(value, lang, "year") or digits
    return _words(value, lang) or digits


def _english_numbers(text: str, lang: str) -> str:
    """Replace every number ``_NUMERIC`` finds at a ``_NUMBER_START`` candidate."""
    pieces: list[str] = []
    done = 0
    candidate = _NUMBER_START.search(text)
    while candidate:
        start = candidate.start()
        match = _NUMERIC.match(text, start)
        if match is None:
            candidate = _NUMBER_START.search(text, start + 1)
            continue
        pieces += (
            text[done:start],
            _money(match, lang) if match["money"] else _numeric(match, lang),
        )
        done = match.end()
        candidate = _NUMBER_START.search(text, done)
    return "".join(pieces) + text[done:] if pieces else text


def _numeric(match: re.Match[str], lang: str) -> str:
    digits, fraction, suffix = match["digits"].replace(",", ""), match["fraction"], match["suffix"]
    value = int(digits)
    if fraction is None and suffix in ("st", "nd", "rd", "th"):
        return _words(value, lang, "ordinal") or match[0]
    if len(digits) == 4 and 1100 <= value <= 2099 and fraction is None:
        if suffix == "s" and value % 10 == 0:
            year = _words(value, lang, "year")
            return (year[:-1] + "ies" if year.endswith("y") else year + "s") or match[0]
        if suffix is None and _is_year(match):
            return _words(value, lang, "year") or match[0]
    if suffix == "s":
        return match[0]
    if suffix is None and fraction is None and 1 <= value <= 31 and _after_month(match):
        return _words(value, lang, "ordinal") or match[0]  # "June 5" is "June fifth"
    words = _decimal_words(digits, fraction, lang)
    if not words:
        return match[0]
    return words + " percent" if suffix == "%" else words


def _is_year(match: re.Match[str]) -> bool:
    text, start = match.string, match.start()
    window = max(0, start - 40)
    if _YEAR_WORD_BEFORE.search(text, window, start):
        return True
    return bool(_ALONE_BEFORE.search(text, window, start) and _ALONE_AFTER.match(text, match.end()))


def _after_month(match: re.Match[str]) -> bool:
    return bool(_MONTH_BEFORE.search(match.string, max(0, match.start() - 20), match.start()))


def _decimal_words(digits: str, fraction: str | None, lang: str) -> str:
    whole = _words(int(digits), lang)
    if not fraction or not whole:
        return whole
    # Digit by digit, so "1.10" keeps its zero ("one point one zero").
    return f"{whole} point " + " ".join(_words(int(digit), lang) for digit in fraction)


def _money(match: re.Match[str], lang: str) -> str:
    code = _CURRENCIES[match["symbol"]]
    amount = Decimal(match["amount"].replace(",", ""))
    if match["scale"]:
        whole, _, fraction = match["amount"].replace(",", "").partition(".")
        number = _decimal_words(whole, fraction or None, lang)
        unit = _currency(Decimal(2), code, lang).partition(" ")[2]  # the plural unit name
        return f"{number} {match['scale']} {unit}" if number and unit else match[0]
    return _currency(amount, code, lang) or match[0]


@lru_cache(maxsize=4096)
def _currency(amount: Decimal, code: str, lang: str) -> str:
    """Money as ``num2words`` says it, without "zero cents" and with "and" before cents."""
    try:
        spoken = _num2words().num2words(
            amount, lang=lang, to="currency", currency=code, separator=_CENTS_MARK
        )
    except (NotImplementedError, OverflowError, ValueError):
        return ""
    main, _, cents = str(spoken).replace(",", "").partition(_CENTS_MARK)
    main = " ".join(main.split()).replace(" sterling", "")  # "twenty pounds", as people say
    if code == "EUR" and amount != 1 and main.endswith(" euro"):
        main += "s"  # num2words' English plural is the legal "euro"; speech says "euros"
    if amount == amount.to_integral_value():
        return main
    if amount < 1:
        return " ".join(cents.split())  # "$0.99" is "ninety-nine cents"
    return f"{main} and {' '.join(cents.split())}"


def _abbreviation(match: re.Match[str]) -> str:
    found, text, end = match[0], match.string, match.end()
    after = text[end : end + 2]
    followed_by_name = after[:1] == " " and after[1:2].isupper()
    ends_sentence = end == len(text) or after[:1] == "\n" or followed_by_name
    if found in ("Dr.", "St."):
        if followed_by_name:
            return "Doctor" if found == "Dr." else "Saint"
        if _CAPITALISED_BEFORE.search(text, max(0, match.start() - 40), match.start()):
            word = "Drive" if found == "Dr." else "Street"
            return word + "." if ends_sentence else word
        return found
    if found.lower() == "no.":
        return "number"
    spoken = _SPELLED[found.lower() if found[0] in "EI" else found]
    if found[0] in "EI":
        spoken = spoken.capitalize()
    # The abbreviation's dot may also end the sentence: keep one there.
    return spoken + "." if found == "etc." and ends_sentence else spoken


@lru_cache(maxsize=4096)  # num2words costs ~40 µs a call; books repeat their numbers
def _words(value: int, lang: str, to: str = "cardinal") -> str:
    """``num2words`` without its commas ("one thousand, five hundred" is one number)."""
    try:
        return str(_num2words().num2words(value, lang=lang, to=to)).replace(",", "")
    except (NotImplementedError, OverflowError, ValueError, TypeError):
        return ""
