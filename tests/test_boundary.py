"""The output folder is a boundary, bad settings are refused at once, faults leave the truth.

Whatever a manifest says, narrate reads, writes and deletes only its own files inside
``--out``; a key never leaks through a URL or a header; a full disk is one line and exit 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from narrator.output import manifest as manifest_module
from narrator.output.manifest import ChapterEntry, Manifest
from tests.helpers import (
    read_manifest,
    run_cli,
    seconds,
    server_in_thread,
    service_args,
    time_limit,
    write_book,
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def narrate_once(tmp_path: Path, chapters: int = 2) -> tuple[Path, Path]:
    book = write_book(tmp_path / "book.md", chapters=chapters)
    out = tmp_path / "out"
    result = run_cli(book, "--out", out)
    assert result.exit_code == 0, result.output
    return book, out


def write_manifest(out: Path, data: dict[str, object]) -> None:
    (out / "manifest.json").write_text(json.dumps(data), encoding="utf-8")


# --- the manifest cannot point outside ---------------------------------------------------


def test_a_manifest_naming_files_outside_the_folder_touches_nothing_outside(
    tmp_path: Path,
) -> None:
    book, out = narrate_once(tmp_path)
    victim = tmp_path / "victim.mp3"
    victim.write_bytes(b"precious")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    absolute = elsewhere / "01 - Part 1.mp3"
    absolute.write_bytes(b"also precious")
    data = read_manifest(out)
    record = {"bytes": 8, "audio_sha256": sha256(victim), "title": "x", "text_sha256": "t"}
    data["chapters"][0]["file"] = "../victim.mp3"
    data["stale"] = [
        {**record, "file": "../victim.mp3"},
        {**record, "file": str(absolute), "bytes": 13, "audio_sha256": sha256(absolute)},
        {**record, "file": "sub/../../victim.mp3"},
    ]
    write_manifest(out, data)
    result = run_cli(book, "--out", out, "--prune", "--force")
    assert result.exit_code == 0, result.output
    assert victim.read_bytes() == b"precious" and absolute.read_bytes() == b"also precious"
    assert result.output.count("ignored") == 4
    assert "is not a chapter file name" in result.output
    assert [c["file"] for c in read_manifest(out)["chapters"]] == [
        "01 - Part 1.mp3",
        "02 - Part 2.mp3",
    ]


def test_prune_deletes_only_files_narrate_wrote(tmp_path: Path) -> None:
    book, out = narrate_once(tmp_path, chapters=3)
    mine = out / "07 - My Own Recording.mp3"
    mine.write_bytes(b"the user's own audio")
    data = read_manifest(out)
    data["stale"] = [  # recorded, but its content is not what narrate wrote
        {"file": mine.name, "title": "t", "text_sha256": "t", "bytes": 5, "audio_sha256": "0"}
    ]
    write_manifest(out, data)
    write_book(book, chapters=2)
    result = run_cli(book, "--out", out, "--prune")
    assert result.exit_code == 0, result.output
    assert not (out / "03 - Part 3.mp3").exists()  # narrate's own, hash verified
    assert mine.read_bytes() == b"the user's own audio"
    assert "not pruned 1 file(s)" in result.output


@pytest.mark.parametrize(
    ("content", "what"),
    [
        ('{"chapters": []}', "has no narrator format mark"),
        ("[1, 2, 3]", "has no narrator format mark"),
        ("hello, world", "is not JSON"),
        (None, "is a folder"),
    ],
)
def test_a_manifest_that_is_not_narrators_is_never_overwritten(
    tmp_path: Path, content: str | None, what: str
) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "manifest.json"
    if content is None:
        target.mkdir()
    else:
        target.write_text(content)
    result = run_cli(book, "--out", out)
    assert result.exit_code == 2
    assert what in result.output and "choose another --out" in result.output
    assert content is None or target.read_text() == content
    assert not list(out.glob("*.mp3"))


def test_a_damaged_narrator_manifest_is_kept_aside_and_current_audio_kept(
    tmp_path: Path,
) -> None:
    book = write_book(tmp_path / "book.md", chapters=2)
    out = tmp_path / "out"
    with server_in_thread() as server:
        first = run_cli(book, "--out", out, *service_args(server))
        assert first.exit_code == 0, first.output
        text = (out / "manifest.json").read_text()
        (out / "manifest.json").write_text(text[: len(text) // 3])  # truncated
        hashes = {p.name: sha256(p) for p in out.glob("*.mp3")}
        sent = server.stats.characters_received
        result = run_cli(book, "--out", out, *service_args(server))
        assert server.stats.characters_received == sent  # nothing paid twice
    assert result.exit_code == 0, result.output
    assert "manifest is damaged" in result.output
    assert (out / "manifest.json.damaged").read_text() == text[: len(text) // 3]
    assert {p.name: sha256(p) for p in out.glob("*.mp3")} == hashes
    assert [c["status"] for c in read_manifest(out)["chapters"]] == ["done", "done"]


def test_chapters_committed_but_not_yet_recorded_are_adopted_not_paid_again(
    tmp_path: Path,
) -> None:
    book = write_book(tmp_path / "book.md", chapters=2)
    out = tmp_path / "out"
    with server_in_thread() as server:
        assert run_cli(book, "--out", out, *service_args(server)).exit_code == 0
        data = read_manifest(out)
        for chapter in data["chapters"]:  # as if killed before the manifest's next save
            chapter.update(status="pending", bytes=None, audio_sha256=None)
        write_manifest(out, data)
        sent = server.stats.characters_received
        result = run_cli(book, "--out", out, *service_args(server))
        assert server.stats.characters_received == sent
    assert result.exit_code == 0, result.output
    assert [c["status"] for c in read_manifest(out)["chapters"]] == ["done", "done"]


def test_a_file_whose_tags_name_other_text_is_not_adopted(tmp_path: Path) -> None:
    book, out = narrate_once(tmp_path, chapters=1)
    write_book(book, chapters=1, marker=" again")  # new text, same title and file name
    data = read_manifest(out)
    data["chapters"][0]["status"] = "pending"
    write_manifest(out, data)
    before = sha256(out / "01 - Part 1.mp3")
    result = run_cli(book, "--out", out)
    assert result.exit_code == 0, result.output
    assert "done 1" in result.output
    assert sha256(out / "01 - Part 1.mp3") != before


def test_a_chapter_file_that_is_a_link_outside_is_neither_read_nor_followed(
    tmp_path: Path,
) -> None:
    book, out = narrate_once(tmp_path, chapters=1)
    chapter = out / "01 - Part 1.mp3"
    outside = tmp_path / "outside.mp3"
    outside.write_bytes(chapter.read_bytes())
    kept = sha256(outside)
    chapter.unlink()
    chapter.symlink_to(outside)  # same bytes, so a hash check through the link would pass
    result = run_cli(book, "--out", out)
    assert result.exit_code == 0, result.output
    assert "done 1" in result.output
    assert not chapter.is_symlink() and chapter.is_file()
    assert sha256(outside) == kept


def test_cleanup_removes_only_narrates_own_temp_files(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    out = tmp_path / "out"
    out.mkdir()
    users = [out / ".notes.part", out / ".01 - Part 1.mp3.part", out / ".x.deadbeef.part"]
    for path in users:
        path.write_text("mine")
    leftover = out / ".01 - Part 1.mp3.deadbeef.part"
    leftover.write_bytes(b"half a chapter")
    manifest_temp = out / ".manifest.json.0123abcd.part"
    manifest_temp.write_text("{")
    assert run_cli(book, "--out", out).exit_code == 0
    assert all(path.read_text() == "mine" for path in users)
    assert not leftover.exists() and not manifest_temp.exists()


# --- saving stays linear -------------------------------------------------------------------


def test_saving_after_every_one_of_10000_chapters_is_throttled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [
        ChapterEntry(index=i, title=f"C{i}", file=f"{i:05d} - C{i}.mp3") for i in range(1, 10001)
    ]
    record = Manifest(book={}, engine={}, chapters=entries)
    writes: list[int] = []
    real_write = manifest_module.write_json_atomic

    def counting(path: Path, data: object) -> None:
        writes.append(1)
        real_write(path, data)

    monkeypatch.setattr(manifest_module, "write_json_atomic", counting)
    record.save(tmp_path)
    for _ in range(10000):
        record.save_soon(tmp_path)
    # Each save of 10,000 entries takes milliseconds; the loop around it far less: saving
    # after each chapter would mean 10,001 writes of the whole file.
    assert len(writes) < 200
    record.save(tmp_path)
    assert len(read_manifest(tmp_path)["chapters"]) == 10000


# --- full disks and unwritable folders ----------------------------------------------------


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))


@time_limit(60)
def test_a_file_size_limit_is_one_line_exit_2_and_leaves_no_partial_file(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=2, sentences=8)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEVENLABS")}
    proc = subprocess.run(
        [sys.executable, "-m", "narrator", str(book), "--out", str(out), "-j", "1"],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_limit_file_size,
        timeout=seconds(60),
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("narrate:")]
    assert len(errors) == 1 and "File too large" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(out.glob("*.mp3")) and not list(out.glob(".*.part"))
    assert [c["status"] for c in read_manifest(out)["chapters"]] == ["pending", "pending"]


def test_an_output_folder_that_cannot_be_made_is_one_line_exit_2(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run_cli(book, "--out", blocker / "out")
    assert result.exit_code == 2
    assert "cannot create the output folder" in result.output
    assert "Traceback" not in result.output


# --- clear words for common mistakes, and no key in a URL or a header ----------------------


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        (
            "--base-url",
            "https://api.elevenlabs.io",
            "use the WebSocket one: wss://api.elevenlabs.io",
        ),
        ("--base-url", "ftp://example.org", "must start with wss://"),
        ("--voice", "voice/../../admin", "a voice id is letters, digits"),
        ("--voice", "voice id", "a voice id is letters, digits"),
        ("--format", "opus_48000_64", "the local engine cannot make opus_48000_64"),
        ("--format", "alaw_8000", "the local engine cannot make alaw_8000"),
    ],
)
def test_common_mistakes_are_refused_before_connecting(
    tmp_path: Path, option: str, value: str, words: str
) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    out = tmp_path / "out"
    with server_in_thread() as server:
        result = run_cli(book, "--out", out, option, value)
        assert server.stats.sessions_started == 0
    assert result.exit_code == 2
    assert words in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "url",
    [
        "wss://user:sk_secret_in_url_77@api.elevenlabs.io",
        "wss://sk_secret_in_url_77@api.elevenlabs.io",
        "wss://api.elevenlabs.io/?xi_api_key=sk_secret_in_url_77",
        "wss://api.elevenlabs.io/#sk_secret_in_url_77",
    ],
)
def test_a_key_pasted_into_the_base_url_is_refused_and_never_shown(
    tmp_path: Path, url: str
) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    result = run_cli(book, "--out", tmp_path / "out", "--base-url", url, "--api-key", "k")
    assert result.exit_code == 2
    assert "give the key with --api-key" in result.output
    assert "sk_secret_in_url_77" not in result.output


@pytest.mark.parametrize("key", ["sk_abc\nX-Injected: 1", "sk_abc\r", "sk abc"])
def test_a_key_with_a_line_break_is_refused_and_never_shown(tmp_path: Path, key: str) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    with server_in_thread() as server:
        result = run_cli(book, "--out", tmp_path / "out", *service_args(server, key))
        assert server.stats.sessions_started == 0
    assert result.exit_code == 2
    assert "it was not sent" in result.output
    assert "sk_abc" not in result.output


# --- covers: regular files of sane size only ---------------------------------------------


@time_limit(20)
def test_a_cover_that_is_a_fifo_or_huge_is_refused_without_blocking(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    fifo = tmp_path / "cover.jpg"
    os.mkfifo(fifo)
    result = run_cli(book, "--out", tmp_path / "out", "--cover", fifo)
    assert result.exit_code == 2 and "not a regular file" in result.output
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as file:
        file.write(b"\xff\xd8\xff")
        file.truncate(21 * 2**20)
    result = run_cli(book, "--out", tmp_path / "out", "--cover", huge)
    assert result.exit_code == 2 and "larger than 20 MB" in result.output


# --- hostile names and encodings ------------------------------------------------------------


def test_a_document_whose_name_is_not_utf8_is_narrated_in_a_folder_run(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    name = os.fsdecode(b"caf\xe9 notes.md")
    (docs / name).write_text("# One\n\nA short chapter to read.\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli(docs, "--out", out)
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out / name.removesuffix(".md"))
    assert manifest["book"]["sources"][0]["path"].endswith("caf\ufffd notes.md")
    assert manifest["chapters"][0]["status"] == "done"


@pytest.mark.parametrize("encoding", ["base64", "rot13", "no-such-codec"])
def test_encoding_accepts_only_text_encodings(tmp_path: Path, encoding: str) -> None:
    book = write_book(tmp_path / "book.md", chapters=1)
    result = run_cli(book, "--dry-run", "--encoding", encoding)
    assert result.exit_code == 2
    assert encoding in result.output and "Traceback" not in result.output


def test_out_inside_the_input_folder_never_narrates_its_own_output(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_book(docs / "book.md" if docs.mkdir() is None else docs, chapters=1)
    out = docs / "audio"
    assert run_cli(docs, "--out", out).exit_code == 0
    (out / "book" / "notes.md").write_text("# Planted\n\nNot a document of the input.\n")
    result = run_cli(docs, "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["book"]
    assert "Planted" not in json.dumps(read_manifest(out / "book"))


def test_a_book_folder_that_is_a_link_elsewhere_is_never_written(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_book(docs / "a.md", chapters=1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").symlink_to(elsewhere)
    result = run_cli(docs, "--out", out)
    assert result.exit_code == 2
    assert "leads outside" in result.output
    assert list(elsewhere.iterdir()) == []


def test_the_lock_never_writes_through_a_hard_link(tmp_path: Path) -> None:
    from narrator.output.lock import LOCK_NAME

    book = write_book(tmp_path / "book.md", chapters=1)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.link(victim, out / LOCK_NAME)
    result = run_cli(book, "--out", out)
    assert result.exit_code == 2 and "hard links" in result.output
    assert victim.read_text() == "precious"


def test_a_run_into_a_book_folder_of_a_running_folder_run_is_refused(tmp_path: Path) -> None:
    from narrator.output.lock import FolderLock

    docs = tmp_path / "docs"
    docs.mkdir()
    write_book(docs / "a.md", chapters=1)
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    with FolderLock(out / "a"):  # a run whose --out is the book's folder holds it
        result = run_cli(docs, "--out", out)
    assert result.exit_code == 2
    assert "another narrate run" in result.output
