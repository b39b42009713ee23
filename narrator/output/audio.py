"""Durations read back from the audio itself: MP3 frames, RIFF chunks for WAV, mutagen for Opus.

An MP3 duration is its frame count times the samples a frame holds: a bitrate estimate drifts
on joined streams (each piece adds its encoder's padding), and chapter starts must follow the
audio a player decodes. Errors from mutagen and the file system are translated here, where
they enter.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import mutagen
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus
from mutagen.wave import WAVE

from narrator.audioformat import FRAME_PROBE, ID3V1_SIZE, FrameIndex, id3v2_size, payload_range
from narrator.errors import OutputError, TaggingError
from narrator.output.files import BLOCK
from narrator.output.names import extension_for

# mutagen's constructors carry no annotations: its untyped API enters through these names
# only, so mypy --strict still checks everything around them.
OPENERS: dict[str, Callable[[Path], Any]] = {".mp3": MP3, ".wav": WAVE, ".opus": OggOpus}


def audio_duration(path: Path, output_format: str) -> float:
    """Seconds of audio: MP3 frames counted, the RIFF chunks for WAV, mutagen for Opus."""
    extension = extension_for(output_format)
    try:
        if extension == ".wav":
            return _wav_duration(path)
        if extension == ".mp3":
            return _mp3_duration(path, output_format)
        return float(OPENERS[extension](path).info.length)
    except mutagen.MutagenError as exc:
        raise TaggingError(path, f"cannot read audio: {exc}") from exc
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _mp3_duration(path: Path, output_format: str) -> float:
    """Samples over rate, from a walk over the frames between the tags (not a bitrate guess)."""
    with path.open("rb") as file:
        index = scan_audio(file, output_format, *audio_payload(file, output_format))
    if index.broken is not None:
        raise TaggingError(path, f"cannot read audio: {index.broken}")
    if not index.frames:
        raise TaggingError(path, "cannot read audio: no MP3 frames")
    return index.samples / index.sample_rate


def audio_payload(file: BinaryIO, output_format: str) -> tuple[int, int]:
    """The byte range [start, end) of the audio in a stored stream, tags and header frame
    left out; it seeks past the ID3v2 tag rather than reading it (it may hold a cover)."""
    size = os.fstat(file.fileno()).st_size
    file.seek(0)
    tag = id3v2_size(file.read(10))
    file.seek(min(tag, size))
    probe = file.read(FRAME_PROBE)
    file.seek(max(0, size - ID3V1_SIZE))
    return payload_range(tag, probe, file.read(ID3V1_SIZE), size, output_format)


def scan_audio(
    file: BinaryIO,
    output_format: str,
    start: int,
    end: int,
    sink: Callable[[bytes], None] | None = None,
) -> FrameIndex:
    """Index bytes [start, end) of an open stream in blocks, handing each block to ``sink``
    too, so counting and copying a long chapter take one pass and little memory."""
    index = FrameIndex(output_format, keep_offsets=False)
    file.seek(start)
    left = end - start
    while left > 0 and index.broken is None and (block := file.read(min(BLOCK, left))):
        index.feed(block)
        if sink is not None:
            sink(block)
        left -= len(block)
    return index


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
