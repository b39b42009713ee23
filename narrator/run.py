"""The core's one entry point: settings in, a report out; orchestration only.

The plan comes first (every document read and split, so bad input is reported before anything
is paid for); then every output folder is planned against its manifest under the folder lock;
the chapters still to do are cut into segments (:mod:`narrator.segmenting`) around the pieces
an earlier run left, and every segment of every document goes through one pool, longest
first; each finished chapter is recorded in its manifest; the report is read off the
manifests at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from narrator.budget import Budget, characters_to_send
from narrator.chapterwork import ChapterWork, Narration, SegmentJob, cover_of, segment_jobs
from narrator.errors import NarratorError
from narrator.events import EventSink, Notice, Progress, RunStarted
from narrator.finishing import Finished, finish_book, write_feed
from narrator.output.folder import StaleFiles, finish_stale, make_folder, plan_folder
from narrator.output.lock import FolderLock
from narrator.output.manifest import ChapterEntry, Manifest
from narrator.output.pieces import PieceStore, piece_key
from narrator.output.tags import Cover, read_cover
from narrator.planning import PlannedBook, plan_run
from narrator.report import Report
from narrator.service.completeness import spoken_length
from narrator.service.engine import check_engine, engine
from narrator.service.policy import classify
from narrator.service.pool import Pool, PoolHooks, RetryPolicy
from narrator.service.session import Connector, Session
from narrator.settings import RunSettings, SpeechSettings


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
        works, records, unchanged = _plan_folders(settings, plan.books, cover, emit, locks)
        jobs, resumed = segment_jobs(works, settings, emit)
        characters = sum(spoken_length(work.chapter.text) for work in works)
        emit(RunStarted(len(works), characters, len(unchanged)))
        if resumed:
            emit(Progress(resumed))
        budget = Budget(settings.max_characters)
        narration = Narration(settings, cover, emit, budget)
        saved: list[NarratorError] = []
        try:
            for work in works:
                if work.open_segments == 0:  # every piece was on disk already
                    await narration.assemble(work)
            if jobs:
                await _run_pool(settings, narration, jobs)
        finally:  # whatever stopped the run, record what was done
            for folder, record in records:
                try:
                    record.save(folder)
                except NarratorError as exc:
                    saved.append(exc)
            _clear_pieces(works, [folder for folder, _ in records], settings)
        if saved:
            raise saved[0]
        for folder, record in records:
            finish_stale(folder, record, prune=settings.prune, into=stale)
        await _finish(settings, plan.books, records, cover, emit)
    report = Report.of(
        [(work.label, work.entry) for work in works],
        unchanged,
        bad_documents=list(plan.bad_documents),
        stale=stale,
        wall_seconds=time.monotonic() - started,
    )
    if budget.held_back:
        left = sum(characters_to_send(job.text) for job in jobs if not job.chapter.failed)
        report.budget_note = (
            f"the budget of {settings.max_characters:,} characters is used up: "
            f"{left:,} characters are left to narrate; run again to continue"
        )
    return report


def _plan_folders(
    settings: RunSettings,
    books: tuple[PlannedBook, ...],
    cover: Cover | None,
    emit: EventSink,
    locks: contextlib.ExitStack,
) -> tuple[list[ChapterWork], list[tuple[Path, Manifest]], list[tuple[ChapterEntry, bool]]]:
    """The chapters still to do, each folder's manifest (saved), and the chapters left as
    they were (with whether they were renamed or retagged).

    Each book's own folder is locked too: another run may name it as its ``--out``."""
    works: list[ChapterWork] = []
    records: list[tuple[Path, Manifest]] = []
    unchanged: list[tuple[ChapterEntry, bool]] = []
    for planned in books:
        make_folder(planned.folder, inside=settings.out)
        if planned.folder != settings.out:
            locks.enter_context(FolderLock(planned.folder))
        record, plan = plan_folder(planned.settings, planned, cover_of(planned, cover), emit)
        record.save(planned.folder)
        records.append((planned.folder, record))
        unchanged += [(entry, False) for entry in [*plan.skipped, *plan.adopted]]
        unchanged += [(entry, True) for entry, _ in plan.reuse]
        chapters = {c.index: c for c in planned.book.chapters}
        store = PieceStore(planned.folder, settings.speech.output_format)
        for entry in plan.todo:
            key = piece_key(entry.text_sha256, entry.settings_sha256)
            works.append(
                ChapterWork(planned, record, chapters[entry.index], entry.file, key, store)
            )
    return works, records, unchanged


async def _finish(
    settings: RunSettings,
    books: tuple[PlannedBook, ...],
    records: list[tuple[Path, Manifest]],
    cover: Cover | None,
    emit: EventSink,
) -> None:
    """Subtitles, cover, book file, metadata and feed, from what was written."""
    options = settings.outputs
    covers = cover or any(planned.book.cover for planned in books)
    wanted = options.subtitles or options.book_file or options.abs_metadata or covers
    if not (wanted or options.feed_url):
        return
    finished: list[Finished] = []
    for planned, (folder, record) in zip(books, records, strict=True):
        own = cover_of(planned, cover)
        done = await asyncio.to_thread(finish_book, settings, planned, record, own)
        record.save(folder)
        finished.append(done)
        for line in done.notices:
            emit(Notice(line, warning=True))
    if options.feed_url:
        for line in await asyncio.to_thread(write_feed, settings, finished):
            emit(Notice(line, warning=True))


def _clear_pieces(works: list[ChapterWork], folders: list[Path], settings: RunSettings) -> None:
    """Pieces are kept only for chapters still to finish; the rest are removed. A failure
    here must not hide what stopped the run: leftovers are cleared by the next one."""
    live: dict[Path, set[str]] = {folder: set() for folder in folders}
    for work in works:
        if work.entry.status != "done":
            live[work.planned.folder].add(work.key)
    for folder, keys in live.items():
        with contextlib.suppress(NarratorError):
            PieceStore(folder, settings.speech.output_format).keep_only(keys)


async def _run_pool(settings: RunSettings, run: Narration, jobs: list[SegmentJob]) -> None:
    async with engine(settings.service, run.emit) as service:
        connectors: dict[SpeechSettings, Connector] = {}

        def open_session(job: SegmentJob) -> Coroutine[Any, Any, Session]:
            speech = job.speech
            if speech not in connectors:
                connectors[speech] = Connector(service, speech)
            return connectors[speech].open()

        pool: Pool[SegmentJob, Session] = Pool(
            workers=settings.concurrency,
            open_session=open_session,
            work=run.narrate_segment,
            classify=classify,
            policy=RetryPolicy(retries=settings.retries, base_delay=settings.retry_delay),
            hooks=PoolHooks(
                on_retry=run.retrying,
                on_failure=run.segment_failed,
                on_lowered=lambda n: run.emit(
                    Notice(f"the service limits concurrency: now {n} session(s) at once")
                ),
            ),
            progressed=SegmentJob.took_progress,
            session_key=lambda job: job.speech,
        )
        await pool.run(jobs, weight=lambda job: job.end - job.start)
