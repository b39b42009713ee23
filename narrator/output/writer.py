"""Chapter files streamed to disk and committed whole.

Audio arrives in pieces, so a chapter is streamed into a hidden temp file in the output folder
and only renamed to its final name once it is complete, tagged and fsynced: a file under a
final name is always whole. A file committed before a crash, not yet in the manifest, is
recognised by its tags (:func:`adopt_file`).
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from narrator.errors import OutputError
from narrator.output.audio import audio_duration
from narrator.output.files import (
    BLOCK,
    file_sha256,
    fsync_folder,
    hash_and_fsync,
    is_regular_file,
    open_temp,
)
from narrator.output.names import WAV_CODECS, extension_for, pcm_rate
from narrator.output.tags import Cover, Tags, matches, tag_file

WAV_HEADER_SIZE = 44

_Streamed = TypeVar("_Streamed", bound="StreamedFile")


@dataclass(frozen=True)
class WrittenFile:
    """Facts about a committed file, read back from the final bytes for the manifest."""

    path: Path
    bytes: int
    sha256: str
    duration_s: float


class StreamedFile:
    """A file streamed to disk under a hidden temp name beside its final one, kept only once
    finished: leaving the ``with`` block unfinished (an error, a cancellation) removes it
    under whatever name it has by then. Subclasses say how a file is finished."""

    def __init__(self, folder: Path, name: str) -> None:
        self._folder = Path(folder)
        self._path, self._file = open_temp(self._folder, name)
        self._done = False
        #: Bytes appended with :meth:`write` (a header written apart is not counted).
        self.bytes_written = 0

    def __enter__(self: _Streamed) -> _Streamed:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._done:
            self.discard()

    def write(self, data: bytes) -> None:
        """Append audio straight to disk, so a long chapter never sits in memory."""
        self._write_raw(data)
        self.bytes_written += len(data)

    def _write_raw(self, data: bytes) -> None:
        self._check_open()
        try:
            self._file.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write {self._path}: {exc.strerror or exc}") from exc

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError(f"{self._path.name}: already finished or discarded")

    def seal(self, final: Path, finish: Callable[[Path], float]) -> WrittenFile:
        """``finish`` the temp file (close, tag; it returns the duration), then fsync, hash
        and rename it to ``final``; any failure, cancellation included, leaves no temp file
        and nothing under the final name."""
        try:
            duration = finish(self._path)
            self._file.close()
            digest = hash_and_fsync(self._path)
            size = self._path.stat().st_size
            os.replace(self._path, final)
            self._done = True
            fsync_folder(self._folder)
        except OSError as exc:
            raise OutputError(f"cannot finish {final}: {exc.strerror or exc}") from exc
        finally:
            if not self._done:
                self.discard()
        return WrittenFile(final, size, digest, duration)

    def discard(self) -> None:
        """Drop the file; best effort, since it runs while another error propagates."""
        self._done = True
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):  # a leftover is cleared by its folder's cleaning
            self._path.unlink(missing_ok=True)


class AudioWriter(StreamedFile):
    """Streams one chapter to a hidden temp file and renames it into place on :meth:`commit`.

    Usage: ``with AudioWriter(folder, name, fmt) as w: w.write(chunk); info = w.commit(tags)``.
    A chapter joined from pieces is ``store.join(pieces, w.write)`` before the commit: the
    pieces' audio carries no headers, so the file holds one WAV header or one ID3 tag.
    """

    def __init__(
        self, folder: Path, name: str, output_format: str, *, complete_file: bool = False
    ) -> None:
        """``complete_file``: the bytes written are a whole file already (its header and
        tags included), as when audio paid for earlier is reused under a new name."""
        if name in ("", ".", "..") or any(sep in name for sep in "/\\"):
            raise ValueError(f"not a plain file name: {name!r}")
        super().__init__(folder, name)
        self._final = self._folder / name
        self._format = output_format
        self._is_wav = extension_for(output_format) == ".wav" and not complete_file
        if self._is_wav:
            self._write_raw(b"\0" * WAV_HEADER_SIZE)

    def commit(
        self, tags: Tags, cover: Cover | None = None, *, duration_s: float | None = None
    ) -> WrittenFile:
        """Finish, tag, fsync and rename; the returned facts describe the final bytes.

        ``duration_s``: the audio's length when the caller has just counted its frames (a
        joined chapter); otherwise it is counted here from the file."""

        def finish(path: Path) -> float:
            if self._is_wav:
                self._finish_wav()
            self._file.close()
            tag_file(path, self._format, tags, cover)
            return audio_duration(path, self._format) if duration_s is None else duration_s

        return self.seal(self._final, finish)

    def _finish_wav(self) -> None:
        if self.bytes_written % 2:  # RIFF chunks are word aligned; the pad byte is not audio
            self._file.write(b"\0")
        self._file.seek(0)
        self._file.write(_wav_header(self._format, self.bytes_written))


def copy_into(source: Path, writer: AudioWriter) -> None:
    """Stream an existing file into ``writer`` in blocks (a chapter can be large)."""
    try:
        with source.open("rb") as file:
            while block := file.read(BLOCK):
                writer.write(block)
    except OSError as exc:
        raise OutputError(f"cannot read {source}: {exc.strerror or exc}") from exc


def _wav_header(output_format: str, data_size: int) -> bytes:
    """The canonical 44-byte RIFF/WAVE header: mono, 16-bit PCM or 8-bit G.711."""
    rate = pcm_rate(output_format)
    codec, rate, bits = (1, rate, 16) if rate is not None else WAV_CODECS[output_format]
    block = bits // 8
    riff_size = 36 + data_size + data_size % 2
    fmt = struct.pack("<HHIIHH", codec, 1, rate, rate * block, block, bits)
    return (
        struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE")
        + struct.pack("<4sI", b"fmt ", len(fmt))
        + fmt
        + struct.pack("<4sI", b"data", data_size)
    )


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
        if not matches(path, expected, output_format):
            return None
        return WrittenFile(
            path, path.stat().st_size, file_sha256(path), audio_duration(path, output_format)
        )
    except (OutputError, OSError):
        return None
