"""The manifest of one output folder, and the plan it gives a rerun.

``manifest.json`` says exactly what is on disk: every chapter of the current document with its
status, what was sent and billed, and what was written. A rerun skips a chapter whose text
hash, settings hash and file (size and sha256) all match a ``done`` entry.

The manifest is input a user can edit, so nothing in it is trusted: a file that is not
narrator's is never overwritten (the run stops with a line saying what to do); a damaged one
of narrator's is kept aside and the run plans afresh; an entry with wrong types or a file name
that is not a plain name of narrator's own shape is ignored with a warning, so no path built
from the manifest can leave the output folder.

Saving is atomic, and throttled so that its cost stays a small share of the run however many
chapters a book has (:meth:`Manifest.save_soon`); a chapter committed but not yet saved is
recognised by its tags on the next run (see :func:`make_plan`'s ``adopt``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from narrator.errors import OutputError
from narrator.output.files import file_sha256, is_regular_file, read_regular_file, write_json_atomic
from narrator.output.names import is_own_audio_name
from narrator.output.writer import WrittenFile

MANIFEST_NAME = "manifest.json"
FORMAT = "narrator-manifest"
VERSION = 1
#: Far beyond any book's manifest (10,000 chapters take about 5 MB).
MAX_MANIFEST_BYTES = 256 * 2**20
#: A save may take at most this share of the time since the previous one.
SAVE_SHARE = 0.1

#: A chapter is ``pending`` until narrated, ``done`` once its file is complete on disk,
#: ``failed`` when every attempt failed (``error`` says why).
STATUSES = ("pending", "done", "failed")

_OPTIONAL = type(None)
_TYPES: dict[str, tuple[type, ...]] = {
    "index": (int,),
    "title": (str,),
    "file": (str,),
    "status": (str,),
    "characters": (int,),
    "text_sha256": (str,),
    "settings_sha256": (str,),
    "duration_s": (float, int, _OPTIONAL),
    "bytes": (int, _OPTIONAL),
    "audio_sha256": (str, _OPTIONAL),
    "attempts": (int,),
    "pieces": (int,),
    "subtitles": (dict,),
    "error": (str, _OPTIONAL),
    "finished": (str, _OPTIONAL),
}
_STALE_FIELDS = ("file", "title", "text_sha256", "bytes", "audio_sha256")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ChapterEntry:
    """One chapter's line in the manifest."""

    index: int
    title: str
    file: str
    status: str = "pending"
    #: Characters sent to the service for this chapter, retries and resumed runs included.
    characters: int = 0
    text_sha256: str = ""
    settings_sha256: str = ""
    duration_s: float | None = None
    bytes: int | None = None
    audio_sha256: str | None = None
    attempts: int = 0
    #: Sessions' audio runs the file was joined from (1: narrated in one go).
    pieces: int = 0
    #: Subtitle files made from the chapter's word timings: format -> sha256 of the file.
    subtitles: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    finished: str | None = None

    @classmethod
    def from_json(cls, data: object) -> ChapterEntry:
        """An entry read from JSON; ValueError says what is wrong with it."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, _TYPES[name]):
                raise ValueError(f"{name} has the wrong type")
        if not is_own_audio_name(values.get("file")):
            raise ValueError(f"file {str(values.get('file'))[:80]!r} is not a chapter file name")
        if values.get("status", "pending") not in STATUSES:
            raise ValueError("unknown status")
        try:
            return cls(**values)
        except TypeError as exc:  # a required field is missing
            raise ValueError("a required field is missing") from exc


@dataclass
class Manifest:
    """The whole file: book, engine, chapters and audio files left from earlier versions."""

    book: dict[str, Any]
    engine: dict[str, Any]
    chapters: list[ChapterEntry]
    stale: list[ChapterEntry] = field(default_factory=list)
    updated: str = ""
    #: What was made from the chapter files (the one-file book, metadata.json, the cover):
    #: kept across runs so each is rebuilt only when what it is made of changed.
    outputs: dict[str, Any] = field(default_factory=dict)
    _saved_at: float = field(default=0.0, repr=False, compare=False)
    _save_cost: float = field(default=0.0, repr=False, compare=False)
    _by_index: dict[int, ChapterEntry] = field(default_factory=dict, repr=False, compare=False)

    def entry(self, index: int) -> ChapterEntry:
        """The chapter entry with this index; the run changes it only through the methods
        below, so every change to what the manifest says is made here."""
        if len(self._by_index) != len(self.chapters):
            self._by_index = {entry.index: entry for entry in self.chapters}
        return self._by_index[index]

    def started(self, index: int) -> None:
        self.entry(index).attempts += 1

    def billed(self, index: int, characters: int) -> None:
        self.entry(index).characters += characters

    def finished(self, index: int, written: WrittenFile) -> None:
        record_written(self.entry(index), written)

    def failed(self, index: int, message: str) -> None:
        entry = self.entry(index)
        entry.status, entry.error, entry.finished = "failed", message, now()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "updated": self.updated,
            "book": self.book,
            "engine": self.engine,
            "chapters": [asdict(entry) for entry in self.chapters],
            "stale": [{k: getattr(e, k) for k in _STALE_FIELDS} for e in self.stale],
            "outputs": self.outputs,
        }

    def save(self, folder: Path) -> None:
        started = time.monotonic()
        self.updated = now()
        write_json_atomic(folder / MANIFEST_NAME, self.to_json())
        self._saved_at = time.monotonic()
        self._save_cost = self._saved_at - started

    def save_soon(self, folder: Path, *, at_least: float = 0.0) -> None:
        """Save unless the last save was too recent for its cost (or ``at_least`` seconds).

        Rewriting the whole file after each of 10,000 tiny chapters would make a run
        quadratic; saving only when at least ten times the last save's duration has passed
        keeps saving under a tenth of the run. The caller saves once more at the end.
        """
        waited = time.monotonic() - self._saved_at
        if waited >= max(self._save_cost / SAVE_SHARE, at_least):
            self.save(folder)


@dataclass
class Loaded:
    """What :func:`load` found: the manifest (None to plan afresh) and what to warn about.

    ``damaged`` is set when the file is narrator's but cannot be used; the caller keeps it
    aside (:func:`keep_damaged`) before a new manifest replaces it.
    """

    manifest: Manifest | None
    warnings: list[str] = field(default_factory=list)
    damaged: bool = False


def _foreign(path: Path, what: str) -> OutputError:
    return OutputError(
        f"{path} {what}, not narrator's manifest; move it away or choose another --out"
    )


def load(folder: Path) -> Loaded:
    """Read the folder's manifest without trusting it; OutputError when it is not narrator's."""
    path = folder / MANIFEST_NAME
    try:
        info = path.lstat()
    except FileNotFoundError:
        return Loaded(None)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if path.is_symlink():
        raise _foreign(path, "is a symbolic link")
    if path.is_dir():
        raise _foreign(path, "is a folder")
    if info.st_size > MAX_MANIFEST_BYTES:
        raise _foreign(path, "is too large")
    try:
        raw = read_regular_file(path, MAX_MANIFEST_BYTES)
    except ValueError as exc:
        raise _foreign(path, f"is {exc}") from exc
    except OSError as exc:
        raise OutputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        if f'"format": "{FORMAT}"'.encode() in raw[:200]:
            return _damaged(path, "it is not valid JSON (truncated?)")
        raise _foreign(path, "is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _foreign(path, "has no narrator format mark")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        return _damaged(path, "its version is missing")
    if version > VERSION:
        raise OutputError(
            f"{path} was written by a newer narrator (manifest version {version}); "
            "upgrade narrator or choose another --out"
        )
    return _parse(path, data)


def _damaged(path: Path, why: str) -> Loaded:
    return Loaded(
        None,
        [
            f"{path}: narrator's manifest is damaged ({why}); it is kept as "
            f"{MANIFEST_NAME}.damaged and the folder is planned afresh, keeping audio whose "
            "tags prove it current"
        ],
        damaged=True,
    )


def _parse(path: Path, data: dict[str, Any]) -> Loaded:
    book, engine = data.get("book") or {}, data.get("engine") or {}
    chapters, stale = data.get("chapters") or [], data.get("stale") or []
    if not (
        isinstance(book, dict)
        and isinstance(engine, dict)
        and isinstance(chapters, list)
        and isinstance(stale, list)
    ):
        return _damaged(path, "its book, engine, chapters or stale have the wrong types")
    warnings: list[str] = []
    entries = _entries(path, "chapter", chapters, warnings)
    old = _entries(path, "stale", [_stale_entry(item) for item in stale], warnings)
    updated = data.get("updated")
    outputs = data.get("outputs")
    record = Manifest(
        book,
        engine,
        entries,
        old,
        updated if isinstance(updated, str) else "",
        outputs if isinstance(outputs, dict) else {},
    )
    return Loaded(record, warnings)


def _stale_entry(item: object) -> object:
    return {"index": 0, **item} if isinstance(item, dict) else item


def _entries(path: Path, kind: str, items: list[Any], warnings: list[str]) -> list[ChapterEntry]:
    entries: list[ChapterEntry] = []
    for number, item in enumerate(items, 1):
        try:
            entries.append(ChapterEntry.from_json(item))
        except ValueError as exc:
            warnings.append(f"{path}: {kind} entry {number} ignored: {exc}")
    return entries


def keep_damaged(folder: Path) -> None:
    """Move a damaged manifest aside, so a new one never replaces it silently."""
    path = folder / MANIFEST_NAME
    target, number = path.with_name(f"{MANIFEST_NAME}.damaged"), 1
    while target.exists():  # an earlier damaged copy is kept too
        number += 1
        target = path.with_name(f"{MANIFEST_NAME}.damaged.{number}")
    try:
        os.replace(path, target)
    except OSError as exc:
        raise OutputError(f"cannot keep {path} aside: {exc.strerror or exc}") from exc


def is_ours(entry: ChapterEntry, folder: Path) -> bool:
    """The entry's file is on disk, a regular file, with the recorded size and hash."""
    if entry.audio_sha256 is None or entry.bytes is None:
        return False
    path = folder / entry.file
    try:
        if not is_regular_file(path) or path.stat().st_size != entry.bytes:
            return False
        return file_sha256(path) == entry.audio_sha256
    except (OSError, OutputError):
        return False


def is_intact(entry: ChapterEntry, folder: Path) -> bool:
    """A done entry whose file is on disk with the recorded size and hash."""
    return entry.status == "done" and is_ours(entry, folder)


def record_written(entry: ChapterEntry, written: WrittenFile) -> None:
    """Mark ``entry`` done with the facts read back from its final file."""
    entry.status, entry.error, entry.finished = "done", None, now()
    entry.bytes, entry.audio_sha256 = written.bytes, written.sha256
    entry.duration_s = round(written.duration_s, 3)


@dataclass
class Plan:
    """What a run must do in one folder.

    ``todo`` entries need the service; ``reuse`` pairs a wanted entry with an earlier one
    whose audio (same text, same settings) is on disk under another name or track number:
    it is copied and retagged, never paid for twice; ``adopted`` are chapters whose file
    was committed but not recorded (a crash, a damaged manifest): their tags prove them
    current; ``stale`` are files of chapters gone.
    """

    entries: list[ChapterEntry]
    todo: list[ChapterEntry]
    skipped: list[ChapterEntry]
    reuse: list[tuple[ChapterEntry, ChapterEntry]]
    stale: list[ChapterEntry]
    adopted: list[ChapterEntry] = field(default_factory=list)


def _same_chapter(want: ChapterEntry, before: ChapterEntry) -> bool:
    return (want.text_sha256, want.settings_sha256) == (
        before.text_sha256,
        before.settings_sha256,
    )


Adopt = Callable[[ChapterEntry], "WrittenFile | None"]


def make_plan(
    wanted: list[ChapterEntry],
    previous: Manifest | None,
    folder: Path,
    *,
    force: bool,
    adopt: Adopt | None = None,
) -> Plan:
    """Match the wanted chapters against what the previous run left on disk, by content.

    A chapter is skipped when an intact earlier entry has the same file name, text, settings,
    title and track count (all of which are in its tags); it is reused when an intact entry
    has its text and settings under another name or track; it is adopted when ``adopt``
    finds its file complete on disk; anything else is narrated.
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
        found = None if force or adopt is None or source is not None else adopt(want)
        if found is not None:
            record_written(want, found)
            plan.adopted.append(want)
        elif source is not None:
            plan.reuse.append((want, source))
        else:
            if before is not None and before.status != "done" and _same_chapter(want, before):
                # Unfinished before (a crash, a stop): what was sent for it was sent.
                want.characters, want.attempts = before.characters, before.attempts
            plan.todo.append(want)
    kept = {entry.file for entry in plan.entries}
    earlier = previous.stale if previous else []
    candidates = {e.file: e for e in [*earlier, *old.values()]}
    plan.stale = [
        e for e in candidates.values() if e.file not in kept and is_regular_file(folder / e.file)
    ]
    return plan
