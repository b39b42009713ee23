"""``--max-characters``: a run never sends more than its budget, retries included, and the
next run continues where it stopped."""

from __future__ import annotations

from pathlib import Path

from narrator.budget import Budget, characters_to_send
from narrator.local import ServerOptions
from tests.helpers import read_manifest, run_cli, server_in_thread, service_args, write_book
from tests.test_segments import write_long_book


def test_a_budget_reserves_before_and_settles_after() -> None:
    budget = Budget(100)
    assert budget.reserve(60) and not budget.reserve(50)
    assert budget.held_back == 50
    budget.settle(60, 20)  # a dropped session sent less than it reserved
    assert budget.reserve(50) and budget.left == 80
    assert Budget(None).reserve(10**9)


def test_characters_to_send_is_what_a_session_sends() -> None:
    text = "One sentence here. Another one there.\nA third, in a new paragraph."
    assert characters_to_send(text) == len(" ".join(text.split())) + 1


def test_the_run_stops_at_its_budget_and_the_next_run_continues(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=5, sentences=6)
    out = tmp_path / "out"
    with server_in_thread(ServerOptions(voice_engine="tone")) as server:
        first = run_cli(book, "--out", out, *service_args(server), "--max-characters", "700")
        sent_first = server.stats.characters_received
        assert first.exit_code == 1, first.output
        assert "characters are left to narrate" in first.output
        assert sent_first <= 700
        statuses = [c["status"] for c in read_manifest(out)["chapters"]]
        assert "pending" in statuses and "done" in statuses and "failed" not in statuses
        second = run_cli(book, "--out", out, *service_args(server))
        assert second.exit_code == 0, second.output
    chapters = read_manifest(out)["chapters"]
    assert all(c["status"] == "done" for c in chapters)
    assert server.stats.characters_received == sum(c["characters"] for c in chapters)


def test_retries_count_against_the_budget(tmp_path: Path) -> None:
    book = write_long_book(tmp_path / "book.md", paragraphs=10)
    out = tmp_path / "out"
    faults = ServerOptions(voice_engine="tone", drop_after_frames=2)  # every session drops
    limit = len(book.read_text()) * 3 // 2  # the chapter fits; its retries do not all fit
    with server_in_thread(faults) as server:
        result = run_cli(
            book, "--out", out, *service_args(server), "--max-characters", str(limit),
            "--max-segment-chars", "0",
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    (entry,) = read_manifest(out)["chapters"]
    assert entry["status"] == "pending" and 0 < entry["characters"] <= limit
    assert entry["attempts"] > 1  # it was retried, within the same budget


def test_the_dry_run_prints_the_cost_against_the_budget(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=2)
    result = run_cli(book, "--out", tmp_path / "out", "--dry-run", "--max-characters", "50")
    assert result.exit_code == 0, result.output
    assert "of 50 characters (over by" in result.output
