"""File-system primitives of the output folder: atomic JSON, temp files, hashes, safe reads.

Every write is a hidden temp file beside its final name, fsynced and renamed, so a reader
sees the old file or the new one; a killed run leaves only ``.NAME.XXXXXXXX.part`` files,
which :func:`remove_stale_temp_files` clears by that exact naming (a user's own hidden file
is never touched). Only regular files are read or deleted, never what a link points to.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from narrator.errors import OutputError

TEMP_SUFFIX = ".part"


BLOCK = 1 << 20


#: A temp file: the final name hidden, 8 hex digits, ``.part`` (see :func:`open_temp`).
_OWN_TEMP = re.compile(
    r"\.(?:manifest\.json|metadata\.json|feed\.xml|cover\.(?:jpg|png)"
    r"|\d{2,} - [^/\\\x00]+\.(?:mp3|wav|opus|timings\.json|srt|vtt))\.[0-9a-f]{8}\.part"
)


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ValueError says why not."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"larger than {limit // 2**20} MB")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit // 2**20} MB")
    return data


def is_regular_file(path: Path) -> bool:
    """A regular file itself, not a link to one: narrator reads and deletes only those."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def open_regular(path: Path, *, writable: bool = False) -> BinaryIO:
    """Open a regular file for binary reading (or updating) without following a link to it;
    OSError (ELOOP for a link) or ValueError (another kind of file) says why not."""
    flags = (os.O_RDWR if writable else os.O_RDONLY) | getattr(os, "O_NOFOLLOW", 0)
    file = os.fdopen(
        os.open(path, flags | getattr(os, "O_NONBLOCK", 0)), "r+b" if writable else "rb"
    )
    if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
        file.close()
        raise ValueError(f"{path}: not a regular file")
    return file


def remove_stale_temp_files(folder: Path, names: Sequence[str] = ()) -> list[Path]:
    """Remove the temp files a killed run left behind, by their exact naming only (narrator's
    fixed names, chapter files and what is made from them, and ``names``); call only while
    holding the folder's lock, or a concurrent run would lose the files it is writing."""
    removed: list[Path] = []
    extra = {f".{name}" for name in names}
    try:
        for path in sorted(Path(folder).glob(f".*{TEMP_SUFFIX}")):
            own = _OWN_TEMP.fullmatch(path.name) or path.name[:-14] in extra
            if own and is_regular_file(path):
                path.unlink()
                removed.append(path)
    except OSError as exc:
        raise OutputError(f"cannot clean {folder}: {exc.strerror or exc}") from exc
    return removed


def write_json_atomic(path: Path, data: object) -> None:
    """Replace ``path`` with ``data`` as JSON so a reader sees the old file or the new one."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old file or the new one."""
    write_stream_atomic(path, [data])


def write_stream_atomic(path: Path, blocks: Iterable[bytes]) -> None:
    """:func:`write_bytes_atomic` for content made as it is written, never whole in memory."""
    temp, file = open_temp(path.parent, path.name)
    try:
        with file:
            for block in blocks:
                file.write(block)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
        fsync_folder(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks so a long chapter never sits in memory."""
    try:
        with path.open("rb") as file:
            return _digest(file)
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _digest(file: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := file.read(BLOCK):
        digest.update(block)
    return digest.hexdigest()


def hash_and_fsync(path: Path) -> str:
    """Hash the finished bytes and fsync them in one pass (tagging rewrote the file)."""
    with path.open("r+b") as file:
        digest = _digest(file)
        os.fsync(file.fileno())
    return digest


def open_temp(folder: Path, name: str) -> tuple[Path, BinaryIO]:
    """A new hidden temp file beside its final name, so the rename never crosses devices;
    mode "xb" rather than mkstemp so the umask applies (mkstemp's 0600 would survive)."""
    temp = folder / f".{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    try:
        return temp, temp.open("xb")
    except OSError as exc:
        raise OutputError(f"cannot create a file in {folder}: {exc.strerror or exc}") from exc


def fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; Windows has no directory handles to fsync."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
