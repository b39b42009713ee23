"""Characters that must never reach a title, a file name, a tag or the voice.

A document is untrusted: a stray NUL, a terminal escape sequence or a bidi override in it
would otherwise end up in the chapter files' names and tags and in the lines narrator prints.
Decoding removes them once, so nothing downstream has to think about them.
"""

from __future__ import annotations

import re

# C0 and C1 controls but tab and newline (carriage returns are line ends by now), DEL, and
# lone surrogates, which some codecs (UTF-7) decode to and no encoder will write back.
_UNSAFE_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Whole terminal sequences (CSI "ESC [ ... m", OSC "ESC ] ... BEL", and their C1 forms), so
# no "[31m" is left to be read out. Each repeat stops where the next attempt would start
# (at an ESC or C1 control), so one pass over the text suffices.
_UNSAFE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]"
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def without_controls(text: str) -> tuple[str, int]:
    """The text without control characters, and how many were dropped.

    Form and line tabulations are whitespace in old plain texts (page breaks), so they
    become spaces and are not counted; lone surrogates become U+FFFD.
    """
    if _UNSAFE_CHAR.search(text) is None:  # the usual case, without a copy
        return text, 0
    dropped = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal dropped
        found = match.group()
        if found in ("\x0b", "\x0c"):
            return " "
        if _SURROGATE.fullmatch(found):
            return "\ufffd"
        dropped += 1
        return ""

    return _UNSAFE.sub(replace, text), dropped


def without_surrogates(text: str) -> str:
    """Text safe to encode as UTF-8 (a tag, JSON, a terminal): a file name's undecodable
    bytes arrive as lone surrogates (``os.fsdecode``) and become U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)
