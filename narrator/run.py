"""The core's one entry point: settings in, a report out.

Documents are read and split first, all of them, so bad input is reported before anything is
paid for. Then every output folder is planned against its manifest, the chapters still to do
go through one pool (longest first, across all documents), and each finished chapter is
recorded at once, so the manifest tells the truth after a crash at any point.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

from narrator import __version__
from narrator.errors import DocumentError, NarratorError, OutputError, UsageError, redact
from narrator.events import (
    ChapterFinished,
    ChapterRetry,
    ChapterStarted,
    EventSink,
    Notice,
    Progress,
    RunStarted,
)
from narrator.output import manifest
from narrator.output.files import is_regular_file, remove_stale_temp_files
from narrator.output.lock import FolderLock
from narrator.output.manifest import ChapterEntry, Manifest, Plan
from narrator.output.names import chapter_file_names, extension_for
from narrator.output.tags import Tags, read_cover
from narrator.output.writer import AudioWriter, WrittenFile, adopt_file, copy_into
from narrator.reading.book import Book, Chapter
from narrator.reading.chapters import load_book
from narrator.reading.documents import Source, find_sources
from narrator.reading.textclean import without_surrogates
from narrator.report import Report
from narrator.service.chunking import chunk_text
from narrator.service.completeness import StreamTally, spoken_length
from narrator.service.policy import classify
from narrator.service.pool import Pool, PoolHooks, RetryPolicy
from narrator.service.session import Connector, Session
from narrator.settings import RunSettings, ServiceSettings

#: Characters a second of ordinary narration at speed 1.0, for estimates only.
NARRATION_CHARS_PER_SECOND = 15.0


@dataclass
class PlannedBook:
    """A document ready to narrate: its chapters, file names and output folder."""

    source: Source
    book: Book
    folder: Path
    files: list[str]


@dataclass
class Loaded:
    books: list[PlannedBook]
    bad_documents: list[str]


def load_documents(settings: RunSettings, emit: EventSink) -> Loaded:
    """Read and split every document; a bad one found in a folder is reported and skipped."""
    found: list[str] = []
    sources = find_sources(list(settings.paths), exclude=settings.out, warnings=found)
    for warning in found:
        emit(Notice(warning, warning=True))
    single = len(sources) == 1 and not sources[0].from_folder
    _check_distinct_folders(sources)
    books: list[PlannedBook] = []
    bad: list[str] = []
    for source in sources:
        try:
            book = load_book(source.path, settings.parse)
        except DocumentError as exc:
            if not source.from_folder:
                raise
            bad.append(str(exc))
            emit(Notice(f"skipped {exc}", warning=True))
            continue
        for warning in book.warnings:
            emit(Notice(f"{source.path}: {warning}", warning=True))
        folder = settings.out if single else settings.out / source.relative
        ext = extension_for(settings.speech.output_format)
        files = chapter_file_names([c.title for c in book.chapters], ext)
        books.append(PlannedBook(source, book, folder, files))
    return Loaded(books, bad)


def _check_distinct_folders(sources: list[Source]) -> None:
    """Two documents must never share an output folder: their manifests would clash."""
    seen: dict[str, Source] = {}
    for source in sources:
        key = source.relative.as_posix().casefold()
        if key in seen:
            raise UsageError(
                f"{seen[key].path} and {source.path} would both be written to "
                f"OUT/{source.relative}; narrate them in separate runs or rename one"
            )
        seen[key] = source


def estimated_seconds(characters: int, speed: float) -> float:
    return characters / (NARRATION_CHARS_PER_SECOND * speed)


def settings_sha256(settings: RunSettings) -> str:
    """Speech settings plus the engine: local audio must not pass for the service's."""
    blob = f"{settings.speech.sha256}:{settings.service.engine}"
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class ChapterJob:
    planned: PlannedBook
    record: Manifest
    entry: ChapterEntry
    chapter: Chapter

    @property
    def label(self) -> str:
        return str(self.planned.folder / self.entry.file)


def _engine_record(settings: RunSettings) -> dict[str, object]:
    service, speech = settings.service, settings.speech
    return {
        "engine": service.engine,
        "base_url": "embedded local server" if service.engine == "local" else service.base_url,
        "voice_id": speech.voice_id,
        "model_id": speech.model_id,
        "output_format": speech.output_format,
        "voice_settings": vars(speech.voice).copy(),
        "chunk_length_schedule": list(speech.chunk_schedule),
        "narrator": __version__,
    }


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the output folder ({exc})") from exc


def _plan_folder(
    settings: RunSettings, planned: PlannedBook, emit: EventSink
) -> tuple[Manifest, Plan]:
    folder = planned.folder
    _make_folder(folder)
    remove_stale_temp_files(folder)
    settings_hash = settings_sha256(settings)
    wanted = [
        ChapterEntry(
            index=chapter.index,
            title=chapter.title,
            file=name,
            characters=0,
            text_sha256=chapter.text_sha256,
            settings_sha256=settings_hash,
        )
        for chapter, name in zip(planned.book.chapters, planned.files, strict=True)
    ]
    loaded = manifest.load(folder)
    for warning in loaded.warnings:
        emit(Notice(warning, warning=True))
    if loaded.damaged:
        manifest.keep_damaged(folder)
    chapters = {c.index: c for c in planned.book.chapters}
    fmt = settings.speech.output_format

    def adopt(want: ChapterEntry) -> WrittenFile | None:
        tags = chapter_tags(settings, planned.book, chapters[want.index])
        return adopt_file(folder, want.file, tags, fmt)

    plan = manifest.make_plan(wanted, loaded.manifest, folder, force=settings.force, adopt=adopt)
    _reuse(settings, planned, plan)
    book = planned.book
    record = Manifest(
        book={
            "title": book.title,
            "author": book.author,
            "sources": [
                {
                    "path": without_surrogates(str(planned.source.path)),
                    "sha256": book.source_sha256,
                }
            ],
        },
        engine=_engine_record(settings),
        chapters=plan.entries,
        stale=plan.stale,
    )
    return record, plan


def _reuse(settings: RunSettings, planned: PlannedBook, plan: Plan) -> None:
    """Give audio paid for earlier its new name and tags, without asking the service again.

    Every copy is made before any is renamed into place, so a chapter moving onto the name of
    another moving chapter never overwrites audio still to be copied.
    """
    if not plan.reuse:
        return
    folder, fmt = planned.folder, settings.speech.output_format
    chapters = {c.index: c for c in planned.book.chapters}
    with contextlib.ExitStack() as stack:
        writers = []
        for want, source in plan.reuse:
            writer = stack.enter_context(AudioWriter(folder, want.file, fmt, complete_file=True))
            copy_into(folder / source.file, writer)
            writers.append((want, writer))
        for want, writer in writers:
            tags = chapter_tags(settings, planned.book, chapters[want.index])
            manifest.record_written(want, writer.commit(tags, settings.cover))
    kept = {entry.file for entry in plan.entries}
    for _, source in plan.reuse:
        if source.file not in kept:  # its audio now lives under the new name
            (folder / source.file).unlink(missing_ok=True)
    plan.stale[:] = [e for e in plan.stale if is_regular_file(folder / e.file)]


def chapter_tags(settings: RunSettings, book: Book, chapter: Chapter) -> Tags:
    speech = settings.speech
    return Tags(
        text_sha256=chapter.text_sha256,
        settings_sha256=settings_sha256(settings),
        title=chapter.title,
        album=book.title,
        artist=book.author,
        track=chapter.index,
        track_total=len(book.chapters),
        comment=(
            f"narrator {__version__}; engine {settings.service.engine}; "
            f"voice {speech.voice_id}; model {speech.model_id}"
        ),
    )


@contextlib.asynccontextmanager
async def engine(service: ServiceSettings, emit: EventSink) -> AsyncIterator[ServiceSettings]:
    """The service to talk to: the real one, or the embedded server started on loopback."""
    if service.engine != "local":
        yield service
        return
    from narrator.local import LocalServer, ServerOptions

    emit(
        Notice(
            "narrating offline with the local engine (eSpeak NG); for ElevenLabs give a key "
            "with --api-key, ELEVENLABS_API_KEY or .env"
        )
    )
    async with LocalServer(host="127.0.0.1", port=0, options=ServerOptions()) as server:
        yield replace(service, base_url=server.url, api_key=None)


class Narration:
    """One run's state: the report, the event sink and the work done per chapter."""

    def __init__(self, settings: RunSettings, emit: EventSink) -> None:
        self.settings = settings
        self.emit = emit
        self.report = Report()

    async def narrate_chapter(self, job: ChapterJob, session: Session, attempt: int) -> None:
        """Stream one chapter into its temp file; record it once the file is complete."""
        settings, entry = self.settings, job.entry
        entry.attempts += 1
        self.emit(ChapterStarted(job.label, attempt))
        tally = StreamTally()
        counted = 0

        def progress(voiced: int) -> None:
            nonlocal counted
            counted += voiced
            self.emit(Progress(voiced))

        try:
            with AudioWriter(job.planned.folder, entry.file, settings.speech.output_format) as w:
                await session.narrate(chunk_text(job.chapter.text), w.write, tally, progress)
                tags = chapter_tags(settings, job.planned.book, job.chapter)
                written = await asyncio.to_thread(w.commit, tags, settings.cover)
        except BaseException:
            self.emit(Progress(-counted))
            raise
        finally:
            entry.characters += tally.characters_sent
            self.report.characters_sent += tally.characters_sent
        self.emit(Progress(spoken_length(job.chapter.text) - counted))
        manifest.record_written(entry, written)
        self.report.done += 1
        self.report.audio_seconds += written.duration_s
        job.record.save_soon(job.planned.folder)
        self.emit(ChapterFinished(job.label, True, f"{written.duration_s:.1f} s"))

    async def chapter_failed(self, job: ChapterJob, exc: BaseException) -> None:
        message = self._message(exc)
        job.entry.status, job.entry.error = "failed", message
        job.entry.finished = manifest.now()
        self.report.failed += 1
        self.report.failures.append(f"{job.label}: {message}")
        job.record.save_soon(job.planned.folder)
        self.emit(ChapterFinished(job.label, False, message))

    def _message(self, exc: BaseException) -> str:
        return redact(str(exc) or type(exc).__name__, self.settings.service.api_key)

    def retrying(self, job: ChapterJob, attempt: int, exc: BaseException, delay: float) -> None:
        message = self._message(exc)
        self.emit(ChapterRetry(job.label, attempt, message, delay))


def check_settings(settings: RunSettings) -> None:
    """Refuse at once what cannot work, before anything is read, written or paid for."""
    fmt = settings.speech.output_format
    if settings.service.engine == "local":
        from narrator.local import LOCAL_FORMATS

        if fmt not in LOCAL_FORMATS:
            raise UsageError(
                f"the local engine cannot make {fmt}; it makes mp3_*, pcm_* and ulaw_8000 "
                "(the other formats need the ElevenLabs engine)"
            )


async def narrate(settings: RunSettings, emit: EventSink) -> Report:
    """Narrate every document in ``settings``; failures of chapters are in the report."""
    started = time.monotonic()
    check_settings(settings)
    if settings.cover is not None:
        read_cover(settings.cover)  # a bad cover fails now, not after the first chapter is paid
    loaded = load_documents(settings, emit)
    run = Narration(settings, emit)
    run.report.bad_documents = loaded.bad_documents
    _make_folder(settings.out)
    with FolderLock(settings.out):
        jobs, records = _plan_all(settings, loaded, run.report, emit)
        emit(
            RunStarted(
                len(jobs), sum(spoken_length(j.chapter.text) for j in jobs), run.report.skipped
            )
        )
        saved: list[NarratorError] = []
        try:
            if jobs:
                await _run_pool(settings, run, jobs)
        finally:  # whatever stopped the run, record what was done
            for folder, record in records:
                try:
                    record.save(folder)
                except NarratorError as exc:
                    saved.append(exc)
        if saved:
            raise saved[0]
        _finish_stale(settings, records, run.report)
    run.report.pending = sum(1 for j in jobs if j.entry.status == "pending")
    run.report.wall_seconds = time.monotonic() - started
    return run.report


def _plan_all(
    settings: RunSettings, loaded: Loaded, report: Report, emit: EventSink
) -> tuple[list[ChapterJob], list[tuple[Path, Manifest]]]:
    jobs: list[ChapterJob] = []
    records: list[tuple[Path, Manifest]] = []
    for planned in loaded.books:
        record, plan = _plan_folder(settings, planned, emit)
        record.save(planned.folder)
        records.append((planned.folder, record))
        report.skipped += len(plan.skipped) + len(plan.reuse) + len(plan.adopted)
        report.reused += len(plan.reuse)
        by_index = {c.index: c for c in planned.book.chapters}
        jobs += [ChapterJob(planned, record, e, by_index[e.index]) for e in plan.todo]
    return jobs, records


async def _run_pool(settings: RunSettings, run: Narration, jobs: list[ChapterJob]) -> None:
    async with engine(settings.service, run.emit) as service:
        connector = Connector(service, settings.speech)
        pool: Pool[ChapterJob, Session] = Pool(
            workers=settings.concurrency,
            open_session=connector.open,
            work=run.narrate_chapter,
            classify=classify,
            policy=RetryPolicy(retries=settings.retries, base_delay=settings.retry_delay),
            hooks=PoolHooks(
                on_retry=run.retrying,
                on_failure=run.chapter_failed,
                on_lowered=lambda n: run.emit(
                    Notice(f"the service limits concurrency: now {n} session(s) at once")
                ),
            ),
        )
        await pool.run(jobs, weight=lambda job: len(job.chapter.text))


def _finish_stale(
    settings: RunSettings, records: list[tuple[Path, Manifest]], report: Report
) -> None:
    """Report audio files of chapters that no longer exist; delete them with ``--prune``.

    Only files narrate wrote are deleted: a plain chapter-file name whose size and hash match
    what was recorded when it was written. Anything else is reported and left alone.
    """
    for folder, record in records:
        kept: list[ChapterEntry] = []
        for entry in record.stale:
            path = folder / entry.file
            if not is_regular_file(path):
                continue
            kept.append(entry)
            if not settings.prune:
                report.stale_files.append(str(path))
            elif manifest.is_ours(entry, folder):
                path.unlink()
                report.pruned_files.append(str(path))
                kept.pop()
            else:
                report.unverified_files.append(str(path))
        record.stale = kept
        record.save(folder)
