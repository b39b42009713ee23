"""One run per output folder at a time, and a lock left by a dead run is taken over.

A cron job that starts while the previous one is still narrating must not write the same
files: the lock file holds the owner's process id and host, created with O_EXCL.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import TracebackType

from narrator.errors import OutputError

LOCK_NAME = ".narrator.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """``with FolderLock(folder):`` holds the folder for this process."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._held = False

    def _owner(self) -> tuple[int, str] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return int(data["pid"]), str(data["host"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def acquire(self) -> None:
        content = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = self._owner()
                same_host = owner is not None and owner[1] == socket.gethostname()
                if owner is not None and (not same_host or _alive(owner[0])):
                    raise OutputError(
                        f"{self.path.parent}: another narrate run (pid {owner[0]} on "
                        f"{owner[1]}) is writing to this folder; wait for it to finish"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            except OSError as exc:
                raise OutputError(f"{self.path.parent}: cannot write here ({exc})") from exc
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            self._held = True
            return
        raise OutputError(f"{self.path}: cannot take the lock")

    def release(self) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False

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
