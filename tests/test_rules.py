"""Pronunciation rules: the ``search==replace`` format, whole words, order, errors, digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from narrator.errors import UsageError
from narrator.reading.rules import apply_rules, load_rules, merge, parse_rules

RULES = """\
# Names the voice gets wrong
Hermione==Her-my-oh-nee

  # an indented comment
Dr\\.==Doctor
(\\d+)km==\\1 kilometres
cat==dog
"""


def test_rules_parse_in_file_order_with_their_lines() -> None:
    rules = parse_rules(RULES, "names.txt")
    assert [(rule.line, rule.replacement) for rule in rules.rules] == [
        (2, "Her-my-oh-nee"),
        (5, "Doctor"),
        (6, "\\1 kilometres"),
        (7, "dog"),
    ]
    assert {rule.source for rule in rules.rules} == {"names.txt"}


def test_rules_replace_whole_words_only() -> None:
    rules = parse_rules(RULES, "names.txt")
    text = "The cat read about concatenate and a catalogue. Dr. Granger met Hermione."
    assert apply_rules(text, rules) == (
        "The dog read about concatenate and a catalogue. Doctor Granger met Her-my-oh-nee."
    )


def test_group_references_in_the_replacement() -> None:
    rules = parse_rules(RULES, "names.txt")
    assert apply_rules("They walked 12km, not 12kms.", rules) == (
        "They walked 12 kilometres, not 12kms."
    )


def test_rules_apply_in_file_order() -> None:
    rules = parse_rules("colour==color\ncolor==hue\n", "order.txt")
    assert apply_rules("A colour.", rules) == "A hue."
    reverse = parse_rules("color==hue\ncolour==color\n", "order.txt")
    assert apply_rules("A colour.", reverse) == "A color."


def test_first_double_equals_separates() -> None:
    rules = parse_rules("a\\+b==a plus b == c\n", "eq.txt")
    assert rules.rules[0].replacement == "a plus b == c"
    assert apply_rules("a+b", rules) == "a plus b == c"


def test_spaces_around_the_separator_are_ignored() -> None:
    rules = parse_rules("  Nguyen  ==  Win  \n", "spaces.txt")
    assert apply_rules("Mr Nguyen left.", rules) == "Mr Win left."


def test_pattern_with_its_own_boundaries_runs_as_written() -> None:
    rules = parse_rules("^Chapter==Section\nish\\b==-ish\n", "anchors.txt")
    assert apply_rules("Chapter one of a Chapter", rules) == "Section one of a Chapter"
    assert apply_rules("reddish", rules) == "redd-ish"


def test_negated_class_is_not_an_anchor() -> None:
    rules = parse_rules("[^aeiou ]y==Y\n", "class.txt")
    assert apply_rules("by my sky", rules) == "Y Y sky"


def test_punctuation_pattern_matches_anywhere() -> None:
    rules = parse_rules("\\.\\.\\.==…\n", "dots.txt")
    assert apply_rules("Wait...what", rules) == "Wait…what"


def test_regex_options_and_alternation() -> None:
    rules = parse_rules("(?i)(gif|jpeg)==image\n", "alt.txt")
    assert apply_rules("A GIF, a jpeg, a gifted child.", rules) == (
        "A image, a image, a gifted child."
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ok==fine\nno separator here\n", "bad.txt:2: a rule needs '=='"),
        ("(unclosed==x\n", "bad.txt:1: invalid regular expression"),
        ("==nothing\n", "bad.txt:1: empty pattern"),
        ("\n\nx*==y\n", "bad.txt:3: pattern 'x*' can match the empty string"),
        ("(?<=q)z?==y\n", "bad.txt:1: pattern '(?<=q)z?' can match the empty string"),
        ("(a)b==\\2\n", "bad.txt:1: bad replacement"),
        ("(a)b==\\g<name>\n", "bad.txt:1: bad replacement"),
        ("ab==\\q\n", "bad.txt:1: bad replacement"),
        ("a" * 1001 + "==b\n", "bad.txt:1: pattern longer than 1000 characters"),
    ],
)
def test_bad_rules_name_the_file_and_line(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_rules(text, "bad.txt")
    message = str(caught.value)
    assert message.startswith(problem)
    assert "\n" not in message
    assert caught.value.exit_code == 2


def test_digest_ignores_comments_blanks_and_spacing() -> None:
    base = parse_rules("cat==dog\nDr\\.==Doctor\n", "a.txt").sha256
    edited = parse_rules("# pets\n\ncat == dog   \n# titles\nDr\\.==Doctor\n", "b.txt").sha256
    assert edited == base


def test_digest_changes_when_a_rule_changes() -> None:
    base = parse_rules("cat==dog\nDr\\.==Doctor\n", "a.txt").sha256
    assert parse_rules("cat==dogs\nDr\\.==Doctor\n", "a.txt").sha256 != base
    assert parse_rules("cats==dog\nDr\\.==Doctor\n", "a.txt").sha256 != base
    assert parse_rules("Dr\\.==Doctor\ncat==dog\n", "a.txt").sha256 != base  # order matters


def test_merge_keeps_order_and_digests_like_one_file() -> None:
    first = parse_rules("colour==color\n", "cli.txt")
    second = parse_rules("color==hue\n", "front-matter")
    merged = merge(first, second)
    assert [rule.source for rule in merged.rules] == ["cli.txt", "front-matter"]
    assert apply_rules("colour", merged) == "hue"
    assert merged.sha256 == parse_rules("colour==color\ncolor==hue\n", "x").sha256
    assert merge().rules == ()
    assert merge().sha256 == parse_rules("# nothing\n", "x").sha256


def test_load_rules_reads_utf8_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "rules.txt"
    path.write_bytes("\ufeffCaf\u00e9==Kaffay\r\n".encode())
    rules = load_rules(path)
    assert apply_rules("Le Café.", rules) == "Le Kaffay."
    assert rules.rules[0].source == str(path)


def test_load_rules_missing_or_undecodable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    with pytest.raises(UsageError, match=r"missing\.txt: cannot read rules file"):
        load_rules(missing)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Caf\u00e9==x\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"latin\.txt: rules file is not UTF-8"):
        load_rules(latin)
