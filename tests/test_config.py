"""narrator.toml and --config: defaults for every option, flags win, bad files are one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from narrator.cli.options import build_settings
from narrator.settings import RunSettings
from tests.helpers import run_cli, write_book


@pytest.fixture
def settings_seen(monkeypatch: pytest.MonkeyPatch) -> list[RunSettings]:
    """The settings each run builds, taken from ``build_settings`` as the command calls it."""
    seen: list[RunSettings] = []

    def spy(*args: Any) -> RunSettings:
        settings = build_settings(*args)
        seen.append(settings)
        return settings

    monkeypatch.setattr("narrator.cli.main.build_settings", spy)
    return seen


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_book(tmp_path / "book.md", chapters=1)
    return tmp_path


FULL = """\
voice = "EXAVITQu4vr4xnSDxMaL"
concurrency = 2
max-segment-chars = 0
max_characters = 5000
subtitles = "srt,vtt"
format = "pcm_16000"
stability = 1
speaker-boost = false
pronunciation-dictionary = ["dictA:v7", "dictB"]
force = false
out = "audio"
"""


def test_narrator_toml_in_the_working_folder_sets_the_defaults(
    folder: Path, settings_seen: list[RunSettings]
) -> None:
    (folder / "narrator.toml").write_text(FULL, encoding="utf-8")
    result = run_cli("book.md", "--dry-run")
    assert result.exit_code == 0, result.output
    (settings,) = settings_seen
    assert settings.concurrency == 2 and settings.max_segment_chars == 0
    assert settings.max_characters == 5000
    assert settings.speech.voice_id == "EXAVITQu4vr4xnSDxMaL"
    assert settings.speech.output_format == "pcm_16000"
    assert settings.speech.voice.stability == 1.0
    assert settings.speech.voice.use_speaker_boost is False
    assert settings.speech.pronunciation_dictionaries == (("dictA", "v7"), ("dictB", None))
    assert settings.outputs.subtitles == ("srt", "vtt")
    assert settings.out == Path("audio") and not settings.force
    assert "book.md -> audio/" in result.output


def test_flags_on_the_command_line_win_over_the_file(
    folder: Path, settings_seen: list[RunSettings]
) -> None:
    (folder / "narrator.toml").write_text(FULL, encoding="utf-8")
    result = run_cli("book.md", "--dry-run", "-j", "8", "--voice", "JBFqnCBsd6RMkjVDRZzb")
    assert result.exit_code == 0, result.output
    (settings,) = settings_seen
    assert (settings.concurrency, settings.speech.voice_id) == (8, "JBFqnCBsd6RMkjVDRZzb")
    assert settings.max_segment_chars == 0  # the rest of the file still applies


def test_an_explicit_config_replaces_narrator_toml(
    folder: Path, settings_seen: list[RunSettings]
) -> None:
    (folder / "narrator.toml").write_text("concurrency = 2\n", encoding="utf-8")
    (folder / "cron.toml").write_text("concurrency = 3\n", encoding="utf-8")
    result = run_cli("book.md", "--dry-run", "--config", folder / "cron.toml")
    assert result.exit_code == 0, result.output
    assert settings_seen[0].concurrency == 3


def test_without_any_file_the_built_in_defaults_apply(
    folder: Path, settings_seen: list[RunSettings]
) -> None:
    assert run_cli("book.md", "--dry-run").exit_code == 0
    assert settings_seen[0].concurrency == 4


def test_a_missing_explicit_config_is_an_error(folder: Path) -> None:
    result = run_cli("book.md", "--dry-run", "--config", "nope.toml")
    assert result.exit_code == 2
    assert result.output.strip() == "narrate: nope.toml: no such config file"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("colour = 'blue'\n", "colour: not a narrate option"),
        ("concurrency = 'eight'\n", "concurrency: expected a whole number, not 'eight'"),
        ("concurrency = 2.5\n", "concurrency: expected a whole number, not 2.5"),
        ("concurrency = true\n", "concurrency: expected a whole number, not true"),
        ("force = 'yes'\n", "force: expected true or false, not 'yes'"),
        ("stability = '0.5'\n", "stability: expected a number"),
        ("pronunciation-dictionary = [1]\n", "expected a list of strings"),
        ("concurrency = 0\n", "concurrency: 0 is not in the range 1<=x<=64"),
        ("format = 'mp3_1'\n", "format: 'mp3_1' is not one of"),
        ("voice = 'no such voice!'\n", "voice: "),
        ("base-url = 'https://api.elevenlabs.io'\n", "base-url: that is the REST address"),
        ("concurrency = \n", "line 1"),
        ("[narrate]\nconcurrency = 2\n", "[narrate]: tables are not read"),
        ("api-key = 'sk-secret-123456'\n", "api-key: an API key is not read from a config"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(
    folder: Path, text: str, words: str
) -> None:
    (folder / "narrator.toml").write_text(text, encoding="utf-8")
    result = run_cli("book.md", "--dry-run")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("narrate: narrator.toml: ")
    assert words in result.output
    assert "sk-secret-123456" not in result.output


def test_the_environment_base_url_beats_the_file(
    folder: Path, settings_seen: list[RunSettings]
) -> None:
    (folder / "narrator.toml").write_text("base-url = 'wss://api.us.elevenlabs.io'\n")
    result = run_cli("book.md", "--dry-run", env={"ELEVENLABS_BASE_URL": "ws://127.0.0.1:9"})
    assert result.exit_code == 0, result.output
    assert settings_seen[0].service.base_url == "ws://127.0.0.1:9"
    assert run_cli("book.md", "--dry-run").exit_code == 0
    assert settings_seen[1].service.base_url == "wss://api.us.elevenlabs.io"
