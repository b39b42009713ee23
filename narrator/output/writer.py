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
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

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


@dataclass(frozen=True)
class WrittenFile:
    """Facts about a committed file, read back from the final bytes for the manifest."""

    path: Path
    bytes: int
    sha256: str
    duration_s: float


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
        self._temp, self._file = open_temp(self._folder, name)
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

    def commit(self, tags: Tags, cover: Cover | None = None) -> WrittenFile:
        """Finish, tag, fsync and rename; the returned facts describe the final bytes."""
        try:
            if self._is_wav:
                self._finish_wav()
            self._file.close()
            tag_file(self._temp, self._format, tags, cover)
            digest = hash_and_fsync(self._temp)
            duration = audio_duration(self._temp, self._format)
            size = self._temp.stat().st_size
            os.replace(self._temp, self._final)
            self._done = True
            fsync_folder(self._folder)
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
