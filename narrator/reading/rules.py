"""Pronunciation rules: user-written ``search==replace`` lines applied to the spoken text.

The format is the one users already keep for other narration tools (epub_to_audiobook's
``--search_and_replace_file``), so an existing file works unchanged:

- one rule a line, ``search==replace``; the FIRST ``==`` on the line separates the two, so a
  pattern never contains ``==`` (write ``=\\=`` or ``={2}``) while a replacement may;
- whitespace around the line and around each side of the ``==`` is ignored (write ``\\s``
  or ``[ ]`` in a pattern that must start or end with a space);
- a line whose first non-space character is ``#`` is a comment; blank lines are ignored;
- ``search`` is a Python regular expression, ``replace`` a :func:`re.sub` template (``\\1``,
  ``\\g<name>``); rules apply one after the other in file order, each to the text the rules
  before it produced.

Whole words by default: a match may not start or end inside a word. The pattern ``P`` runs as
``(?:(?<!\\w)|(?!\\w))(?:P)(?:(?<!\\w)|(?!\\w))``: where a match begins with a letter, digit or
underscore, the character before it must not be one, and likewise at its end. So ``cat==dog``
leaves "concatenate" alone, ``Dr\\.==Doctor`` still replaces "Dr." before a name, and a
pattern of punctuation (``\\.\\.\\.``) matches anywhere. A pattern that draws its own
boundaries runs as written: one that contains ``\\b``, ``\\B``, ``\\A``, ``\\Z``, ``^`` or
``$`` outside a character class, or a lookaround (``(?=``, ``(?!``, ``(?<=``, ``(?<!``).
Global flags at the very start (``(?i)cafe``) stay at the start of the wrapped pattern.

Rules are the user's own code and run with Python's :mod:`re` without a time limit: a
pattern with nested repeats (``(a+)+$``) can take very long on some text. Patterns are
limited to 1,000 characters, compiled once, and must not match the empty string.

``Rules.sha256`` digests the effective rules only (the compiled patterns and replacements in
order), never comments, blank lines, spacing or line numbers: editing a comment does not
make a run think the rules, and so the audio, changed.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from narrator.errors import UsageError

__all__ = [
    "MAX_PATTERN_LENGTH",
    "Rule",
    "Rules",
    "apply_rules",
    "load_rules",
    "merge",
    "parse_rules",
]

MAX_PATTERN_LENGTH = 1000
_EDGE = r"(?:(?<!\w)|(?!\w))"
_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")
_LOOKAROUNDS = ("(?=", "(?!", "(?<=", "(?<!")
# The regex parser that ``re`` itself uses: it alone knows a pattern's shortest match exactly.
_PARSER: Any = importlib.import_module("re._parser" if sys.version_info >= (3, 11) else "sre_parse")


@dataclass(frozen=True)
class Rule:
    """One rule as it runs: ``pattern`` is already wrapped for whole words when it applies."""

    pattern: re.Pattern[str]
    replacement: str
    source: str
    line: int


@dataclass(frozen=True)
class Rules:
    """Rules in the order they apply; ``sha256`` changes exactly when what they do changes."""

    rules: tuple[Rule, ...]
    sha256: str


def parse_rules(text: str, source: str) -> Rules:
    """Parse a rules file's text; ``source`` names it in errors (``source:line: problem``)."""
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rules.append(_parse_line(line, source, number))
    return Rules(tuple(rules), _digest(rules))


def load_rules(path: Path) -> Rules:
    """Read and parse a UTF-8 rules file (a byte-order mark is allowed)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: rules file is not UTF-8 ({exc.reason})") from exc
    except OSError as exc:
        raise UsageError(f"{path}: cannot read rules file ({exc.strerror or exc})") from exc
    return parse_rules(text, str(path))


def apply_rules(text: str, rules: Rules) -> str:
    """Apply every rule to the whole text, in order."""
    for rule in rules.rules:
        text = rule.pattern.sub(rule.replacement, text)
    return text


def merge(*rules: Rules) -> Rules:
    """One rule list from several, in the order given (the caller decides which wins first).

    The digest is that of the concatenated rules, so merging files equals parsing them joined.
    """
    joined = [rule for group in rules for rule in group.rules]
    return Rules(tuple(joined), _digest(joined))


def _parse_line(line: str, source: str, number: int) -> Rule:
    def fail(problem: str) -> UsageError:
        return UsageError(f"{source}:{number}: {problem}")

    search, separator, replacement = line.partition("==")
    if not separator:
        raise fail("a rule needs '==' between the pattern and its replacement")
    search, replacement = search.strip(), replacement.strip()
    if not search:
        raise fail("empty pattern before '=='")
    if len(search) > MAX_PATTERN_LENGTH:
        raise fail(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    try:
        _PARSER.parse(search)  # the same errors as compiling, before wrapping shifts positions
        pattern = re.compile(_whole_words(search))
    except re.error as exc:
        raise fail(f"invalid regular expression {search!r}: {exc}") from exc
    if _matches_empty(search):
        raise fail(f"pattern {search!r} can match the empty string")
    try:
        pattern.sub(replacement, "")  # checks escapes and group references without a match
    except (re.error, IndexError) as exc:
        raise fail(f"bad replacement {replacement!r}: {exc}") from exc
    return Rule(pattern, replacement, source, number)


def _whole_words(search: str) -> str:
    """The pattern as it runs; global flags such as ``(?i)`` stay at its very start."""
    if _draws_own_boundaries(search):
        return search
    flags = _GLOBAL_FLAGS.match(search)
    head = flags[0] if flags else ""
    return f"{head}{_EDGE}(?:{search[len(head) :]}){_EDGE}"


def _draws_own_boundaries(pattern: str) -> bool:
    """Whether the pattern anchors or looks around itself (outside character classes)."""
    if any(look in pattern for look in _LOOKAROUNDS):
        return True
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if not in_class and pattern[index + 1 : index + 2] in ("b", "B", "A", "Z"):
                return True
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # "]" right after "[" or "[^" is a literal member, not the end of the class.
            index += 2 if pattern[index + 1 : index + 2] == "^" else 1
            if pattern[index : index + 1] == "]":
                index += 1
            continue
        elif char in "^$":
            return True
        index += 1
    return False


def _matches_empty(pattern: str) -> bool:
    """Whether some text lets the pattern match nothing (a rule would insert everywhere)."""
    try:
        return int(_PARSER.parse(pattern).getwidth()[0]) == 0
    except Exception:  # a parser from another Python: fall back to probing
        compiled = re.compile(pattern)
        probes = ("", "a", " ", "a a", "0", ".")
        return any(m.end() == m.start() for probe in probes for m in compiled.finditer(probe))


def _digest(rules: list[Rule]) -> str:
    """JSON pairs name the rules unambiguously, whatever characters they hold."""
    pairs = [[rule.pattern.pattern, rule.replacement] for rule in rules]
    return hashlib.sha256(json.dumps(pairs).encode("utf-8")).hexdigest()
