"""The core's one entry point: settings in, a report out; orchestration only.

The plan comes first (every document read and split, so bad input is reported before anything
is paid for); then every output folder is planned against its manifest under the folder lock;
the chapters still to do go through one pool, longest first across all documents; each
finished chapter is recorded in its manifest; the report is read off the manifests at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from narrator.errors import NarratorError, redact
from narrator.events import (
    ChapterFinished,
    ChapterRetry,
    ChapterStarted,
    EventSink,
    Notice,
    Progress,
    RunStarted,
)
from narrator.output.folder import StaleFiles, finish_stale, make_folder, plan_folder
from narrator.output.lock import FolderLock
from narrator.output.manifest import ChapterEntry, Manifest
from narrator.output.tags import Cover, chapter_tags, read_cover
from narrator.output.writer import AudioWriter
from narrator.planning import PlannedBook, pieces, plan_run
from narrator.reading.book import Chapter
from narrator.report import Report
from narrator.service.completeness import StreamTally, spoken_length
from narrator.service.engine import check_engine, engine
from narrator.service.policy import classify
from narrator.service.pool import Pool, PoolHooks, RetryPolicy
from narrator.service.session import Connector, Session
from narrator.settings import RunSettings


@dataclass(frozen=True)
class ChapterJob:
    """One chapter to narrate, and the manifest that records it."""

    planned: PlannedBook
    record: Manifest
    chapter: Chapter
    file: str

    @property
    def label(self) -> str:
        return str(self.planned.folder / self.file)

    @property
    def entry(self) -> ChapterEntry:
        return self.record.entry(self.chapter.index)


class Narration:
    """The work done per chapter: stream, commit, record; failures recorded, not raised."""

    def __init__(self, settings: RunSettings, cover: Cover | None, emit: EventSink) -> None:
        self.settings = settings
        self.cover = cover
        self.emit = emit

    async def narrate_chapter(self, job: ChapterJob, session: Session, attempt: int) -> None:
        """Stream one chapter into its temp file; record it once the file is complete."""
        settings, index = self.settings, job.chapter.index
        job.record.started(index)
        self.emit(ChapterStarted(job.label, attempt))
        tally = StreamTally()
        counted = 0

        def progress(voiced: int) -> None:
            nonlocal counted
            counted += voiced
            self.emit(Progress(voiced))

        try:
            with AudioWriter(job.planned.folder, job.file, settings.speech.output_format) as w:
                await session.narrate(pieces(job.chapter), w.write, tally, progress)
                tags = chapter_tags(settings, job.planned.book, job.chapter)
                written = await asyncio.to_thread(w.commit, tags, self.cover)
        except BaseException:
            self.emit(Progress(-counted))
            raise
        finally:
            job.record.billed(index, tally.characters_sent)
        self.emit(Progress(spoken_length(job.chapter.text) - counted))
        job.record.finished(index, written)
        job.record.save_soon(job.planned.folder)
        self.emit(ChapterFinished(job.label, True, f"{written.duration_s:.1f} s"))

    async def chapter_failed(self, job: ChapterJob, exc: BaseException) -> None:
        message = self._message(exc)
        job.record.failed(job.chapter.index, message)
        job.record.save_soon(job.planned.folder)
        self.emit(ChapterFinished(job.label, False, message))

    def _message(self, exc: BaseException) -> str:
        return redact(str(exc) or type(exc).__name__, self.settings.service.api_key)

    def retrying(self, job: ChapterJob, attempt: int, exc: BaseException, delay: float) -> None:
        self.emit(ChapterRetry(job.label, attempt, self._message(exc), delay))


async def narrate(settings: RunSettings, emit: EventSink) -> Report:
    """Narrate every document in ``settings``; failures of chapters are in the report."""
    started = time.monotonic()
    check_engine(settings)
    # Read once, and now: a bad cover fails before the first chapter is paid for.
    cover = read_cover(settings.cover) if settings.cover is not None else None
    plan = plan_run(settings, emit)
    make_folder(settings.out)
    stale = StaleFiles()
    with FolderLock(settings.out), contextlib.ExitStack() as locks:
        jobs, records, unchanged = _plan_folders(settings, plan.books, cover, emit, locks)
        characters = sum(spoken_length(job.chapter.text) for job in jobs)
        emit(RunStarted(len(jobs), characters, len(unchanged)))
        saved: list[NarratorError] = []
        try:
            if jobs:
                await _run_pool(settings, Narration(settings, cover, emit), jobs)
        finally:  # whatever stopped the run, record what was done
            for folder, record in records:
                try:
                    record.save(folder)
                except NarratorError as exc:
                    saved.append(exc)
        if saved:
            raise saved[0]
        for folder, record in records:
            finish_stale(folder, record, prune=settings.prune, into=stale)
    return Report.of(
        [(job.label, job.entry) for job in jobs],
        unchanged,
        bad_documents=list(plan.bad_documents),
        stale=stale,
        wall_seconds=time.monotonic() - started,
    )


def _plan_folders(
    settings: RunSettings,
    books: tuple[PlannedBook, ...],
    cover: Cover | None,
    emit: EventSink,
    locks: contextlib.ExitStack,
) -> tuple[list[ChapterJob], list[tuple[Path, Manifest]], list[tuple[ChapterEntry, bool]]]:
    """Jobs for the chapters still to do, each folder's manifest (saved), and the chapters
    left as they were (with whether they were renamed or retagged).

    Each book's own folder is locked too: another run may name it as its ``--out``."""
    jobs: list[ChapterJob] = []
    records: list[tuple[Path, Manifest]] = []
    unchanged: list[tuple[ChapterEntry, bool]] = []
    for planned in books:
        make_folder(planned.folder, inside=settings.out)
        if planned.folder != settings.out:
            locks.enter_context(FolderLock(planned.folder))
        record, plan = plan_folder(settings, planned, cover, emit)
        record.save(planned.folder)
        records.append((planned.folder, record))
        unchanged += [(entry, False) for entry in [*plan.skipped, *plan.adopted]]
        unchanged += [(entry, True) for entry, _ in plan.reuse]
        chapters = {c.index: c for c in planned.book.chapters}
        jobs += [ChapterJob(planned, record, chapters[e.index], e.file) for e in plan.todo]
    return jobs, records, unchanged


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
