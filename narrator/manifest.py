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
    """What a run must do in one folder: ``todo`` entries need the service."""

    entries: list[ChapterEntry]
    todo: list[ChapterEntry]
    skipped: list[ChapterEntry]
    stale: list[ChapterEntry]


def make_plan(
    wanted: list[ChapterEntry], previous: Manifest | None, folder: Path, *, force: bool
) -> Plan:
    """Match the wanted chapters against what the previous run left on disk.

    A chapter is kept when an intact earlier entry has the same file name, text, settings
    and title (the title and track number are in its tags); anything else is narrated again.
    """
    old = {entry.file: entry for entry in (previous.chapters if previous else [])}
    total_same = previous is not None and len(previous.chapters) == len(wanted)
    entries: list[ChapterEntry] = []
    todo: list[ChapterEntry] = []
    skipped: list[ChapterEntry] = []
    for want in wanted:
        before = old.get(want.file)
        if (
            not force
            and before is not None
            and total_same
            and before.index == want.index
            and before.title == want.title
            and before.text_sha256 == want.text_sha256
            and before.settings_sha256 == want.settings_sha256
            and is_intact(before, folder)
        ):
            entries.append(before)
            skipped.append(before)
        else:
            entries.append(want)
            todo.append(want)
    kept = {entry.file for entry in entries}
    stale = [e for e in old.values() if e.file not in kept and (folder / e.file).is_file()]
    return Plan(entries=entries, todo=todo, skipped=skipped, stale=stale)
