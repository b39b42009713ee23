"""Chapters narrated in segments across the pool, resumed inside a segment, paid for once.

Every test runs narrate against the local server on loopback. The tone voice makes audio
whose length follows the text exactly (14.5 voiced characters a second), so a sentence said
twice or skipped shows in the duration of the joined file, read back from its frames.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mutagen.mp3 import MP3

from narrator.audioformat import FrameIndex
from narrator.local import ServerOptions
from narrator.output.pieces import PIECES_DIR
from tests.helpers import per_second, read_manifest, run_cli, server_in_thread, service_args

WORDS = (  # noqa: SIM905 (a word list reads better as prose)
    "river morning garden lantern harbour letter window evening journey mountain silence "
    "stranger promise winter kitchen library carriage orchard thunder whisper village the "
    "of and a to in is that it was for on are as with his they at be this have from"
).split()
#: Voiced characters a second of the tone voice at speed 1.0.
TONE_RATE = 14.5
#: A generation's audio ends on a whole frame; each adds at most one frame (26 ms at 44.1 kHz).
FRAME_S = 1152 / 44100


def prose(seed: int, paragraphs: int, sentences: int = 5) -> str:
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        said = []
        for _ in range(sentences):
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
            said.append(" ".join(words).capitalize() + ".")
        out.append(" ".join(said))
    return "\n\n".join(out)


def write_long_book(path: Path, paragraphs: int = 12, seed: int = 1) -> Path:
    path.write_text(f"# The Long Chapter\n\n{prose(seed, paragraphs)}\n", encoding="utf-8")
    return path


def tone(**options: object) -> ServerOptions:
    return ServerOptions(voice_engine="tone", **options)  # type: ignore[arg-type]


def mp3_seconds(path: Path) -> float:
    """Seconds of audio counted frame by frame, after narrator's ID3 tag."""
    index = FrameIndex("mp3_44100_128", keep_offsets=False)
    index.feed(path.read_bytes())
    assert index.broken is None
    return index.samples / index.sample_rate


def count_id3_headers(path: Path) -> int:
    return path.read_bytes().count(b"ID3\x03") + path.read_bytes().count(b"ID3\x04")


def narrate(book: Path, out: Path, server: object, *args: str) -> None:
    result = run_cli(book, "--out", out, *service_args(server), *args)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output


def test_one_long_chapter_is_cut_across_the_pool_and_joined_exactly(tmp_path: Path) -> None:
    book = write_long_book(tmp_path / "book.md", paragraphs=16)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    with server_in_thread(tone()) as server:
        narrate(book, whole, server, "-j", "4", "--max-segment-chars", "0")
        before = server.stats.characters_received
        narrate(book, cut, server, "-j", "4")
        received = server.stats.characters_received - before
        peak = server.stats.peak_concurrency
    (one,) = read_manifest(whole)["chapters"]
    (many,) = read_manifest(cut)["chapters"]
    assert one["pieces"] == 1 and many["pieces"] == 4
    assert peak >= 2
    assert received == one["characters"] == many["characters"]  # clean: paid once
    a, b = mp3_seconds(whole / one["file"]), mp3_seconds(cut / many["file"])
    assert abs(a - b) < 4 * FRAME_S * 20  # joins and generation ends only
    assert abs(b - many["duration_s"]) < 0.01  # the manifest's duration is the frames'
    assert count_id3_headers(cut / many["file"]) == 1
    assert MP3(cut / many["file"]).info.sample_rate == 44100
    assert not (cut / PIECES_DIR).exists()


def test_a_drop_in_the_middle_of_a_generation_resumes_at_the_last_proven_sentence(
    tmp_path: Path,
) -> None:
    book = write_long_book(tmp_path / "book.md", paragraphs=8)
    clean, dropped = tmp_path / "clean", tmp_path / "dropped"
    with server_in_thread(tone(max_frame_bytes=3000)) as server:
        narrate(book, clean, server, "-j", "1", "--max-segment-chars", "0")
    # A generation is about 17 s of audio (270 KB): 60 frames of 3,000 bytes end inside it,
    # after its first sentences.
    faults = tone(max_frame_bytes=3000, drop_after_frames=60, fault_sessions=2)
    with server_in_thread(faults) as server:
        narrate(book, dropped, server, "-j", "1", "--max-segment-chars", "0", "--retries", "0")
        drops = server.stats.sessions_dropped
    (entry,) = read_manifest(dropped)["chapters"]
    (reference,) = read_manifest(clean)["chapters"]
    assert drops == 2 and entry["pieces"] == 3 and entry["attempts"] == 3
    # Each drop wastes at most the paced window, never the chapter.
    assert entry["characters"] <= reference["characters"] + 2 * 800
    said, expected = entry["duration_s"], reference["duration_s"]
    assert abs(said - expected) < 1.0, "a sentence was said twice or skipped"


@pytest.mark.parametrize("fmt", ["pcm_16000", "mp3_22050_32"])
def test_internal_errors_resume_and_the_join_is_one_stream(tmp_path: Path, fmt: str) -> None:
    book = write_long_book(tmp_path / "book.md", paragraphs=6)
    clean, failed = tmp_path / "clean", tmp_path / "failed"
    with server_in_thread(tone()) as server:
        narrate(book, clean, server, "--max-segment-chars", "0", "--format", fmt)
    with server_in_thread(tone(internal_error_after_frames=3, fault_sessions=3)) as server:
        narrate(book, failed, server, "--max-segment-chars", "0", "--format", fmt)
    (entry,) = read_manifest(failed)["chapters"]
    (reference,) = read_manifest(clean)["chapters"]
    assert entry["pieces"] == 4
    assert abs(entry["duration_s"] - reference["duration_s"]) < 0.6
    data = (failed / entry["file"]).read_bytes()
    if fmt.startswith("pcm"):
        assert data.count(b"RIFF") == 1 and data.count(b"WAVE") == 1
    else:
        assert count_id3_headers(failed / entry["file"]) == 1


def test_sessions_that_keep_voicing_do_not_use_up_the_retries(tmp_path: Path) -> None:
    """Every session drops after one generation; each kept one, so retries are never spent."""
    book = write_long_book(tmp_path / "book.md", paragraphs=4)
    out = tmp_path / "out"
    with server_in_thread(tone(drop_after_frames=1)) as server:
        narrate(book, out, server, "--max-segment-chars", "0", "--retries", "1")
        drops = server.stats.sessions_dropped
    (entry,) = read_manifest(out)["chapters"]
    assert entry["status"] == "done"
    assert drops >= 4 and entry["pieces"] >= 4


def test_progress_moves_smoothly_over_one_chapter(tmp_path: Path) -> None:
    from narrator import narrate
    from narrator.events import Progress, RunStarted
    from narrator.settings import RunSettings, ServiceSettings

    book = write_long_book(tmp_path / "book.md", paragraphs=6)
    events: list[object] = []
    with server_in_thread(tone(chars_per_second=per_second(3000))) as server:
        settings = RunSettings(
            paths=(book,),
            out=tmp_path / "out",
            service=ServiceSettings(engine="elevenlabs", base_url=server.url, api_key="k-1234"),
            concurrency=2,
        )
        asyncio.run(narrate(settings, events.append))
    steps = [e.characters for e in events if isinstance(e, Progress)]
    (entry,) = read_manifest(tmp_path / "out")["chapters"]
    assert len(steps) > 10  # not one jump at the end of the chapter
    (started,) = [e for e in events if isinstance(e, RunStarted)]
    assert sum(steps) == started.characters > 1500
    assert entry["status"] == "done"


def test_dry_run_shows_how_each_chapter_would_be_cut(tmp_path: Path) -> None:
    book = write_long_book(tmp_path / "book.md", paragraphs=16)
    result = run_cli(book, "--out", tmp_path / "out", "--dry-run", "-j", "4")
    assert result.exit_code == 0, result.output
    assert "cut into 4 segments" in result.output
    whole = run_cli(book, "--out", tmp_path / "out", "--dry-run", "--max-segment-chars", "0")
    assert "cut into" not in whole.output


def test_opus_cannot_be_joined_so_chapters_stay_whole(tmp_path: Path) -> None:
    book = write_long_book(tmp_path / "book.md", paragraphs=16)
    with server_in_thread(tone()) as server:
        result = run_cli(
            book, "--out", tmp_path / "out", *service_args(server), "-j", "4",
            "--format", "opus_48000_64",
        )  # fmt: skip
    assert "cannot be joined" in result.output


def test_a_killed_run_keeps_its_pieces_and_the_rerun_pays_only_for_the_rest(
    tmp_path: Path,
) -> None:
    book = write_long_book(tmp_path / "book.md", paragraphs=20)
    out = tmp_path / "out"
    text_chars = len(book.read_text())
    slow = tone(chars_per_second=per_second(400), first_audio_latency_s=0.0)
    with server_in_thread(slow) as server:
        command = [
            sys.executable, "-m", "narrator", str(book), "--out", str(out), "-j", "2",
            *service_args(server),
        ]  # fmt: skip
        env = {**os.environ, "ELEVENLABS_API_KEY": ""}
        child = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while server.stats.characters_received < text_chars // 2:
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        first = server.stats.characters_received
        kept = list((out / PIECES_DIR).iterdir())
        assert kept, "nothing was kept from the killed run"
        narrate(book, out, server, "-j", "2")
        total = server.stats.characters_received
    (entry,) = read_manifest(out)["chapters"]
    assert entry["status"] == "done"
    assert first < text_chars and total <= text_chars * 1.15
    assert not (out / PIECES_DIR).exists()
    # What the killed run paid for reached its manifest as it went, and the rerun kept it
    # (narrate counts a piece when it sends it; the server, when it reads it).
    assert abs(entry["characters"] - total) <= 2_000
    assert entry["attempts"] >= entry["pieces"]


def test_a_run_stopped_by_quota_keeps_its_pieces_for_the_next_and_stale_ones_go(
    tmp_path: Path,
) -> None:
    book = write_long_book(tmp_path / "book.md", paragraphs=8)
    out = tmp_path / "out"
    text_chars = len(book.read_text())
    with server_in_thread(tone(quota_characters=text_chars // 2)) as server:
        result = run_cli(book, "--out", out, *service_args(server), "--max-segment-chars", "0")
    assert result.exit_code == 3, result.output
    kept = sorted(p.name for p in (out / PIECES_DIR).iterdir())
    assert kept and all(name.endswith((".piece", ".piece.times")) for name in kept)
    (stopped,) = read_manifest(out)["chapters"]
    assert stopped["status"] == "pending" and stopped["characters"] > 0

    with server_in_thread(tone()) as server:
        narrate(book, out, server, "--max-segment-chars", "0")
        rest = server.stats.characters_received
    (entry,) = read_manifest(out)["chapters"]
    assert entry["status"] == "done" and entry["pieces"] >= 2
    assert rest < text_chars * 0.75  # only what the pieces did not hold
    assert entry["characters"] == stopped["characters"] + rest
    assert not (out / PIECES_DIR).exists()

    # Pieces whose chapter text changed are of no use: they are removed, not reused.
    with server_in_thread(tone(quota_characters=text_chars // 2)) as server:
        run_cli(book, "--out", out, *service_args(server), "--force", "--max-segment-chars", "0")
    assert any((out / PIECES_DIR).iterdir())
    book.write_text(book.read_text().replace("# The Long Chapter", "# Another Chapter"))
    with server_in_thread(tone()) as server:
        narrate(book, out, server, "--max-segment-chars", "0")
        again = server.stats.characters_received
    assert again >= text_chars * 0.9
    assert not (out / PIECES_DIR).exists()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_third_of_sessions_dropped_and_refused_concurrency_still_finish_the_book(
    tmp_path: Path, seed: int
) -> None:
    book = tmp_path / "book.md"
    book.write_text(
        "\n\n".join(f"# Part {n}\n\n{prose(seed * 10 + n, 6)}" for n in range(1, 5)) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    faults = tone(
        max_frame_bytes=20_000,
        drop_share=0.35,
        drop_within_frames=40,
        fault_seed=seed,
        max_concurrency=2,
        concurrency_mode="refuse",
    )
    with server_in_thread(faults) as server:
        narrate(book, out, server, "-j", "4")
        dropped = server.stats.sessions_dropped
    chapters = read_manifest(out)["chapters"]
    assert [c["status"] for c in chapters] == ["done"] * 4
    assert dropped >= 2  # the faults really happened
    # Each failed session wastes at most what pacing let ahead of the voice, never a chapter.
    failures = sum(c["attempts"] for c in chapters) - len(chapters)
    assert sum(c["characters"] for c in chapters) <= len(book.read_text()) + 800 * failures


def test_word_timings_stay_on_the_files_timeline_across_joins_and_resumes(
    tmp_path: Path,
) -> None:
    """An hour of audio, cut across four sessions and resumed after drops: every word is
    timed once, in order, where the whole-chapter narration puts it, and the last word ends
    with the file."""
    import json

    from narrator.output.timings import load_timings, timings_name

    book = write_long_book(tmp_path / "book.md", paragraphs=400)  # about 52,000 characters
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    fmt = ["--format", "mp3_22050_32"]
    with server_in_thread(tone()) as server:
        narrate(book, whole, server, "-j", "4", "--max-segment-chars", "0", *fmt)
    faults = tone(drop_share=0.3, drop_within_frames=60, fault_seed=5)
    with server_in_thread(faults) as server:
        narrate(book, cut, server, "-j", "4", *fmt)
        assert server.stats.sessions_dropped >= 1
    (one,) = read_manifest(whole)["chapters"]
    (many,) = read_manifest(cut)["chapters"]
    assert many["pieces"] > 4 and one["duration_s"] > 3000
    a = load_timings(whole / timings_name(one["file"]))
    b = load_timings(cut / timings_name(many["file"]))
    assert json.loads((cut / timings_name(many["file"])).read_text())["version"] == 1
    assert [w.offset for w in a.words] == [w.offset for w in b.words]  # each word once
    starts = [w.start for w in b.words]
    assert starts == sorted(starts) and all(w.end >= w.start for w in b.words)
    assert abs(b.words[-1].end - b.duration_s) < 0.1
    assert abs(b.duration_s - many["duration_s"]) < 0.01
    # Joins add at most a frame of padding each; nothing drifts with the hour.
    drift = max(abs(x.start - y.start) for x, y in zip(a.words, b.words, strict=True))
    assert drift < 0.05 * many["pieces"] + 0.1
