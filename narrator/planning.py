"""What a run will do, before anything is written or sent: documents, chapters, folders.

Both ``narrate`` and ``narrate --dry-run`` start here, so the dry run shows exactly the plan
that a real run would follow. Documents are all read and split first, so bad input is reported
before anything is paid for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
from narrator.service.protocol import UNSUPPORTED_MODELS, voice_id_problem
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
        own = document_settings(settings, book)
        books.append(PlannedBook(source, book, folder, tuple(files), own))
    return RunPlan(tuple(books), tuple(bad))


#: Models that take a ``language_code`` (the service documents it for Flash and Turbo v2.5).
LANGUAGE_MODELS = ("eleven_flash_v2_5", "eleven_turbo_v2_5")


def document_settings(settings: RunSettings, book: Book) -> RunSettings:
    """The run's settings with what the document's front matter chooses (voice, model,
    speed, language) wherever the user did not set it for the run; a bad value is a
    one-line error naming the document and the key.

    ``language`` also describes the book: it becomes the service's ``language_code`` only
    for models that take one.
    """
    chosen = dict(book.settings)
    speech, given = settings.speech, settings.given
    if "voice" in chosen and "voice" not in given:
        problem = voice_id_problem(chosen["voice"])
        if problem:
            raise DocumentError(book.source, f"front matter voice: {problem}")
        speech = replace(speech, voice_id=chosen["voice"])
    if "model" in chosen and "model" not in given:
        if chosen["model"] in UNSUPPORTED_MODELS or not chosen["model"].strip():
            raise DocumentError(book.source, f"front matter model: {chosen['model']!r} is "
                                "not served over WebSockets")  # fmt: skip
        speech = replace(speech, model_id=chosen["model"].strip())
    if "speed" in chosen and "speed" not in given:
        try:
            speed = float(chosen["speed"])
        except ValueError:
            speed = -1.0
        if not 0.7 <= speed <= 1.2:
            raise DocumentError(book.source, "front matter speed: a number from 0.7 to 1.2")
        speech = replace(speech, voice=replace(speech.voice, speed=speed))
    language = chosen.get("language", "").strip().lower()
    if language and "language" not in given and speech.model_id in LANGUAGE_MODELS:
        speech = replace(speech, language_code=language)
    return settings if speech == settings.speech else replace(settings, speech=speech)


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
