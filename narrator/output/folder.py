"""One output folder before and after the narration: its plan, audio reused, stale files.

Before: the folder's manifest is read (without trusting it), every chapter is matched
against what is on disk, audio paid for earlier is renamed and retagged in place, and a new
manifest says what is still to do. After: audio of chapters that no longer exist is reported,
or deleted with ``--prune`` when it is provably narrate's own.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from narrator import __version__
from narrator.errors import OutputError
from narrator.events import EventSink, Notice
from narrator.output import manifest
from narrator.output.files import is_regular_file, remove_stale_temp_files
from narrator.output.manifest import ChapterEntry, Manifest, Plan
from narrator.output.names import book_file_name
from narrator.output.tags import Cover, chapter_tags
from narrator.output.timings import carry_timings, derived_names
from narrator.output.writer import AudioWriter, WrittenFile, adopt_file, copy_into
from narrator.planning import PlannedBook
from narrator.reading.book import Chapter
from narrator.reading.textclean import without_surrogates
from narrator.settings import RunSettings


def make_folder(folder: Path, inside: Path | None = None) -> None:
    """Create ``folder``; with ``inside``, refuse one that a symbolic link leads elsewhere."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if inside is not None and not folder.resolve().is_relative_to(inside.resolve()):
            raise OutputError(f"{folder}: leads outside {inside} (a symbolic link?); not written")
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the output folder ({exc})") from exc


def engine_record(settings: RunSettings) -> dict[str, object]:
    """The manifest's account of the engine: never the key, never the local server's port."""
    service, speech = settings.service, settings.speech
    return {
        "engine": service.engine,
        "base_url": "embedded local server" if service.engine == "local" else service.base_url,
        "voice_id": speech.voice_id,
        "model_id": speech.model_id,
        "output_format": speech.output_format,
        "voice_settings": speech.voice.given(),
        "chunk_length_schedule": list(speech.chunk_schedule),
        "seed": speech.seed,
        "language_code": speech.language_code,
        "apply_text_normalization": speech.text_normalization,
        "pronunciation_dictionaries": [
            {"id": ident, "version": version}
            for ident, version in speech.pronunciation_dictionaries
        ],
        "narrator": __version__,
    }


def plan_folder(
    settings: RunSettings, planned: PlannedBook, cover: Cover | None, emit: EventSink
) -> tuple[Manifest, Plan]:
    """The folder's new manifest (saved by the caller) and what is left to narrate.

    The caller has made the folder (:func:`make_folder`) and holds its lock: temp files
    found now are a killed run's.
    """
    folder, book = planned.folder, planned.book
    stem = book_file_name(book.title, "")
    made = [f"{stem}.mp3", f"{stem}.m4b", f"{stem}.chapters.json", f"{stem}.vtt"]
    remove_stale_temp_files(folder, made)
    wanted = [
        ChapterEntry(
            index=chapter.index,
            title=chapter.title,
            file=name,
            text_sha256=chapter.text_sha256,
            settings_sha256=settings.audio_sha256,
        )
        for chapter, name in planned.chapters()
    ]
    loaded = manifest.load(folder)
    for warning in loaded.warnings:
        emit(Notice(warning, warning=True))
    if loaded.damaged:
        manifest.keep_damaged(folder)
    chapters = {c.index: c for c in book.chapters}
    fmt = settings.speech.output_format

    def adopt(want: ChapterEntry) -> WrittenFile | None:
        tags = chapter_tags(settings, book, chapters[want.index])
        return adopt_file(folder, want.file, tags, fmt)

    plan = manifest.make_plan(wanted, loaded.manifest, folder, force=settings.force, adopt=adopt)
    _reuse(settings, planned, plan, cover, chapters)
    source = {"path": without_surrogates(str(planned.source.path)), "sha256": book.source_sha256}
    record = Manifest(
        book={"title": book.title, "author": book.author, "sources": [source]},
        engine=engine_record(settings),
        chapters=plan.entries,
        stale=plan.stale,
        outputs=dict(loaded.manifest.outputs) if loaded.manifest else {},
    )
    return record, plan


def _reuse(
    settings: RunSettings,
    planned: PlannedBook,
    plan: Plan,
    cover: Cover | None,
    chapters: dict[int, Chapter],
) -> None:
    """Give audio paid for earlier its new name and tags, without asking the service again.

    A chapter whose new name is not where another reused chapter's audio lies is copied and
    committed on its own, one file open at a time. Those moving onto another's audio (a
    swap, a shift) are all copied before any of them is renamed into place, so no audio still
    to be copied is overwritten.
    """
    if not plan.reuse:
        return
    folder, fmt = planned.folder, settings.speech.output_format
    carried = [(source.file, want.file) for want, source in plan.reuse]
    sources = {source.file for _, source in plan.reuse}
    moving = [(w, s) for w, s in plan.reuse if w.file in sources and w.file != s.file]
    alone = [(w, s) for w, s in plan.reuse if (w, s) not in moving]
    for group in ([(pair,) for pair in alone], [tuple(moving)] if moving else []):
        for pairs in group:
            with contextlib.ExitStack() as stack:
                writers = []
                for want, source in pairs:
                    writer = AudioWriter(folder, want.file, fmt, complete_file=True)
                    stack.enter_context(writer)
                    copy_into(folder / source.file, writer)
                    writers.append((want, writer))
                for want, writer in writers:
                    tags = chapter_tags(settings, planned.book, chapters[want.index])
                    manifest.record_written(want, writer.commit(tags, cover))
    carry_timings(folder, carried)
    kept = {entry.file for entry in plan.entries}
    for _, source in plan.reuse:
        if source.file not in kept:  # its audio now lives under the new name
            for name in [source.file, *derived_names(source.file)]:
                (folder / name).unlink(missing_ok=True)
    plan.stale[:] = [e for e in plan.stale if is_regular_file(folder / e.file)]


@dataclass
class StaleFiles:
    """Audio of chapters that no longer exist: kept and listed, pruned, or kept as unproven."""

    listed: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


def finish_stale(folder: Path, record: Manifest, *, prune: bool, into: StaleFiles) -> None:
    """Report audio files of chapters that no longer exist; delete them with ``prune``.

    Only files narrate wrote are deleted: a plain chapter-file name whose size and hash match
    what was recorded when it was written. Anything else is reported and left alone.
    """
    kept: list[ChapterEntry] = []
    for entry in record.stale:
        path = folder / entry.file
        if not is_regular_file(path):
            continue
        if prune and manifest.is_ours(entry, folder):
            path.unlink()
            for name in derived_names(entry.file):  # timings and subtitles go with it
                (folder / name).unlink(missing_ok=True)
            into.pruned.append(str(path))
            continue
        kept.append(entry)
        (into.unverified if prune else into.listed).append(str(path))
    record.stale = kept
    record.save(folder)
