"""What a chapter file says about itself: tags from one table, the cover, and identity.

One table maps each of our fields to its ID3 frame and Vorbis key (style point 13). Players
such as Audiobookshelf show the comment as the book's description, so the comment and
``TDES`` carry only the document's own description; how the file was made (engine, voice,
model, narrator's version) goes in a ``NARRATOR`` field of its own. Two ``TXXX`` frames carry
the hashes of the chapter's text and settings, so a complete file is recognised even when no
manifest recorded it (:func:`matches`). Errors from mutagen are translated here into
:class:`~narrator.errors.TaggingError`, naming the path.
"""

from __future__ import annotations

import base64
import contextlib
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import mutagen
from mutagen import id3
from mutagen.flac import Picture

from narrator import __version__
from narrator.errors import OutputError, TaggingError
from narrator.output.audio import OPENERS
from narrator.output.files import is_regular_file, read_regular_file, write_bytes_atomic
from narrator.output.names import extension_for
from narrator.reading.book import Book, Chapter
from narrator.settings import RunSettings

GENRE = "Audiobook"


MAX_COVER_BYTES = 20 * 2**20


_IMAGE_MIMES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


#: The names narrator gives a cover beside the chapter files, by MIME type.
COVER_NAMES = {"image/jpeg": "cover.jpg", "image/png": "cover.png"}


_FRONT_COVER = 3  # the ID3 / FLAC picture type


_APIC: Callable[..., Any] = id3.APIC


_PICTURE: Callable[[], Any] = Picture


@dataclass(frozen=True)
class Tags:
    """What a chapter file says about itself.

    ``provenance`` records how the audio was made (narrator's version, engine, voice, model);
    ``description`` is the document's own, the only text a player may show as the comment.
    """

    title: str
    album: str
    artist: str | None
    track: int
    track_total: int
    provenance: str
    text_sha256: str = ""
    settings_sha256: str = ""
    description: str | None = None


_TEXT_KEY = "NARRATOR_TEXT_SHA256"


_SETTINGS_KEY = "NARRATOR_SETTINGS_SHA256"


_PROVENANCE_KEY = "NARRATOR"


# One table for every container (style point 13): our value, its ID3 frame, its Vorbis key.
# TRCK carries "n/N" in one frame where Vorbis comments split it in two. WAV files carry an
# ID3 chunk, so they get the ID3 frames too.
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
    (lambda t: t.description, partial(id3.COMM, lang="eng", desc=""), "COMMENT"),
    (lambda t: t.description, id3.TDES, "DESCRIPTION"),
    (lambda t: t.provenance or None, partial(id3.TXXX, desc=_PROVENANCE_KEY), _PROVENANCE_KEY),
    (lambda t: t.text_sha256 or None, partial(id3.TXXX, desc=_TEXT_KEY), _TEXT_KEY),
    (lambda t: t.settings_sha256 or None, partial(id3.TXXX, desc=_SETTINGS_KEY), _SETTINGS_KEY),
)


# The comment frame in which older files recorded the provenance: a reused file loses it.
_LEGACY_ID3 = ("COMM:narrator:eng",)


#: A cover image as read once per run: its bytes and MIME type.
Cover = tuple[bytes, str]


def tag_file(path: Path, output_format: str, tags: Tags, picture: Cover | None = None) -> None:
    """Write ``tags`` (and a front cover) into an audio file, from the one tag table.

    A field with no value is removed rather than left alone: reused audio is copied with its
    old tags, and a stale comment would still be shown as the book's description.

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


def id3_frames(tags: Tags) -> tuple[list[Any], list[str]]:
    """The ID3 frames ``tags`` come to, and the frame keys to remove because they have no
    value (kept apart from mutagen's file handling so the mapping can be checked alone)."""
    frames: list[Any] = []
    absent = list(_LEGACY_ID3)
    for value_of, frame, _ in _TAG_TABLE:
        if frame is None:
            continue
        value = value_of(tags)
        built = frame(encoding=id3.Encoding.UTF8, text=[value or ""])
        if value is None:
            absent.append(built.HashKey)
        else:
            frames.append(built)
    return frames, absent


def vorbis_comments(tags: Tags) -> dict[str, str | None]:
    """The Vorbis comments ``tags`` come to; None marks a key to remove."""
    return {key: value_of(tags) for value_of, _, key in _TAG_TABLE if key is not None}


def _apply_id3(frames: Any, tags: Tags, picture: tuple[bytes, str] | None) -> None:
    wanted, absent = id3_frames(tags)
    for key in absent:
        frames.delall(key)
    for frame in wanted:
        frames.add(frame)
    if picture is not None:
        data, mime = picture
        frames.add(
            _APIC(encoding=id3.Encoding.UTF8, mime=mime, type=_FRONT_COVER, desc="Cover", data=data)
        )


def _tag_opus(path: Path, tags: Tags, picture: tuple[bytes, str] | None) -> None:
    audio = OPENERS[".opus"](path)
    for key, value in vorbis_comments(tags).items():
        if value is not None:
            audio[key] = [value]
        elif key in audio:
            del audio[key]
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


def write_cover_file(folder: Path, cover: Cover) -> Path:
    """Write the cover beside the chapter files as ``cover.jpg`` or ``cover.png``.

    Audiobookshelf prefers an image named ``cover.*`` in the folder to embedded art. The
    write is atomic (temp file, fsync, rename), so a player never sees half an image; the
    other of narrator's two names is removed (a regular file only, never a link's target)
    so the folder never offers two covers. An identical cover is left untouched.
    """
    data, mime = cover
    name = COVER_NAMES.get(mime)
    if name is None:
        raise OutputError(f"cannot write a cover of type {mime}: not a JPEG or PNG image")
    path = folder / name
    with contextlib.suppress(OSError, ValueError):
        if read_regular_file(path, MAX_COVER_BYTES) == data:
            _remove_other_covers(folder, name)
            return path
    write_bytes_atomic(path, data)
    _remove_other_covers(folder, name)
    return path


def _remove_other_covers(folder: Path, kept: str) -> None:
    for other in COVER_NAMES.values():
        stale = folder / other
        if other != kept and is_regular_file(stale):
            try:
                stale.unlink()
            except OSError as exc:
                raise OutputError(f"cannot remove {stale}: {exc.strerror or exc}") from exc


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


def _title_key(title: str) -> str:
    """A title as a player's comparison might see it: case, surrounding spaces and
    punctuation ignored."""
    edges = "".join(c for c in {*title} if c.isspace() or unicodedata.category(c)[0] in "PZ")
    return title.strip(edges).casefold()


def distinct_titles(book_title: str, titles: Sequence[str]) -> list[str]:
    """Chapter titles a player will use, in order: each one equal to the book's title or to
    another chapter's gets a number, "Notes" → "Notes (1)", "Interlude (1)", "Interlude (2)".

    Audiobookshelf names a book's chapters from the files' title tags only when all are
    unique and none equals the book's title; otherwise it falls back to the file names. A
    number already taken by another chapter's title is passed over, so the result is unique.
    """
    keys = [_title_key(title) for title in titles]
    book_key, counts = _title_key(book_title), Counter(keys)
    numbered = {key for key, count in counts.items() if count > 1 or key == book_key}
    taken = {key for key in keys if key not in numbered} | {book_key}
    next_number: dict[str, int] = {}
    result: list[str] = []
    for title, key in zip(titles, keys, strict=True):
        if key not in numbered:
            result.append(title)
            continue
        number = next_number.get(key, 1)
        while _title_key(candidate := f"{title.strip()} ({number})") in taken:
            number += 1
        next_number[key] = number + 1
        taken.add(_title_key(candidate))
        result.append(candidate)
    return result


@lru_cache(maxsize=8)
def _book_titles(book_title: str, titles: tuple[str, ...]) -> tuple[str, ...]:
    """:func:`distinct_titles` once per book, though tags are asked for once per chapter."""
    return tuple(distinct_titles(book_title, titles))


def chapter_tags(settings: RunSettings, book: Book, chapter: Chapter) -> Tags:
    """A chapter's tags: its place in the book, its distinct title, the book's description,
    the provenance, and its identity hashes."""
    speech = settings.speech
    indexes = [c.index for c in book.chapters]
    if chapter.index in indexes:
        titles = _book_titles(book.title, tuple(c.title for c in book.chapters))
        title = titles[indexes.index(chapter.index)]
    else:
        [title] = distinct_titles(book.title, [chapter.title])
    return Tags(
        text_sha256=chapter.text_sha256,
        settings_sha256=settings.audio_sha256,
        title=title,
        album=book.title,
        artist=book.author,
        track=chapter.index,
        track_total=len(book.chapters),
        provenance=(
            f"narrator {__version__}; engine {settings.service.engine}; "
            f"voice {speech.voice_id}; model {speech.model_id}"
        ),
        description=book.description,
    )
