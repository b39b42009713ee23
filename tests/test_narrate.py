"""``narrate`` end to end against the real local server on loopback."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from mutagen.id3 import ID3
from mutagen.mp3 import MP3

from narrator.local import ServerOptions
from narrator.output.lock import FolderLock
from tests.helpers import (
    read_manifest,
    run_cli,
    seconds,
    server_in_thread,
    service_args,
    write_book,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "book.md"
KEY = "test-key-123"


def _mp3s(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.mp3"))


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".part")]


def test_example_book_end_to_end_with_tags_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "audiobook"
    with server_in_thread(ServerOptions(api_key=KEY)) as server:
        result = run_cli(EXAMPLE, "--out", out, *service_args(server, KEY), "-j", "2")
    assert result.exit_code == 0, result.output
    files = _mp3s(out)
    assert [f.name for f in files] == [
        "01 - The Lighthouse Keeper's Notebook.mp3",
        "02 - The First Night.mp3",
        "03 - Weather.mp3",
        "04 - The Visitor.mp3",
        "05 - Morning.mp3",
    ]
    manifest = read_manifest(out)
    assert manifest["book"]["title"] == "The Lighthouse Keeper's Notebook"
    assert manifest["book"]["author"] == "narrator examples"
    assert manifest["engine"]["engine"] == "elevenlabs"
    for number, (path, entry) in enumerate(zip(files, manifest["chapters"], strict=True), 1):
        audio = MP3(path)
        assert audio.info.length > 1.0
        assert entry["status"] == "done" and entry["error"] is None
        assert entry["file"] == path.name and entry["index"] == number
        assert entry["bytes"] == path.stat().st_size
        assert abs(entry["duration_s"] - audio.info.length) < 0.1
        assert entry["attempts"] == 1 and entry["characters"] > 0
        tags = ID3(path)
        assert tags.version[:2] == (2, 4)
        # The opening chapter shares the book's title, so its tag is numbered for players.
        expected = f"{entry['title']} (1)" if number == 1 else entry["title"]
        assert str(tags["TIT2"]) == expected
        assert str(tags["TALB"]) == "The Lighthouse Keeper's Notebook"
        assert str(tags["TPE1"]) == str(tags["TPE2"]) == "narrator examples"
        assert str(tags["TRCK"]) == f"{number}/5"
        assert str(tags["TCON"]) == "Audiobook"
        assert not tags.getall("COMM")  # the example has no description
        provenance = str(tags["TXXX:NARRATOR"])
        assert "engine elevenlabs" in provenance and "eleven_multilingual_v2" in provenance
    assert "done 5, skipped 0, failed 0" in result.output
    assert _no_temp_files(out)


def test_second_run_skips_everything_and_opens_no_session(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=3)
    out = tmp_path / "out"
    with server_in_thread() as server:
        assert run_cli(book, "--out", out, *service_args(server)).exit_code == 0
        before = server.stats.sessions_started
        first = read_manifest(out)
        again = run_cli(book, "--out", out, *service_args(server))
        assert again.exit_code == 0, again.output
        assert server.stats.sessions_started == before
    assert "done 0, skipped 3, failed 0" in again.output
    assert [c["audio_sha256"] for c in read_manifest(out)["chapters"]] == [
        c["audio_sha256"] for c in first["chapters"]
    ]


def test_changed_chapter_is_the_only_one_redone(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=3)
    out = tmp_path / "out"
    with server_in_thread() as server:
        assert run_cli(book, "--out", out, *service_args(server)).exit_code == 0
        before = server.stats.sessions_started
        text = book.read_text().replace("Chapter 2 sentence 1", "Chapter 2 sentence one")
        book.write_text(text)
        again = run_cli(book, "--out", out, *service_args(server))
        assert server.stats.sessions_started == before + 1
    assert "done 1, skipped 2, failed 0" in again.output


def test_force_redoes_every_chapter(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=2)
    out = tmp_path / "out"
    with server_in_thread() as server:
        run_cli(book, "--out", out, *service_args(server))
        before = server.stats.sessions_started
        again = run_cli(book, "--out", out, *service_args(server), "--force")
        assert server.stats.sessions_started == before + 2
    assert "done 2, skipped 0" in again.output


def test_changed_settings_redo_the_chapters(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=2)
    out = tmp_path / "out"
    with server_in_thread() as server:
        run_cli(book, "--out", out, *service_args(server))
        again = run_cli(book, "--out", out, *service_args(server), "--speed", "1.1")
    assert "done 2, skipped 0" in again.output


def test_removed_chapters_are_reported_then_pruned(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=3)
    out = tmp_path / "out"
    with server_in_thread() as server:
        run_cli(book, "--out", out, *service_args(server))
        write_book(book, chapters=2)
        kept = run_cli(book, "--out", out, *service_args(server))
        assert "no longer exist" in kept.output
        assert (out / "03 - Part 3.mp3").exists()
        assert read_manifest(out)["stale"][0]["file"] == "03 - Part 3.mp3"
        pruned = run_cli(book, "--out", out, *service_args(server), "--prune")
    assert pruned.exit_code == 0
    assert not (out / "03 - Part 3.mp3").exists()
    assert read_manifest(out)["stale"] == []
    assert len(read_manifest(out)["chapters"]) == 2


def test_chapters_left_after_a_removal_are_retagged_with_the_new_total(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=3)
    out = tmp_path / "out"
    with server_in_thread() as server:
        assert run_cli(book, "--out", out, *service_args(server)).exit_code == 0
        sent = server.stats.characters_received
        write_book(book, chapters=2)
        assert run_cli(book, "--out", out, *service_args(server)).exit_code == 0
        assert server.stats.characters_received == sent  # retagged, not narrated again
    assert str(ID3(out / "01 - Part 1.mp3")["TRCK"]) == "1/2"
    assert str(ID3(out / "02 - Part 2.mp3")["TRCK"]) == "2/2"


def test_local_audio_is_never_kept_once_a_key_is_given(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=2)
    out = tmp_path / "out"
    assert run_cli(book, "--out", out).exit_code == 0  # the embedded local engine
    assert read_manifest(out)["engine"]["engine"] == "local"
    with server_in_thread() as server:
        result = run_cli(book, "--out", out, *service_args(server))
        assert server.stats.sessions_started == 2
    assert result.exit_code == 0, result.output
    assert "done 2" in result.output
    assert read_manifest(out)["engine"]["engine"] == "elevenlabs"


def test_pcm_is_written_as_a_wav_file(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    out = tmp_path / "out"
    with server_in_thread() as server:
        result = run_cli(book, "--out", out, *service_args(server), "--format", "pcm_16000")
    assert result.exit_code == 0, result.output
    (path,) = out.glob("*.wav")
    with wave.open(str(path)) as audio:
        assert audio.getframerate() == 16000 and audio.getsampwidth() == 2
        assert audio.getnframes() / 16000 > 1.0
    assert read_manifest(out)["chapters"][0]["file"] == path.name


def test_folder_run_writes_one_folder_per_document_and_skips_a_bad_one(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "guides").mkdir(parents=True)
    write_book(docs / "alpha.md", chapters=1)
    write_book(docs / "guides" / "beta.md", chapters=2)
    (docs / "empty.txt").write_text("   \n")
    out = tmp_path / "audio"
    with server_in_thread() as server:
        result = run_cli(docs, "--out", out, *service_args(server))
    assert result.exit_code == 2, result.output
    assert "empty.txt" in result.output
    assert len(_mp3s(out / "alpha")) == 1
    assert len(_mp3s(out / "guides" / "beta")) == 2
    assert read_manifest(out / "guides" / "beta")["book"]["title"] == "Test Book"


def test_a_locked_output_folder_stops_a_second_run(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out), server_in_thread() as server:  # a live run holds the folder
        result = run_cli(book, "--out", out, *service_args(server))
        assert server.stats.sessions_started == 0
    assert result.exit_code == 2
    assert "another narrate run" in result.output
    assert not _mp3s(out)


def test_the_key_never_appears_in_any_file_or_output(tmp_path: Path) -> None:
    secret = "sk_live_0123456789abcdef-secret"
    book = write_book(tmp_path / "book.md", chapters=2)
    out = tmp_path / "out"
    with server_in_thread(ServerOptions(api_key=secret)) as server:
        ok = run_cli(book, "--out", out, *service_args(server, secret), "--verbose")
        wrong = run_cli(book, "--out", tmp_path / "o2", *service_args(server, secret + "x"))
    assert ok.exit_code == 0 and wrong.exit_code == 3
    for result in (ok, wrong):
        assert secret not in result.output
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != book:
            assert secret.encode() not in path.read_bytes(), path


def test_without_a_key_the_embedded_local_engine_is_used(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=1, sentences=2)
    out = tmp_path / "out"
    result = run_cli(book, "--out", out)
    assert result.exit_code == 0, result.output
    assert "narrating offline with the local engine" in result.output
    assert read_manifest(out)["engine"]["engine"] == "local"
    assert MP3(_mp3s(out)[0]).info.length > 1.0


def test_eleven_v3_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = run_cli(EXAMPLE, "--out", tmp_path / "o", "--model", "eleven_v3")
    assert result.exit_code == 2
    assert "not served over the WebSocket" in result.output


@pytest.mark.parametrize("fmt", ["mp3_22050_32", "ulaw_8000"])
def test_other_formats_complete(tmp_path: Path, fmt: str) -> None:
    book = write_book(tmp_path / "book.md", chapters=1, sentences=2)
    with server_in_thread() as server:
        result = run_cli(book, "--out", tmp_path / "o", *service_args(server), "--format", fmt)
    assert result.exit_code == 0, result.output
    entry = read_manifest(tmp_path / "o")["chapters"][0]
    assert entry["status"] == "done" and entry["duration_s"] > 1.0


def test_inserted_chapter_is_narrated_and_the_others_renumbered_without_the_service(
    tmp_path: Path,
) -> None:
    book = tmp_path / "book.md"

    def write(titles: list[str]) -> None:
        book.write_text(
            "\n".join(
                f"# {t}\n\nThe story of {t} goes on for a while. It ends well.\n" for t in titles
            )
        )

    out = tmp_path / "out"
    write(["Alpha", "Beta"])
    with server_in_thread() as server:
        assert run_cli(book, "--out", out, *service_args(server)).exit_code == 0
        before = server.stats.sessions_started
        write(["Intro", "Alpha", "Beta"])
        result = run_cli(book, "--out", out, *service_args(server))
        assert server.stats.sessions_started == before + 1
    assert result.exit_code == 0, result.output
    assert "renamed or retagged" in result.output
    assert [p.name for p in _mp3s(out)] == ["01 - Intro.mp3", "02 - Alpha.mp3", "03 - Beta.mp3"]
    tags = ID3(out / "03 - Beta.mp3")
    assert str(tags["TIT2"]) == "Beta" and str(tags["TRCK"]) == "3/3"
    manifest = read_manifest(out)
    assert manifest["stale"] == []
    assert [c["status"] for c in manifest["chapters"]] == ["done"] * 3


def test_debug_logs_never_show_the_key(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    secret = "sk_debug_0123456789-secret"
    book = write_book(tmp_path / "book.md", chapters=1, sentences=2)
    with server_in_thread(ServerOptions(api_key=secret)) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "narrator", str(book), "--out", str(tmp_path / "o"),
             *service_args(server, secret), "--debug", "--verbose"],
            capture_output=True, text=True, env={**os.environ, "ELEVENLABS_API_KEY": ""},
            cwd=Path(__file__).resolve().parents[1], timeout=seconds(120),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "xi-api-key: ***" in proc.stderr  # websockets did log the header, redacted
    assert secret not in proc.stdout + proc.stderr


def test_swapped_chapters_swap_their_audio_without_the_service(tmp_path: Path) -> None:
    import hashlib

    book = tmp_path / "book.md"
    first, second = "The first story is told here.", "Another tale entirely follows."
    book.write_text(f"# Part\n\n{first}\n\n# Part\n\n{second}\n", encoding="utf-8")
    out = tmp_path / "out"

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    with server_in_thread() as server:
        assert run_cli(book, "--out", out, *service_args(server)).exit_code == 0
        before = [c["audio_sha256"] for c in read_manifest(out)["chapters"]]
        sent = server.stats.characters_received
        book.write_text(f"# Part\n\n{second}\n\n# Part\n\n{first}\n", encoding="utf-8")
        result = run_cli(book, "--out", out, *service_args(server))
        assert server.stats.characters_received == sent
    assert result.exit_code == 0, result.output
    chapters = read_manifest(out)["chapters"]
    assert [c["status"] for c in chapters] == ["done", "done"]
    assert [digest(out / c["file"]) for c in chapters] == [c["audio_sha256"] for c in chapters]
    assert [c["audio_sha256"] for c in chapters] != before  # retagged copies, swapped
