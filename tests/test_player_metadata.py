"""What players read from the files: description, provenance, distinct titles, the cover.

Real files are written by narrator's own tag code and read back with mutagen, as a player
(Audiobookshelf through ffprobe) would find them.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest
from mutagen.id3 import COMM, ID3
from mutagen.oggopus import OggOpus
from mutagen.wave import WAVE

from narrator import __version__
from narrator.errors import OutputError
from narrator.output.tags import (
    Tags,
    chapter_tags,
    distinct_titles,
    matches,
    tag_file,
    vorbis_comments,
    write_cover_file,
)
from narrator.output.writer import AudioWriter, WrittenFile
from narrator.reading.book import Book, Chapter
from narrator.reading.chapters import load_book
from narrator.settings import ParseOptions, RunSettings, ServiceSettings, SpeechSettings
from tests.test_output import encode_mp3, opus_stream, png_bytes, sine_pcm

KEY = "sk-never-in-a-tag"
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64


def settings(tmp_path: Path, fmt: str = "mp3_22050_64") -> RunSettings:
    return RunSettings(
        paths=(),
        out=tmp_path,
        speech=SpeechSettings(voice_id="voice-x", model_id="model-y", output_format=fmt),
        service=ServiceSettings(engine="elevenlabs", api_key=KEY),
    )


def book(*titles: str, title: str = "Notes", description: str | None = None) -> Book:
    chapters = tuple(Chapter(n, t, f"{t}. Text {n}.") for n, t in enumerate(titles, 1))
    return Book(Path("notes.md"), title, "Jane Doe", chapters, description=description)


def commit(folder: Path, name: str, fmt: str, data: bytes, tags: Tags) -> WrittenFile:
    with AudioWriter(folder, name, fmt) as writer:
        writer.write(data)
        return writer.commit(tags)


def mp3_tags(tmp_path: Path, the_book: Book, index: int = 1) -> ID3:
    tags = chapter_tags(settings(tmp_path), the_book, the_book.chapters[index - 1])
    written = commit(tmp_path, f"{index:02d}.mp3", "mp3_22050_64", encode_mp3(sine_pcm(0.3)), tags)
    return ID3(written.path)


def assert_provenance(text: str) -> None:
    assert text == (f"narrator {__version__}; engine elevenlabs; voice voice-x; model model-y")
    assert KEY not in text


# --- mp3 -----------------------------------------------------------------------------------


def test_mp3_without_description_has_no_comment_and_keeps_provenance_apart(
    tmp_path: Path,
) -> None:
    tags = mp3_tags(tmp_path, book("One", "Two"))
    assert tags.getall("COMM") == [] and tags.getall("TDES") == []
    assert_provenance(str(tags["TXXX:NARRATOR"]))


def test_mp3_description_fills_comment_and_tdes(tmp_path: Path) -> None:
    tags = mp3_tags(tmp_path, book("One", description="A keeper's year by the sea."))
    [comment] = tags.getall("COMM")
    assert (comment.desc, comment.text) == ("", ["A keeper's year by the sea."])
    assert tags["TDES"].text == ["A keeper's year by the sea."]
    assert_provenance(str(tags["TXXX:NARRATOR"]))
    assert all(KEY not in str(frame) for frame in tags.values())


def test_retagging_drops_the_old_provenance_comment(tmp_path: Path) -> None:
    """Reused audio is copied with its old tags; the old comment must not survive."""
    the_book = book("One")
    tags = chapter_tags(settings(tmp_path), the_book, the_book.chapters[0])
    written = commit(tmp_path, "a.mp3", "mp3_22050_64", encode_mp3(sine_pcm(0.3)), tags)
    old = ID3(written.path)
    old.add(COMM(encoding=3, lang="eng", desc="narrator", text=["engine local"]))
    old.add(COMM(encoding=3, lang="eng", desc="", text=["an old description"]))
    old.save(v2_version=4)
    tag_file(written.path, "mp3_22050_64", tags)
    assert ID3(written.path).getall("COMM") == []


# --- WAV and Opus --------------------------------------------------------------------------


def test_wav_carries_the_same_id3_frames(tmp_path: Path) -> None:
    the_book = book("One", description="About the sea.")
    tags = chapter_tags(settings(tmp_path, "pcm_16000"), the_book, the_book.chapters[0])
    pcm = struct.pack("<1600h", *([1000, -1000] * 800))
    written = commit(tmp_path, "a.wav", "pcm_16000", pcm, tags)
    frames = WAVE(written.path).tags
    assert frames["TDES"].text == ["About the sea."]
    assert [c.text for c in frames.getall("COMM")] == [["About the sea."]]
    assert_provenance(str(frames["TXXX:NARRATOR"]))
    assert matches(written.path, tags, "pcm_16000")


def test_opus_gets_narrator_comment_and_no_comment_without_description(tmp_path: Path) -> None:
    the_book = book("One")
    tags = chapter_tags(settings(tmp_path, "opus_48000_64"), the_book, the_book.chapters[0])
    written = commit(tmp_path, "a.opus", "opus_48000_64", opus_stream(1), tags)
    audio = OggOpus(written.path)
    assert "COMMENT" not in audio and "DESCRIPTION" not in audio
    assert_provenance(audio["NARRATOR"][0])
    assert matches(written.path, tags, "opus_48000_64")


def test_vorbis_mapping_puts_description_in_comment_and_description() -> None:
    tags = Tags("T", "B", None, 1, 2, "narrator 1; engine local", description="D")
    comments = vorbis_comments(tags)
    assert comments["COMMENT"] == comments["DESCRIPTION"] == "D"
    assert comments["NARRATOR"] == "narrator 1; engine local"
    assert vorbis_comments(Tags("T", "B", None, 1, 2, "p"))["COMMENT"] is None


# --- description from front matter ---------------------------------------------------------


def load(tmp_path: Path, front: str) -> Book:
    path = tmp_path / "book.md"
    path.write_text(f"---\ntitle: Notes\n{front}\n---\n\n## One\n\nText.\n\n## Two\n\nMore.\n")
    return load_book(path, ParseOptions())


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        ("description:   A year by the sea.  ", "A year by the sea."),
        ('description: "Quoted: with a colon"', "Quoted: with a colon"),
        ("description: >\n  Folded over\n  two lines.", "Folded over two lines."),
        ("description: |\n  Line one.\n  Line two.", "Line one.\nLine two."),
        ("description: Plain that\n  runs on.\nauthor: Jane", "Plain that runs on."),
        ("author: Jane", None),
        ("description: ~", None),
    ],
)
def test_front_matter_description_reaches_the_book(
    tmp_path: Path, front: str, expected: str | None
) -> None:
    loaded = load(tmp_path, front)
    assert loaded.description == expected
    assert not any("description" in warning for warning in loaded.warnings)
    assert "year by the sea" not in " ".join(c.text for c in loaded.chapters)


@pytest.mark.parametrize(
    "front", ["description: [a, b]", "description:\n  - a\n  - b", "description: 42"]
)
def test_front_matter_description_that_is_not_text_is_ignored_with_a_warning(
    tmp_path: Path, front: str
) -> None:
    loaded = load(tmp_path, front)
    assert loaded.description is None
    assert "front matter: 'description' is not text; ignored" in loaded.warnings


def test_book_built_without_description_has_none() -> None:
    assert Book(Path("a.txt"), "A", None, (Chapter(1, "A", "a"),)).description is None


# --- distinct titles -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("book_title", "titles", "expected"),
    [
        ("Notes", ["Notes"], ["Notes (1)"]),
        ("Notes", ["notes.", "Other"], ["notes. (1)", "Other"]),
        ("Notes", ["  NOTES!  ", "Notes"], ["NOTES! (1)", "Notes (2)"]),
        ("Book", ["Interlude", "One", "Interlude"], ["Interlude (1)", "One", "Interlude (2)"]),
        ("Book", ["One", "Two", "Three"], ["One", "Two", "Three"]),
        ("Book", ["A", "A", "A (1)"], ["A (2)", "A (3)", "A (1)"]),
        ("Book", [], []),
    ],
)
def test_distinct_titles(book_title: str, titles: list[str], expected: list[str]) -> None:
    result = distinct_titles(book_title, titles)
    assert result == expected
    keys = [t.strip(" .!").casefold() for t in result]
    assert len(set(keys)) == len(keys) and book_title.casefold() not in keys


def test_chapter_title_tag_is_distinct_and_the_file_is_adopted_by_it(tmp_path: Path) -> None:
    the_book = book("Notes", "Interlude", "Interlude")
    run = settings(tmp_path)
    titles = ["Notes (1)", "Interlude (1)", "Interlude (2)"]
    mp3 = encode_mp3(sine_pcm(0.2))
    for chapter, title in zip(the_book.chapters, titles, strict=True):
        tags = chapter_tags(run, the_book, chapter)
        assert tags.title == title and chapter.title in chapter.text  # spoken text unchanged
        written = commit(tmp_path, f"{chapter.index}.mp3", "mp3_22050_64", mp3, tags)
        assert str(ID3(written.path)["TIT2"]) == title
        assert matches(written.path, chapter_tags(run, the_book, chapter), "mp3_22050_64")
        undistinct = dataclasses.replace(tags, title=chapter.title)
        assert not matches(written.path, undistinct, "mp3_22050_64")


# --- a cover beside the files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime", "name"), [(JPEG, "image/jpeg", "cover.jpg"), (b"", "image/png", "cover.png")]
)
def test_cover_file_is_written_atomically(
    tmp_path: Path, data: bytes, mime: str, name: str
) -> None:
    data = data or png_bytes()
    (tmp_path / name).write_bytes(b"an older cover")
    path = write_cover_file(tmp_path, (data, mime))
    assert path == tmp_path / name and path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp file left


def test_cover_of_another_type_replaces_the_old_one(tmp_path: Path) -> None:
    write_cover_file(tmp_path, (JPEG, "image/jpeg"))
    path = write_cover_file(tmp_path, (png_bytes(), "image/png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cover.png"]
    assert path.read_bytes() == png_bytes()


def test_cover_file_refuses_an_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="image/gif"):
        write_cover_file(tmp_path, (b"GIF89a", "image/gif"))
    assert list(tmp_path.iterdir()) == []
