"""What listeners and players use, end to end: word timings, subtitles, the one-file book,
player metadata and the podcast feed, made by narrate against the local server."""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from mutagen.id3 import ID3

from narrator.audioformat import FrameIndex
from narrator.local import ServerOptions
from narrator.output.timings import load_timings, timings_name
from tests.helpers import read_manifest, run_cli, server_in_thread, service_args

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "book.md"
ALL = ["--subtitles", "srt,vtt", "--book-file", "mp3", "--abs-metadata"]
FEED_URL = "https://example.org/audio/"
NS = {"itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
      "podcast": "https://podcastindex.org/namespace/1.0"}  # fmt: skip


def frames_seconds(path: Path, fmt: str = "mp3_44100_128") -> float:
    index = FrameIndex(fmt, keep_offsets=False)
    index.feed(path.read_bytes())
    assert index.broken is None
    return index.samples / index.sample_rate


def run(book: Path, out: Path, *args: str) -> int:
    with server_in_thread(ServerOptions()) as server:
        result = run_cli(book, "--out", out, *service_args(server), *args)
        assert result.exit_code == 0, result.output
        return server.stats.characters_received


def srt_cues(text: str) -> list[tuple[str, str, list[str]]]:
    cues = []
    for block in text.strip().split("\n\n"):
        number, times, *lines = block.split("\n")
        assert number.isdigit()
        start, arrow, end = times.split(" ")
        assert arrow == "-->" and "," in start and "," in end
        cues.append((start, end, lines))
    return cues


def seconds_of(stamp: str) -> float:
    hours, minutes, rest = stamp.replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def test_every_output_for_the_example_book_in_one_command(tmp_path: Path) -> None:
    book = shutil.copy(EXAMPLE, tmp_path / "book.md")
    out = tmp_path / "out"
    run(Path(book), out, *ALL, "--feed-url", FEED_URL)
    manifest = read_manifest(out)
    chapters = manifest["chapters"]

    # Word timings: on each file's own timeline, ending with its audio.
    for entry in chapters:
        timings = load_timings(out / timings_name(entry["file"]))
        assert timings.words and timings.text_sha256 == entry["text_sha256"]
        duration = frames_seconds(out / entry["file"])
        assert abs(timings.duration_s - duration) < 0.01
        assert timings.words[-1].end <= duration + 0.05
        assert duration - timings.words[-1].end < 1.5  # eSpeak's own trailing pause
        starts = [w.start for w in timings.words]
        assert starts == sorted(starts)

    # Subtitles: whole phrases, never overlapping, recorded with their hashes.
    for entry in chapters:
        stem = entry["file"].rsplit(".", 1)[0]
        cues = srt_cues((out / f"{stem}.srt").read_text(encoding="utf-8"))
        assert cues
        ends = [seconds_of(end) for _, end, _ in cues]
        assert all(seconds_of(cues[i + 1][0]) >= ends[i] for i in range(len(cues) - 1))
        assert all(len(lines) <= 2 and all(len(x) <= 42 for x in lines) for *_, lines in cues)
        assert (out / f"{stem}.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
        assert set(entry["subtitles"]) == {"srt", "vtt"}

    # The one-file book: chapter marks where the chapter files' frames put them.
    info = manifest["outputs"]["book_file"]
    book_path = out / info["file"]
    tags = ID3(book_path)
    (toc,) = tags.getall("CTOC")
    marks = [tags[f"CHAP:{child}"] for child in toc.child_element_ids]
    at = 0.0
    for mark, entry in zip(marks, chapters, strict=True):
        assert abs(mark.start_time / 1000 - at) < 0.002
        at += frames_seconds(out / entry["file"])
    assert abs(frames_seconds(book_path) - at) < 0.01
    assert tags["TXXX:NARRATOR"].text[0].startswith("narrator ")

    # Audiobookshelf's metadata and the feed read back.
    meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    assert [c["title"] for c in meta["chapters"]][1:] == [c["title"] for c in chapters][1:]
    feed = ET.fromstring((out / "feed.xml").read_bytes())
    (item,) = feed.findall("./channel/item")
    enclosure = item.find("enclosure")
    assert enclosure is not None and enclosure.get("length") == str(book_path.stat().st_size)
    assert enclosure.get("url", "").startswith(FEED_URL)
    assert item.find("podcast:chapters", NS) is not None
    assert item.find("podcast:transcript", NS) is not None


def test_reruns_keep_every_output_and_add_new_ones_without_narrating(tmp_path: Path) -> None:
    book = Path(shutil.copy(EXAMPLE, tmp_path / "book.md"))
    out = tmp_path / "out"
    run(book, out, "--book-file", "mp3")
    book_file = out / read_manifest(out)["outputs"]["book_file"]["file"]
    before = os.stat(book_file)

    sent = run(book, out, *ALL)  # subtitles and metadata for a book narrated earlier
    assert sent == 0
    after = os.stat(book_file)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    srt = sorted(out.glob("*.srt"))
    assert len(srt) == 5
    stamps = [os.stat(p).st_mtime_ns for p in srt]
    assert run(book, out, *ALL) == 0
    assert [os.stat(p).st_mtime_ns for p in srt] == stamps  # unchanged: not rewritten

    # A changed chapter re-narrates that chapter alone and rebuilds the book file.
    book.write_text(book.read_text().replace("The lamp was lit at six.", "The lamp was lit."))
    assert 0 < run(book, out, *ALL) < 500
    assert os.stat(book_file).st_ino != after.st_ino


def test_a_feed_keeps_its_episodes_and_adds_new_documents(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(EXAMPLE, docs / "lighthouse.md")
    out = tmp_path / "out"
    run(docs, out, "--feed-url", FEED_URL, "--subtitles", "vtt")

    def items() -> dict[str, tuple[str, str]]:
        feed = ET.fromstring((out / "feed.xml").read_bytes())
        return {
            i.findtext("title", ""): (i.findtext("guid", ""), i.findtext("pubDate", ""))
            for i in feed.findall("./channel/item")
        }

    first = items()
    assert list(first) == ["The Lighthouse Keeper's Notebook"]
    (docs / "short.md").write_text("# Short Story\n\nIt was a short night. It ended well.\n")
    run(docs, out, "--feed-url", FEED_URL, "--subtitles", "vtt")
    second = items()
    assert len(second) == 2
    assert second["The Lighthouse Keeper's Notebook"] == first["The Lighthouse Keeper's Notebook"]
    feed = ET.fromstring((out / "feed.xml").read_bytes())
    urls = [e.get("url", "") for e in feed.iter("enclosure")]
    assert all(url.startswith(FEED_URL + "lighthouse/") or url.startswith(FEED_URL + "short/")
               for url in urls), urls  # fmt: skip


def test_a_cover_is_written_beside_the_files(tmp_path: Path) -> None:
    png = tmp_path / "art.png"
    png.write_bytes(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4"
            "890000000d4944415478da63f8cfc0f01f0005000201a5f0c2d50000000049454e44ae426082"
        )
    )
    book = Path(shutil.copy(EXAMPLE, tmp_path / "book.md"))
    run(book, tmp_path / "out", "--cover", str(png))
    assert (tmp_path / "out" / "cover.png").read_bytes() == png.read_bytes()


def test_timings_and_subtitles_follow_chapters_that_move(tmp_path: Path) -> None:
    book = Path(shutil.copy(EXAMPLE, tmp_path / "book.md"))
    out = tmp_path / "out"
    run(book, out, "--subtitles", "srt")
    text = book.read_text(encoding="utf-8")
    first = text.index("\n## ")  # a chapter before the others: their files are renamed
    book.write_text(text[:first] + "\n## Prologue\n\nA new beginning.\n" + text[first:])
    sent = run(book, out, "--subtitles", "srt")
    assert sent < 100  # only the new chapter is narrated
    chapters = read_manifest(out)["chapters"]
    names = {p.name for p in out.iterdir()}
    for entry in chapters:
        timings = load_timings(out / timings_name(entry["file"]))
        assert timings.audio == entry["file"] and timings.text_sha256 == entry["text_sha256"]
        assert entry["file"].rsplit(".", 1)[0] + ".srt" in names
    srt = sorted(n for n in names if n.endswith(".srt"))
    assert len(srt) == len(chapters)  # none left under an old name


def test_an_m4b_book_has_every_chapter_where_the_chapter_files_put_it(tmp_path: Path) -> None:
    import av
    from mutagen.mp4 import MP4

    book = Path(shutil.copy(EXAMPLE, tmp_path / "book.md"))
    out = tmp_path / "out"
    run(book, out, "--book-file", "m4b")
    manifest = read_manifest(out)
    path = out / manifest["outputs"]["book_file"]["file"]
    assert path.suffix == ".m4b"
    with av.open(str(path)) as container:
        marks = container.chapters()
        starts = [float(c["start"] * c["time_base"]) for c in marks]
        titles = [c["metadata"]["title"] for c in marks]
    at, expected = 0.0, []
    for entry in manifest["chapters"]:
        expected.append(at)
        at += frames_seconds(out / entry["file"])
    assert len(starts) == len(expected)
    assert all(abs(a - b) < 0.05 for a, b in zip(starts, expected, strict=True))
    assert titles[1:] == [c["title"] for c in manifest["chapters"]][1:]
    tags = MP4(path).tags
    assert tags is not None and tags["\xa9alb"] == ["The Lighthouse Keeper's Notebook"]
