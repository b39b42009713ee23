"""Text from documents, file names and the service, made safe to print on a terminal.

A title or a file name may hold escape sequences that would recolour, retitle or clear the
user's terminal; every line narrator prints about them passes through :func:`printable`.
"""

from __future__ import annotations

import unicodedata


def printable(text: str) -> str:
    """``text`` with control and bidi-format characters shown as escapes, not obeyed."""
    if text.isprintable():
        return text
    return "".join(ch if _safe(ch) else _escape(ch) for ch in text)


def _safe(ch: str) -> bool:
    return ch.isprintable() or (ch == " ") or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
