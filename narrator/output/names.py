"""Chapter file names: safe on every common file system, and recognisable as narrator's.

A title can hold anything a document holds, so sanitising removes every way for it to name
another folder; and a name read back from a manifest must match the shape made here before
any path is built from it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from narrator.errors import UsageError

MAX_TITLE_CHARS = 80


MAX_TITLE_BYTES = 200  # file systems count bytes (255), and CJK or emoji take 3-4 each


#: The shape of every chapter file name narrator makes.
_OWN_NAME = re.compile(r"\d{2,} - [^/\\\x00]+\.(?:mp3|wav|opus)")


_ILLEGAL = re.compile(r'[<>"|?*]')  # ":", "/" and "\\" are handled apart in _safe_title


WAV_CODECS = {"ulaw_8000": (7, 8000, 8), "alaw_8000": (6, 8000, 8)}  # format tag, rate, bits


def extension_for(output_format: str) -> str:
    """The file extension for an ElevenLabs ``output_format``; raw PCM and G.711 get a WAV box."""
    if output_format.startswith("mp3_"):
        return ".mp3"
    if output_format.startswith("opus_"):
        return ".opus"
    if output_format in WAV_CODECS or pcm_rate(output_format) is not None:
        return ".wav"
    raise UsageError(f"unsupported output format: {output_format!r}")


def pcm_rate(output_format: str) -> int | None:
    match = re.fullmatch(r"pcm_(\d+)", output_format)
    return int(match.group(1)) if match else None


def is_own_audio_name(name: object) -> bool:
    """A plain file name of the shape narrator gives chapter files (``NN - Title.ext``).

    Names read from a manifest pass this test before any path is built from them, so a
    hand-edited entry can never reach outside the output folder.
    """
    return (
        isinstance(name, str)
        and _OWN_NAME.fullmatch(name) is not None
        and len(name.encode("utf-8", "surrogatepass")) <= 255
    )


def chapter_file_names(titles: Sequence[str], extension: str) -> list[str]:
    """``NN - Title.ext`` for each title, in order, safe on every common file system.

    The zero-padded number makes every name distinct (case-insensitively too) and keeps them
    sorted in reading order, so duplicate titles need no suffix; sanitising removes every way
    for a title to name another folder.
    """
    width = max(2, len(str(len(titles))))
    return [
        f"{index:0{width}d} - {_safe_title(title)}{extension}"
        for index, title in enumerate(titles, 1)
    ]


def book_file_name(title: str, extension: str) -> str:
    """The one-file book's name: its title made safe, as chapter titles are."""
    return f"{_safe_title(title)}{extension}"


def _safe_title(title: str) -> str:
    text = unicodedata.normalize("NFC", title)
    text = "".join(_safe_char(ch) for ch in text)
    # Path segments made only of dots ("..", "...") vanish; a run of dots inside a title
    # becomes an ellipsis, so "Wait..." stays readable and no ".." remains.
    segments = re.split(r"[/\\]", text.replace(":", " - "))
    text = " ".join(part for part in segments if part.strip(" ."))
    text = re.sub(r"\.{2,}", "…", _ILLEGAL.sub(" ", text))
    text = re.sub(r"\s+", " ", text).strip(" .-")
    return _cap(text).strip(" .-") or "Chapter"


def _safe_char(ch: str) -> str:
    """Control characters and odd spaces become spaces; invisible format characters (which
    can spoof a name, like U+202E) go, except the joiners emoji sequences need."""
    category = unicodedata.category(ch)
    if category == "Cc" or category.startswith("Z"):
        return " "
    return "" if category == "Cf" and ch not in "\u200c\u200d" else ch


def _cap(text: str) -> str:
    """Shorten to the limits, at a word boundary when one falls in the second half."""
    if len(text) <= MAX_TITLE_CHARS and len(text.encode()) <= MAX_TITLE_BYTES:
        return text
    cut = text[:MAX_TITLE_CHARS]
    while len(cut.encode()) > MAX_TITLE_BYTES:
        cut = cut[:-1]
    space = cut.rfind(" ")
    return cut[:space] if space > len(cut) // 2 else cut
