"""The output folder lock: one run at a time, decided by the kernel, never by a pid."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from narrator.errors import OutputError
from narrator.output.lock import LOCK_NAME, FolderLock

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="flock and fifos are POSIX")

# Takes the lock, says so, and holds it until its stdin gets a line (or closes).
HOLDER = """
import sys
from pathlib import Path
from narrator.output.lock import FolderLock
with FolderLock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""

# Says it is ready, waits for the start file, tries once; the winner holds until told.
RACER = """
import sys, time
from pathlib import Path
from narrator.errors import OutputError
from narrator.output.lock import FolderLock
folder, start = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not start.exists():
    time.sleep(0.001)
lock = FolderLock(folder)
try:
    lock.acquire()
except OutputError:
    print("refused", flush=True)
else:
    print("held", flush=True)
    sys.stdin.readline()
    lock.release()
"""

# Takes and releases the lock over and over; while holding it, claims a marker with O_EXCL,
# which fails only if another process holds the lock at the same time.
CHURNER = """
import os, sys, time
from pathlib import Path
from narrator.errors import OutputError
from narrator.output.lock import FolderLock
folder, start, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
inside = folder / "inside"
print("ready", flush=True)
while not start.exists():
    time.sleep(0.001)
held = overlaps = 0
for _ in range(rounds):
    lock = FolderLock(folder)
    try:
        lock.acquire()
    except OutputError:
        continue
    held += 1
    try:
        os.close(os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        overlaps += 1
    else:
        time.sleep(0)
        os.unlink(inside)
    lock.release()
print(held, overlaps, flush=True)
"""

Spawn = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start ``python -c script *args`` with pipes; every process is gone after the test."""
    procs: list[subprocess.Popen[str]] = []

    def start(script: str, *args: object) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", script, *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.communicate()


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def _hold(spawn: Spawn, folder: Path) -> subprocess.Popen[str]:
    proc = spawn(HOLDER, folder)
    assert _line(proc) == "held"
    return proc


def _owner(folder: Path) -> dict[str, object]:
    info = json.loads((folder / LOCK_NAME).read_text(encoding="utf-8"))
    assert isinstance(info, dict)
    return info


def test_second_lock_on_a_folder_is_refused_and_release_removes_the_file(tmp_path: Path) -> None:
    with FolderLock(tmp_path), pytest.raises(OutputError, match="another narrate run"):
        FolderLock(tmp_path).acquire()  # a second open file: refused even in one process
    assert not (tmp_path / LOCK_NAME).exists()
    with FolderLock(tmp_path):  # and the folder can be taken again
        assert _owner(tmp_path)["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_release_is_idempotent(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path)
    lock.release()
    lock.acquire()
    lock.release()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_held_by_a_live_process_is_refused_naming_it(tmp_path: Path, spawn: Spawn) -> None:
    holder = _hold(spawn, tmp_path)
    with pytest.raises(OutputError) as refused:
        FolderLock(tmp_path).acquire()
    message = str(refused.value)
    assert message == (
        f"{tmp_path}: another narrate run (pid {holder.pid} on {socket.gethostname()}) "
        "is writing to this folder; wait for it to finish"
    )
    assert _owner(tmp_path)["pid"] == holder.pid  # the refused run touched nothing


def test_the_lock_file_is_never_empty_once_acquire_returned(tmp_path: Path, spawn: Spawn) -> None:
    holder = _hold(spawn, tmp_path)
    info = _owner(tmp_path)
    assert info["pid"] == holder.pid
    assert info["host"] == socket.gethostname()
    assert isinstance(info["started"], str) and info["started"]


def test_a_killed_holder_releases_the_lock_at_once(tmp_path: Path, spawn: Spawn) -> None:
    holder = _hold(spawn, tmp_path)
    holder.kill()  # SIGKILL: no cleanup runs, the file stays behind
    holder.wait()
    assert _owner(tmp_path)["pid"] == holder.pid
    with FolderLock(tmp_path):
        assert _owner(tmp_path)["pid"] == os.getpid()


@pytest.mark.parametrize(
    "content",
    [
        # a live pid (this very test) on this host: the pid was reused by another process
        json.dumps({"pid": os.getpid(), "host": socket.gethostname()}),
        # pid 1 in another container: always alive, but not holding anything here
        json.dumps({"pid": 1, "host": "another-container"}),
        "garbage",
        "",
    ],
    ids=["reused-pid", "other-container", "garbage", "empty"],
)
def test_a_file_left_behind_is_taken_over_whatever_it_says(tmp_path: Path, content: str) -> None:
    (tmp_path / LOCK_NAME).write_text(content, encoding="utf-8")
    with FolderLock(tmp_path):
        info = _owner(tmp_path)
        assert (info["pid"], info["host"]) == (os.getpid(), socket.gethostname())


def test_runs_starting_at_the_same_instant_never_both_hold_it(tmp_path: Path, spawn: Spawn) -> None:
    start = tmp_path / "start"
    racers = [spawn(RACER, tmp_path, start) for _ in range(8)]
    assert [_line(racer) for racer in racers] == ["ready"] * 8
    start.touch()
    answers = [_line(racer) for racer in racers]  # the winner holds until all have answered
    assert sorted(answers) == ["held"] + ["refused"] * 7
    winner = racers[answers.index("held")]
    assert _owner(tmp_path)["pid"] == winner.pid
    for racer in racers:
        racer.communicate("\n")
        assert racer.returncode == 0
    assert not (tmp_path / LOCK_NAME).exists()


def test_taking_and_releasing_in_a_loop_never_overlaps(tmp_path: Path, spawn: Spawn) -> None:
    start = tmp_path / "start"
    churners = [spawn(CHURNER, tmp_path, start, 1000) for _ in range(8)]
    assert [_line(churner) for churner in churners] == ["ready"] * 8
    start.touch()
    results = [tuple(map(int, _line(churner).split())) for churner in churners]
    assert sum(held for held, _ in results) > 0
    assert [overlaps for _, overlaps in results] == [0] * 8


@posix_only
def test_a_lock_file_replaced_before_flock_is_retried_on_the_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    real_flock, calls = fcntl.flock, list[int]()
    path = tmp_path / LOCK_NAME

    def flock_after_a_release(fd: int, operation: int) -> None:
        if not calls:  # the holder unlinked it; another run created a fresh one
            path.unlink()
            path.write_text("")
        calls.append(fd)
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_a_release)
    with FolderLock(tmp_path):
        assert len(calls) == 2
        assert _owner(tmp_path)["pid"] == os.getpid()
    assert not path.exists()


@posix_only
def test_release_unlinks_the_file_while_still_holding_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing first would let a run lock the file in between, then lose it to the unlink."""
    import fcntl

    path, still_held = tmp_path / LOCK_NAME, []
    real_unlink = os.unlink

    def probing_unlink(target: str | os.PathLike[str], **kw: object) -> None:
        if Path(target) == path:
            probe = os.open(path, os.O_RDONLY)
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                still_held.append(False)
            except BlockingIOError:
                still_held.append(True)
            finally:
                os.close(probe)
        real_unlink(target, **kw)  # type: ignore[arg-type]

    with FolderLock(tmp_path):
        monkeypatch.setattr(os, "unlink", probing_unlink)
    assert still_held == [True]
    assert not path.exists()


@posix_only
def test_a_lock_file_replaced_every_time_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    path = tmp_path / LOCK_NAME

    def always_replaced(fd: int, operation: int) -> None:
        path.unlink()
        path.write_text("")

    monkeypatch.setattr(fcntl, "flock", always_replaced)
    with pytest.raises(OutputError, match="keeps being replaced"):
        FolderLock(tmp_path).acquire()


@posix_only
def test_a_file_system_without_locking_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(OutputError, match="does not support locking") as refused:
        FolderLock(tmp_path).acquire()
    assert str(tmp_path) in str(refused.value)


@posix_only
def test_a_symlink_or_fifo_in_place_of_the_lock_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    (tmp_path / LOCK_NAME).symlink_to(target)
    with pytest.raises(OutputError, match="cannot write here"):
        FolderLock(tmp_path).acquire()
    assert target.read_text() == "precious"
    (tmp_path / LOCK_NAME).unlink()
    os.mkfifo(tmp_path / LOCK_NAME)
    with pytest.raises(OutputError, match="not a regular file"):
        FolderLock(tmp_path).acquire()


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0,
    reason="root writes to any folder (and POSIX modes only)",
)
def test_a_folder_that_is_not_writable_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot write here") as refused:
            FolderLock(folder).acquire()
        assert str(folder) in str(refused.value)
    finally:
        folder.chmod(0o755)


def test_the_fallback_without_fcntl_creates_the_file_whole_and_refuses_a_held_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Windows path, run here: only Windows' refusal to delete an open file is faked."""
    monkeypatch.setattr(sys, "platform", "win32")
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps({"pid": 1, "host": "gone"}))  # left behind: deletable
    with FolderLock(tmp_path):
        assert _owner(tmp_path)["pid"] == os.getpid()
        assert [p.name for p in tmp_path.iterdir()] == [LOCK_NAME]  # no temp file left
        real_unlink = os.unlink

        def open_files_cannot_be_deleted(target: object, *args: object, **kw: object) -> None:
            if Path(str(target)) == path:
                raise PermissionError(errno.EACCES, "in use", str(target))
            real_unlink(target, *args, **kw)  # type: ignore[arg-type]

        with monkeypatch.context() as held:
            held.setattr(os, "unlink", open_files_cannot_be_deleted)
            with pytest.raises(OutputError, match=rf"\(pid {os.getpid()} on "):
                FolderLock(tmp_path).acquire()
        assert [p.name for p in tmp_path.iterdir()] == [LOCK_NAME]
    assert not path.exists()
