"""Audio formats as byte streams: which ones join by concatenation, and where their units lie.

A chapter can be narrated in pieces and a piece can be cut where a session failed, so both the
session layer and the output layer must know where whole audio units (an MPEG frame, a PCM or
G.711 sample) begin and end, from bytes that arrive in arbitrary slices. This module knows the
formats only; it does no I/O and imports nothing from narrator, so both layers can use it.

MP3 here is MPEG-1, 2 or 2.5 layer III of one sample rate and MPEG version. A leading ID3v2
tag and a first Xing/Info/VBRI frame are headers, not audio: they declare facts about one
stream only, so they are skipped when counting and stripped before joining.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from functools import cache

#: MPEG version bits -> (name, sample rates by rate index, samples per layer III frame).
_VERSIONS: dict[int, tuple[str, tuple[int, int, int], int]] = {
    3: ("MPEG-1", (44100, 48000, 32000), 1152),
    2: ("MPEG-2", (22050, 24000, 16000), 576),
    0: ("MPEG-2.5", (11025, 12000, 8000), 576),
}
#: Layer III bitrates in kbps by bitrate index; MPEG-1 has its own table (0 and 15 invalid).
_KBPS_MPEG1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0)
_KBPS_MPEG2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0)
_CHANNEL_MODES = ("stereo", "joint stereo", "dual channel", "mono")
#: Bytes of a frame's start that decide whether it is a Xing/Info/VBRI header frame.
FRAME_PROBE = 48
#: An ID3v1 tag: the last 128 bytes of a file, starting with b"TAG".
ID3V1_SIZE = 128
#: Bytes per unit of the formats whose unit is one sample.
_SAMPLE_WIDTH = {"pcm": 2, "ulaw": 1, "alaw": 1}


def _codec(output_format: str) -> str:
    codec = output_format.partition("_")[0]
    if codec not in ("mp3", "opus", *_SAMPLE_WIDTH):
        raise ValueError(f"unknown output format: {output_format!r}")
    return codec


def joinable(output_format: str) -> bool:
    """Whether streams of this format join by concatenating their audio (Ogg pages do not)."""
    return _codec(output_format) != "opus"


def sample_rate(output_format: str) -> int:
    """Samples a second, as ElevenLabs names it (``mp3_44100_128`` -> 44100)."""
    _codec(output_format)
    return int(output_format.split("_")[1])


@dataclass(frozen=True)
class Mp3Stream:
    """What one MP3 stream must keep constant, read from its first audio frame's header."""

    version: str
    sample_rate: int
    bitrate_kbps: int
    channel_mode: str

    def __str__(self) -> str:
        return f"{self.version} {self.sample_rate} Hz {self.bitrate_kbps} kbps {self.channel_mode}"


@dataclass(frozen=True)
class _Header:
    """The fields of a 4-byte layer III frame header that locate and describe its frame."""

    version_bits: int
    rate_index: int
    bitrate_index: int
    size: int
    protected: bool
    mono: bool

    @property
    def stream(self) -> Mp3Stream:
        name, rates, _ = _VERSIONS[self.version_bits]
        kbps = _kbps(self.version_bits)[self.bitrate_index]
        mode = _CHANNEL_MODES[3 if self.mono else 0]
        return Mp3Stream(name, rates[self.rate_index], kbps, mode)


def _kbps(version_bits: int) -> tuple[int, ...]:
    return _KBPS_MPEG1 if version_bits == 3 else _KBPS_MPEG2


def _frame_size(version_bits: int, bitrate_index: int, rate_index: int, padding: int) -> int:
    """Bytes of a layer III frame, 0 for a reserved or free-format field."""
    if version_bits not in _VERSIONS or rate_index == 3:
        return 0
    _, rates, samples = _VERSIONS[version_bits]
    kbps = _kbps(version_bits)[bitrate_index]
    return samples // 8 * kbps * 1000 // rates[rate_index] + padding if kbps else 0


def _parse_header(head: bytes) -> _Header | None:
    """The layer III frame header at the start of ``head`` (4 bytes), or None if it is not one."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE6 != 0xE2:  # sync, layer III
        return None
    b1, b2 = head[1], head[2]
    version, bitrate, rate = (b1 >> 3) & 3, b2 >> 4, (b2 >> 2) & 3
    size = _frame_size(version, bitrate, rate, (b2 >> 1) & 1)
    if not size:
        return None
    return _Header(version, rate, bitrate, size, not b1 & 1, head[3] >> 6 == 3)


def _is_info_frame(frame: bytes, header: _Header) -> bool:
    """A Xing/Info or VBRI frame: a header that describes one encoding, carrying no audio."""
    side = (17 if header.mono else 32) if header.version_bits == 3 else (9 if header.mono else 17)
    at = 4 + side + (2 if header.protected else 0)
    return frame[at : at + 4] in (b"Xing", b"Info") or frame[36:40] == b"VBRI"


@cache
def _stream_table(version_bits: int, rate_index: int, bitrate_index: int) -> list[int]:
    """Frame size by header bytes 1-2 for one stream: positive for its own bitrate, negated
    for another bitrate of the same version and rate, 0 for anything that ends the stream.

    A flat list indexed by ``b1 << 8 | b2`` makes each frame one lookup in the walk.
    """
    table = [0] * 65536
    for b1 in (0xE2 | version_bits << 3, 0xE3 | version_bits << 3):  # with and without CRC
        for b2 in range(rate_index << 2, 256, 16):
            for low in range(4):
                bitrate = b2 >> 4
                size = _frame_size(version_bits, bitrate, rate_index, low >> 1)
                table[b1 << 8 | b2 | low] = size if bitrate == bitrate_index else -size
    return table


def id3v2_size(head: bytes) -> int:
    """Bytes of an ID3v2 tag at the start of ``head`` (its first 10 bytes suffice), else 0."""
    if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
        return 0
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    return 10 + size + (10 if head[5] & 0x10 else 0)  # a footer repeats the header


def payload_range(
    tag_size: int, probe: bytes, tail: bytes, size: int, output_format: str
) -> tuple[int, int]:
    """The byte range [start, end) of the audio in a stored stream of ``size`` bytes.

    ``tag_size`` is :func:`id3v2_size` of its first 10 bytes, ``probe`` the first
    :data:`FRAME_PROBE` bytes after that tag, ``tail`` its last 128 bytes. This split lets a
    reader of a file seek past a large tag (a cover image) instead of reading it. PCM and
    G.711 streams carry no headers: all of them is audio.
    """
    if _codec(output_format) != "mp3":
        return 0, size
    start = min(tag_size, size)
    header = _parse_header(probe)
    if header is not None and _is_info_frame(probe[: header.size], header):
        start = min(start + header.size, size)
    end = size - ID3V1_SIZE if tail[-ID3V1_SIZE:][:3] == b"TAG" else size
    return start, max(start, end)


def stream_payload(head: bytes, tail: bytes, size: int, output_format: str) -> tuple[int, int]:
    """:func:`payload_range` from the stream's first bytes: ``head`` must hold its ID3v2 tag
    (if any) and :data:`FRAME_PROBE` bytes more, or the whole stream if it is shorter; a
    reader that may meet a large tag uses :func:`payload_range` and seeks past it."""
    tag = id3v2_size(head)
    if _codec(output_format) == "mp3" and len(head) < min(size, tag + FRAME_PROBE):
        raise ValueError(f"need the first {tag + FRAME_PROBE} bytes, got {len(head)}")
    return payload_range(tag, head[tag : tag + FRAME_PROBE], tail, size, output_format)


class FrameIndex:
    """An incremental index of the complete audio units in a stream fed in arbitrary slices.

    A unit is an MPEG frame for MP3 and one sample for PCM (2 bytes) and G.711 (1 byte).
    :meth:`mark` starts a region (one generation's audio, say) and :meth:`offset` answers
    where each unit boundary in it lies, so a stream can be cut on a boundary. Headers (a
    leading ID3v2 tag, a first Xing/Info/VBRI frame) count in offsets, not as units: before
    the first unit, :attr:`complete_bytes` and the mark move past them. Bytes that stop
    being frames of one stream set :attr:`broken` and end the indexing; :meth:`feed` never
    raises, since it runs while audio is being received.
    """

    def __init__(self, output_format: str, *, keep_offsets: bool = True) -> None:
        codec = _codec(output_format)
        if codec == "opus":
            raise ValueError(f"{output_format}: Ogg pages are not indexed")
        self.output_format = output_format
        self.sample_rate = sample_rate(output_format)
        self._width = _SAMPLE_WIDTH.get(codec, 0)
        self.samples_per_frame = 1 if self._width else (1152 if self.sample_rate >= 32000 else 576)
        self.total_bytes = self.complete_bytes = self.frames = 0
        self.broken: str | None = None
        #: The first audio frame's stream description (MP3 only).
        self.stream: Mp3Stream | None = None
        #: False once a frame's bitrate differs from the first audio frame's.
        self.constant_bitrate = True
        self._offsets: array[int] | None = array("q") if keep_offsets and not self._width else None
        self._mark_at = self._mark_frames = 0
        self._tail = b""  # bytes after complete_bytes not yet parsed (part of one frame)
        self._tail_at = 0  # absolute offset of _tail
        self._skip = 0  # header bytes still to pass over
        self._started = False  # past the optional ID3v2 tag
        self._info_checked = False  # the first frame was checked for a Xing/Info/VBRI header
        self._table: list[int] | None = None

    @property
    def samples(self) -> int:
        return self.frames * self.samples_per_frame

    @property
    def frames_since_mark(self) -> int:
        return self.frames - self._mark_frames

    def mark(self) -> None:
        """Start a region at the end of the complete units (between two generations)."""
        self._mark_at, self._mark_frames = self.complete_bytes, self.frames
        if self._offsets is not None:
            self._offsets = array("q")

    def offset(self, k: int) -> int:
        """Absolute byte offset of the boundary ``k`` units after the mark."""
        count = self.frames_since_mark
        if not 0 <= k <= count:
            raise IndexError(f"unit {k} of {count} since the mark")
        if self._width:
            return self._mark_at + k * self._width
        if k == 0:
            return self._mark_at
        if k == count:
            return self.complete_bytes
        if self._offsets is None:
            raise IndexError("offsets are not kept (keep_offsets=False)")
        return self._offsets[k - 1]

    def feed(self, data: bytes) -> None:
        """Index the next bytes of the stream; only an unparsed partial unit is kept."""
        self.total_bytes += len(data)
        if self._width:
            self.complete_bytes = self.total_bytes - self.total_bytes % self._width
            self.frames = self.complete_bytes // self._width
        elif self.broken is None and data:
            self._feed_mp3(self._tail + data if self._tail else data)

    def _feed_mp3(self, buf: bytes) -> None:
        pos, ready = self._headers(buf)
        if ready and self._table is not None:
            pos = self._walk(buf, pos, self._table)
        if self.broken is not None:
            self._tail = b""
        else:
            self._tail, self._tail_at = buf[pos:], self._tail_at + pos

    def _headers(self, buf: bytes) -> tuple[int, bool]:
        """Pass over the headers before the first unit: the position reached in ``buf``, and
        whether frames start there (False while more bytes are needed to tell)."""
        pos = 0
        while self._table is None and self.broken is None:
            if self._skip:
                step = min(self._skip, len(buf) - pos)
                pos, self._skip = pos + step, self._skip - step
                if self._skip:
                    return pos, False
                self._move_start(self._tail_at + pos)
            elif not self._started:
                if len(buf) < 10 and b"ID3"[: len(buf)] == buf[:3]:
                    return pos, False
                self._started, self._skip = True, id3v2_size(buf)
            elif self._first_frame(buf[pos : pos + FRAME_PROBE], self._tail_at + pos):
                return pos, False
        return pos, self.broken is None

    def _first_frame(self, probe: bytes, at: int) -> bool:
        """Check the first frame header, at byte ``at``; True while more bytes are needed."""
        header = _parse_header(probe)
        if header is None:
            if len(probe) >= 4:
                self.broken = f"no MP3 frame at byte {at}"
            return len(probe) < 4
        stream = header.stream
        if stream.sample_rate != self.sample_rate:
            self.broken = f"the audio is MP3 at {stream.sample_rate} Hz, not {self.sample_rate} Hz"
            return False
        if len(probe) < min(header.size, FRAME_PROBE):
            return True
        if not self._info_checked:
            self._info_checked = True
            if _is_info_frame(probe[: header.size], header):
                self._skip = header.size
                return False
        self.stream = stream
        self._table = _stream_table(header.version_bits, header.rate_index, header.bitrate_index)
        return False

    def _move_start(self, at: int) -> None:
        """Headers passed before any unit: the audio, and the first region, start at ``at``."""
        self.complete_bytes = self._mark_at = at

    def _walk(self, buf: bytes, pos: int, table: list[int]) -> int:
        """The tight loop: one table lookup a frame; returns the end of the last whole frame."""
        n, frames, base = len(buf), self.frames, self._tail_at
        append = self._offsets.append if self._offsets is not None else None
        while pos + 3 <= n:
            size = table[buf[pos + 1] << 8 | buf[pos + 2]] if buf[pos] == 0xFF else 0
            if size <= 0:
                if not size:
                    self.broken = f"lost MP3 frame sync at byte {base + pos}"
                    break
                self.constant_bitrate, size = False, -size
            if pos + size > n:
                break
            pos += size
            frames += 1
            if append is not None:
                append(base + pos)
        self.frames = frames
        self.complete_bytes = base + pos
        return pos
