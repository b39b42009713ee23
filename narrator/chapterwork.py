"""The work of a run: segments narrated into pieces, pieces joined into chapter files.

The chapter is the unit of output (one file, one manifest entry); the segment is the unit of
work (one session at a time). Each session's audio streams into a hidden piece file
(:mod:`narrator.output.pieces`); a session that fails keeps the audio up to its last proven
sentence end and the segment continues from there on the next session. When the last
segment of a chapter is done, its pieces are joined in order into the chapter file, which is
tagged and committed whole, and the pieces are removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

from narrator.audioformat import joinable, sample_rate
from narrator.budget import Budget, characters_to_send
from narrator.errors import NarratorError, OutputError, redact
from narrator.events import (
    ChapterFinished,
    ChapterRetry,
    ChapterStarted,
    EventSink,
    Notice,
    Progress,
)
from narrator.output.manifest import ChapterEntry, Manifest
from narrator.output.pieces import Piece, PieceStore, PieceWriter
from narrator.output.tags import Cover, chapter_tags
from narrator.output.timings import Word, timings_name, words_of, write_timings
from narrator.output.writer import AudioWriter
from narrator.planning import PlannedBook, max_segment_chars
from narrator.reading.book import Chapter
from narrator.segmenting import Gap, chain, plan_segments
from narrator.service.checkpoints import Checkpoint
from narrator.service.completeness import StreamTally, spoken_length
from narrator.service.receiver import StreamHooks, Timed
from narrator.service.session import Session
from narrator.settings import RunSettings, SpeechSettings

#: Seconds between the manifest saves that proven sentences ask for.
CHECKPOINT_SAVE_S = 1.0


@dataclass(eq=False)
class ChapterWork:
    """One chapter being narrated: its record, its pieces so far, its segments still open."""

    planned: PlannedBook
    record: Manifest
    chapter: Chapter
    file: str
    key: str
    store: PieceStore
    pieces: list[Piece] = field(default_factory=list)
    open_segments: int = 0
    failed: bool = False
    started: bool = False

    @property
    def label(self) -> str:
        return str(self.planned.folder / self.file)

    @property
    def entry(self) -> ChapterEntry:
        return self.record.entry(self.chapter.index)


@dataclass(eq=False)
class SegmentJob:
    """Consecutive text of one chapter, ``start`` moving forward as pieces are kept."""

    chapter: ChapterWork
    start: int
    end: int
    segments: int = 1  # how many the chapter was cut into, for labels
    progressed: bool = False
    sent: int = 0  # characters the latest attempt sent

    @property
    def label(self) -> str:
        return self.chapter.label if self.segments == 1 else f"{self.chapter.label} (part)"

    @property
    def text(self) -> str:
        return self.chapter.chapter.text[self.start : self.end]

    @property
    def speech(self) -> SpeechSettings:
        """What its sessions are opened with: its document's voice, model and the rest."""
        return self.chapter.planned.settings.speech

    def took_progress(self) -> bool:
        """Whether the attempt that just ended kept new audio; resets for the next one."""
        made, self.progressed = self.progressed, False
        return made


class Narration:
    """Per segment: stream, keep what is proven; per chapter: join, commit, record."""

    def __init__(
        self, settings: RunSettings, cover: Cover | None, emit: EventSink, budget: Budget
    ) -> None:
        self.settings = settings
        self.cover = cover
        self.emit = emit
        self.budget = budget

    async def narrate_segment(self, job: SegmentJob, session: Session, attempt: int) -> None:
        """Stream the rest of one segment into a piece; on failure keep what was proven."""
        work = job.chapter
        if work.failed:  # another segment failed the chapter: spend nothing more on it now
            return
        if not job.text.strip():  # an earlier session voiced all of it
            await self._segment_done(job)
            return
        need = characters_to_send(job.text)
        if not self.budget.reserve(need):  # over the run's budget: left for the next run
            return
        try:
            await self._stream(job, session, attempt)
        finally:
            self.budget.settle(need, job.sent)

    async def _stream(self, job: SegmentJob, session: Session, attempt: int) -> None:
        work = job.chapter
        index = work.chapter.index
        job.sent = 0
        work.record.started(index)
        if not work.started or attempt > 1:
            self.emit(ChapterStarted(job.label, attempt))
        work.started = True
        tally = StreamTally()
        text = job.text
        counted = 0
        kept: Checkpoint | None = None

        def progress(voiced: int) -> None:
            nonlocal counted
            counted += voiced
            self.emit(Progress(voiced))

        def checkpoint(proven: Checkpoint) -> None:
            nonlocal kept
            kept = proven
            writer.checkpoint(job.start + proven.text_end, proven.audio_bytes)
            # What is kept and what was paid for reach the manifest as the work goes, so
            # a killed run's rerun knows both: at most once a second, as well as throttled
            # to its cost, so a chapter's own save when it is done is not held back.
            work.record.save_soon(work.planned.folder, at_least=CHECKPOINT_SAVE_S)

        def sent(characters: int) -> None:
            work.record.billed(index, characters)
            job.sent += characters

        def timing(voiced: Timed) -> None:
            writer.timed([(job.start + offset, start, end) for offset, start, end in voiced])

        hooks = StreamHooks(progress, checkpoint, timing, sent)
        with work.store.open(work.key, job.start) as writer:
            try:
                await session.narrate(text, writer.write, tally, hooks)
                piece = await asyncio.to_thread(writer.finish, job.end)
            except Exception:
                self._keep_proven(job, writer, kept, counted)
                if job.text.strip():
                    raise
                piece = None  # it failed after its last sentence: nothing is missing
            except BaseException:  # cancelled: keep what was proven, then stop
                self._keep_proven(job, writer, kept, counted)
                raise
        if piece is not None:
            self.emit(Progress(spoken_length(text) - counted))
            work.pieces.append(piece)
        await self._segment_done(job)

    async def _segment_done(self, job: SegmentJob) -> None:
        job.start = job.end
        work = job.chapter
        work.open_segments -= 1
        if work.open_segments == 0:
            await self.assemble(work)

    def _keep_proven(
        self, job: SegmentJob, writer: PieceWriter, kept: Checkpoint | None, counted: int
    ) -> None:
        """After a failure: commit the proven part as a piece, take back the rest's progress."""
        piece = None
        if kept is not None:
            try:
                piece = writer.finish(job.start + kept.text_end, kept.audio_bytes)
            except NarratorError:
                piece = None
        if piece is None:
            self.emit(Progress(-counted))
            return
        self.emit(Progress(kept.spoken - counted if kept else -counted))
        job.chapter.pieces.append(piece)
        job.start = piece.end
        job.progressed = True

    async def assemble(self, work: ChapterWork) -> None:
        """Join the chapter's pieces in order into its file, commit it, record it."""
        pieces = sorted(work.pieces, key=lambda p: p.start)
        _check_chain(work, pieces)
        settings, index = self.settings, work.chapter.index
        folder, fmt = work.planned.folder, settings.speech.output_format
        with AudioWriter(folder, work.file, fmt) as w:
            counts = await asyncio.to_thread(work.store.join_parts, pieces, w.write)
            tags = chapter_tags(work.planned.settings, work.planned.book, work.chapter)
            cover = cover_of(work.planned, self.cover)
            counted = sum(counts) / sample_rate(fmt) if joinable(fmt) else None
            written = await asyncio.to_thread(w.commit, tags, cover, duration_s=counted)
        words = _words(work, pieces, counts, sample_rate(fmt))
        path = folder / timings_name(work.file)
        sha, seconds = work.entry.text_sha256, written.duration_s
        await asyncio.to_thread(write_timings, path, work.file, sha, seconds, words)
        work.record.finished(index, written)
        work.entry.pieces = len(pieces)
        work.record.save_soon(work.planned.folder)
        await asyncio.to_thread(work.store.remove, pieces)
        joined = f", {len(pieces)} pieces" if len(pieces) > 1 else ""
        detail = f"{written.duration_s:.1f} s{joined}"
        self.emit(ChapterFinished(work.label, True, detail))

    async def segment_failed(self, job: SegmentJob, exc: BaseException) -> None:
        work = job.chapter
        if work.failed:
            return
        work.failed = True
        message = self._message(exc)
        work.record.failed(work.chapter.index, message)
        work.record.save_soon(work.planned.folder)
        self.emit(ChapterFinished(work.label, False, message))

    def _message(self, exc: BaseException) -> str:
        return redact(str(exc) or type(exc).__name__, self.settings.service.api_key)

    def retrying(self, job: SegmentJob, attempt: int, exc: BaseException, delay: float) -> None:
        self.emit(ChapterRetry(job.label, attempt, self._message(exc), delay))


def segment_jobs(
    works: list[ChapterWork], settings: RunSettings, emit: EventSink
) -> tuple[list[SegmentJob], int]:
    """Cut what is left of every chapter into segments; returns them and the voiced
    characters that pieces from an earlier run already hold.

    Pieces an earlier run kept are reused where they join up; the gaps between them are
    what the pool narrates, cut only where that keeps every session busy to the end.
    """
    limit = max_segment_chars(settings)
    if limit == 0 and settings.max_segment_chars != 0:
        fmt = settings.speech.output_format
        emit(Notice(f"{fmt} cannot be joined: every chapter is narrated whole"))
    gaps: list[tuple[ChapterWork, Gap]] = []
    resumed = 0
    for work in works:
        found = work.store.found(work.key)
        chosen, open_gaps = chain([(p.start, p.end) for p in found], work.chapter.text)
        work.pieces = [found[i] for i in chosen]
        keep = set(chosen)
        unused = [p for i, p in enumerate(found) if i not in keep]
        if unused:
            work.store.remove(unused)
        text = work.chapter.text
        resumed += sum(spoken_length(text[p.start : p.end]) for p in work.pieces)
        gaps += [(work, gap) for gap in open_gaps]
    planned = plan_segments([gap for _, gap in gaps], settings.concurrency, limit)
    jobs: list[SegmentJob] = []
    for (work, _), spans in zip(gaps, planned, strict=True):
        work.open_segments += len(spans)
        jobs += [SegmentJob(work, span.start, span.end) for span in spans]
    for job in jobs:
        job.segments = job.chapter.open_segments + len(job.chapter.pieces)
    return jobs, resumed


def _words(work: ChapterWork, pieces: list[Piece], counts: list[int], rate: int) -> Iterator[Word]:
    """The chapter's words on its file's timeline, a piece at a time: each piece's times are
    placed after the samples of the pieces before it, counted from the audio joined."""
    before = 0
    for piece, samples in zip(pieces, counts, strict=True):
        base = before / rate
        voiced = [(o, base + s, base + e) for o, s, e in work.store.read_times(piece)]
        yield from words_of(work.chapter.text, voiced, piece.start, piece.end)
        before += samples


def cover_of(planned: PlannedBook, given: Cover | None) -> Cover | None:
    """The cover a book's files carry: ``--cover``, else the document's own (an EPUB's)."""
    if given is not None:
        return given
    own = planned.book.cover
    return own if own is not None and own[1] in ("image/jpeg", "image/png") else None


def _check_chain(work: ChapterWork, pieces: list[Piece]) -> None:
    """The pieces must cover the chapter's text end to end, only whitespace between them."""
    text = work.chapter.text
    at = 0
    for piece in pieces:
        if piece.start < at or text[at : piece.start].strip():
            raise OutputError(f"{work.label}: its pieces do not join up at character {at}")
        at = piece.end
    if text[at:].strip():
        raise OutputError(f"{work.label}: its pieces end at character {at} of {len(text)}")
