"""Chapter files: names, streamed atomic writes, tags read back with mutagen, JSON writes."""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import wave
import zlib
from pathlib import Path
from typing import Any

import lameenc
import mutagen
import pytest
from mutagen.id3 import ID3
from mutagen.mp3 import MP3
from mutagen.ogg import OggPage
from mutagen.oggopus import OggOpus
from mutagen.wave import WAVE

from narrator.errors import OutputError, TaggingError, UsageError
from narrator.output.audio import audio_duration
from narrator.output.files import file_sha256, remove_stale_temp_files, write_json_atomic
from narrator.output.names import chapter_file_names, extension_for
from narrator.output.tags import Tags, read_cover
from narrator.output.writer import AudioWriter

RATE = 22050
TAGS = Tags(
    title="Chapter One: Ä Beginning",
    album="A Book",
    artist="Jane Doe",
    track=3,
    track_total=12,
    provenance="engine=local voice=v1 model=m1",
    description="A short book.",
)


def sine_pcm(seconds: float = 2.0, rate: int = RATE) -> bytes:
    """16-bit little-endian mono sine at 440 Hz."""
    count = int(seconds * rate)
    samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(count))
    return struct.pack(f"<{count}h", *samples)


def encode_mp3(pcm: bytes) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(pcm) + encoder.flush())


def pieces(data: bytes, size: int = 4000) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0\xff\0\0")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def opus_stream(seconds: int = 2) -> bytes:
    """A minimal Ogg Opus stream (headers plus silent packets); no encoder is available."""

    def page(packets: list[bytes], sequence: int, position: int, **flags: bool) -> bytes:
        ogg: Any = OggPage()
        ogg.packets, ogg.sequence, ogg.serial, ogg.position = packets, sequence, 1, position
        for name, value in flags.items():
            setattr(ogg, name, value)
        return bytes(ogg.write())

    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    silence = [b"\xf8\xff\xfe"] * (50 * seconds)
    return (
        page([head], 0, 0, first=True)
        + page([tags], 1, 0)
        + page(silence, 2, 48000 * seconds + 312, last=True)
    )


def write_chapter(folder: Path, name: str, fmt: str, data: bytes, **kwargs: Any) -> Any:
    with AudioWriter(folder, name, fmt) as writer:
        for piece in pieces(data):
            writer.write(piece)
        return writer.commit(TAGS, **kwargs)


# --- formats and names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "extension"),
    [
        ("mp3_44100_128", ".mp3"),
        ("mp3_22050_32", ".mp3"),
        ("pcm_16000", ".wav"),
        ("pcm_44100", ".wav"),
        ("ulaw_8000", ".wav"),
        ("alaw_8000", ".wav"),
        ("opus_48000_64", ".opus"),
    ],
)
def test_extension_follows_output_format(fmt: str, extension: str) -> None:
    assert extension_for(fmt) == extension


def test_unknown_output_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        extension_for("flac_44100")


def test_names_are_numbered_in_order() -> None:
    assert chapter_file_names(["Intro", "The End"], ".mp3") == [
        "01 - Intro.mp3",
        "02 - The End.mp3",
    ]


@pytest.mark.parametrize(("count", "first"), [(9, "01"), (10, "01"), (100, "001"), (1000, "0001")])
def test_number_padding_follows_the_chapter_count(count: int, first: str) -> None:
    names = chapter_file_names([f"t{i}" for i in range(count)], ".mp3")
    assert names[0].startswith(f"{first} - ")
    assert names[-1].startswith(f"{count:0{len(first)}d} - ")
    assert len({name.split(" - ")[0] for name in names}) == count


@pytest.mark.parametrize(
    "title",
    ["../../etc/passwd", "/abs", "a/b", "a\\b", "...", "..", ".", "con", "C:\\x", "\0nul", ""],
)
def test_no_name_leaves_the_folder(title: str, tmp_path: Path) -> None:
    [name] = chapter_file_names([title], ".mp3")
    assert Path(name).name == name
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()
    assert ".." not in name and "/" not in name and "\\" not in name
    assert not any(ch in name for ch in '<>:"|?*') and name.isprintable()
    assert name.startswith("01 - ") and not name[5:].startswith((" ", "."))


def test_hostile_titles_are_sanitised() -> None:
    names = chapter_file_names(
        [
            "../../etc/passwd",
            "",
            "...",
            "a/b",
            'What? <Really> "yes" | no*',
            "Part 1: Go",
            "Wait...",
        ],
        ".mp3",
    )
    assert names == [
        "01 - etc passwd.mp3",
        "02 - Chapter.mp3",
        "03 - Chapter.mp3",
        "04 - a b.mp3",
        "05 - What Really yes no.mp3",
        "06 - Part 1 - Go.mp3",
        "07 - Wait….mp3",
    ]


def test_whitespace_and_control_characters_collapse() -> None:
    [name] = chapter_file_names(["  A\tlong\n\nday\x07 \u202eoff  "], ".wav")
    assert name == "01 - A long day off.wav"


def test_unicode_titles_are_kept() -> None:
    titles = ["Café ünd Straße", "第一章 始まり", "Глава 1", "🎉 Party"]
    names = chapter_file_names(titles, ".mp3")
    assert names == [f"{i:02d} - {t}.mp3" for i, t in enumerate(titles, 1)]


def test_long_titles_are_capped_on_a_word_boundary() -> None:
    title = " ".join(["word"] * 60)
    [name] = chapter_file_names([title], ".mp3")
    stem = name.removeprefix("01 - ").removesuffix(".mp3")
    assert 40 < len(stem) <= 80
    assert title.startswith(stem) and title[len(stem)] == " "


def test_long_wide_titles_stay_under_the_byte_limit() -> None:
    [name] = chapter_file_names(["字" * 300], ".mp3")
    assert len(name.encode()) < 255
    [unbroken] = chapter_file_names(["x" * 300], ".mp3")
    assert unbroken == "01 - " + "x" * 80 + ".mp3"


def test_duplicate_titles_get_distinct_names_even_ignoring_case() -> None:
    names = chapter_file_names(["Intro", "Intro", "INTRO", "intro"], ".mp3")
    assert len({name.casefold() for name in names}) == 4


def test_names_follow_reading_order_and_leave_the_titles_alone() -> None:
    titles = ["b", "a", "b"]
    assert chapter_file_names(titles, ".mp3") == ["01 - b.mp3", "02 - a.mp3", "03 - b.mp3"]
    assert titles == ["b", "a", "b"]


# --- mp3 -----------------------------------------------------------------------------------


def test_mp3_is_tagged_and_described_by_its_final_bytes(tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    cover.write_bytes(png_bytes())
    mp3 = encode_mp3(sine_pcm())
    with AudioWriter(tmp_path, "03 - One.mp3", "mp3_22050_64") as writer:
        for piece in pieces(mp3):
            writer.write(piece)
        info = writer.commit(TAGS, read_cover(cover))

    final = tmp_path / "03 - One.mp3"
    assert info.path == final
    assert info.bytes == final.stat().st_size > len(mp3)
    assert info.sha256 == hashlib.sha256(final.read_bytes()).hexdigest()
    assert info.duration_s == pytest.approx(2.0, abs=0.15)
    assert MP3(final).info.length == pytest.approx(2.0, abs=0.15)

    tags = ID3(final)
    assert tags.version[:2] == (2, 4)
    assert tags["TIT2"].text == [TAGS.title]
    assert tags["TALB"].text == ["A Book"]
    assert tags["TPE1"].text == ["Jane Doe"]
    assert tags["TPE2"].text == ["Jane Doe"]
    assert tags["TRCK"].text == ["3/12"]
    assert tags["TCON"].text == ["Audiobook"]
    [comment] = tags.getall("COMM")
    assert (comment.lang, comment.desc, comment.text) == ("eng", "", ["A short book."])
    assert tags["TXXX:NARRATOR"].text == [TAGS.provenance]
    [picture] = tags.getall("APIC")
    assert (picture.mime, picture.type, picture.data) == ("image/png", 3, png_bytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["03 - One.mp3", "cover.png"]


def test_jpeg_cover_is_recognised_by_its_bytes(tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"  # the name lies; the bytes decide
    cover.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    mp3 = encode_mp3(sine_pcm(0.5))
    info = write_chapter(tmp_path, "a.mp3", "mp3_22050_64", mp3, cover=read_cover(cover))
    [picture] = ID3(info.path).getall("APIC")
    assert picture.mime == "image/jpeg"


def test_missing_artist_writes_no_artist_frames(tmp_path: Path) -> None:
    with AudioWriter(tmp_path, "a.mp3", "mp3_22050_64") as writer:
        writer.write(encode_mp3(sine_pcm(0.5)))
        info = writer.commit(Tags("T", "B", None, 1, 1, "c"))
    tags = ID3(info.path)
    assert "TPE1" not in tags and "TPE2" not in tags
    assert tags["TRCK"].text == ["1/1"]


def test_final_name_appears_only_at_commit(tmp_path: Path) -> None:
    final = tmp_path / "01 - A.mp3"
    with AudioWriter(tmp_path, final.name, "mp3_22050_64") as writer:
        for piece in pieces(encode_mp3(sine_pcm(1.0))):
            writer.write(piece)
            assert not final.exists()
            [temp] = tmp_path.iterdir()
            assert temp.name.startswith(".01 - A.mp3.") and temp.name.endswith(".part")
        writer.commit(TAGS)
        assert [p.name for p in tmp_path.iterdir()] == [final.name]


def test_an_exception_discards_the_temp_file(tmp_path: Path) -> None:
    with pytest.raises(KeyError), AudioWriter(tmp_path, "a.mp3", "mp3_22050_64") as writer:
        writer.write(b"partial audio")
        raise KeyError("connection lost")
    assert list(tmp_path.iterdir()) == []


def test_leaving_without_commit_discards_the_temp_file(tmp_path: Path) -> None:
    with AudioWriter(tmp_path, "a.mp3", "mp3_22050_64") as writer:
        writer.write(b"partial audio")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        writer.write(b"more")


def test_commit_replaces_an_older_file(tmp_path: Path) -> None:
    (tmp_path / "a.mp3").write_bytes(b"old")
    info = write_chapter(tmp_path, "a.mp3", "mp3_22050_64", encode_mp3(sine_pcm(0.5)))
    assert info.bytes > 3 and info.sha256 == file_sha256(tmp_path / "a.mp3")


# --- foreign errors become OutputError -----------------------------------------------------


def test_corrupt_audio_raises_tagging_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TaggingError) as caught:
        write_chapter(tmp_path, "a.mp3", "mp3_22050_64", b"this is not an mp3 stream" * 10)
    assert isinstance(caught.value, OutputError)
    assert isinstance(caught.value.__cause__, mutagen.MutagenError)
    assert ".part" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_non_image_cover_is_an_output_error_naming_the_file(tmp_path: Path) -> None:
    cover = tmp_path / "cover.jpg"
    cover.write_text("not an image")
    with pytest.raises(OutputError, match=re.escape("cover.jpg")):
        read_cover(cover)


def test_unreadable_cover_is_an_output_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=re.escape("missing.png")) as caught:
        read_cover(tmp_path / "missing.png")
    assert isinstance(caught.value.__cause__, OSError)


def test_missing_folder_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="nowhere"):
        AudioWriter(tmp_path / "nowhere", "a.mp3", "mp3_22050_64")


def test_a_name_with_a_separator_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        AudioWriter(tmp_path, "../a.mp3", "mp3_22050_64")


@pytest.mark.parametrize("fmt", ["mp3_22050_64", "pcm_16000", "opus_48000_64"])
def test_duration_of_a_non_audio_file_is_an_output_error(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"RIFX" + b"\x01" * 100)
    with pytest.raises(OutputError):
        audio_duration(path, fmt)
    with pytest.raises(OutputError, match="gone"):
        audio_duration(tmp_path / "gone", fmt)


# --- wav and opus --------------------------------------------------------------------------


def test_pcm_wav_opens_with_the_wave_module(tmp_path: Path) -> None:
    pcm = sine_pcm(2.0, 16000)
    info = write_chapter(tmp_path, "a.wav", "pcm_16000", pcm)
    with wave.open(str(info.path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.readframes(wav.getnframes()) == pcm
    assert info.duration_s == pytest.approx(2.0)
    assert WAVE(info.path).tags["TIT2"].text == [TAGS.title]
    assert WAVE(info.path).tags["TRCK"].text == ["3/12"]
    assert info.sha256 == file_sha256(info.path)


@pytest.mark.parametrize(("fmt", "codec"), [("ulaw_8000", 7), ("alaw_8000", 6)])
def test_g711_wav_header_names_its_codec(tmp_path: Path, fmt: str, codec: int) -> None:
    payload = bytes(range(256)) * 31 + b"\x7f"  # odd length: the chunk needs a pad byte
    info = write_chapter(tmp_path, "a.wav", fmt, payload)
    raw = info.path.read_bytes()
    riff, riff_size, kind = struct.unpack("<4sI4s", raw[:12])
    assert (riff, kind, riff_size) == (b"RIFF", b"WAVE", len(raw) - 8)
    fmt_chunk = struct.unpack("<4sIHHIIHH", raw[12:36])
    assert fmt_chunk == (b"fmt ", 16, codec, 1, 8000, 8000, 1, 8)
    assert struct.unpack("<4sI", raw[36:44]) == (b"data", len(payload))
    assert raw[44 : 44 + len(payload)] == payload
    assert info.duration_s == pytest.approx(len(payload) / 8000)
    assert WAVE(info.path).tags["TALB"].text == ["A Book"]


def test_opus_gets_vorbis_comments(tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    cover.write_bytes(png_bytes())
    picture = read_cover(cover)
    info = write_chapter(tmp_path, "a.opus", "opus_48000_64", opus_stream(), cover=picture)
    audio = OggOpus(info.path)
    assert audio["TITLE"] == [TAGS.title]
    assert audio["ALBUM"] == ["A Book"]
    assert audio["ARTIST"] == audio["ALBUMARTIST"] == ["Jane Doe"]
    assert (audio["TRACKNUMBER"], audio["TRACKTOTAL"]) == (["3"], ["12"])
    assert audio["GENRE"] == ["Audiobook"]
    assert audio["COMMENT"] == audio["DESCRIPTION"] == ["A short book."]
    assert audio["NARRATOR"] == [TAGS.provenance]
    assert "METADATA_BLOCK_PICTURE" in audio
    assert info.duration_s == pytest.approx(2.0)


# --- temp files, json, hashes --------------------------------------------------------------


def test_stale_temp_files_are_removed(tmp_path: Path) -> None:
    stale = [tmp_path / ".01 - A.mp3.1a2b3c4d.part", tmp_path / ".manifest.json.ffff0000.part"]
    keep = [
        *(tmp_path / "01 - A.mp3", tmp_path / ".hidden", tmp_path / "notes.part"),
        *(tmp_path / ".notes.part", tmp_path / ".01 - A.mp3.1a2b.part"),
    ]
    for path in stale + keep:
        path.write_bytes(b"x")
    (tmp_path / ".dir.part").mkdir()
    assert remove_stale_temp_files(tmp_path) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted([*keep, tmp_path / ".dir.part"])
    assert remove_stale_temp_files(tmp_path) == []


def test_json_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text("old")
    data = {"title": "Café 第一章", "chapters": [1, 2], "none": None}
    write_json_atomic(path, data)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == data
    assert text.endswith("}\n") and "Café 第一章" in text and '\n  "chapters"' in text
    assert list(tmp_path.iterdir()) == [path]


def test_json_into_a_missing_folder_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="nowhere"):
        write_json_atomic(tmp_path / "nowhere" / "m.json", {})


def test_unserialisable_json_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{}")
    with pytest.raises(TypeError):
        write_json_atomic(path, {"x": object()})
    assert path.read_text() == "{}" and list(tmp_path.iterdir()) == [path]


def test_file_sha256_streams_large_files(tmp_path: Path) -> None:
    path = tmp_path / "big"
    data = bytes(range(256)) * 9000  # more than one 1 MiB block
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    with pytest.raises(OutputError, match="missing"):
        file_sha256(tmp_path / "missing")


def test_a_failed_fsync_leaves_the_old_manifest_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "manifest.json"
    write_json_atomic(target, {"version": 1, "chapters": ["old"]})
    before = target.read_bytes()

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("narrator.output.files.os.fsync", failing_fsync)
    with pytest.raises(OutputError, match="No space left on device"):
        write_json_atomic(target, {"version": 1, "chapters": ["new"] * 1000})
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]
