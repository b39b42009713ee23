"""Chapter files on disk: safe names, streamed atomic writes, tags, and read-back facts.

Audio arrives in pieces, so a chapter is streamed into a hidden temp file in the output folder
and only renamed to its final name once it is complete, tagged and fsynced: a file under a
final name is always whole, and a killed run leaves only ``.NAME.XXXXXXXX.part`` files behind,
which :func:`remove_stale_temp_files` clears (those exact names only: a user's own hidden
file is never touched). Every chapter file also carries the hashes of its text and settings,
so a file committed just before a crash is recognised by the next run (:func:`adopt_file`).
Errors from mutagen and the file system are translated here, where they enter, into
:class:`~narrator.errors.OutputError` (or its :class:`~narrator.errors.TaggingError`),
always naming the path.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import struct
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import mutagen
from mutagen import id3
from mutagen.flac import Picture
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus
from mutagen.wave import WAVE

from narrator.errors import OutputError, TaggingError, UsageError

GENRE = "Audiobook"
TEMP_SUFFIX = ".part"
WAV_HEADER_SIZE = 44
MAX_TITLE_CHARS = 80
MAX_TITLE_BYTES = 200  # file systems count bytes (255), and CJK or emoji take 3-4 each
_BLOCK = 1 << 20
#: Audio extensions narrator writes, and the shape of every chapter file name it makes.
AUDIO_EXTENSIONS = (".mp3", ".wav", ".opus")
_OWN_NAME = re.compile(r"\d{2,} - [^/\\\x00]+\.(?:mp3|wav|opus)")
#: A temp file: the final name hidden, 8 hex digits, ``.part`` (see :func:`_open_temp`).
_OWN_TEMP = re.compile(
    r"\.(?:manifest\.json|\d{2,} - [^/\\\x00]+\.(?:mp3|wav|opus))\.[0-9a-f]{8}\.part"
)
MAX_COVER_BYTES = 20 * 2**20
_ILLEGAL = re.compile(r'[<>"|?*]')  # ":", "/" and "\\" are handled apart in _safe_title
_WAV_CODECS = {"ulaw_8000": (7, 8000, 8), "alaw_8000": (6, 8000, 8)}  # format tag, rate, bits
_IMAGE_MIMES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
_FRONT_COVER = 3  # the ID3 / FLAC picture type

# mutagen's constructors carry no annotations: its untyped API enters through these names
# only, so mypy --strict still checks everything around them.
_OPENERS: dict[str, Callable[[Path], Any]] = {".mp3": MP3, ".wav": WAVE, ".opus": OggOpus}
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


@dataclass(frozen=True)
class WrittenFile:
    """Facts about a committed file, read back from the final bytes for the manifest."""

    path: Path
    bytes: int
    sha256: str
    duration_s: float


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


def extension_for(output_format: str) -> str:
    """The file extension for an ElevenLabs ``output_format``; raw PCM and G.711 get a WAV box."""
    if output_format.startswith("mp3_"):
        return ".mp3"
    if output_format.startswith("opus_"):
        return ".opus"
    if output_format in _WAV_CODECS or _pcm_rate(output_format) is not None:
        return ".wav"
    raise UsageError(f"unsupported output format: {output_format!r}")


def _pcm_rate(output_format: str) -> int | None:
    match = re.fullmatch(r"pcm_(\d+)", output_format)
    return int(match.group(1)) if match else None


def is_own_audio_name(name: object) -> bool:
    """A plain file name of the shape narrator gives chapter files (``NN - Title.ext``).

    Names read from a manifest pass this test before any path is built from them, so a
    hand-edited entry can never reach outside the output folder.
    """
    return (
        isinstance(name, str)
        and _OWN_NAME.fullmatch(name) is not None
        and len(name.encode("utf-8", "surrogatepass")) <= 255
    )


def chapter_file_names(titles: Sequence[str], extension: str) -> list[str]:
    """``NN - Title.ext`` for each title, in order, safe on every common file system.

    The zero-padded number makes every name distinct (case-insensitively too) and keeps them
    sorted in reading order, so duplicate titles need no suffix; sanitising removes every way
    for a title to name another folder.
    """
    width = max(2, len(str(len(titles))))
    return [
        f"{index:0{width}d} - {_safe_title(title)}{extension}"
        for index, title in enumerate(titles, 1)
    ]


def _safe_title(title: str) -> str:
    text = unicodedata.normalize("NFC", title)
    text = "".join(_safe_char(ch) for ch in text)
    # Path segments made only of dots ("..", "...") vanish; a run of dots inside a title
    # becomes an ellipsis, so "Wait..." stays readable and no ".." remains.
    segments = re.split(r"[/\\]", text.replace(":", " - "))
    text = " ".join(part for part in segments if part.strip(" ."))
    text = re.sub(r"\.{2,}", "…", _ILLEGAL.sub(" ", text))
    text = re.sub(r"\s+", " ", text).strip(" .-")
    return _cap(text).strip(" .-") or "Chapter"


def _safe_char(ch: str) -> str:
    """Control characters and odd spaces become spaces; invisible format characters (which
    can spoof a name, like U+202E) go, except the joiners emoji sequences need."""
    category = unicodedata.category(ch)
    if category == "Cc" or category.startswith("Z"):
        return " "
    return "" if category == "Cf" and ch not in "\u200c\u200d" else ch


def _cap(text: str) -> str:
    """Shorten to the limits, at a word boundary when one falls in the second half."""
    if len(text) <= MAX_TITLE_CHARS and len(text.encode()) <= MAX_TITLE_BYTES:
        return text
    cut = text[:MAX_TITLE_CHARS]
    while len(cut.encode()) > MAX_TITLE_BYTES:
        cut = cut[:-1]
    space = cut.rfind(" ")
    return cut[:space] if space > len(cut) // 2 else cut


class AudioWriter:
    """Streams one chapter to a hidden temp file and renames it into place on :meth:`commit`.

    Usage: ``with AudioWriter(folder, name, fmt) as w: w.write(chunk); info = w.commit(tags)``.
    Leaving the block without a commit (an error, a cancellation) removes the temp file.
    """

    def __init__(
        self, folder: Path, name: str, output_format: str, *, complete_file: bool = False
    ) -> None:
        """``complete_file``: the bytes written are a whole file already (its header and
        tags included), as when audio paid for earlier is reused under a new name."""
        if name in ("", ".", "..") or any(sep in name for sep in "/\\"):
            raise ValueError(f"not a plain file name: {name!r}")
        self._folder = Path(folder)
        self._final = self._folder / name
        self._format = output_format
        self._is_wav = extension_for(output_format) == ".wav" and not complete_file
        self._bytes = 0
        self._done = False
        self._temp, self._file = _open_temp(self._folder, name)
        if self._is_wav:
            self._write_raw(b"\0" * WAV_HEADER_SIZE)

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._done:
            self.discard()

    @property
    def bytes_written(self) -> int:
        """Audio payload bytes so far (the WAV header not counted)."""
        return self._bytes

    def write(self, data: bytes) -> None:
        """Append audio straight to disk, so a long chapter never sits in memory."""
        self._write_raw(data)
        self._bytes += len(data)

    def _write_raw(self, data: bytes) -> None:
        if self._done:
            raise RuntimeError(f"{self._final.name}: already committed or discarded")
        try:
            self._file.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write {self._temp}: {exc.strerror or exc}") from exc

    def commit(self, tags: Tags, cover: Path | None = None) -> WrittenFile:
        """Finish, tag, fsync and rename; the returned facts describe the final bytes."""
        try:
            if self._is_wav:
                self._finish_wav()
            self._file.close()
            tag_file(self._temp, self._format, tags, cover)
            digest = _hash_and_fsync(self._temp)
            duration = audio_duration(self._temp, self._format)
            size = self._temp.stat().st_size
            os.replace(self._temp, self._final)
            self._done = True
            _fsync_folder(self._folder)
        except OSError as exc:
            raise OutputError(f"cannot finish {self._final}: {exc.strerror or exc}") from exc
        finally:
            if not self._done:  # any failure, cancellation included, leaves no temp file
                self.discard()
        return WrittenFile(self._final, size, digest, duration)

    def _finish_wav(self) -> None:
        if self._bytes % 2:  # RIFF chunks are word aligned; the pad byte is not audio
            self._file.write(b"\0")
        self._file.seek(0)
        self._file.write(_wav_header(self._format, self._bytes))

    def discard(self) -> None:
        """Drop the temp file; best effort, since it runs while another error propagates."""
        self._done = True
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):  # a leftover is cleared by remove_stale_temp_files
            self._temp.unlink(missing_ok=True)


def copy_into(source: Path, writer: AudioWriter) -> None:
    """Stream an existing file into ``writer`` in blocks (a chapter can be large)."""
    try:
        with source.open("rb") as file:
            while block := file.read(_BLOCK):
                writer.write(block)
    except OSError as exc:
        raise OutputError(f"cannot read {source}: {exc.strerror or exc}") from exc


def _wav_header(output_format: str, data_size: int) -> bytes:
    """The canonical 44-byte RIFF/WAVE header: mono, 16-bit PCM or 8-bit G.711."""
    rate = _pcm_rate(output_format)
    codec, rate, bits = (1, rate, 16) if rate is not None else _WAV_CODECS[output_format]
    block = bits // 8
    riff_size = 36 + data_size + data_size % 2
    fmt = struct.pack("<HHIIHH", codec, 1, rate, rate * block, block, bits)
    return (
        struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE")
        + struct.pack("<4sI", b"fmt ", len(fmt))
        + fmt
        + struct.pack("<4sI", b"data", data_size)
    )


def tag_file(path: Path, output_format: str, tags: Tags, cover: Path | None = None) -> None:
    """Write ``tags`` (and a front cover) into an audio file, from the one tag table.

    Opus files get Vorbis comments. The local server serves no Opus, so this branch cannot be
    tested end to end against it; the tests use a hand-built Ogg Opus stream instead.
    """
    picture = read_cover(cover) if cover is not None else None
    extension = extension_for(output_format)
    try:
        if extension == ".opus":
            _tag_opus(path, tags, picture)
        else:
            audio = _OPENERS[extension](path)
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
    audio = _OPENERS[".opus"](path)
    for value_of, _, key in _TAG_TABLE:
        value = value_of(tags)
        if key is not None and value is not None:
            audio[key] = [value]
    if picture is not None:
        block = _PICTURE()
        block.data, block.mime, block.type, block.desc = *picture, _FRONT_COVER, "Cover"
        audio["METADATA_BLOCK_PICTURE"] = [base64.b64encode(block.write()).decode("ascii")]
    audio.save()


def read_cover(cover: Path) -> tuple[bytes, str]:
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


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ValueError says why not."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"larger than {limit // 2**20} MB")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit // 2**20} MB")
    return data


def is_regular_file(path: Path) -> bool:
    """A regular file itself, not a link to one: narrator reads and deletes only those."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def adopt_file(folder: Path, name: str, expected: Tags, output_format: str) -> WrittenFile | None:
    """The facts of a complete chapter file already on disk, if its tags say it is exactly
    ``expected`` (same text and settings hashes, title and track); None otherwise.

    Tags are written before the rename, so a file under its final name that carries them is
    whole: a crash between a commit and the manifest's next save costs nothing.
    """
    path = folder / name
    if not expected.text_sha256 or not is_regular_file(path):
        return None
    try:
        found = _read_identity(path, output_format)
        wanted = {key: value_of(expected) for value_of, _, key in _TAG_TABLE if key}
        if any(found.get(key) != wanted[key] for key in _IDENTITY_KEYS):
            return None
        return WrittenFile(
            path, path.stat().st_size, file_sha256(path), audio_duration(path, output_format)
        )
    except (OutputError, OSError):
        return None


_IDENTITY_KEYS = ("TITLE", "TRACKNUMBER", "TRACKTOTAL", _TEXT_KEY, _SETTINGS_KEY)
_ID3_IDENTITY = {"TIT2": "TITLE", f"TXXX:{_TEXT_KEY}": _TEXT_KEY}
_ID3_IDENTITY[f"TXXX:{_SETTINGS_KEY}"] = _SETTINGS_KEY


def _read_identity(path: Path, output_format: str) -> dict[str, str]:
    """The identity tags of a file, under their Vorbis names whatever the container."""
    extension = extension_for(output_format)
    try:
        tags = _OPENERS[extension](path).tags
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


def audio_duration(path: Path, output_format: str) -> float:
    """Seconds of audio: mutagen for mp3 and opus, the RIFF chunks for WAV."""
    extension = extension_for(output_format)
    try:
        if extension == ".wav":
            return _wav_duration(path)
        return float(_OPENERS[extension](path).info.length)
    except mutagen.MutagenError as exc:
        raise TaggingError(path, f"cannot read audio: {exc}") from exc
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _wav_duration(path: Path) -> float:
    """Data size over byte rate, walking the chunks since tags may follow the data."""
    try:
        return _walk_wav(path)
    except struct.error as exc:  # a chunk header cut short: the file is truncated
        raise TaggingError(path, "truncated WAV file") from exc


def _walk_wav(path: Path) -> float:
    byte_rate = data_size = 0
    with path.open("rb") as file:
        riff, _, wave = struct.unpack("<4sI4s", file.read(12))
        if (riff, wave) != (b"RIFF", b"WAVE"):
            raise TaggingError(path, "not a RIFF/WAVE file")
        while header := file.read(8):
            chunk_id, size = struct.unpack("<4sI", header)
            if chunk_id == b"fmt ":
                byte_rate = struct.unpack("<8xI", file.read(12))[0]
                file.seek(size - 12, os.SEEK_CUR)
            else:
                data_size = size if chunk_id == b"data" else data_size
                file.seek(size + size % 2, os.SEEK_CUR)
    if not byte_rate:
        raise TaggingError(path, "WAV file has no format chunk")
    return data_size / byte_rate


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Remove the temp files a killed run left behind, by their exact naming only; call only
    while holding the folder's lock, or a concurrent run would lose the files it is writing."""
    removed: list[Path] = []
    try:
        for path in sorted(Path(folder).glob(f".*{TEMP_SUFFIX}")):
            if _OWN_TEMP.fullmatch(path.name) and is_regular_file(path):
                path.unlink()
                removed.append(path)
    except OSError as exc:
        raise OutputError(f"cannot clean {folder}: {exc.strerror or exc}") from exc
    return removed


def write_json_atomic(path: Path, data: object) -> None:
    """Replace ``path`` with ``data`` as JSON so a reader sees the old file or the new one."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    temp, file = _open_temp(path.parent, path.name)
    try:
        with file:
            file.write(text.encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
        _fsync_folder(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks so a long chapter never sits in memory."""
    try:
        with path.open("rb") as file:
            return _digest(file)
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _digest(file: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := file.read(_BLOCK):
        digest.update(block)
    return digest.hexdigest()


def _hash_and_fsync(path: Path) -> str:
    """Hash the finished bytes and fsync them in one pass (tagging rewrote the file)."""
    with path.open("r+b") as file:
        digest = _digest(file)
        os.fsync(file.fileno())
    return digest


def _open_temp(folder: Path, name: str) -> tuple[Path, BinaryIO]:
    """A new hidden temp file beside its final name, so the rename never crosses devices;
    mode "xb" rather than mkstemp so the umask applies (mkstemp's 0600 would survive)."""
    temp = folder / f".{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    try:
        return temp, temp.open("xb")
    except OSError as exc:
        raise OutputError(f"cannot create a file in {folder}: {exc.strerror or exc}") from exc


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; Windows has no directory handles to fsync."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
