"""One file per book, built from real chapter mp3 files on disk (LAME-encoded, ID3-tagged)."""

from __future__ import annotations

import hashlib
import math
import struct
import sys
import zlib
from array import array
from pathlib import Path

import av
import lameenc
import pytest
from mutagen import id3
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, MP4Cover

from narrator.audioformat import FrameIndex, id3v2_size
from narrator.errors import OutputError, UsageError
from narrator.local.encode import split_mp3_frames
from narrator.output.bookfile import (
    BookFile,
    BookPart,
    BookTags,
    write_m4b_book,
    write_mp3_book,
)
from narrator.output.tags import Tags, tag_file

SECONDS = (1.3, 2.1, 0.7)
TITLES = ("The Beginning", "Middle Matters", "Épilogue")
PROVENANCE = "narrator 1.0; engine local; voice v1; model m1"


def _png() -> bytes:
    """A valid 1x1 PNG, so a player or FFmpeg reading the cover finds a real image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


COVER = (_png(), "image/png")


def _mp3(seconds: float, rate: int, kbps: int, freq: float) -> bytes:
    """A mono tone with a little noise, LAME-encoded as narrator's local engine does it."""
    count = int(seconds * rate)
    pcm = array(
        "h",
        (
            int(6000 * math.sin(2 * math.pi * freq * i / rate)) + (i * 7919) % 601 - 300
            for i in range(count)
        ),
    )
    if sys.byteorder == "big":
        pcm.byteswap()
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(rate)
    encoder.set_out_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    encoder.silence()
    return bytes(encoder.encode(pcm.tobytes())) + bytes(encoder.flush())


def _info_frame(audio: bytes, rate: int) -> bytes:
    """A copy of the first frame marked as an Info header, as some encoders write one."""
    first = split_mp3_frames(audio)[0]
    at = 4 + (17 if rate >= 32000 else 9)  # after a mono frame's side information
    return first[:at] + b"Info" + bytes(len(first) - at - 4)


def _chapter(
    folder: Path,
    number: int,
    *,
    rate: int = 44100,
    kbps: int = 128,
    seconds: float | None = None,
    info_frame: bool = False,
    id3v1: bool = False,
) -> Path:
    """A chapter file as narrator writes one: frames under an ID3v2.4 tag (with a cover)."""
    folder.mkdir(exist_ok=True)
    path = folder / f"{number:02d} - chapter {rate} {kbps}.mp3"
    audio = _mp3(seconds or SECONDS[number - 1], rate, kbps, 220.0 * number)
    path.write_bytes((_info_frame(audio, rate) if info_frame else b"") + audio)
    tags = Tags(TITLES[number - 1], "The Book", "A. Writer", number, 3, "provenance")
    tag_file(path, f"mp3_{rate}_{kbps}", tags, COVER)
    if id3v1:
        with path.open("ab") as file:
            file.write(b"TAG" + bytes(125))
    return path


def _parts(folder: Path, rate: int = 44100, kbps: int = 128) -> list[BookPart]:
    paths = [
        _chapter(folder, 1, rate=rate, kbps=kbps, info_frame=True),
        _chapter(folder, 2, rate=rate, kbps=kbps, id3v1=True),
        _chapter(folder, 3, rate=rate, kbps=kbps),
    ]
    return [BookPart(path, title) for path, title in zip(paths, TITLES, strict=True)]


def _samples(path: Path) -> tuple[int, int]:
    """Samples and rate of a chapter file, counted by FrameIndex (its ID3v1 tail cut off)."""
    data = path.read_bytes()
    if data[-128:-125] == b"TAG":
        data = data[:-128]
    rate = 44100 if b"44100" in path.name.encode() else 22050
    index = FrameIndex(f"mp3_{rate}_0")
    index.feed(data)
    assert index.broken is None
    return index.samples, rate


def _expected_starts(parts: list[BookPart]) -> tuple[list[int], int]:
    """Each chapter's start and the book's end, in samples, from the chapter files' frames."""
    bounds, rate = [0], 0
    for part in parts:
        samples, rate = _samples(part.path)
        bounds.append(bounds[-1] + samples)
    return bounds, rate


def _ms(samples: int, rate: int) -> int:
    return round(samples * 1000 / rate)


def _book_tags(description: str | None = None, author: str | None = "A. Writer") -> BookTags:
    return BookTags("The Book", author, description, PROVENANCE)


def _only_file(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(("rate", "kbps"), [(44100, 128), (22050, 32)])
def test_mp3_book_joins_bare_frames_under_one_tag(tmp_path: Path, rate: int, kbps: int) -> None:
    parts = _parts(tmp_path / "chapters", rate, kbps)
    book = tmp_path / "book"
    book.mkdir()
    result = write_mp3_book(book, "The Book.mp3", parts, _book_tags(), COVER)

    data = result.path.read_bytes()
    assert result.path == book / "The Book.mp3" and _only_file(book) == ["The Book.mp3"]
    assert result.bytes == len(data) and result.sha256 == hashlib.sha256(data).hexdigest()
    assert data[:4] == b"ID3\x03" and b"ID3\x04" not in data
    assert b"Xing" not in data and b"Info" not in data[id3v2_size(data) :]
    assert data[-128:-125] != b"TAG"
    index = FrameIndex(f"mp3_{rate}_{kbps}")
    index.feed(data)  # one run of frames from the tag to the end: no tag or header inside
    bounds, _ = _expected_starts(parts)
    assert index.broken is None and index.complete_bytes == len(data)
    assert index.samples == bounds[-1]
    assert result.duration_s == pytest.approx(bounds[-1] / rate)
    assert result.starts == pytest.approx([b / rate for b in bounds[:-1]])


def test_mp3_book_chapter_frames_follow_the_frame_counts(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "chapters")
    result = write_mp3_book(tmp_path, "The Book.mp3", parts, _book_tags(), COVER)

    tags = MP3(result.path).tags
    assert tags.version == (2, 3, 0)
    toc = tags["CTOC:toc"]
    assert toc.flags == id3.CTOCFlags.TOP_LEVEL | id3.CTOCFlags.ORDERED
    assert toc.child_element_ids == ["ch01", "ch02", "ch03"]
    assert toc.sub_frames["TIT2"].text == ["The Book"]
    assert len(tags.getall("CTOC")) == 1
    bounds, rate = _expected_starts(parts)
    for number, title in enumerate(TITLES):
        chap = tags[f"CHAP:ch{number + 1:02d}"]
        assert chap.sub_frames["TIT2"].text == [title]
        assert chap.start_time == _ms(bounds[number], rate)
        assert chap.end_time == _ms(bounds[number + 1], rate)
        assert (chap.start_offset, chap.end_offset) == (0xFFFFFFFF, 0xFFFFFFFF)
    assert tags["CHAP:ch03"].end_time == round(result.duration_s * 1000)
    titles, starts, _, _ = _aac_chapters(result.path)  # FFmpeg's mp3 demuxer, through PyAV
    assert titles == list(TITLES)
    assert starts == pytest.approx([_ms(b, rate) / 1000 for b in bounds[:-1]])


def test_mp3_book_tags_read_back_without_a_description(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "chapters")
    result = write_mp3_book(tmp_path, "The Book.mp3", parts, _book_tags(), COVER)

    tags = MP3(result.path).tags
    assert tags["TIT2"].text == ["The Book"] and tags["TALB"].text == ["The Book"]
    assert tags["TPE1"].text == ["A. Writer"] and tags["TPE2"].text == ["A. Writer"]
    assert tags["TCON"].text == ["Audiobook"]
    assert tags["TXXX:NARRATOR"].text == [PROVENANCE]
    (picture,) = tags.getall("APIC")
    assert (picture.data, picture.mime, picture.type) == (COVER[0], "image/png", 3)
    assert tags.getall("COMM") == [] and tags.getall("TDES") == []
    assert "TRCK" not in tags


def test_mp3_book_description_goes_to_comment_and_tdes(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "chapters", 22050, 32)
    tags_in = _book_tags("A tale of three tones.", author=None)
    result = write_mp3_book(tmp_path, "The Book.mp3", parts, tags_in, None)

    tags = MP3(result.path).tags
    (comment,) = tags.getall("COMM")
    assert (comment.lang, comment.desc, comment.text) == ("eng", "", ["A tale of three tones."])
    assert tags["TDES"].text == ["A tale of three tones."]
    assert PROVENANCE not in str(comment.text)
    assert tags.getall("APIC") == [] and tags.getall("TPE1") == []


@pytest.mark.parametrize(("rate", "kbps"), [(44100, 64), (22050, 32)])
def test_mp3_book_refuses_a_part_of_another_stream(tmp_path: Path, rate: int, kbps: int) -> None:
    parts = _parts(tmp_path / "chapters")
    odd = _chapter(tmp_path / "odd", 2, rate=rate, kbps=kbps)
    parts[1] = BookPart(odd, "Odd")
    book = tmp_path / "book"
    book.mkdir()
    with pytest.raises(OutputError, match="cannot join") as caught:
        write_mp3_book(book, "The Book.mp3", parts, _book_tags(), COVER)
    assert str(odd) in str(caught.value)
    assert _only_file(book) == []


@pytest.mark.parametrize("content", [b"", b"not an mp3 at all" * 100, None])
def test_mp3_book_refuses_an_unreadable_part(tmp_path: Path, content: bytes | None) -> None:
    parts = _parts(tmp_path / "chapters")
    bad = tmp_path / "bad.mp3"
    if content is not None:
        bad.write_bytes(content)
    parts[2] = BookPart(bad, "Bad")
    book = tmp_path / "book"
    book.mkdir()
    with pytest.raises(OutputError) as caught:
        write_mp3_book(book, "The Book.mp3", parts, _book_tags(), None)
    assert str(bad) in str(caught.value)
    assert _only_file(book) == []


def test_mp3_book_refuses_a_part_cut_inside_a_frame(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "chapters")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(parts[2].path.read_bytes()[:-100])
    parts[2] = BookPart(cut, "Cut")
    with pytest.raises(OutputError, match="inside an MP3 frame"):
        write_mp3_book(tmp_path, "The Book.mp3", parts, _book_tags(), None)
    assert not list(tmp_path.glob(".*"))


def _aac_chapters(path: Path) -> tuple[list[str], list[float], float, list[str]]:
    """Chapter titles, starts, duration and audio codecs as FFmpeg reads them."""
    with av.open(str(path)) as container:
        chapters = container.chapters()
        titles = [c["metadata"]["title"] for c in chapters]
        starts = [float(c["start"] * c["time_base"]) for c in chapters]
        assert container.duration is not None
        duration = container.duration / av.time_base
        codecs = [s.codec_context.name for s in container.streams.audio]
    return titles, starts, duration, codecs


def test_m4b_book_has_aac_chapters_and_tags(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "chapters")
    book = tmp_path / "book"
    book.mkdir()
    tags_in = _book_tags("A tale of three tones.")
    result = write_m4b_book(book, "The Book.m4b", parts, tags_in, COVER)

    assert isinstance(result, BookFile) and _only_file(book) == ["The Book.m4b"]
    data = result.path.read_bytes()
    assert result.bytes == len(data) and result.sha256 == hashlib.sha256(data).hexdigest()
    bounds, rate = _expected_starts(parts)
    titles, starts, duration, codecs = _aac_chapters(result.path)
    assert codecs == ["aac"]
    assert duration == pytest.approx(bounds[-1] / rate, abs=0.1)
    assert result.duration_s == pytest.approx(duration)
    assert titles == list(TITLES)
    assert starts == pytest.approx([b / rate for b in bounds[:-1]], abs=0.05)
    assert list(result.starts) == pytest.approx(starts, abs=0.05)

    mp4 = MP4(result.path)
    assert [c.title for c in mp4.chapters] == list(TITLES)
    tags = mp4.tags
    assert tags["\xa9nam"] == ["The Book"] and tags["\xa9alb"] == ["The Book"]
    assert tags["\xa9ART"] == ["A. Writer"] and tags["aART"] == ["A. Writer"]
    assert tags["\xa9gen"] == ["Audiobook"]
    assert tags["desc"] == ["A tale of three tones."]
    assert tags["\xa9cmt"] == ["A tale of three tones."]
    (cover,) = tags["covr"]
    assert bytes(cover) == COVER[0] and cover.imageformat == MP4Cover.FORMAT_PNG
    (provenance,) = tags["----:com.apple.iTunes:NARRATOR"]
    assert bytes(provenance).decode("utf-8") == PROVENANCE


def test_m4b_book_without_description_or_cover(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "chapters", 22050, 32)
    result = write_m4b_book(tmp_path, "The Book.m4b", parts, _book_tags(), None)

    tags = MP4(result.path).tags
    assert "desc" not in tags and "\xa9cmt" not in tags and "covr" not in tags
    bounds, rate = _expected_starts(parts)
    assert list(result.starts) == pytest.approx([b / rate for b in bounds[:-1]], abs=0.05)


def test_m4b_book_refuses_an_unreadable_part(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "chapters")
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"not audio" * 200)
    parts[1] = BookPart(bad, "Bad")
    book = tmp_path / "book"
    book.mkdir()
    with pytest.raises(OutputError) as caught:
        write_m4b_book(book, "The Book.m4b", parts, _book_tags(), None)
    assert str(bad) in str(caught.value)
    assert _only_file(book) == []


def test_m4b_book_without_pyav_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = [BookPart(tmp_path / "01.mp3", "One")]
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(UsageError) as caught:
        write_m4b_book(tmp_path, "The Book.m4b", parts, _book_tags(), None)
    assert str(caught.value) == '--book-file m4b needs PyAV: pip install "narrator[m4b]"'
    assert caught.value.exit_code == 2
    assert _only_file(tmp_path) == []
