"""Encode a session's PCM into the requested ``output_format``: MP3 (LAME), raw PCM or mu-law.

One :class:`StreamEncoder` per session encodes each generation completely (LAME is flushed
at its end), since the service sends all of a generation's audio in one frame. The frames
of a session still concatenate into one valid run of MP3 frames: lameenc writes no
Xing/Info header, so no header frame per generation can make a decoder misread the length;
each generation only adds LAME's short start and end padding. Silence (the tone voice)
takes a fast path: MP3 frames of digital silence repeat with a period of 49 frames, so they
are encoded once per format and replayed, which makes hours of audio cost almost nothing.
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass
from functools import cache
from typing import Literal

import lameenc

from narrator.local.voice import Speech

Codec = Literal["mp3", "pcm", "ulaw"]


@dataclass(frozen=True)
class OutputFormat:
    """An ``output_format`` query value, decoded."""

    name: str
    codec: Codec
    sample_rate: int
    bitrate_kbps: int = 0


FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in [
        OutputFormat("mp3_22050_32", "mp3", 22050, 32),
        *(OutputFormat(f"mp3_44100_{b}", "mp3", 44100, b) for b in (32, 64, 96, 128, 192)),
        *(OutputFormat(f"pcm_{r}", "pcm", r) for r in (8000, 16000, 22050, 24000, 44100)),
        OutputFormat("ulaw_8000", "ulaw", 8000),
    ]
}
DEFAULT_FORMAT = "mp3_44100_128"


def resample(pcm: bytes, src: int, dst: int) -> bytes:
    """Linear interpolation in integer arithmetic (deterministic); round(n * dst / src) out."""
    if src == dst or not pcm:
        return pcm
    samples = array("h")
    samples.frombytes(pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    n = len(samples)
    m = (n * dst + src // 2) // src
    last = n - 1
    out = array("h", bytes(2 * m))
    for j in range(m):
        i, frac = divmod(j * src, dst)
        s0 = samples[min(i, last)]
        s1 = samples[min(i + 1, last)]
        out[j] = s0 + (s1 - s0) * frac // dst
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def _ulaw_byte(value: int) -> int:
    """G.711 mu-law of one signed 16-bit sample."""
    sign = 0x80 if value < 0 else 0
    magnitude = min(-value if value < 0 else value, 32635) + 0x84
    exponent = max((magnitude >> 7).bit_length() - 1, 0)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


#: mu-law byte for every 16-bit sample, indexed by the sample read as unsigned.
_ULAW_TABLE = bytes(_ulaw_byte(u - 65536 if u >= 32768 else u) for u in range(65536))


def ulaw(pcm: bytes) -> bytes:
    """Signed 16-bit little-endian PCM -> G.711 mu-law bytes."""
    if sys.byteorder == "big":
        swapped = array("h", pcm)
        swapped.byteswap()
        pcm = swapped.tobytes()
    return bytes(map(_ULAW_TABLE.__getitem__, memoryview(pcm).cast("H")))


def _lame(fmt: OutputFormat, in_rate: int) -> lameenc.Encoder:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(fmt.bitrate_kbps)
    encoder.set_in_sample_rate(in_rate)
    encoder.set_out_sample_rate(fmt.sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(7)  # fastest; voice at these bitrates gains nothing from more
    encoder.silence()
    return encoder


_BITRATES = {
    3: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],  # MPEG-1
    2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],  # MPEG-2
}


def split_mp3_frames(data: bytes) -> list[bytes]:
    """Cut a layer III stream (MPEG-1 44.1 kHz or MPEG-2 22.05 kHz) into its frames."""
    frames: list[bytes] = []
    i = 0
    while i + 4 <= len(data):
        header = int.from_bytes(data[i : i + 4], "big")
        if header >> 21 != 0x7FF:
            raise ValueError(f"no MP3 frame sync at byte {i}")
        version, rate_index = (header >> 19) & 3, (header >> 12) & 15
        padding = (header >> 9) & 1
        factor, rate = (144_000, 44100) if version == 3 else (72_000, 22050)
        size = factor * _BITRATES[version][rate_index] // rate + padding
        frames.append(data[i : i + size])
        i += size
    return frames


_PERIOD = 49  # 44100 = 49 * 900: the padding pattern of every supported bitrate repeats


@dataclass(frozen=True)
class _SilenceFrames:
    prefix: list[bytes]
    cycle: bytes
    offsets: list[int]  # byte offset of each frame inside ``cycle``, plus its length
    samples_per_frame: int

    def frames(self, start: int, stop: int) -> bytes:
        """The bytes of silent frames number ``start`` (inclusive) to ``stop`` (exclusive)."""
        parts = [self.prefix[i] for i in range(start, min(stop, len(self.prefix)))]
        start = max(start, len(self.prefix)) - len(self.prefix)
        stop -= len(self.prefix)
        if stop > start:
            first_cycle, first = divmod(start, _PERIOD)
            last_cycle, last = divmod(stop, _PERIOD)
            if first_cycle == last_cycle:
                parts.append(self.cycle[self.offsets[first] : self.offsets[last]])
            else:
                parts.append(self.cycle[self.offsets[first] :])
                parts.append(self.cycle * (last_cycle - first_cycle - 1))
                parts.append(self.cycle[: self.offsets[last]])
        return b"".join(parts)


@cache
def _silence_frames(fmt: OutputFormat) -> _SilenceFrames:
    """Encode silence once and find where its frames start repeating every 49 frames."""
    spf = 1152 if fmt.sample_rate == 44100 else 576
    encoder = _lame(fmt, fmt.sample_rate)
    stream = bytes(encoder.encode(bytes(2 * spf * _PERIOD * 8)))
    frames = split_mp3_frames(stream + bytes(encoder.flush()))[:-8]  # drop the flushed tail
    for steady in range(len(frames) - 3 * _PERIOD):
        if all(frames[j] == frames[j + _PERIOD] for j in range(steady, len(frames) - _PERIOD)):
            break
    else:
        raise RuntimeError(f"LAME silence never became periodic for {fmt.name}")
    cycle = frames[steady : steady + _PERIOD]
    offsets = [0]
    for frame in cycle:
        offsets.append(offsets[-1] + len(frame))
    return _SilenceFrames(frames[:steady], b"".join(cycle), offsets, spf)


class StreamEncoder:
    """One session's encoder: ``encode`` returns all of one generation's audio.

    MP3 takes a new LAME encoder per generation and flushes it at the generation's end;
    silent MP3 continues one periodic stream of frames, the generation's last frame padded
    out with silence.
    """

    def __init__(self, fmt: OutputFormat) -> None:
        self.format = fmt
        self._silent_frames_sent = 0

    def encode(self, speech: Speech) -> bytes:
        """The whole generation in the output format, nothing held back for the next one."""
        fmt = self.format
        if speech.pcm is None:
            return self._encode_silence(speech)
        if fmt.codec == "mp3":
            lame = _lame(fmt, speech.sample_rate)
            return bytes(lame.encode(speech.pcm)) + bytes(lame.flush()) if speech.pcm else b""
        pcm = resample(speech.pcm, speech.sample_rate, fmt.sample_rate)
        return ulaw(pcm) if fmt.codec == "ulaw" else pcm

    def _encode_silence(self, speech: Speech) -> bytes:
        fmt = self.format
        samples = speech.samples * fmt.sample_rate // speech.sample_rate
        if fmt.codec == "pcm":
            return bytes(2 * samples)
        if fmt.codec == "ulaw":
            return b"\xff" * samples
        # Whole frames only: the generation's last one is padded out with silence.
        table = _silence_frames(fmt)
        target = self._silent_frames_sent + -(-samples // table.samples_per_frame)
        out = table.frames(self._silent_frames_sent, target)
        self._silent_frames_sent = target
        return out
