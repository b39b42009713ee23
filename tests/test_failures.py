"""Each failure class, injected through the local server's switches."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutagen.mp3 import MP3

from narrator.local import ServerOptions
from tests.helpers import (
    per_second,
    read_manifest,
    run_cli,
    server_in_thread,
    service_args,
    write_book,
)

FAST_RETRY = ["--retries", "3"]


def _statuses(out: Path) -> list[str]:
    return [c["status"] for c in read_manifest(out)["chapters"]]


def test_drop_mid_chapter_is_retried_and_billed_twice(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=1, sentences=12)
    out = tmp_path / "out"
    options = ServerOptions(drop_after_frames=1, fault_sessions=1)
    with server_in_thread(options) as server:
        result = run_cli(book, "--out", out, *service_args(server), *FAST_RETRY, "-v")
    assert result.exit_code == 0, result.output
    assert "retrying" in result.output
    (entry,) = read_manifest(out)["chapters"]
    assert entry["status"] == "done" and entry["attempts"] == 2
    text_chars = len(book.read_text())
    assert entry["characters"] > text_chars  # both attempts were paid for
    assert MP3(out / entry["file"]).info.length > 5


def test_internal_error_1011_is_retried(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=2, sentences=8)
    out = tmp_path / "out"
    options = ServerOptions(internal_error_after_frames=1, fault_sessions=2)
    with server_in_thread(options) as server:
        result = run_cli(book, "--out", out, *service_args(server), *FAST_RETRY)
    assert result.exit_code == 0, result.output
    assert _statuses(out) == ["done", "done"]
    assert sum(c["attempts"] for c in read_manifest(out)["chapters"]) == 4


def test_refused_concurrency_lowers_the_pool_and_finishes(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=4, sentences=10)
    out = tmp_path / "out"
    options = ServerOptions(
        max_concurrency=1, concurrency_mode="refuse", chars_per_second=per_second(2000)
    )
    with server_in_thread(options) as server:
        result = run_cli(book, "--out", out, *service_args(server), "-j", "4", "--retries", "8")
    assert result.exit_code == 0, result.output
    assert "limits concurrency" in result.output
    assert _statuses(out) == ["done"] * 4


def test_queued_concurrency_needs_no_retry(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=3)
    out = tmp_path / "out"
    options = ServerOptions(max_concurrency=1, concurrency_mode="queue")
    with server_in_thread(options) as server:
        result = run_cli(book, "--out", out, *service_args(server), "-j", "3")
        assert server.stats.peak_concurrency == 1  # the server's limit, not -j
    assert result.exit_code == 0, result.output
    assert [c["attempts"] for c in read_manifest(out)["chapters"]] == [1, 1, 1]


def test_bad_key_stops_the_run_with_exit_3_and_no_audio(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=3)
    out = tmp_path / "out"
    with server_in_thread(ServerOptions(api_key="the-right-key")) as server:
        result = run_cli(book, "--out", out, *service_args(server, "a-wrong-key"))
        assert server.stats.sessions_started <= 4
    assert result.exit_code == 3
    lines = [line for line in result.output.splitlines() if line.startswith("narrate:")]
    assert lines == ["narrate: Invalid API key (invalid_api_key, close code 1008)"]
    assert not list(out.glob("*.mp3"))
    assert set(_statuses(out)) == {"pending"}


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_a_key_echoed_in_an_error_never_reaches_output_manifest_or_files(
    tmp_path: Path, debug: list[str]
) -> None:
    book = write_book(tmp_path / "book.md", chapters=2)
    out = tmp_path / "out"
    wrong = "sk_wrong_key_0451"
    options = ServerOptions(api_key="the-right-key", echo_key_in_errors=True)
    with server_in_thread(options) as server:
        result = run_cli(book, "--out", out, *service_args(server, wrong), *debug)
    assert result.exit_code == 3
    assert "Invalid API key: ***" in result.output
    assert wrong not in result.output
    for path in out.rglob("*"):
        assert wrong.encode() not in path.read_bytes(), path


def test_quota_error_stops_the_run_with_exit_3(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=3)
    out = tmp_path / "out"
    with server_in_thread(ServerOptions(quota_characters=100, quota_mode="error")) as server:
        result = run_cli(book, "--out", out, *service_args(server), "-j", "1")
    assert result.exit_code == 3
    assert "quota_exceeded" in result.output


def test_silent_quota_stops_the_run_and_is_never_a_success(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=3)
    out = tmp_path / "out"
    with server_in_thread(ServerOptions(quota_characters=10, quota_mode="silent")) as server:
        result = run_cli(book, "--out", out, *service_args(server), "-j", "1")
        assert server.stats.sessions_completed == 2  # one chapter tried twice, then the stop
    assert result.exit_code == 3, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("narrate:")]
    assert len(lines) == 1 and "quota" in lines[0]
    assert [c["status"] for c in read_manifest(out)["chapters"]] == ["pending"] * 3
    assert not list(out.glob("*.mp3"))


def test_one_failed_chapter_does_not_stop_the_others(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=3, sentences=6)
    out = tmp_path / "out"
    # Every session drops before any audio: the longest chapter goes first and fails for
    # good; with retries 0 each chapter gets one attempt, so all fail but all are tried.
    options = ServerOptions(drop_after_frames=0)
    with server_in_thread(options) as server:
        result = run_cli(book, "--out", out, *service_args(server), "--retries", "0", "-j", "1")
        assert server.stats.sessions_started >= 3
    assert result.exit_code == 1
    assert _statuses(out) == ["failed"] * 3
    assert not [p for p in out.iterdir() if p.suffix in (".mp3", ".part")]


def test_an_unknown_voice_stops_the_run_at_once_with_exit_3(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=4)
    out = tmp_path / "out"
    with server_in_thread() as server:
        result = run_cli(
            book, "--out", out, *service_args(server), "--voice", "NoSuchVoice123", "-j", "1"
        )
        assert server.stats.characters_received == 0  # refused before any text was taken
    assert result.exit_code == 3, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("narrate:")]
    assert lines == [
        "narrate: A voice with voice_id NoSuchVoice123 does not exist. "
        "(voice_id_does_not_exist, close code 1008)"
    ]
    assert "retrying" not in result.output
    assert set(_statuses(out)) == {"pending"}


def test_a_quota_seen_as_a_bare_close_stops_the_run(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=3)
    out = tmp_path / "out"
    with server_in_thread(ServerOptions(quota_characters=10, quota_mode="close")) as server:
        result = run_cli(book, "--out", out, *service_args(server), "-j", "1")
        assert server.stats.sessions_completed == 0
    assert result.exit_code == 3, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("narrate:")]
    assert len(lines) == 1 and "exceeds your quota" in lines[0] and "likely used up" in lines[0]
    assert set(_statuses(out)) == {"pending"}
