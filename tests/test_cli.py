"""The command line itself: help, version, dry run, usage errors and their exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from narrator import __version__
from narrator.settings import find_api_key
from tests.helpers import read_manifest, run_cli, write_book

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "book.md"


def test_help_shows_examples_and_exit_codes() -> None:
    result = run_cli("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "narrate book.md --out audiobook/" in result.output
    assert "130 interrupted" in result.output


def test_python_dash_m_is_the_same_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "narrator", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"narrate, version {__version__}"


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = run_cli(EXAMPLE, "--out", out, "--dry-run")
    assert result.exit_code == 0, result.output
    assert not out.exists()
    lines = result.output.splitlines()
    assert any("01 - The Lighthouse Keeper's Notebook.mp3" in line for line in lines)
    assert any(line.strip().startswith("5  Morning") for line in lines)
    assert "5 chapter(s), 1,387 characters" in result.output
    assert "about 1,387 credits with eleven_multilingual_v2" in result.output


def test_dry_run_credit_estimate_halves_for_flash_models(tmp_path: Path) -> None:
    result = run_cli(EXAMPLE, "--dry-run", "--model", "eleven_flash_v2_5")
    assert "about 694 credits with eleven_flash_v2_5" in result.output


def test_show_text_prints_exactly_what_is_sent(tmp_path: Path) -> None:
    result = run_cli(EXAMPLE, "--dry-run", "--show-text")
    assert (
        "Weather. By the third week she knew the moods of the sky. The notebook grew a table of "
        "its own. Day: Monday, Wind: North, four, Sea: Moderate." in result.output
    )
    for junk in ("https://", "lamp.lit", "[^1]", "|", "**", "```"):
        assert junk not in result.output


def test_show_text_without_dry_run_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(EXAMPLE, "--show-text")
    assert result.exit_code == 2
    assert "--show-text goes with --dry-run" in result.output


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    book = write_book(tmp_path / "b.md", chapters=1)
    for args in (
        ["--chunk-schedule", "10,500"],
        ["--speed", "2"],
        ["--format", "mp3_48000_999"],
        ["--concurrency", "0"],
    ):
        result = run_cli(book, "--dry-run", *args)
        assert result.exit_code == 2, args


def test_missing_key_for_elevenlabs_engine_is_exit_3(tmp_path: Path) -> None:
    book = write_book(tmp_path / "b.md", chapters=1)
    result = run_cli(book, "--out", tmp_path / "o", "--engine", "elevenlabs")
    assert result.exit_code == 3
    assert "no API key" in result.output
    assert not (tmp_path / "o").exists()


def test_key_is_read_from_a_dot_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("ELEVENLABS_API_KEY=from-dot-env\n")
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert find_api_key(None) == "from-dot-env"
    assert find_api_key("explicit") == "explicit"
    monkeypatch.setenv("ELEVENLABS_API_KEY", "from-env")
    assert find_api_key(None) == "from-env"


def test_missing_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "nope.md", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert result.output.strip() == f"narrate: {tmp_path / 'nope.md'}: no such file or folder"


def test_two_documents_that_would_share_a_folder_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_book(tmp_path / "a" / "book.md", chapters=1)
    second = write_book(tmp_path / "b" / "book.md", chapters=1)
    result = run_cli(first, second, "--dry-run")
    assert result.exit_code == 2
    assert "would both be written to OUT/book" in result.output


def test_the_voices_own_settings_are_kept_unless_given(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    out = tmp_path / "out"
    assert run_cli(book, "--out", out).exit_code == 0
    assert read_manifest(out)["engine"]["voice_settings"] == {}
    result = run_cli(book, "--out", out, "--speed", "1.1", "--no-speaker-boost")
    assert result.exit_code == 0, result.output
    assert "done 1" in result.output  # what is sent changed, so the audio is redone
    engine = read_manifest(out)["engine"]
    assert engine["voice_settings"] == {"use_speaker_boost": False, "speed": 1.1}


def test_long_form_parameters_are_sent_and_recorded(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    out = tmp_path / "out"
    args = [
        *("--model", "eleven_flash_v2_5", "--seed", "42", "--language", "en"),
        *("--text-normalization", "on", "--pronunciation-dictionary", "dictA:v7"),
        *("--pronunciation-dictionary", "dictB"),
    ]
    result = run_cli(book, "--out", out, *args)
    assert result.exit_code == 0, result.output
    engine = read_manifest(out)["engine"]
    assert (engine["seed"], engine["language_code"]) == (42, "en")
    assert engine["apply_text_normalization"] == "on"
    assert engine["pronunciation_dictionaries"] == [
        {"id": "dictA", "version": "v7"},
        {"id": "dictB", "version": None},
    ]
    again = run_cli(book, "--out", out, *args[:-2])  # one dictionary fewer: redone
    assert "done 1" in again.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--seed", "-1"], "--seed"),
        (["--seed", "4294967296"], "--seed"),
        (["--language", "english"], "ISO 639-1"),
        (["--language", "de"], "not taken by eleven_multilingual_v2"),
        (["--text-normalization", "maybe"], "--text-normalization"),
        (["--pronunciation-dictionary", "a/b"], "is not ID or ID:VERSION"),
        (["--pronunciation-dictionary", "a"] * 4, "at most 3"),
    ],
)
def test_long_form_parameters_are_checked(tmp_path: Path, args: list[str], words: str) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    result = run_cli(book, "--dry-run", *args)
    assert result.exit_code == 2
    assert words in result.output
