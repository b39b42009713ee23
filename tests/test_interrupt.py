"""Crashes and signals: SIGKILL then a rerun that redoes only what is missing; SIGTERM."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mutagen.id3 import ID3
from mutagen.mp3 import MP3

from narrator.local import ServerOptions
from tests.helpers import (
    per_second,
    read_manifest,
    run_cli,
    seconds,
    server_in_thread,
    service_args,
    write_book,
)

ROOT = Path(__file__).resolve().parents[1]


def _start(book: Path, out: Path, url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ELEVENLABS_API_KEY": "", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "narrator",
            str(book),
            "--out",
            str(out),
            "--engine",
            "elevenlabs",
            "--base-url",
            url,
            "--api-key",
            "k",
            "-j",
            "1",
            "--quiet",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_done(out: Path, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds(60)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"narrate ended early: {proc.communicate()}")
        try:
            chapters = read_manifest(out)["chapters"]
        except (OSError, ValueError):
            chapters = []
        if sum(c["status"] == "done" for c in chapters) >= count:
            return
        time.sleep(seconds(0.05))
    raise AssertionError("chapters were not done in time")


def _assert_consistent(out: Path) -> list[dict[str, object]]:
    """Every done entry's file is intact; no file under a final name is partial."""
    chapters = read_manifest(out)["chapters"]
    for entry in chapters:
        path = out / str(entry["file"])
        if entry["status"] == "done":
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["audio_sha256"]
    for path in out.glob("*.mp3"):
        assert MP3(path).info.length > 1.0
        assert "TIT2" in ID3(path)
    return chapters


def test_sigkill_mid_book_then_rerun_redoes_only_the_missing_chapters(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=6, sentences=5)
    out = tmp_path / "out"
    with server_in_thread(ServerOptions(chars_per_second=per_second(400))) as server:
        proc = _start(book, out, server.url)
        _wait_for_done(out, 2, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(seconds(10))
        chapters = _assert_consistent(out)
        # A chapter committed but not yet recorded (the manifest's save is throttled) is
        # adopted from its tags on the rerun: only chapters with no file are narrated again.
        missing = sum(
            c["status"] != "done" and not (out / str(c["file"])).exists() for c in chapters
        )
        assert 0 < missing < 6
        before = server.stats.sessions_completed
        result = run_cli(book, "--out", out, *service_args(server))
        assert result.exit_code == 0, result.output
        assert server.stats.sessions_completed - before == missing
    assert f"done {missing}, skipped {6 - missing}, failed 0" in result.output
    assert [c["status"] for c in _assert_consistent(out)] == ["done"] * 6
    assert not list(out.glob(".*.part"))


def test_sigterm_cancels_cleanly_with_exit_130(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=4, sentences=6)
    out = tmp_path / "out"
    with server_in_thread(ServerOptions(chars_per_second=per_second(300))) as server:
        proc = _start(book, out, server.url)
        _wait_for_done(out, 1, proc)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=seconds(30))
    assert proc.returncode == 130, stderr
    assert b"interrupted" in stderr
    assert not list(out.glob(".*.part"))
    assert not (out / ".narrator.output.lock").exists()
    chapters = _assert_consistent(out)
    assert "pending" in {c["status"] for c in chapters}
    for entry in chapters:
        if entry["status"] == "pending":
            assert not (out / str(entry["file"])).exists()
