"""Find the documents a run should narrate and read each one into clean text.

Everything that touches the file system on the way in lives here, so the splitter works on
strings alone and every unreadable input is reported the same way: a ``DocumentError`` naming
the path, which the CLI turns into exit status 2. Input is untrusted: a pipe or a device is
refused before it can block a read, and a folder run never follows a link out of its folder.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

from narrator.errors import DocumentError, UsageError
from narrator.reading.textclean import without_controls

#: What a run narrates; an EPUB is read as bytes (a zip archive), the rest decoded as text.
SUFFIXES = (".md", ".markdown", ".txt", ".epub", ".html", ".htm", ".xhtml")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    # UTF-32 marks begin with the UTF-16 ones, but UTF-32 prose files do not occur in
    # practice; checking UTF-16 only keeps "FF FE 00 00" (UTF-16 text starting with NUL) sane.
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_FEW_NULS = 16  # a text file may hold this many NULs (or 1%) before it counts as binary
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # not on Windows, which has no FIFOs to fear
_MANIFEST_MARK = b'"format": "narrator-manifest"'
_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


@dataclass(frozen=True)
class Source:
    """A document to narrate; ``relative`` (no suffix) later names its output subfolder."""

    path: Path
    relative: PurePath
    from_folder: bool


def find_sources(
    paths: Sequence[Path], *, exclude: Path | None = None, warnings: list[str] | None = None
) -> list[Source]:
    """Expand files and folders into documents in a stable order, each listed once.

    Explicit files keep the order the user gave; a folder's documents follow in sorted
    relative-path order so that a cron run over the same folder always plans the same way.
    Nothing under ``exclude`` (the run's output folder) is taken from a folder. What a folder
    holds but cannot be narrated safely (a link out of it, a pipe) is skipped, and said in
    ``warnings``: a folder run goes on without it.
    """
    found: list[Source] = []
    seen: set[Path] = set()
    notes = warnings if warnings is not None else []
    for path in paths:
        for source in _expand(path, exclude, notes):
            key = source.path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(source)
    return found


def _expand(path: Path, exclude: Path | None, warnings: list[str]) -> list[Source]:
    try:
        mode = path.stat().st_mode  # never blocks, unlike an open of a pipe
    except FileNotFoundError:
        raise DocumentError(path, "no such file or folder") from None
    except OSError as exc:
        raise DocumentError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(mode):
        return _folder_sources(path, exclude, warnings)
    if not stat.S_ISREG(mode):
        raise DocumentError(path, f"not a regular file ({_kind(mode)})")
    if path.suffix.lower() not in SUFFIXES:
        raise DocumentError(
            path,
            f"unsupported file type {path.suffix or '(none)'!r}; expected {', '.join(SUFFIXES)}",
        )
    return [Source(path=path, relative=PurePosixPath(path.stem), from_folder=False)]


def _folder_sources(folder: Path, exclude: Path | None, warnings: list[str]) -> list[Source]:
    root = Path(os.path.realpath(folder))
    skip = Path(os.path.realpath(exclude)) if exclude is not None else None
    found: list[tuple[Source, Path, bool]] = []  # with its real path, and if a link
    for path, real, linked in _walk(folder, root, skip, warnings):
        relative = PurePosixPath(path.relative_to(folder).as_posix()).with_suffix("")
        found.append((Source(path=path, relative=relative, from_folder=True), real, linked))
    # The suffix breaks ties only, so "a.md" and "a.txt" (both "a") keep a fixed order.
    found.sort(key=lambda item: (item[0].relative.as_posix(), item[0].path.name))
    chosen: dict[Path, tuple[Source, Path, bool]] = {}
    for item in found:  # a document and a link to it are one document: the file itself
        _, real, linked = item
        kept = chosen.get(real)
        if kept is None or (kept[2] and not linked):
            chosen[real] = item
    sources = [item[0] for item in found if chosen[item[1]] is item]
    if not sources:
        raise DocumentError(folder, f"folder holds no documents ({', '.join(SUFFIXES)})")
    return sources


def _walk(
    folder: Path, root: Path, exclude: Path | None, warnings: list[str]
) -> Iterator[tuple[Path, Path, bool]]:
    """The documents under ``folder``: (path, real path, reached through a link).

    Linked folders are never entered, so no walk can loop or leave the folder: one inside
    it holds documents that are listed under their own path anyway.
    """
    pending = [folder]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError as exc:
            warnings.append(f"{directory}: skipped, cannot be listed ({exc.strerror or exc})")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue  # editor backups, .git and the like are never documents
            path = Path(entry.path)
            real = root / path.relative_to(folder)
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                warnings.append(f"{path}: skipped, cannot be read ({exc.strerror or exc})")
                continue
            if stat.S_ISLNK(mode):
                yield from _linked(path, root, exclude, warnings)
            elif stat.S_ISDIR(mode):
                if real != exclude and not _is_output_folder(path):
                    pending.append(path)
            elif path.suffix.lower() not in SUFFIXES:
                pass
            elif stat.S_ISREG(mode):
                yield path, real, False
            else:
                warnings.append(f"{path}: skipped, not a regular file ({_kind(mode)})")


def _linked(
    path: Path, root: Path, exclude: Path | None, warnings: list[str]
) -> Iterator[tuple[Path, Path, bool]]:
    """A link in a folder is followed only to a document inside it, and never to a folder."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if path.suffix.lower() in SUFFIXES:
            warnings.append(f"{path}: skipped, a link that leads nowhere ({exc.strerror or exc})")
        return
    real = Path(os.path.realpath(path))
    inside = real.is_relative_to(root) and not (exclude and real.is_relative_to(exclude))
    if stat.S_ISDIR(mode):
        if not inside:
            warnings.append(f"{path}: skipped, a link to a folder outside {root}")
    elif path.suffix.lower() not in SUFFIXES:
        pass
    elif not inside:
        warnings.append(f"{path}: skipped, a link to a file outside {root}")
    elif not stat.S_ISREG(mode):
        warnings.append(f"{path}: skipped, not a regular file ({_kind(mode)})")
    else:
        yield path, real, True


def _is_output_folder(folder: Path) -> bool:
    """A folder an earlier run wrote to (its manifest says so in its first line or two)."""
    path = folder / "manifest.json"
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as file:
            regular = stat.S_ISREG(os.fstat(file.fileno()).st_mode)
            return regular and _MANIFEST_MARK in file.read(200)
    except OSError:
        return False


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a file or folder"


def read_document(path: Path) -> bytes:
    """A document's bytes; a pipe, socket or device is refused without blocking on it.

    Checked before the open (opening some devices does something) and again after it (the
    file may have been swapped); ``O_NONBLOCK`` makes even that open return at once.
    """
    try:
        mode = path.stat().st_mode
        if stat.S_ISREG(mode):
            fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_NOCTTY", 0))
            with os.fdopen(fd, "rb") as file:
                mode = os.fstat(file.fileno()).st_mode
                if stat.S_ISREG(mode):
                    return file.read()
    except OSError as exc:
        raise DocumentError(path, f"cannot be read ({exc.strerror or exc})") from exc
    raise DocumentError(path, f"not a regular file ({_kind(mode)})")


def decode_text(data: bytes, path: Path, encoding: str | None, warnings: list[str]) -> str:
    """A document's bytes as text with LF line endings and no byte order mark; apart from
    :func:`read_document` so that the caller, which hashes the bytes, reads them once.

    Control characters are dropped here, once: a NUL or an escape sequence in one heading
    costs that character, not the document, and none reaches a title, a file or the voice.
    ``warnings`` hears how many there were.
    """
    if encoding is not None:
        text = _decode_with(data, path, encoding)
    else:
        text = _decode_detected(data, path)
    text = text.removeprefix("\ufeff")
    text, dropped = without_controls(text.replace("\r\n", "\n").replace("\r", "\n"))
    if dropped:
        warnings.append(
            f"{dropped} control character(s) or escape sequence(s) removed from the text"
        )
    return text


def check_encoding(name: str) -> str:
    """``name`` if it is a text encoding; codecs such as base64 or zip turn bytes into bytes
    and would fail deep inside a run, or decode a document into nonsense."""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        raise UsageError(f"unknown encoding {name!r}") from None
    if not getattr(info, "_is_text_encoding", True):
        raise UsageError(f"{name!r} is not a text encoding")
    return name


def _decode_with(data: bytes, path: Path, encoding: str) -> str:
    try:
        check_encoding(encoding)
    except UsageError as exc:
        raise DocumentError(path, str(exc)) from exc
    try:
        return data.decode(encoding)
    except ValueError as exc:  # UnicodeError, and what odd codecs (idna, undefined) raise
        raise DocumentError(path, f"cannot be decoded as {encoding}") from exc


def _decode_detected(data: bytes, path: Path) -> str:
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(name)
            except UnicodeDecodeError as exc:
                raise DocumentError(path, f"cannot be decoded as {name}") from exc
    nuls = data.count(b"\x00")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if nuls:  # an image, an archive: not text in any encoding --encoding could name
            raise DocumentError(path, "not a text file (binary data)") from exc
        raise DocumentError(path, "cannot be decoded as UTF-8; try --encoding") from exc
    if nuls > max(_FEW_NULS, len(data) // 100):
        # Valid UTF-8, but NUL every other byte or so: UTF-16 without a byte order mark, or
        # binary data that happens to decode. A few stray NULs are dropped with a warning.
        raise DocumentError(path, "not a text file (binary data, or UTF-16 without a BOM)")
    return text
