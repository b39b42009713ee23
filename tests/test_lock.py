"""The output folder lock: one run at a time, stale locks taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from narrator.errors import OutputError
from narrator.lock import LOCK_NAME, FolderLock


def test_second_lock_on_a_folder_is_refused(tmp_path: Path) -> None:
    with FolderLock(tmp_path), pytest.raises(OutputError, match="another narrate run"):
        FolderLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()


def test_stale_lock_from_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    with FolderLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_garbage_lock_file_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text("garbage")
    with FolderLock(tmp_path):
        pass
