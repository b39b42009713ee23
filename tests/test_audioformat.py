"""Audio formats as byte streams: frame indexes over real LAME output fed in arbitrary slices."""

from __future__ import annotations

import io
import math
import random
import struct
import time

import lameenc
import pytest
from mutagen.mp3 import HeaderNotFoundError, MPEGFrame

from narrator.audioformat import (
    FRAME_PROBE,
    FrameIndex,
    id3v2_size,
    joinable,
    sample_rate,
    stream_payload,
)


def sine_pcm(seconds: float, rate: int, hz: float = 440.0) -> bytes:
    """16-bit little-endian mono sine."""
    count = int(seconds * rate)
    samples = (int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(count))
    return struct.pack(f"<{count}h", *samples)


def encode_mp3(seconds: float, rate: int = 22050, kbps: int = 32, hz: float = 440.0) -> bytes:
    """One separately encoded stream, made the way the local engine makes its audio."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(sine_pcm(seconds, rate, hz)) + encoder.flush())


def id3v2_tag(padding: int = 300) -> bytes:
    """An ID3v2.4 tag of zero padding (a syncsafe size: 7 bits a byte)."""
    size = bytes((padding >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + size + b"\0" * padding


def reference_boundaries(mp3: bytes) -> list[int]:
    """Frame end offsets, walked with mutagen's own frame parser (an independent count)."""
    file, ends = io.BytesIO(mp3), []
    while file.tell() < len(mp3):
        try:
            MPEGFrame(file)
        except HeaderNotFoundError:
            break
        if file.tell() > len(mp3):
            break
        ends.append(file.tell())
    return ends


def xing_frame(mp3: bytes) -> bytes:
    """A Xing header frame shaped like ``mp3``'s first frame (mono, no CRC), as LAME writes
    for VBR files: it declares a frame count and carries no audio."""
    size = reference_boundaries(mp3)[0]
    side = 17 if mp3[1] & 0x18 == 0x18 else 9  # MPEG-1 or MPEG-2, mono
    body = b"Xing" + struct.pack(">II", 1, len(reference_boundaries(mp3)))
    frame = mp3[:4] + b"\0" * side + body
    return frame + b"\0" * (size - len(frame))


def index_of(data: bytes, fmt: str, sizes: list[int], **kwargs: bool) -> FrameIndex:
    index, at, turn = FrameIndex(fmt, **kwargs), 0, 0
    while at < len(data):
        step = sizes[turn % len(sizes)]
        index.feed(data[at : at + step])
        at, turn = at + step, turn + 1
    return index


def boundaries(index: FrameIndex) -> list[int]:
    return [index.offset(k) for k in range(index.frames_since_mark + 1)]


MPEG1 = ("mp3_44100_128", 44100, 128, 1152)
MPEG2 = ("mp3_22050_32", 22050, 32, 576)


@pytest.mark.parametrize(("fmt", "rate", "kbps", "spf"), [MPEG1, MPEG2])
def test_frame_count_matches_an_independent_frame_walk(
    fmt: str, rate: int, kbps: int, spf: int
) -> None:
    mp3 = encode_mp3(1.5, rate, kbps)
    index = index_of(mp3, fmt, [len(mp3)])
    ends = reference_boundaries(mp3)
    assert (index.sample_rate, index.samples_per_frame) == (rate, spf)
    assert index.frames == len(ends) and index.samples == len(ends) * spf
    assert index.complete_bytes == index.total_bytes == len(mp3) == ends[-1]
    assert boundaries(index) == [0, *ends]
    assert index.broken is None and index.constant_bitrate
    assert index.stream is not None and index.stream.bitrate_kbps == kbps
    assert str(index.stream).endswith(f"{rate} Hz {kbps} kbps mono")


@pytest.mark.parametrize(("fmt", "rate", "kbps", "spf"), [MPEG1, MPEG2])
def test_feeding_in_any_slices_gives_the_same_index(
    fmt: str, rate: int, kbps: int, spf: int
) -> None:
    data = id3v2_tag() + encode_mp3(0.6, rate, kbps)
    whole = index_of(data, fmt, [len(data)])
    randomly = [random.Random(7).randint(1, 900) for _ in range(50)]
    for sizes in ([1], [7], [3, 1000, 2], randomly):
        sliced = index_of(data, fmt, sizes)
        assert (sliced.frames, sliced.samples) == (whole.frames, whole.samples)
        assert sliced.complete_bytes == whole.complete_bytes == len(data)
        assert boundaries(sliced) == boundaries(whole)


def test_a_stream_cut_inside_a_frame_counts_only_whole_frames() -> None:
    mp3 = encode_mp3(0.5)
    ends = reference_boundaries(mp3)
    index = index_of(mp3[: ends[3] + 10], "mp3_22050_32", [5])
    assert index.frames == 4 and index.complete_bytes == ends[3]
    assert index.total_bytes == ends[3] + 10
    index.feed(mp3[ends[3] + 10 :])
    assert index.frames == len(ends)


def test_a_region_starts_at_the_mark_and_answers_its_frame_boundaries() -> None:
    first, second = encode_mp3(0.4), encode_mp3(0.3, hz=300)
    index = FrameIndex("mp3_22050_32")
    index.feed(first + second[:20])  # the mark falls between generations, not inside a frame
    index.mark()
    assert index.frames_since_mark == 0 and index.offset(0) == len(first)
    for at in range(20, len(second), 333):
        index.feed(second[at : at + 333])
    assert index.frames_since_mark == len(reference_boundaries(second))
    assert boundaries(index) == [len(first)] + [
        len(first) + e for e in reference_boundaries(second)
    ]
    for wrong in (-1, index.frames_since_mark + 1):
        with pytest.raises(IndexError):
            index.offset(wrong)


def test_without_offsets_only_the_ends_of_the_region_are_known() -> None:
    mp3 = encode_mp3(0.4)
    index = FrameIndex("mp3_22050_32", keep_offsets=False)
    index.feed(mp3)
    assert index.offset(0) == 0 and index.offset(index.frames) == len(mp3)
    with pytest.raises(IndexError):
        index.offset(1)


def test_a_leading_id3v2_tag_is_passed_over() -> None:
    tag, mp3 = id3v2_tag(5000), encode_mp3(0.4)
    assert id3v2_size(tag) == len(tag)
    index = index_of(tag + mp3, "mp3_22050_32", [7])
    assert index.frames == len(reference_boundaries(mp3))
    assert index.offset(0) == len(tag)  # the first region starts at the audio
    assert index.offset(index.frames) == len(tag) + len(mp3)


def test_a_leading_xing_frame_is_a_header_of_no_samples() -> None:
    mp3 = encode_mp3(0.4)
    for head in (xing_frame(mp3), id3v2_tag() + xing_frame(mp3)):
        index = index_of(head + mp3, "mp3_22050_32", [11])
        assert index.frames == len(reference_boundaries(mp3))
        assert index.samples == index.frames * 576
        assert index.offset(0) == len(head)


@pytest.mark.parametrize("sizes", [[1], [64], [100000]])
def test_bytes_that_are_not_frames_set_broken_and_stop_the_index(sizes: list[int]) -> None:
    mp3 = encode_mp3(0.4)
    index = index_of(mp3 + b"not a frame " * 30 + mp3, "mp3_22050_32", sizes)
    assert index.broken == f"lost MP3 frame sync at byte {len(mp3)}"
    assert index.frames == len(reference_boundaries(mp3))
    assert index.complete_bytes == len(mp3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"RIFF" + b"\0" * 100, "no MP3 frame at byte 0"),
        (encode_mp3(0.2, 44100, 64), "the audio is MP3 at 44100 Hz, not 22050 Hz"),
    ],
)
def test_a_stream_that_is_not_this_mp3_is_broken_from_the_start(data: bytes, reason: str) -> None:
    index = index_of(data, "mp3_22050_32", [3])
    assert (index.broken, index.frames) == (reason, 0)


def test_a_bitrate_change_is_indexed_but_flagged() -> None:
    low, high = encode_mp3(0.3, kbps=32), encode_mp3(0.3, kbps=64)
    index = index_of(low + high, "mp3_22050_32", [500])
    assert index.broken is None and not index.constant_bitrate
    assert index.frames == len(reference_boundaries(low)) + len(reference_boundaries(high))


@pytest.mark.parametrize(("fmt", "width"), [("pcm_16000", 2), ("ulaw_8000", 1), ("alaw_8000", 1)])
def test_pcm_and_g711_units_are_samples(fmt: str, width: int) -> None:
    index = index_of(bytes(1001), fmt, [3, 5])
    assert (index.samples_per_frame, index.total_bytes) == (1, 1001)
    assert index.complete_bytes == 1001 - 1001 % width
    assert index.frames == index.samples == 1001 // width
    index.mark()
    index.feed(bytes(9))
    assert index.offset(0) == 1001 - 1001 % width
    assert index.offset(index.frames_since_mark) == 1010 - 1010 % width
    assert index.offset(2) == index.offset(0) + 2 * width


@pytest.mark.parametrize(
    ("fmt", "can_join", "rate"),
    [
        ("mp3_44100_128", True, 44100),
        ("mp3_22050_32", True, 22050),
        ("pcm_16000", True, 16000),
        ("ulaw_8000", True, 8000),
        ("alaw_8000", True, 8000),
        ("opus_48000_64", False, 48000),
    ],
)
def test_joinable_formats_and_their_rates(fmt: str, can_join: bool, rate: int) -> None:
    assert (joinable(fmt), sample_rate(fmt)) == (can_join, rate)


def test_opus_pages_are_not_indexed() -> None:
    with pytest.raises(ValueError):
        FrameIndex("opus_48000_64")
    with pytest.raises(ValueError):
        joinable("flac_44100")


def test_stream_payload_leaves_out_tags_and_the_header_frame() -> None:
    mp3 = encode_mp3(0.4)
    tag, xing, v1 = id3v2_tag(), xing_frame(mp3), b"TAG" + b"\0" * 125
    data = tag + xing + mp3 + v1
    start, end = stream_payload(data[:4096], data[-128:], len(data), "mp3_22050_32")
    assert data[start:end] == mp3
    assert stream_payload(mp3, mp3[-128:], len(mp3), "mp3_22050_32") == (0, len(mp3))
    assert stream_payload(b"\1\2", b"TAG", 1000, "pcm_16000") == (0, 1000)
    with pytest.raises(ValueError, match=str(len(tag) + FRAME_PROBE)):
        stream_payload(data[: len(tag)], data[-128:], len(data), "mp3_22050_32")


def test_a_long_chapter_is_walked_fast() -> None:
    """150,000 frames (about 65 minutes at 22.05 kHz) fed in WebSocket-sized slices."""
    block = encode_mp3(10.0)
    data = block * (150_000 // len(reference_boundaries(block)) + 1)
    index = FrameIndex("mp3_22050_32")
    began = time.perf_counter()
    for at in range(0, len(data), 16384):
        index.feed(data[at : at + 16384])
    elapsed = time.perf_counter() - began
    assert index.frames >= 150_000 and index.broken is None
    assert elapsed / index.frames < 5e-6  # measured about 0.3 us a frame; bound for slow CI
