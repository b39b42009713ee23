"""What is made from a book's chapter files once they are written: subtitles, a cover beside
them, the one-file book, Audiobookshelf's metadata and a folder run's podcast feed.

Each is made from what is on disk (the chapter files and their word timings), so each can be
added to a book narrated earlier without narrating it again; and each is rewritten only when
what it is made of changed, so an unchanged book keeps its files byte for byte and a player
or a podcast app sees nothing move. The manifest records what was made and from what.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from narrator.errors import OutputError
from narrator.output.absmeta import BookChapterMark, render_abs_metadata
from narrator.output.bookfile import BookPart, BookTags, write_m4b_book, write_mp3_book
from narrator.output.feed import (
    Channel,
    Episode,
    chapters_json,
    episode_url,
    render_feed,
    stable_guid,
)
from narrator.output.files import file_sha256, is_regular_file, write_bytes_atomic
from narrator.output.manifest import ChapterEntry, Manifest
from narrator.output.names import book_file_name
from narrator.output.subtitles import make_cues, render, to_vtt
from narrator.output.tags import Cover, chapter_tags, distinct_titles, write_cover_file
from narrator.output.timings import ChapterTimings, Word, load_timings, timings_name
from narrator.planning import PlannedBook
from narrator.settings import RunSettings

ABS_METADATA = "metadata.json"
FEED = "feed.xml"
_MIME = {".mp3": "audio/mpeg", ".m4b": "audio/x-m4a"}


@dataclass
class Finished:
    """One book's outputs, as far as they were made; what its feed episode is built from."""

    planned: PlannedBook
    record: Manifest
    notices: list[str]


def finish_book(
    settings: RunSettings, planned: PlannedBook, record: Manifest, cover: Cover | None
) -> Finished:
    """Make what the options ask for from the book's done chapters (blocking file I/O)."""
    options, folder = settings.outputs, planned.folder
    done = sorted((e for e in record.chapters if e.status == "done"), key=lambda e: e.index)
    finished = Finished(planned, record, [])
    timings = _timings(folder, done, finished.notices)
    if options.subtitles:
        for entry in done:
            if entry.index in timings:
                _subtitles(folder, entry, timings[entry.index], options.subtitles)
    if cover is not None:
        record.outputs["cover"] = write_cover_file(folder, cover).name
    whole = bool(done) and len(done) == len(record.chapters)
    if not whole and (options.book_file or options.abs_metadata):
        finished.notices.append(
            f"{folder}: not every chapter is done, so no book file or metadata.json yet"
        )
        return finished
    starts = _chapter_starts(done)
    if options.book_file:
        starts = _book_file(settings, planned, record, done, cover, timings)
    if options.abs_metadata:
        _abs_metadata(planned, record, done, starts)
    return finished


def _timings(
    folder: Path, done: list[ChapterEntry], notices: list[str]
) -> dict[int, ChapterTimings]:
    """Each done chapter's word timings, when it has current ones."""
    found: dict[int, ChapterTimings] = {}
    missing = 0
    for entry in done:
        try:
            timings = load_timings(folder / timings_name(entry.file))
        except (OSError, ValueError):
            missing += 1
            continue
        if timings.text_sha256 != entry.text_sha256:
            missing += 1
            continue
        found[entry.index] = timings
    if missing:
        notices.append(
            f"{folder}: {missing} chapter(s) have no word timings (narrated before narrator "
            "kept them), so no subtitles or transcript for them; --force narrates them again"
        )
    return found


def _subtitles(
    folder: Path, entry: ChapterEntry, timings: ChapterTimings, formats: tuple[str, ...]
) -> None:
    cues = make_cues(timings.words)
    stem = entry.file.rsplit(".", 1)[0]
    for fmt in formats:
        data = render(fmt, cues).encode("utf-8")
        entry.subtitles[fmt] = _write_if_changed(folder / f"{stem}.{fmt}", data)


def _write_if_changed(path: Path, data: bytes) -> str:
    """Write ``data`` atomically unless the file already holds exactly it; its sha256."""
    digest = hashlib.sha256(data).hexdigest()
    if not (is_regular_file(path) and file_sha256(path) == digest):
        write_bytes_atomic(path, data)
    return digest


def _chapter_starts(done: list[ChapterEntry]) -> list[float]:
    """Where each chapter file begins if the book is played file after file."""
    starts, at = [], 0.0
    for entry in done:
        starts.append(at)
        at += entry.duration_s or 0.0
    return starts


def _book_file(
    settings: RunSettings,
    planned: PlannedBook,
    record: Manifest,
    done: list[ChapterEntry],
    cover: Cover | None,
    timings: dict[int, ChapterTimings],
) -> list[float]:
    """Build the one-file book when a chapter (or the book's tags or cover) changed."""
    book, folder = planned.book, planned.folder
    kind = settings.outputs.book_file or "mp3"
    name = book_file_name(book.title, f".{kind}")
    titles = distinct_titles(book.title, [e.title for e in done])
    tags = chapter_tags(planned.settings, book, book.chapters[0])
    made_of = {
        "kind": kind,
        "audio": [e.audio_sha256 for e in done],
        "titles": titles,
        "book": [book.title, book.author, book.description],
        "cover": hashlib.sha256(cover[0]).hexdigest() if cover else None,
    }
    key = hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()
    old = record.outputs.get("book_file")
    current = (
        isinstance(old, dict)
        and old.get("key") == key
        and old.get("file") == name
        and is_regular_file(folder / name)
        and (folder / name).stat().st_size == old.get("bytes")
    )
    if not current:
        parts = [BookPart(folder / e.file, t) for e, t in zip(done, titles, strict=True)]
        book_tags = BookTags(book.title, book.author, book.description, tags.provenance)
        write = write_m4b_book if kind == "m4b" else write_mp3_book
        written = write(folder, name, parts, book_tags, cover)
        published = old.get("published") if isinstance(old, dict) else None
        record.outputs["book_file"] = {
            "file": name,
            "key": key,
            "bytes": written.bytes,
            "sha256": written.sha256,
            "duration_s": round(written.duration_s, 3),
            "starts": [round(s, 3) for s in written.starts],
            "published": published or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
    info = record.outputs["book_file"]
    starts = [float(s) for s in info["starts"]]
    transcript = "vtt" in settings.outputs.subtitles
    _book_companions(folder, name, titles, starts, done, timings if transcript else {})
    return starts


def _book_companions(
    folder: Path,
    name: str,
    titles: list[str],
    starts: list[float],
    done: list[ChapterEntry],
    timings: dict[int, ChapterTimings],
) -> None:
    """The book file's chapters as JSON and, when WebVTT subtitles are asked for and every
    chapter has timings, its transcript: what a podcast feed points at."""
    stem = name.rsplit(".", 1)[0]
    _write_if_changed(
        folder / f"{stem}.chapters.json", chapters_json(list(zip(starts, titles, strict=True)))
    )
    if timings and all(e.index in timings for e in done):
        words: list[Word] = []
        for entry, start in zip(done, starts, strict=True):
            words += [
                Word(w.text, w.start + start, w.end + start, w.offset, w.length)
                for w in timings[entry.index].words
            ]
        _write_if_changed(folder / f"{stem}.vtt", to_vtt(make_cues(words)).encode("utf-8"))


def _abs_metadata(
    planned: PlannedBook, record: Manifest, done: list[ChapterEntry], starts: list[float]
) -> None:
    book = planned.book
    titles = distinct_titles(book.title, [e.title for e in done])
    ends = [*starts[1:], starts[-1] + (done[-1].duration_s or 0.0)]
    if record.outputs.get("book_file"):
        ends[-1] = float(record.outputs["book_file"]["duration_s"])
    marks = [BookChapterMark(s, e, t) for s, e, t in zip(starts, ends, titles, strict=True)]
    data = render_abs_metadata(
        title=book.title,
        author=book.author,
        description=book.description,
        language=None,
        narrator=None,
        chapters=marks,
    )
    record.outputs["metadata_json"] = _write_if_changed(planned.folder / ABS_METADATA, data)


def write_feed(settings: RunSettings, finished: list[Finished]) -> list[str]:
    """``feed.xml`` in the output folder: one episode per document with a book file."""
    base = settings.outputs.feed_url
    assert base is not None
    episodes: list[Episode] = []
    notices: list[str] = []
    for item in finished:
        info = item.record.outputs.get("book_file")
        if not isinstance(info, dict):
            notices.append(f"{item.planned.folder}: no book file yet, so not in the feed")
            continue
        folder = item.planned.folder
        relative = PurePosixPath(folder.relative_to(settings.out).as_posix())
        name = str(info["file"])
        stem = name.rsplit(".", 1)[0]

        def url(file: str, at: PurePosixPath = relative) -> str:
            return episode_url(base, at / file if str(at) != "." else PurePosixPath(file))

        has_vtt = is_regular_file(folder / f"{stem}.vtt")
        episodes.append(
            Episode(
                guid=stable_guid(item.planned.source.relative.as_posix()),
                title=item.planned.book.title,
                description=item.planned.book.description,
                url=url(name),
                length=int(info["bytes"]),
                mime=_MIME[Path(name).suffix],
                duration_s=float(info["duration_s"]),
                published=datetime.fromisoformat(str(info["published"])),
                chapters_url=url(f"{stem}.chapters.json"),
                transcript_url=url(f"{stem}.vtt") if has_vtt else None,
            )
        )
    single = len(finished) == 1
    title = finished[0].planned.book.title if single and finished else settings.out.name
    author = finished[0].planned.book.author if single and finished else None
    channel = Channel(
        title=title or "narrator",
        description=f"Narrated by narrator from {title}",
        link=base,
        author=author,
        language=None,
        image_url=None,
    )
    try:
        _write_if_changed(settings.out / FEED, render_feed(channel, episodes))
    except ValueError as exc:
        raise OutputError(f"cannot write {settings.out / FEED}: {exc}") from exc
    return notices
