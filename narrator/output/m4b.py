"""AAC in an MP4 (``.m4b``) through PyAV, with chapters, and its iTunes tags through mutagen.

PyAV bundles FFmpeg, with its native ``aac`` encoder and ``ipod`` muxer, so no system ffmpeg
is needed; its wheels also bundle GPL libraries, so it stays an optional extra, imported only
inside these functions. Errors from PyAV and mutagen are translated here, where they enter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mutagen
from mutagen.mp4 import MP4

from narrator.errors import OutputError, TaggingError, UsageError

# mutagen's MP4 constructor carries no annotations: it enters through this name only.
_MP4: Callable[[Path], Any] = MP4

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.container.core import Chapter

#: Enough for speech in mono AAC-LC; the encoder's own default targets music.
BITRATE = 64_000
_MISSING_PYAV = '--book-file m4b needs PyAV: pip install "narrator[m4b]"'
#: PyAV raises its own errors, some also OSError or ValueError (a frame that does not fit).
_PYAV_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError)


def require_pyav() -> None:
    """UsageError (exit 2) naming the extra to install when PyAV is missing."""
    try:
        import av  # noqa: F401
    except ImportError as exc:
        raise UsageError(_MISSING_PYAV) from exc


def _pyav_errors() -> tuple[type[Exception], ...]:
    import av

    return (av.FFmpegError, *_PYAV_ERRORS)


def encode_book(parts: Sequence[tuple[Path, str]], target: Path) -> tuple[int, list[int]]:
    """Decode each ``(path, title)`` part in order and encode it all to mono AAC at the first
    part's sample rate into ``target``, one frame at a time so memory stays flat.

    Returns the rate and the cumulative sample counts (each chapter's start, then the end):
    the chapter marks come from samples actually decoded, not from nominal lengths.
    """
    import av

    rate = _source_rate(parts[0][0])
    bounds, total = [0], 0
    try:
        with av.open(str(target), "w", format="ipod", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("aac", rate=rate, layout="mono", bit_rate=BITRATE)
            for path, _ in parts:
                for frame in _decoded(path, rate):
                    frame.pts, frame.time_base = total, Fraction(1, rate)
                    total += frame.samples
                    out.mux(stream.encode(frame))
                bounds.append(total)
            out.mux(stream.encode(None))
            out.set_chapters(_chapters([title for _, title in parts], bounds, rate))
    except _pyav_errors() as exc:
        raise OutputError(f"cannot write {target}: {exc}") from exc
    return rate, bounds


def _source_rate(path: Path) -> int:
    import av

    try:
        with av.open(str(path)) as source:
            return int(source.streams.audio[0].rate)
    except IndexError as exc:
        raise OutputError(f"cannot read {path}: no audio stream") from exc
    except _pyav_errors() as exc:
        raise OutputError(f"cannot read {path}: {exc}") from exc


def _decoded(path: Path, rate: int) -> Iterator[AudioFrame]:
    """One part's audio as mono float frames at ``rate``; errors raised while a frame is
    being encoded do not pass through here, so a read error names the part."""
    import av

    resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
    try:
        with av.open(str(path)) as source:
            if not source.streams.audio:
                raise OutputError(f"cannot read {path}: no audio stream")
            for frame in source.decode(source.streams.audio[0]):
                yield from resampler.resample(frame)
            yield from resampler.resample(None)
    except _pyav_errors() as exc:
        raise OutputError(f"cannot read {path}: {exc}") from exc


def _chapters(titles: Sequence[str], bounds: Sequence[int], rate: int) -> list[Chapter]:
    return [
        {
            "id": number + 1,
            "start": bounds[number],
            "end": bounds[number + 1],
            "time_base": Fraction(1, rate),
            "metadata": {"title": title},
        }
        for number, title in enumerate(titles)
    ]


def mp4_duration(path: Path) -> float:
    """Seconds of audio as the container declares it (the encoder's priming left out)."""
    import av

    try:
        with av.open(str(path)) as container:
            duration = container.duration
    except _pyav_errors() as exc:
        raise TaggingError(path, f"cannot read audio: {exc}") from exc
    if duration is None:
        raise TaggingError(path, "cannot read audio: no duration")
    return float(duration / av.time_base)


def tag_mp4(path: Path, values: Mapping[str, list[Any]]) -> None:
    """Set iTunes atoms (``\\xa9nam``, ``covr``, freeform ``----:`` keys...) on an MP4 file."""
    try:
        audio = _MP4(path)
        if audio.tags is None:
            audio.add_tags()
        audio.tags.update(values)
        audio.save()
    except (mutagen.MutagenError, OSError) as exc:
        raise TaggingError(path, f"cannot tag: {exc}") from exc
