"""Find the documents a run should narrate and read each one into clean text.

Everything that touches the file system on the way in lives here, so the splitter works on
strings alone and every unreadable input is reported the same way: a ``DocumentError`` naming
the path, which the CLI turns into exit status 2.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

from narrator.errors import DocumentError

SUFFIXES = (".md", ".markdown", ".txt")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    # UTF-32 marks begin with the UTF-16 ones, but UTF-32 prose files do not occur in
    # practice; checking UTF-16 only keeps "FF FE 00 00" (UTF-16 text starting with NUL) sane.
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True)
class Source:
    """A document to narrate; ``relative`` (no suffix) later names its output subfolder."""

    path: Path
    relative: PurePath
    from_folder: bool


def find_sources(paths: Sequence[Path]) -> list[Source]:
    """Expand files and folders into documents in a stable order, each listed once.

    Explicit files keep the order the user gave; a folder's documents follow in sorted
    relative-path order so that a cron run over the same folder always plans the same way.
    """
    found: list[Source] = []
    seen: set[Path] = set()
    for path in paths:
        for source in _expand(path):
            key = source.path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(source)
    return found


def _expand(path: Path) -> list[Source]:
    if not path.exists():
        raise DocumentError(path, "no such file or folder")
    if path.is_dir():
        return _folder_sources(path)
    if path.suffix.lower() not in SUFFIXES:
        raise DocumentError(
            path,
            f"unsupported file type {path.suffix or '(none)'!r}; expected {', '.join(SUFFIXES)}",
        )
    return [Source(path=path, relative=PurePosixPath(path.stem), from_folder=False)]


def _folder_sources(folder: Path) -> list[Source]:
    sources = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue  # editor backups, .git and the like are never documents
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            posix = PurePosixPath(relative.as_posix())
            sources.append(Source(path=path, relative=posix.with_suffix(""), from_folder=True))
    if not sources:
        raise DocumentError(folder, f"folder holds no documents ({', '.join(SUFFIXES)})")
    # The suffix breaks ties only, so "a.md" and "a.txt" (both "a") keep a fixed order.
    sources.sort(key=lambda source: (source.relative.as_posix(), source.path.name))
    return sources


def read_text(path: Path, encoding: str | None = None) -> str:
    """Decode a document to text with LF line endings and no byte order mark."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(path, f"cannot be read ({exc.strerror or exc})") from exc
    return decode_text(data, path, encoding)


def decode_text(data: bytes, path: Path, encoding: str | None = None) -> str:
    """Decode bytes already read; split out so callers that hash the bytes read them once."""
    if encoding is not None:
        text = _decode_with(data, path, encoding)
    else:
        text = _decode_detected(data, path)
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_with(data: bytes, path: Path, encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise DocumentError(path, f"unknown encoding {encoding!r}") from exc
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DocumentError(path, f"cannot be decoded as {encoding}") from exc


def _decode_detected(data: bytes, path: Path) -> str:
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(name)
            except UnicodeDecodeError as exc:
                raise DocumentError(path, f"cannot be decoded as {name}") from exc
    if b"\x00" in data:
        # Valid UTF-8 may contain NUL, but no prose document does: this is an image or archive.
        raise DocumentError(path, "not a text file (binary data)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(path, "cannot be decoded as UTF-8; try --encoding") from exc
