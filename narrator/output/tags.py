"""What a chapter file says about itself: tags from one table, the cover, and identity.

One table maps each of our fields to its ID3 frame and Vorbis key (style point 13). Two
``TXXX`` frames carry the hashes of the chapter's text and settings, so a complete file is
recognised even when no manifest recorded it (:func:`matches`). Errors from mutagen are
translated here into :class:`~narrator.errors.TaggingError`, naming the path.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import mutagen
from mutagen import id3
from mutagen.flac import Picture

from narrator import __version__
from narrator.errors import OutputError, TaggingError
from narrator.output.audio import OPENERS
from narrator.output.files import read_regular_file
from narrator.output.names import extension_for
from narrator.reading.book import Book, Chapter
from narrator.settings import RunSettings

GENRE = "Audiobook"


MAX_COVER_BYTES = 20 * 2**20


_IMAGE_MIMES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


_FRONT_COVER = 3  # the ID3 / FLAC picture type


_APIC: Callable[..., Any] = id3.APIC


_PICTURE: Callable[[], Any] = Picture


@dataclass(frozen=True)
class Tags:
    """What a chapter file says about itself; ``comment`` records the engine, voice and model."""

    title: str
    album: str
    artist: str | None
    track: int
    track_total: int
    comment: str
    text_sha256: str = ""
    settings_sha256: str = ""


_TEXT_KEY = "NARRATOR_TEXT_SHA256"


_SETTINGS_KEY = "NARRATOR_SETTINGS_SHA256"


# One table for every container (style point 13): our value, its ID3 frame, its Vorbis key.
# TRCK carries "n/N" in one frame where Vorbis comments split it in two.
_TagValue = Callable[[Tags], "str | None"]


_TAG_TABLE: tuple[tuple[_TagValue, Callable[..., Any] | None, str | None], ...] = (
    (lambda t: t.title, id3.TIT2, "TITLE"),
    (lambda t: t.album, id3.TALB, "ALBUM"),
    (lambda t: t.artist, id3.TPE1, "ARTIST"),
    (lambda t: t.artist, id3.TPE2, "ALBUMARTIST"),
    (lambda t: f"{t.track}/{t.track_total}", id3.TRCK, None),
    (lambda t: str(t.track), None, "TRACKNUMBER"),
    (lambda t: str(t.track_total), None, "TRACKTOTAL"),
    (lambda t: GENRE, id3.TCON, "GENRE"),
    (lambda t: t.comment, partial(id3.COMM, lang="eng", desc="narrator"), "COMMENT"),
    (lambda t: t.text_sha256 or None, partial(id3.TXXX, desc=_TEXT_KEY), _TEXT_KEY),
    (lambda t: t.settings_sha256 or None, partial(id3.TXXX, desc=_SETTINGS_KEY), _SETTINGS_KEY),
)


#: A cover image as read once per run: its bytes and MIME type.
Cover = tuple[bytes, str]


def tag_file(path: Path, output_format: str, tags: Tags, picture: Cover | None = None) -> None:
    """Write ``tags`` (and a front cover) into an audio file, from the one tag table.

    Opus files get Vorbis comments. The local server serves no Opus, so this branch cannot be
    tested end to end against it; the tests use a hand-built Ogg Opus stream instead.
    """
    extension = extension_for(output_format)
    try:
        if extension == ".opus":
            _tag_opus(path, tags, picture)
        else:
            audio = OPENERS[extension](path)
            if audio.tags is None:
                audio.add_tags()
            _apply_id3(audio.tags, tags, picture)
            audio.save(v2_version=4)
    except (mutagen.MutagenError, OSError) as exc:
        raise TaggingError(path, f"cannot tag: {exc}") from exc


def _apply_id3(frames: Any, tags: Tags, picture: tuple[bytes, str] | None) -> None:
    for value_of, frame, _ in _TAG_TABLE:
        value = value_of(tags)
        if frame is not None and value is not None:
            frames.add(frame(encoding=id3.Encoding.UTF8, text=[value]))
    if picture is not None:
        data, mime = picture
        frames.add(
            _APIC(encoding=id3.Encoding.UTF8, mime=mime, type=_FRONT_COVER, desc="Cover", data=data)
        )


def _tag_opus(path: Path, tags: Tags, picture: tuple[bytes, str] | None) -> None:
    audio = OPENERS[".opus"](path)
    for value_of, _, key in _TAG_TABLE:
        value = value_of(tags)
        if key is not None and value is not None:
            audio[key] = [value]
    if picture is not None:
        block = _PICTURE()
        block.data, block.mime, block.type, block.desc = *picture, _FRONT_COVER, "Cover"
        audio["METADATA_BLOCK_PICTURE"] = [base64.b64encode(block.write()).decode("ascii")]
    audio.save()


def read_cover(cover: Path) -> Cover:
    """The cover's bytes and MIME type, judged by magic bytes rather than the file's name.

    Only a regular file of sane size is read, opened without blocking, so a FIFO or a device
    given as ``--cover`` is an error rather than a hang or an endless read.
    """
    try:
        data = read_regular_file(cover, MAX_COVER_BYTES)
    except OSError as exc:
        raise OutputError(f"cannot read cover image {cover}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise OutputError(f"cover image {cover}: {exc}") from exc
    for magic, mime in _IMAGE_MIMES.items():
        if data.startswith(magic):
            return data, mime
    raise OutputError(f"cover image {cover} is not a JPEG or PNG file")


_IDENTITY_KEYS = ("TITLE", "TRACKNUMBER", "TRACKTOTAL", _TEXT_KEY, _SETTINGS_KEY)


_ID3_IDENTITY = {"TIT2": "TITLE", f"TXXX:{_TEXT_KEY}": _TEXT_KEY}


_ID3_IDENTITY[f"TXXX:{_SETTINGS_KEY}"] = _SETTINGS_KEY


def _read_identity(path: Path, output_format: str) -> dict[str, str]:
    """The identity tags of a file, under their Vorbis names whatever the container."""
    extension = extension_for(output_format)
    try:
        tags = OPENERS[extension](path).tags
    except (mutagen.MutagenError, OSError) as exc:
        raise OutputError(f"cannot read tags of {path}: {exc}") from exc
    if tags is None:
        return {}
    if extension == ".opus":
        return {key: str(tags[key][0]) for key in _IDENTITY_KEYS if key in tags}
    found = {key: str(tags[frame].text[0]) for frame, key in _ID3_IDENTITY.items() if frame in tags}
    if "TRCK" in tags:
        track, _, total = str(tags["TRCK"].text[0]).partition("/")
        found["TRACKNUMBER"], found["TRACKTOTAL"] = track, total
    return found


def matches(path: Path, expected: Tags, output_format: str) -> bool:
    """Whether the file's identity tags (title, track, text and settings hashes) are
    ``expected``'s; OutputError when its tags cannot be read."""
    found = _read_identity(path, output_format)
    wanted = {key: value_of(expected) for value_of, _, key in _TAG_TABLE if key}
    return all(found.get(key) == wanted[key] for key in _IDENTITY_KEYS)


def chapter_tags(settings: RunSettings, book: Book, chapter: Chapter) -> Tags:
    """A chapter's tags: its place in the book, the provenance, and its identity hashes."""
    speech = settings.speech
    return Tags(
        text_sha256=chapter.text_sha256,
        settings_sha256=settings.audio_sha256,
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
