"""Pieces: the audio one session voiced for a span of a chapter's text, kept until the chapter
is whole and its pieces are joined into the chapter file.

A session that fails part-way keeps what it proved voiced, so money spent on audio survives a
dropped connection or a killed run. Pieces live in a hidden folder of the book's output folder
(:data:`PIECES_DIR`), named so that a name alone says what its bytes voice::

    KEY.START-END.piece          finished: whole audio units voicing characters [START, END)
    KEY.START-END.BYTES.partial  checkpointed: its first BYTES bytes voice [START, END); the
                                 writer may have been killed, so :meth:`PieceStore.found`
                                 checks the bytes before trusting the name
    .KEY.START.XXXXXXXX.part     being written, nothing proven yet

Beside each, a sidecar of the same name plus ``.times`` holds the voiced characters' times
(one line each: offset in the chapter text, start and end in seconds from the piece's first
audio), renamed with its piece, so word timings survive whatever the audio survives.

``KEY`` (:func:`piece_key`) ties a piece to one chapter text and one set of speech settings;
START and END are character offsets into the chapter's speech text. Callers hold the output
folder's lock, so no file here belongs to a live writer of another run.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from narrator.audioformat import FrameIndex, Mp3Stream, joinable
from narrator.errors import OutputError
from narrator.output.audio import audio_payload, scan_audio
from narrator.output.files import BLOCK, fsync_folder, open_regular
from narrator.output.writer import StreamedFile

PIECES_DIR = ".narrator-pieces"

_KEY = r"[0-9a-f]{24}"
_PIECE = re.compile(rf"({_KEY})\.(\d+)-(\d+)\.piece")
_PARTIAL = re.compile(rf"({_KEY})\.(\d+)-(\d+)\.(\d+)\.partial")
_TEMP = re.compile(rf"\.({_KEY})\.\d+\.[0-9a-f]{{8}}\.part")
TIMES = ".times"
#: Seconds between the renames that record a writer's proven progress: a few a second
#: cost nothing, one a sentence adds up over a book.
CHECKPOINT_EVERY_S = 0.25


def piece_key(text_sha256: str, settings_sha256: str) -> str:
    """The key of the pieces valid for exactly this chapter text and these settings."""
    return hashlib.sha256(f"{text_sha256}\0{settings_sha256}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Piece:
    """A finished piece on disk: ``bytes`` of audio voicing characters [start, end)."""

    key: str
    start: int
    end: int
    path: Path
    bytes: int

    @property
    def times_path(self) -> Path:
        return _times_of(self.path)


def _times_of(path: Path) -> Path:
    return path.with_name(path.name + TIMES)


def _piece_name(key: str, start: int, end: int) -> str:
    return f"{key}.{start}-{end}.piece"


def _error(path: Path, doing: str, exc: OSError | ValueError) -> OutputError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return OutputError(f"cannot {doing} {path}: {reason}")


class PieceWriter(StreamedFile):
    """One piece being streamed to disk; leaving its ``with`` block without :meth:`finish`
    discards it (a checkpointed file is discarded too: use :meth:`finish` to keep it)."""

    def __init__(self, folder: Path, key: str, start: int) -> None:
        super().__init__(folder, f"{key}.{start}")
        self.key, self.start = key, start
        self._renamed_at = 0.0
        try:
            self._times = _times_of(self._path).open("w", encoding="ascii")
        except OSError as exc:
            self.discard()
            raise _error(self._path, "create", exc) from exc

    def timed(self, voiced: Sequence[tuple[int, float, float]]) -> None:
        """Record characters' times: ``(offset in the chapter text, start, end)``, in seconds
        from this piece's first audio."""
        try:
            self._times.writelines(f"{o} {s:.4f} {e:.4f}\n" for o, s, e in voiced)
        except OSError as exc:
            raise _error(self._path, "write", exc) from exc

    def discard(self) -> None:
        super().discard()
        times = _times_of(self._path)
        try:
            self._times.close()
            times.unlink(missing_ok=True)
        except (OSError, AttributeError):  # best effort, as the audio's own discard
            pass

    @property
    def path(self) -> Path:
        """The file's current name (it changes at each checkpoint)."""
        return self._path

    def checkpoint(self, end: int, audio_bytes: int) -> None:
        """Record that the first ``audio_bytes`` bytes voice the text up to ``end``.

        The bytes reach the kernel and the name says what they voice: this survives a killed
        process, not a power cut (no fsync, so it stays cheap), and :meth:`PieceStore.found`
        validates the bytes before it trusts the name.
        """
        self._check(audio_bytes)
        now = time.monotonic()
        if now - self._renamed_at < CHECKPOINT_EVERY_S:
            return  # a killed run loses at most this long of proven audio
        self._renamed_at = now
        try:
            self._file.flush()
            self._times.flush()
            if os.name != "nt":  # Windows cannot rename an open file: no checkpoints there
                self._rename(f"{self.key}.{self.start}-{end}.{audio_bytes}.partial")
        except OSError as exc:
            raise _error(self._path, "checkpoint", exc) from exc

    def finish(self, end: int, audio_bytes: int | None = None) -> Piece | None:
        """Keep the first ``audio_bytes`` bytes (all when None) as the piece voicing the text
        up to ``end``, durably; None, and no file, when that is no audio or no text."""
        size = self.bytes_written if audio_bytes is None else audio_bytes
        self._check(size)
        if size == 0 or end <= self.start:
            self.discard()
            return None
        try:
            self._file.flush()
            if size < self.bytes_written:
                self._file.truncate(size)
            os.fsync(self._file.fileno())
            self._file.close()
            self._times.flush()
            os.fsync(self._times.fileno())
            self._times.close()
            self._rename(_piece_name(self.key, self.start, end))
            fsync_folder(self._folder)
        except OSError as exc:
            self.discard()
            raise _error(self._path, "finish", exc) from exc
        self._done = True
        return Piece(self.key, self.start, end, self._path, size)

    def _check(self, audio_bytes: int) -> None:
        self._check_open()
        if not 0 <= audio_bytes <= self.bytes_written:
            raise ValueError(f"{audio_bytes} audio bytes of {self.bytes_written} written")

    def _rename(self, name: str) -> None:
        target = self._folder / name
        os.replace(_times_of(self._path), _times_of(target))
        os.replace(self._path, target)
        self._path = target


class PieceStore:
    """The pieces of one book's output folder in one output format."""

    def __init__(self, folder: Path, output_format: str) -> None:
        self.folder = Path(folder) / PIECES_DIR
        self.output_format = output_format

    def found(self, key: str) -> list[Piece]:
        """The complete pieces for ``key``, sorted by (start, -end); checkpointed files are
        recovered to their proven bytes, or deleted when those bytes are not whole units."""
        pieces: list[Piece] = []
        entries = list(self._entries())
        names = {name for name, _, _ in entries}
        for name, path, size in entries:
            if (match := _PIECE.fullmatch(name)) and match[1] == key:
                start, end = int(match[2]), int(match[3])
                if end > start:
                    pieces.append(Piece(key, start, end, path, size))
            elif (match := _PARTIAL.fullmatch(name)) and match[1] == key:
                start, end, count = int(match[2]), int(match[3]), int(match[4])
                if _piece_name(key, start, end) in names:  # the finished one is durable
                    self._unlink(path)
                    self._unlink(_times_of(path))
                elif (piece := self._recover(path, key, start, end, count)) is not None:
                    pieces.append(piece)
        return sorted(pieces, key=lambda piece: (piece.start, -piece.end))

    def open(self, key: str, start: int) -> PieceWriter:
        """A new piece voicing the text from character ``start``."""
        self._ensure_folder()
        return PieceWriter(self.folder, key, start)

    def join(self, pieces: Sequence[Piece], sink: Callable[[bytes], None]) -> int:
        """Stream the audio of ``pieces``, in order and headers stripped, into ``sink``; the
        samples joined. The result must be one valid constant-bitrate stream, so a piece
        that is broken or differs from the first is refused (OutputError naming it); the
        sink has then received part of the audio and its output must be discarded.
        """
        return sum(self.join_parts(pieces, sink))

    def join_parts(self, pieces: Sequence[Piece], sink: Callable[[bytes], None]) -> list[int]:
        """:meth:`join`, giving each piece's samples: where each begins in the joined file."""
        if not joinable(self.output_format):
            if len(pieces) != 1:
                raise ValueError(f"{self.output_format} streams cannot be joined")
            self._copy(pieces[0], sink)  # a whole chapter in one piece: as it came
            return [0]
        counts: list[int] = []
        first = None
        for piece in pieces:
            try:
                with open_regular(piece.path) as file:
                    start, end = audio_payload(file, self.output_format)
                    index = scan_audio(file, self.output_format, start, end, sink)
            except (OSError, ValueError) as exc:
                raise _error(piece.path, "read", exc) from exc
            problem = _join_problem(index, end - start, first)
            if problem is not None:
                raise OutputError(f"cannot join {piece.path}: {problem}")
            first = first or index.stream
            counts.append(index.samples)
        return counts

    def read_times(self, piece: Piece) -> list[tuple[int, float, float]]:
        """The voiced characters' times recorded with ``piece`` that lie in its span; none
        when it has no sidecar (its timings were not kept)."""
        voiced: list[tuple[int, float, float]] = []
        try:
            with open_regular(piece.times_path) as file:
                for line in file.read().decode("ascii", "replace").splitlines():
                    parts = line.split()
                    try:
                        offset, start, end = int(parts[0]), float(parts[1]), float(parts[2])
                    except (IndexError, ValueError):
                        continue  # a line cut short by a crash
                    if piece.start <= offset < piece.end:
                        voiced.append((offset, start, end))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _error(piece.times_path, "read", exc) from exc
        return voiced

    def _copy(self, piece: Piece, sink: Callable[[bytes], None]) -> None:
        try:
            with open_regular(piece.path) as file:
                while block := file.read(BLOCK):
                    sink(block)
        except OSError as exc:
            raise _error(piece.path, "read", exc) from exc

    def remove(self, pieces: Iterable[Piece]) -> None:
        """Delete ``pieces`` (joined into their chapter, or not needed). The folder stays:
        other sessions of the run may be writing into it; :meth:`keep_only` clears it."""
        for piece in pieces:
            if piece.path.parent != self.folder:
                raise ValueError(f"{piece.path} is not in {self.folder}")
            self._unlink(piece.path)
            self._unlink(piece.times_path)

    def keep_only(self, keys: set[str]) -> None:
        """Delete every piece and checkpointed file whose key is not in ``keys``, and every
        leftover temp file (no writer is live while the caller holds the folder's lock)."""
        entries = list(self._entries())
        for name, path, _ in entries:
            match = _PIECE.fullmatch(name) or _PARTIAL.fullmatch(name)
            if _TEMP.fullmatch(name) or (match and match[1] not in keys):
                self._unlink(path)
        for name, path, _ in entries:  # a sidecar goes with its audio
            if name.endswith(TIMES) and not path.with_name(name[: -len(TIMES)]).exists():
                self._unlink(path)
        self._drop_if_empty()

    def _recover(self, path: Path, key: str, start: int, end: int, count: int) -> Piece | None:
        """A killed writer's checkpoint as a piece, if its first ``count`` bytes are whole
        units of audio; otherwise the file is deleted."""
        target = self.folder / _piece_name(key, start, end)
        try:
            with open_regular(path, writable=True) as file:
                size = os.fstat(file.fileno()).st_size
                whole = (
                    end > start
                    and size >= count
                    and joinable(self.output_format)
                    and _whole(scan_audio(file, self.output_format, 0, count), count)
                )
                if whole:
                    file.truncate(count)
                    os.fsync(file.fileno())
            if not whole:
                path.unlink()
                _times_of(path).unlink(missing_ok=True)
                return None
            if _times_of(path).exists():
                os.replace(_times_of(path), _times_of(target))
            os.replace(path, target)
            fsync_folder(self.folder)
        except (OSError, ValueError) as exc:
            raise _error(path, "recover", exc) from exc
        return Piece(key, start, end, target, count)

    def _entries(self) -> Iterator[tuple[str, Path, int]]:
        """Name, path and size of each regular file in the folder; links are never followed."""
        if not self._exists():
            return
        try:
            with os.scandir(self.folder) as scan:
                found = [
                    (entry.name, Path(entry.path), entry.stat(follow_symlinks=False).st_size)
                    for entry in scan
                    if entry.is_file(follow_symlinks=False)
                ]
        except OSError as exc:
            raise _error(self.folder, "read", exc) from exc
        yield from sorted(found)

    def _exists(self) -> bool:
        """Whether the folder exists; OutputError when the name is a link or not a folder,
        since narrator would then write where it does not own."""
        try:
            mode = self.folder.lstat().st_mode
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _error(self.folder, "use", exc) from exc
        if not stat.S_ISDIR(mode):
            raise OutputError(f"cannot use {self.folder}: it is a link or not a folder")
        return True

    def _ensure_folder(self) -> None:
        if self._exists():
            return
        try:
            self.folder.mkdir(mode=0o700)
        except FileExistsError:
            self._exists()  # made meanwhile: still refuse a link
        except OSError as exc:
            raise _error(self.folder, "create", exc) from exc

    def _unlink(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise _error(path, "delete", exc) from exc

    def _drop_if_empty(self) -> None:
        """Remove the folder once it holds nothing, so a finished book leaves no trace."""
        if not self._exists():
            return
        try:
            with os.scandir(self.folder) as scan:
                empty = next(scan, None) is None
            if empty:
                self.folder.rmdir()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _error(self.folder, "remove", exc) from exc


def _whole(index: FrameIndex, count: int) -> bool:
    """The stream indexed ends exactly on a unit boundary at ``count`` and holds audio."""
    return index.broken is None and index.complete_bytes == count and index.frames > 0


def _join_problem(index: FrameIndex, length: int, first: Mp3Stream | None) -> str | None:
    """Why a piece's audio cannot follow the first piece's in one stream, or None."""
    if index.broken is not None:
        return index.broken
    if index.complete_bytes != length:
        return f"its audio ends inside a unit at byte {index.complete_bytes} of {length}"
    if not index.constant_bitrate:
        return "its bitrate varies (one constant-bitrate stream is needed)"
    if first is not None and index.stream is not None and index.stream != first:
        return f"its audio is {index.stream}, the first piece's {first}"
    return None
