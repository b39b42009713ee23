"""Durations read back from the audio itself: mutagen for mp3 and Opus, RIFF chunks for WAV.

Errors from mutagen and the file system are translated here, where they enter.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mutagen
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus
from mutagen.wave import WAVE

from narrator.errors import OutputError, TaggingError
from narrator.output.names import extension_for

# mutagen's constructors carry no annotations: its untyped API enters through these names
# only, so mypy --strict still checks everything around them.
OPENERS: dict[str, Callable[[Path], Any]] = {".mp3": MP3, ".wav": WAVE, ".opus": OggOpus}


def audio_duration(path: Path, output_format: str) -> float:
    """Seconds of audio: mutagen for mp3 and opus, the RIFF chunks for WAV."""
    extension = extension_for(output_format)
    try:
        if extension == ".wav":
            return _wav_duration(path)
        return float(OPENERS[extension](path).info.length)
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
