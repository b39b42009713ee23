"""A whole book as one file with chapters, built from the chapter files already written.

Two containers: MP3, the chapter files' frames joined (no re-encoding) under one ID3v2.3 tag
with CTOC/CHAP frames, and AAC in an ``.m4b`` (:mod:`narrator.output.m4b`, PyAV being an
optional extra). Chapter starts come from the audio itself (frame counts of the joined MP3
stream, decoded sample counts for AAC), never from the pieces' nominal lengths: each
separately encoded piece carries its own encoder padding. Either file is streamed into a
hidden temp file beside its final name and renamed into place once tagged and fsynced.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from mutagen import id3
from mutagen.mp4 import AtomDataType, MP4Cover, MP4FreeForm

from narrator.audioformat import FRAME_PROBE, FrameIndex, Mp3Stream
from narrator.errors import OutputError
from narrator.output import m4b
from narrator.output.audio import audio_duration, audio_payload, scan_audio
from narrator.output.files import open_regular
from narrator.output.tags import GENRE, Cover
from narrator.output.writer import StreamedFile, WrittenFile

#: Where the provenance goes: a TXXX description and an iTunes freeform atom, never the comment.
PROVENANCE_KEY = "NARRATOR"
#: Sample rates of MPEG-1, 2 and 2.5 layer III, tried in turn to read a first frame's header.
_MP3_RATES = (44100, 48000, 32000, 22050, 24000, 16000, 11025, 12000, 8000)
#: Fixed padding, so the tag written before the audio and the final one have the same size.
_ID3_PADDING = 1024
_NO_OFFSET = 0xFFFFFFFF  # CHAP byte offsets unused: players seek by time
_UTF8 = 3  # id3.Encoding.UTF8; mutagen writes UTF-16 in an ID3v2.3 tag

# mutagen's constructors carry no annotations: its untyped API enters through these names
# only, so mypy --strict still checks everything around them.
_ID3: Callable[[], Any] = id3.ID3
_APIC: Callable[..., Any] = id3.APIC
_CTOC: Callable[..., Any] = id3.CTOC
_CHAP: Callable[..., Any] = id3.CHAP
_TIT2: Callable[..., Any] = id3.TIT2
_MP4_FREEFORM: Callable[..., Any] = MP4FreeForm
_MP4_COVER: Callable[..., Any] = MP4Cover


@dataclass(frozen=True)
class BookPart:
    """One chapter file of the book, in reading order, and the title its chapter mark shows."""

    path: Path
    title: str


@dataclass(frozen=True)
class BookTags:
    """What the book file says about itself; ``provenance`` (engine, voice, model, narrator
    version) has its own frame so a player's comment or description field stays the book's."""

    title: str
    author: str | None
    description: str | None
    provenance: str


@dataclass(frozen=True)
class BookFile:
    """Facts about a committed book file, read back from its final bytes; ``starts`` holds
    each chapter's start in seconds, as the chapter marks inside the file say."""

    path: Path
    bytes: int
    sha256: str
    duration_s: float
    starts: tuple[float, ...]


_TagValue = Callable[[BookTags], "str | None"]

# One table for both containers (as in narrator.output.tags): value, ID3 frame, MP4 atom.
_BOOK_TAGS: tuple[tuple[_TagValue, Callable[..., Any], str], ...] = (
    (lambda t: t.title, id3.TIT2, "\xa9nam"),
    (lambda t: t.title, id3.TALB, "\xa9alb"),
    (lambda t: t.author, id3.TPE1, "\xa9ART"),
    (lambda t: t.author, id3.TPE2, "aART"),
    (lambda t: GENRE, id3.TCON, "\xa9gen"),
    (lambda t: t.description, partial(id3.COMM, lang="eng", desc=""), "\xa9cmt"),
    (lambda t: t.description, id3.TDES, "desc"),
    (
        lambda t: t.provenance,
        partial(id3.TXXX, desc=PROVENANCE_KEY),
        f"----:com.apple.iTunes:{PROVENANCE_KEY}",
    ),
)


class BookWriter(StreamedFile):
    """A book file under a hidden temp name, renamed into place on :meth:`commit`.

    Leaving the ``with`` block uncommitted removes the temp file, whoever wrote it: this
    class (MP3) or another library given :attr:`temp` after :meth:`release` (PyAV).
    """

    def __init__(self, folder: Path, name: str) -> None:
        if name in ("", ".", "..") or any(sep in name for sep in "/\\"):
            raise ValueError(f"not a plain file name: {name!r}")
        super().__init__(folder, name)
        self.final = self._folder / name

    @property
    def temp(self) -> Path:
        return self._path

    def release(self) -> Path:
        """Close this handle so another writer can write the temp file by its path."""
        self._check_open()
        self._file.close()
        return self._path

    def rewrite_start(self, data: bytes) -> None:
        """Overwrite the first bytes (a header whose size was fixed before the audio)."""
        self._check_open()
        try:
            self._file.seek(0)
            self._file.write(data)
            self._file.seek(0, os.SEEK_END)
        except OSError as exc:
            raise OutputError(f"cannot write {self._path}: {exc.strerror or exc}") from exc

    def commit(self, duration_of: Callable[[Path], float]) -> WrittenFile:
        """Fsync, read the facts back and rename; any failure leaves no temp file."""
        return self.seal(self.final, duration_of)


def write_mp3_book(
    folder: Path, name: str, parts: Sequence[BookPart], tags: BookTags, cover: Cover | None
) -> BookFile:
    """Join the chapter files' MP3 frames into ``folder / name`` under one ID3v2.3 tag.

    Each part's own tags and Xing/Info frame are left out (a header describes one stream
    only), and every part must match the first one's stream (version, rate, bitrate,
    channel mode) or the join would not decode: OutputError names the part. The tag goes
    first in the file but its chapter times are known only after the audio, so a tag of the
    same size is written first and overwritten at the end: the audio is read and written once.
    """
    if not parts:
        raise ValueError("a book file needs at least one chapter")
    with BookWriter(folder, name) as book:
        placeholder = _id3_tag(tags, cover, parts, [0] * (len(parts) + 1), 1)
        book.rewrite_start(placeholder)
        output_format, stream = _mp3_format(parts[0].path)
        samples = [0]
        for part in parts:
            samples.append(samples[-1] + _copy_frames(part.path, output_format, stream, book))
        rate = FrameIndex(output_format).sample_rate
        tag = _id3_tag(tags, cover, parts, samples, rate)
        if len(tag) != len(placeholder):
            raise RuntimeError(f"ID3 tag changed size: {len(placeholder)} -> {len(tag)} bytes")
        book.rewrite_start(tag)
        written = book.commit(partial(audio_duration, output_format=output_format))
    return _book_file(written, samples, rate)


def write_m4b_book(
    folder: Path, name: str, parts: Sequence[BookPart], tags: BookTags, cover: Cover | None
) -> BookFile:
    """Encode the chapter files to AAC in ``folder / name`` (an ``.m4b``) with chapters and
    iTunes tags. Needs PyAV: UsageError before anything is written when it is missing."""
    m4b.require_pyav()
    if not parts:
        raise ValueError("a book file needs at least one chapter")
    with BookWriter(folder, name) as book:
        target = book.release()
        rate, samples = m4b.encode_book([(p.path, p.title) for p in parts], target)
        m4b.tag_mp4(target, _mp4_values(tags, cover))
        written = book.commit(m4b.mp4_duration)
    return _book_file(written, samples, rate)


def _book_file(written: WrittenFile, samples: Sequence[int], rate: int) -> BookFile:
    starts = tuple(s / rate for s in samples[:-1])
    return BookFile(written.path, written.bytes, written.sha256, written.duration_s, starts)


def _mp3_format(path: Path) -> tuple[str, Mp3Stream]:
    """The ``mp3_RATE_KBPS`` format and stream of a file's first audio frame, read by
    trying each layer III sample rate on it, so the frame parser stays in one module."""
    try:
        with open_regular(path) as file:
            start, _ = audio_payload(file, "mp3_44100_128")  # where audio starts: any rate
            file.seek(start)
            probe = file.read(FRAME_PROBE)
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot read {path}: {_reason(exc)}") from exc
    for rate in _MP3_RATES:
        index = FrameIndex(f"mp3_{rate}_0")
        index.feed(probe)
        if index.stream is not None:
            return f"mp3_{rate}_{index.stream.bitrate_kbps}", index.stream
    raise OutputError(f"cannot join {path}: no MP3 frame where its audio should start")


def _copy_frames(path: Path, output_format: str, stream: Mp3Stream, book: BookWriter) -> int:
    """Append one part's audio frames to ``book`` in blocks; the samples they hold."""
    try:
        with open_regular(path) as file:
            start, end = audio_payload(file, output_format)
            index = scan_audio(file, output_format, start, end, book.write)
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot read {path}: {_reason(exc)}") from exc
    problem = index.broken
    if problem is None and not index.frames:
        problem = "no MP3 frames"
    elif problem is None and index.stream != stream:
        problem = f"it is {index.stream}, the first chapter {stream}"
    elif problem is None and not index.constant_bitrate:
        problem = "its bitrate varies"
    elif problem is None and index.complete_bytes != end - start:
        problem = "it ends inside an MP3 frame"
    if problem is not None:
        raise OutputError(f"cannot join {path}: {problem}")
    return index.samples


def _reason(exc: OSError | ValueError) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _milliseconds(samples: int, rate: int) -> int:
    return (samples * 1000 + rate // 2) // rate


def _id3_tag(
    tags: BookTags, cover: Cover | None, parts: Sequence[BookPart], samples: list[int], rate: int
) -> bytes:
    """The book's ID3v2.3 tag, chapter frames as Apple's players require them: one top-level,
    ordered CTOC with a title, listing one CHAP per part in order. Times are fixed-width
    fields, so the tag's size does not depend on them.

    The frames are written in this order, CHAPs in reading order: FFmpeg (and so ffprobe and
    Audiobookshelf) lists chapters in the order their frames appear, while mutagen would
    sort them by size.
    """
    frames: list[Any] = []
    for value_of, frame, _ in _BOOK_TAGS:
        if (value := value_of(tags)) is not None:
            frames.append(frame(encoding=_UTF8, text=[value]))
    ids = [f"ch{number:02d}" for number in range(1, len(parts) + 1)]
    frames.append(
        _CTOC(
            element_id="toc",
            flags=id3.CTOCFlags.TOP_LEVEL | id3.CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[_TIT2(encoding=_UTF8, text=[tags.title])],
        )
    )
    for number, (element_id, part) in enumerate(zip(ids, parts, strict=True)):
        frames.append(
            _CHAP(
                element_id=element_id,
                start_time=_milliseconds(samples[number], rate),
                end_time=_milliseconds(samples[number + 1], rate),
                start_offset=_NO_OFFSET,
                end_offset=_NO_OFFSET,
                sub_frames=[_TIT2(encoding=_UTF8, text=[part.title])],
            )
        )
    if cover is not None:  # last, as mutagen places it: readers find the small frames first
        data, mime = cover
        frames.append(_APIC(encoding=_UTF8, mime=mime, type=3, desc="Cover", data=data))
    body = b"".join(map(_frame_bytes, frames)) + bytes(_ID3_PADDING)
    size = bytes((len(body) >> shift) & 0x7F for shift in (21, 14, 7, 0))  # syncsafe
    return b"ID3\x03\x00\x00" + size + body


def _frame_bytes(frame: Any) -> bytes:
    """One frame as ID3v2.3 bytes: mutagen writes it as the only frame of an unpadded tag,
    and the 10-byte tag header is cut off."""
    tag = _ID3()
    tag.add(frame)
    tag.update_to_v23()
    buffer = io.BytesIO()
    tag.save(buffer, v1=0, v2_version=3, padding=lambda _: 0)
    return buffer.getvalue()[10:]


def _mp4_values(tags: BookTags, cover: Cover | None) -> dict[str, list[Any]]:
    """The iTunes atoms of the book, from the same table as its ID3 frames."""
    values: dict[str, list[Any]] = {}
    for value_of, _, atom in _BOOK_TAGS:
        if (value := value_of(tags)) is None:
            continue
        if atom.startswith("----:"):  # freeform atoms hold bytes, typed as UTF-8 text
            values[atom] = [_MP4_FREEFORM(value.encode("utf-8"), dataformat=AtomDataType.UTF8)]
        else:
            values[atom] = [value]
    if cover is not None:
        data, mime = cover
        image = MP4Cover.FORMAT_PNG if mime == "image/png" else MP4Cover.FORMAT_JPEG
        values["covr"] = [_MP4_COVER(data, imageformat=image)]
    return values
