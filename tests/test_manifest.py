"""The manifest's plan: what a rerun skips, redoes and reports."""

from __future__ import annotations

from pathlib import Path

from narrator.output import manifest
from narrator.output.files import file_sha256
from narrator.output.manifest import ChapterEntry, Manifest


def entry(index: int, text: str = "t", name: str | None = None) -> ChapterEntry:
    return ChapterEntry(
        index=index,
        title=f"Chapter {index}",
        file=name or f"{index:02d} - Chapter {index}.mp3",
        text_sha256=text,
        settings_sha256="s",
    )


def done(folder: Path, e: ChapterEntry, data: bytes = b"audio") -> ChapterEntry:
    path = folder / e.file
    path.write_bytes(data)
    e.status, e.bytes, e.audio_sha256 = "done", len(data), file_sha256(path)
    return e


def test_round_trip_and_unreadable_manifest(tmp_path: Path) -> None:
    record = Manifest(book={"title": "B"}, engine={}, chapters=[entry(1)])
    record.save(tmp_path)
    loaded = manifest.load(tmp_path).manifest
    assert loaded is not None and loaded.chapters == [entry(1)]
    text = (tmp_path / "manifest.json").read_text()
    (tmp_path / "manifest.json").write_text(text[: len(text) // 2])  # truncated
    damaged = manifest.load(tmp_path)
    assert damaged.manifest is None and damaged.damaged and damaged.warnings


def test_plan_skips_intact_chapters_and_redoes_changed_ones(tmp_path: Path) -> None:
    old = [done(tmp_path, entry(1)), done(tmp_path, entry(2)), done(tmp_path, entry(3))]
    previous = Manifest(book={}, engine={}, chapters=old)
    wanted = [entry(1), entry(2, text="changed"), entry(3)]
    plan = manifest.make_plan(wanted, previous, tmp_path, force=False)
    assert [e.index for e in plan.skipped] == [1, 3]
    assert [e.index for e in plan.todo] == [2]
    assert plan.stale == []


def test_plan_redoes_a_chapter_whose_file_was_changed_or_removed(tmp_path: Path) -> None:
    old = [done(tmp_path, entry(1)), done(tmp_path, entry(2))]
    (tmp_path / old[0].file).write_bytes(b"other")  # same size, other content
    (tmp_path / old[1].file).unlink()
    plan = manifest.make_plan([entry(1), entry(2)], Manifest({}, {}, old), tmp_path, force=False)
    assert [e.index for e in plan.todo] == [1, 2]


def test_force_redoes_all_and_removed_chapters_are_stale(tmp_path: Path) -> None:
    old = [done(tmp_path, entry(1)), done(tmp_path, entry(2))]
    plan = manifest.make_plan([entry(1)], Manifest({}, {}, old), tmp_path, force=True)
    assert [e.index for e in plan.todo] == [1]
    assert [e.file for e in plan.stale] == [old[1].file]


def test_failed_and_pending_entries_are_redone(tmp_path: Path) -> None:
    failed = entry(1)
    failed.status = "failed"
    plan = manifest.make_plan([entry(1)], Manifest({}, {}, [failed]), tmp_path, force=False)
    assert plan.todo and not plan.skipped
