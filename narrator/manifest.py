"""The manifest of one output folder, and the plan it gives a rerun.

``manifest.json`` says exactly what is on disk: every chapter of the current document with its
status, what was sent and billed, and what was written; it is saved atomically after every
chapter, so a crash at any point leaves a manifest that tells the truth. A rerun skips a
chapter whose text hash, settings hash and file (size and sha256) all match a ``done`` entry.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from narrator.output import file_sha256, write_json_atomic

MANIFEST_NAME = "manifest.json"
FORMAT = "narrator-manifest"
VERSION = 1

log = logging.getLogger("narrator")

#: A chapter is ``pending`` until narrated, ``done`` once its file is complete on disk,
#: ``failed`` when every attempt failed (``error`` says why).
STATUSES = ("pending", "done", "failed")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ChapterEntry:
    """One chapter's line in the manifest."""

    index: int
    title: str
    file: str
    status: str = "pending"
    characters: int = 0
    text_sha256: str = ""
    settings_sha256: str = ""
    duration_s: float | None = None
    bytes: int | None = None
    audio_sha256: str | None = None
    attempts: int = 0
    error: str | None = None
    finished: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChapterEntry:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Manifest:
    """The whole file: book, engine, chapters and audio files left from earlier versions."""

    book: dict[str, Any]
    engine: dict[str, Any]
    chapters: list[ChapterEntry]
    stale: list[dict[str, Any]] = field(default_factory=list)
    updated: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "updated": self.updated,
            "book": self.book,
            "engine": self.engine,
            "chapters": [asdict(entry) for entry in self.chapters],
            "stale": self.stale,
        }

    def save(self, folder: Path) -> None:
        self.updated = now()
        write_json_atomic(folder / MANIFEST_NAME, self.to_json())


def load(folder: Path) -> Manifest | None:
    """The folder's manifest, or None if there is none or it cannot be read (then redo all)."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError("not a narrator manifest")
        return Manifest(
            book=dict(data.get("book") or {}),
            engine=dict(data.get("engine") or {}),
            chapters=[ChapterEntry.from_json(c) for c in data.get("chapters") or []],
            stale=list(data.get("stale") or []),
            updated=str(data.get("updated") or ""),
        )
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("%s: unreadable manifest (%s); every chapter will be narrated again", path, exc)
        return None


def is_intact(entry: ChapterEntry, folder: Path) -> bool:
    """A done entry whose file is on disk with the recorded size and hash."""
    if entry.status != "done" or not entry.file or entry.audio_sha256 is None:
        return False
    path = folder / entry.file
    try:
        if not path.is_file() or path.stat().st_size != entry.bytes:
            return False
        return file_sha256(path) == entry.audio_sha256
    except OSError:
        return False


@dataclass
class Plan:
    """What a run must do in one folder.

    ``todo`` entries need the service; ``reuse`` pairs a wanted entry with an earlier one
    whose audio (same text, same settings) is on disk under another name or track number:
    it is copied and retagged, never paid for twice; ``stale`` are files of chapters gone.
    """

    entries: list[ChapterEntry]
    todo: list[ChapterEntry]
    skipped: list[ChapterEntry]
    reuse: list[tuple[ChapterEntry, ChapterEntry]]
    stale: list[ChapterEntry]


def _same_chapter(want: ChapterEntry, before: ChapterEntry) -> bool:
    return (want.text_sha256, want.settings_sha256) == (
        before.text_sha256,
        before.settings_sha256,
    )


def make_plan(
    wanted: list[ChapterEntry], previous: Manifest | None, folder: Path, *, force: bool
) -> Plan:
    """Match the wanted chapters against what the previous run left on disk, by content.

    A chapter is skipped when an intact earlier entry has the same file name, text, settings,
    title and track count (all of which are in its tags); it is reused when an intact entry
    has its text and settings under another name or track; anything else is narrated.
    """
    old_entries = previous.chapters if previous else []
    old = {entry.file: entry for entry in old_entries}
    total_same = len(old_entries) == len(wanted)
    intact = [] if force else [e for e in old_entries if is_intact(e, folder)]
    by_content = {(e.text_sha256, e.settings_sha256): e for e in intact}
    intact_ids = {id(e) for e in intact}
    plan = Plan(entries=[], todo=[], skipped=[], reuse=[], stale=[])
    for want in wanted:
        before = old.get(want.file)
        source = by_content.get((want.text_sha256, want.settings_sha256))
        if (
            before is not None
            and id(before) in intact_ids
            and total_same
            and (before.index, before.title) == (want.index, want.title)
            and _same_chapter(want, before)
        ):
            plan.entries.append(before)
            plan.skipped.append(before)
            continue
        plan.entries.append(want)
        if source is not None:
            plan.reuse.append((want, source))
        else:
            plan.todo.append(want)
    kept = {entry.file for entry in plan.entries}
    earlier = [
        ChapterEntry.from_json({"index": 0, **item})
        for item in (previous.stale if previous else [])
    ]
    candidates = {e.file: e for e in [*earlier, *old.values()]}
    plan.stale = [
        e for e in candidates.values() if e.file not in kept and (folder / e.file).is_file()
    ]
    return plan
