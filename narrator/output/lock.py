"""One narrate run per output folder at a time (overlapping cron jobs must not share files).

A run holds ``.narrator.output.lock`` in the folder with ``flock(LOCK_EX | LOCK_NB)``. The kernel
knows whether the holder is alive and drops the lock the moment it dies, however it dies, so
there is no stale lock to detect and nothing is ever taken over by guessing from a pid: pids
are reused, and mean nothing in another container or on another host. The pid, host and start
time written into the held file only make the message of a refused run useful.

Releasing unlinks the file while still holding it; a run that locked the old file in between
sees that the path no longer names its file and tries again.

Without fcntl (Windows) the file is created with its content in one step (written to a temp
file, then hard-linked into place) and held open. Windows refuses to delete an open file, so
a lock file that can be deleted belongs to a run that is gone (``os.kill(pid, 0)`` is no
liveness probe there: it sends CTRL_C_EVENT).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from narrator.errors import OutputError

LOCK_NAME = ".narrator.output.lock"
_ATTEMPTS = 10  # a path replaced this often under us means something else is wrong
_MAX_INFO = 4096


def _owner_info() -> bytes:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
    return json.dumps(info).encode()


def _same_file(fd: int, path: Path) -> bool:
    try:
        now, held = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


class FolderLock:
    """``with FolderLock(folder):`` holds the folder for this process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def _busy(self, read: Callable[[], bytes]) -> OutputError:
        """The refusal, naming the owner when its file can be read (it is never empty)."""
        owner = ""
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(read())
            pid, host = int(data["pid"]), str(data["host"])
            owner = f" (pid {pid} on {host})" if host.isprintable() else f" (pid {pid})"
        return OutputError(
            f"{self.folder}: another narrate run{owner} is writing to this folder; "
            "wait for it to finish"
        )

    def _cannot_write(self, exc: OSError) -> OutputError:
        return OutputError(f"{self.folder}: cannot write here ({exc.strerror or exc})")

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held")
        for _ in range(_ATTEMPTS):
            fd = self._try_link() if sys.platform == "win32" else self._try_flock()
            if fd is not None:
                self._fd = fd
                return
        raise OutputError(f"{self.folder}: cannot take the lock: {LOCK_NAME} keeps being replaced")

    def _try_flock(self) -> int | None:
        """The held fd, or None when the path was replaced under us; raise when busy."""
        if sys.platform == "win32":  # only called where fcntl exists (for type checkers)
            raise NotImplementedError
        import fcntl

        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise self._cannot_write(exc) from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OutputError(f"{self.path}: not a regular file; remove it")
            if info.st_nlink != 1:  # a hard link to a file elsewhere: never write into it
                raise OutputError(f"{self.path}: has other hard links; remove it")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # EWOULDBLOCK / EAGAIN: a live run holds it
                raise self._busy(lambda: os.pread(fd, _MAX_INFO, 0)) from None
            except OSError as exc:  # ENOLCK and the like
                raise OutputError(
                    f"{self.folder}: its file system does not support locking "
                    f"({exc.strerror or exc}); use a local folder"
                ) from exc
            if not _same_file(fd, self.path):  # released and unlinked before we locked it
                os.close(fd)
                return None
            try:
                os.ftruncate(fd, 0)
                os.write(fd, _owner_info())
                os.fsync(fd)
            except OSError as exc:
                raise self._cannot_write(exc) from exc
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _try_link(self) -> int | None:
        """Fallback without fcntl: create with content, hold open; delete only if unheld."""
        try:
            tmp_fd, tmp = tempfile.mkstemp(prefix=LOCK_NAME + ".", dir=self.folder)
            with os.fdopen(tmp_fd, "wb") as tmp_file:
                tmp_file.write(_owner_info())
            ours = os.stat(tmp)
        except OSError as exc:
            raise self._cannot_write(exc) from exc
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            try:
                os.unlink(self.path)  # fails while its run holds it open
            except PermissionError:
                raise self._busy(self._read) from None
            except FileNotFoundError:
                pass
            return None
        except OSError as exc:
            raise self._cannot_write(exc) from exc
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:  # deleted as stale before we opened it: try again
            return None
        held = os.fstat(fd)
        if (held.st_dev, held.st_ino) != (ours.st_dev, ours.st_ino):
            os.close(fd)
            return None
        return fd

    def _read(self) -> bytes:
        with open(self.path, "rb") as file:
            return file.read(_MAX_INFO)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if sys.platform == "win32":
            os.close(fd)  # an open file cannot be deleted there: first let go of it
            with contextlib.suppress(OSError):  # fails if another run has it open: it stays
                os.unlink(self.path)
            return
        with contextlib.suppress(OSError):  # a file left behind is harmless: no one holds it
            if _same_file(fd, self.path):
                os.unlink(self.path)  # still holding it, so no run can lock it in between
        os.close(fd)

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
