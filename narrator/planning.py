"""What a run will do, before anything is written or sent: documents, chapters, folders.

Both ``narrate`` and ``narrate --dry-run`` start here, so the dry run shows exactly the plan
that a real run would follow. Documents are all read and split first, so bad input is reported
before anything is paid for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from narrator.audioformat import joinable
from narrator.errors import DocumentError, UsageError
from narrator.events import EventSink, Notice
from narrator.output.names import chapter_file_names, extension_for
from narrator.reading.book import Book, Chapter
from narrator.reading.chapters import load_book
from narrator.reading.documents import Source, find_sources
from narrator.segmenting import default_max_segment_chars
from narrator.service.chunking import chunk_text
from narrator.settings import RunSettings

#: Characters a second of ordinary narration at speed 1.0, for estimates only.
NARRATION_CHARS_PER_SECOND = 15.0


@dataclass(frozen=True)
class PlannedBook:
    """A document ready to narrate: its chapters, file names and output folder."""

    source: Source
    book: Book
    folder: Path
    files: tuple[str, ...]
    #: The run's settings as this document asks for them (its front matter may choose its
    #: own voice, model, speed or language where the command line did not).
    settings: RunSettings

    def chapters(self) -> list[tuple[Chapter, str]]:
        return list(zip(self.book.chapters, self.files, strict=True))


@dataclass(frozen=True)
class RunPlan:
    """Every readable document of the run, and one line for each that could not be read."""

    books: tuple[PlannedBook, ...]
    bad_documents: tuple[str, ...]


def pieces(chapter: Chapter) -> list[str]:
    """The text messages that will carry the chapter: what is sent, and so what is billed."""
    return chunk_text(chapter.text)


def max_segment_chars(settings: RunSettings) -> int:
    """The longest segment allowed: the user's, else the model's; 0 keeps chapters whole."""
    if not joinable(settings.speech.output_format):
        return 0
    if settings.max_segment_chars is not None:
        return settings.max_segment_chars
    return default_max_segment_chars(settings.speech.model_id)


def estimated_seconds(characters: int, speed: float) -> float:
    return characters / (NARRATION_CHARS_PER_SECOND * speed)


def plan_run(settings: RunSettings, emit: EventSink) -> RunPlan:
    """Read and split every document; a bad one found in a folder is reported and skipped."""
    found: list[str] = []
    sources = find_sources(list(settings.paths), exclude=settings.out, warnings=found)
    for warning in found:
        emit(Notice(warning, warning=True))
    single = len(sources) == 1 and not sources[0].from_folder
    _check_distinct_folders(sources)
    extension = extension_for(settings.speech.output_format)
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
        files = chapter_file_names([c.title for c in book.chapters], extension)
        books.append(PlannedBook(source, book, folder, tuple(files), settings))
    return RunPlan(tuple(books), tuple(bad))


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
