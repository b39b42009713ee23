"""Defects a review found, each pinned: none of them may come back."""

from __future__ import annotations

from pathlib import Path

import pytest

from narrator import run
from narrator.cli import main as cli
from narrator.errors import OutputError, TaggingError
from narrator.output.audio import audio_duration
from narrator.output.manifest import Manifest
from tests.helpers import read_manifest, run_cli, write_book


def test_a_truncated_wav_is_a_tagging_error_not_a_struct_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00")  # cut inside a chunk header
    with pytest.raises(TaggingError, match="truncated WAV file"):
        audio_duration(path, "pcm_16000")
    path.write_bytes(b"RIFF")
    with pytest.raises(TaggingError):
        audio_duration(path, "pcm_16000")


def test_a_failed_final_manifest_save_is_an_error_not_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    out = tmp_path / "out"
    state = {"pool_done": False}
    real_pool, real_save = run._run_pool, Manifest.save

    async def pool_then_flag(*args: object) -> None:
        await real_pool(*args)  # type: ignore[arg-type]
        state["pool_done"] = True

    def save(self: Manifest, folder: Path) -> None:
        if state["pool_done"]:
            raise OutputError(f"cannot write {folder / 'manifest.json'}: No space left on device")
        real_save(self, folder)

    monkeypatch.setattr(run, "_run_pool", pool_then_flag)
    monkeypatch.setattr(Manifest, "save", save)
    result = run_cli(book, "--out", out)
    assert result.exit_code == 2
    assert "No space left on device" in result.output
    entry = read_manifest(out)["chapters"][0]  # what the last successful save recorded
    assert entry["status"] == "done" and (out / entry["file"]).is_file()


def test_ctrl_c_during_a_dry_run_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)

    def interrupted(*args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "print_plan", interrupted)
    result = run_cli(book, "--dry-run")
    assert result.exit_code == 130
    assert "Aborted!" not in result.output


def test_a_key_cut_short_by_a_length_limit_is_still_redacted() -> None:
    from narrator.errors import redact

    key = "sk_0123456789abcdef0123"
    reason = f"Invalid API key: {key}"[:30] + "…"  # a close reason holds 123 bytes at most
    assert "sk_01234" not in redact(reason, key)
    assert redact(f"a {key} b", key) == "a *** b"
