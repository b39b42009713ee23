"""The piece store on a real disk: pieces written, checkpointed, recovered after a kill, joined
into chapter files that are one valid stream, and cleared; durations counted from frames."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import pytest
from mutagen.id3 import ID3
from mutagen.mp3 import MP3

from narrator.errors import OutputError, TaggingError
from narrator.output.audio import audio_duration
from narrator.output.pieces import PIECES_DIR, TIMES, Piece, PieceStore, piece_key
from narrator.output.tags import Tags
from narrator.output.writer import AudioWriter
from tests.test_audioformat import (
    encode_mp3,
    id3v2_tag,
    reference_boundaries,
    sine_pcm,
    xing_frame,
)

MP3_FORMAT = "mp3_22050_32"
KEY = piece_key("a" * 64, "b" * 64)
OTHER = piece_key("a" * 64, "c" * 64)
TAGS = Tags("One", "A Book", "Jane Doe", 1, 3, "engine=local")


def store_of(tmp_path: Path, fmt: str = MP3_FORMAT) -> PieceStore:
    return PieceStore(tmp_path, fmt)


def put(store: PieceStore, start: int, end: int, data: bytes, key: str = KEY) -> Piece:
    with store.open(key, start) as writer:
        for at in range(0, len(data), 1000):
            writer.write(data[at : at + 1000])
        piece = writer.finish(end)
    assert piece is not None
    return piece


def names(store: PieceStore) -> list[str]:
    """The files of the store but timing sidecars, each of which must sit beside its audio."""
    found = sorted(os.listdir(store.folder)) if store.folder.exists() else []
    for name in found:
        if name.endswith(TIMES):
            assert name[: -len(TIMES)] in found, f"{name} outlived its audio"
    return [name for name in found if not name.endswith(TIMES)]


def mp3_frames_after_tag(path: Path) -> int:
    """Frames of a tagged file, counted by mutagen's frame parser past the ID3v2 tag."""
    data = path.read_bytes()
    return len(reference_boundaries(data[ID3(path).size :]))


# --- keys and writers ----------------------------------------------------------------------


def test_the_key_follows_both_the_text_and_the_settings() -> None:
    assert len(KEY) == 24 and set(KEY) <= set("0123456789abcdef")
    assert piece_key("a" * 64, "b" * 64) == KEY  # the same chapter finds its pieces again
    assert len({KEY, OTHER, piece_key("d" * 64, "b" * 64)}) == 3


def test_a_finished_piece_is_found_under_its_name(tmp_path: Path) -> None:
    store, mp3 = store_of(tmp_path), encode_mp3(0.5)
    piece = put(store, 10, 250, mp3)
    assert piece == Piece(KEY, 10, 250, store.folder / f"{KEY}.10-250.piece", len(mp3))
    assert piece.path.read_bytes() == mp3
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert store.found(KEY) == [piece] and store.found(OTHER) == []


def test_found_sorts_by_start_then_longest_first(tmp_path: Path) -> None:
    store, mp3 = store_of(tmp_path), encode_mp3(0.2)
    for start, end in [(50, 90), (0, 20), (0, 50)]:
        put(store, start, end, mp3)
    assert [(p.start, p.end) for p in store.found(KEY)] == [(0, 50), (0, 20), (50, 90)]


def test_while_written_a_piece_is_a_hidden_temp_file(tmp_path: Path) -> None:
    store = store_of(tmp_path)
    with store.open(KEY, 7) as writer:
        writer.write(encode_mp3(0.2))
        [name] = names(store)
        assert name.startswith(f".{KEY}.7.") and name.endswith(".part")
        assert store.found(KEY) == []


def test_checkpoints_rename_and_finish_keeps_only_the_proven_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([100.0, 100.1, 100.5])  # the second checkpoint comes too soon to rename
    monkeypatch.setattr("narrator.output.pieces.time.monotonic", lambda: next(clock))
    store, first, second = store_of(tmp_path), encode_mp3(0.4), encode_mp3(0.4, hz=300)
    with store.open(KEY, 100) as writer:
        writer.write(first)
        writer.checkpoint(140, len(first))
        assert names(store) == [f"{KEY}.100-140.{len(first)}.partial"]
        writer.write(second)
        writer.checkpoint(160, len(first))
        assert names(store) == [f"{KEY}.100-140.{len(first)}.partial"]
        writer.checkpoint(180, len(first + second))
        assert names(store) == [f"{KEY}.100-180.{len(first + second)}.partial"]
        writer.write(b"half a generation")
        piece = writer.finish(180, len(first + second))
    assert piece is not None and piece.bytes == len(first + second)
    assert piece.path.read_bytes() == first + second
    assert names(store) == [f"{KEY}.100-180.piece"]


@pytest.mark.parametrize(("end", "count"), [(150, 0), (100, None), (90, None)])
def test_no_audio_or_no_text_leaves_no_piece(tmp_path: Path, end: int, count: int | None) -> None:
    store = store_of(tmp_path)
    with store.open(KEY, 100) as writer:
        writer.write(encode_mp3(0.2))
        assert writer.finish(end, count) is None
    assert names(store) == []


def test_leaving_without_finish_discards_even_a_checkpointed_piece(tmp_path: Path) -> None:
    store, mp3 = store_of(tmp_path), encode_mp3(0.2)
    with pytest.raises(KeyError), store.open(KEY, 0) as writer:
        writer.write(mp3)
        writer.checkpoint(30, len(mp3))
        raise KeyError("connection lost")
    assert names(store) == []
    with pytest.raises(RuntimeError):
        writer.write(mp3)


def test_a_checkpoint_beyond_the_bytes_written_is_refused(tmp_path: Path) -> None:
    with store_of(tmp_path).open(KEY, 0) as writer:
        writer.write(b"\xff" * 10)
        with pytest.raises(ValueError):
            writer.checkpoint(5, 11)


# --- recovery after a kill -----------------------------------------------------------------

KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from narrator.output.pieces import PieceStore

    folder, key, audio, cut = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    data = audio.read_bytes()
    writer = PieceStore(folder, "mp3_22050_32").open(key, 0)
    writer.write(data[:cut])
    writer.checkpoint(40, cut)
    writer.write(data[cut:])  # partly still in Python's buffer when the process dies
    os._exit(9)
    """
)


def test_a_killed_writers_checkpoint_is_recovered_to_exactly_its_bytes(tmp_path: Path) -> None:
    first, rest = encode_mp3(0.6), encode_mp3(1.0, hz=300)
    audio = tmp_path / "audio.bin"
    audio.write_bytes(first + rest)
    out = tmp_path / "book"
    out.mkdir()
    command = [sys.executable, "-c", KILLED_WRITER, str(out), KEY, str(audio), str(len(first))]
    assert subprocess.run(command, check=False).returncode == 9
    store = store_of(out)
    [name] = names(store)
    assert name == f"{KEY}.0-40.{len(first)}.partial"
    assert (store.folder / name).stat().st_size > len(first)

    [piece] = store.found(KEY)
    assert (piece.start, piece.end, piece.bytes) == (0, 40, len(first))
    assert piece.path.read_bytes() == first
    assert names(store) == [f"{KEY}.0-40.piece"]


def test_a_checkpoint_shorter_than_its_bytes_is_deleted(tmp_path: Path) -> None:
    store, mp3 = store_of(tmp_path), encode_mp3(0.4)
    put(store, 0, 10, mp3, key=OTHER)  # the folder exists
    (store.folder / f"{KEY}.0-40.{len(mp3) + 1}.partial").write_bytes(mp3)
    assert store.found(KEY) == []
    assert names(store) == [f"{OTHER}.0-10.piece"]


def test_a_checkpoint_that_ends_inside_a_frame_is_deleted(tmp_path: Path) -> None:
    store, mp3 = store_of(tmp_path), encode_mp3(0.4)
    put(store, 0, 10, mp3, key=OTHER)
    inside = reference_boundaries(mp3)[2] + 5
    (store.folder / f"{KEY}.0-40.{inside}.partial").write_bytes(mp3)
    (store.folder / f"{KEY}.40-50.100.partial").write_bytes(b"\0" * 200)  # not mp3 at all
    assert store.found(KEY) == []
    assert names(store) == [f"{OTHER}.0-10.piece"]


def test_a_checkpoint_beside_its_finished_piece_gives_way_to_it(tmp_path: Path) -> None:
    store, mp3 = store_of(tmp_path), encode_mp3(0.4)
    piece = put(store, 0, 40, mp3)
    (store.folder / f"{KEY}.0-40.{len(mp3)}.partial").write_bytes(mp3 + b"more")
    assert store.found(KEY) == [piece]
    assert names(store) == [piece.path.name]


def test_other_names_and_links_are_left_alone(tmp_path: Path) -> None:
    store, mp3 = store_of(tmp_path), encode_mp3(0.4)
    piece = put(store, 0, 10, mp3)
    outside = tmp_path / "outside.mp3"
    outside.write_bytes(mp3)
    link = store.folder / f"{KEY}.20-30.{len(mp3)}.partial"
    link.symlink_to(outside)
    (store.folder / f"{KEY}.30-40.piece").symlink_to(outside)
    (store.folder / "notes.txt").write_text("mine")
    assert store.found(KEY) == [piece]
    store.keep_only(set())
    assert names(store) == [link.name, f"{KEY}.30-40.piece", "notes.txt"]
    assert outside.read_bytes() == mp3


@pytest.mark.parametrize("kind", ["link", "file"])
def test_a_pieces_folder_that_is_not_a_folder_is_refused(tmp_path: Path, kind: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / PIECES_DIR
    if kind == "link":
        target.symlink_to(elsewhere)
    else:
        target.write_bytes(b"")
    store = store_of(tmp_path)
    with pytest.raises(OutputError, match=PIECES_DIR):
        store.open(KEY, 0)
    with pytest.raises(OutputError, match=PIECES_DIR):
        store.found(KEY)
    with pytest.raises(OutputError, match=PIECES_DIR):
        store.keep_only(set())
    assert list(elsewhere.iterdir()) == []


def test_keep_only_clears_other_keys_and_leftover_temp_files(tmp_path: Path) -> None:
    store, mp3 = store_of(tmp_path), encode_mp3(0.2)
    kept = put(store, 0, 10, mp3)
    put(store, 0, 10, mp3, key=OTHER)
    (store.folder / f"{OTHER}.10-20.{len(mp3)}.partial").write_bytes(mp3)
    (store.folder / f".{KEY}.10.0123abcd.part").write_bytes(mp3)
    store.keep_only({KEY})
    assert names(store) == [kept.path.name]
    store.keep_only(set())
    assert not store.folder.exists()


# --- joining -------------------------------------------------------------------------------


def test_three_mp3_pieces_join_into_one_valid_stream(tmp_path: Path) -> None:
    store = store_of(tmp_path)
    parts = [encode_mp3(0.7, hz=hz) for hz in (440, 330, 550)]
    header = id3v2_tag() + xing_frame(parts[0])
    pieces = [put(store, 0, 10, header + parts[0]), put(store, 10, 30, parts[1])]
    pieces.append(put(store, 30, 45, parts[2]))
    frames = sum(len(reference_boundaries(part)) for part in parts)

    with AudioWriter(tmp_path, "01 - One.mp3", MP3_FORMAT) as writer:
        samples = store.join(pieces, writer.write)
        info = writer.commit(TAGS)
    data = info.path.read_bytes()
    assert samples == frames * 576
    assert data.count(b"ID3") == 1 and b"Xing" not in data
    assert data.endswith(b"".join(parts))
    assert mp3_frames_after_tag(info.path) == frames
    assert info.duration_s == pytest.approx(frames * 576 / 22050)
    assert MP3(info.path).info.sample_rate == 22050
    store.remove(pieces)
    assert store.folder.exists()  # others may still be writing into it
    store.keep_only(set())
    assert not store.folder.exists()


def test_a_piece_at_another_bitrate_is_refused_naming_it(tmp_path: Path) -> None:
    store = store_of(tmp_path)
    pieces = [put(store, 0, 10, encode_mp3(0.3)), put(store, 10, 20, encode_mp3(0.3, kbps=64))]
    with pytest.raises(OutputError, match=r"10-20\.piece.*64 kbps.*32 kbps"):
        store.join(pieces, lambda block: None)


def test_a_broken_piece_is_refused_naming_it(tmp_path: Path) -> None:
    store, mp3 = store_of(tmp_path), encode_mp3(0.3)
    pieces = [put(store, 0, 10, mp3), put(store, 10, 20, mp3[:500] + b"junk" * 50 + mp3)]
    with pytest.raises(OutputError, match=r"10-20\.piece.*lost MP3 frame sync"):
        store.join(pieces, lambda block: None)
    cut = put(store, 20, 30, mp3[:-5])
    with pytest.raises(OutputError, match=r"20-30\.piece.*ends inside"):
        store.join([cut], lambda block: None)


def test_pcm_pieces_join_under_one_wav_header(tmp_path: Path) -> None:
    store = store_of(tmp_path, "pcm_16000")
    parts = [sine_pcm(0.5, 16000, hz) for hz in (440, 330)]
    pieces = [put(store, 0, 10, parts[0]), put(store, 10, 20, parts[1])]
    with AudioWriter(tmp_path, "01 - One.wav", "pcm_16000") as writer:
        samples = store.join(pieces, writer.write)
        info = writer.commit(TAGS)
    assert samples == sum(len(part) for part in parts) // 2
    assert info.path.read_bytes().count(b"RIFF") == 1
    with wave.open(str(info.path), "rb") as joined:
        assert joined.readframes(joined.getnframes()) == b"".join(parts)
    assert info.duration_s == pytest.approx(samples / 16000)


def test_opus_pieces_cannot_be_joined_but_one_whole_piece_is_taken_as_it_is(
    tmp_path: Path,
) -> None:
    store = store_of(tmp_path, "opus_48000_64")
    ogg = b"OggS" + bytes(60)
    with pytest.raises(ValueError, match="opus"):
        store.join([put(store, 0, 10, ogg), put(store, 10, 20, ogg)], lambda block: None)
    taken: list[bytes] = []
    assert store.join([put(store, 20, 30, ogg)], taken.append) == 0
    assert b"".join(taken) == ogg


# --- durations from frames -----------------------------------------------------------------


@pytest.mark.parametrize(("rate", "kbps", "spf"), [(44100, 128, 1152), (22050, 32, 576)])
def test_mp3_duration_is_counted_in_frames(tmp_path: Path, rate: int, kbps: int, spf: int) -> None:
    mp3 = encode_mp3(1.3, rate, kbps)
    path = tmp_path / "a.mp3"
    path.write_bytes(id3v2_tag(20000) + mp3 + b"TAG" + b"\0" * 125)
    duration = audio_duration(path, f"mp3_{rate}_{kbps}")
    assert duration == len(reference_boundaries(mp3)) * spf / rate


def test_mp3_duration_of_broken_audio_is_a_tagging_error(tmp_path: Path) -> None:
    path = tmp_path / "a.mp3"
    path.write_bytes(encode_mp3(0.3) + b"junk" * 40 + encode_mp3(0.3))
    with pytest.raises(TaggingError, match="lost MP3 frame sync"):
        audio_duration(path, MP3_FORMAT)


def test_timings_follow_their_piece_through_checkpoints_recovery_and_removal(
    tmp_path: Path,
) -> None:
    store, mp3 = store_of(tmp_path), encode_mp3(0.4)
    with store.open(KEY, 10) as writer:
        writer.write(mp3)
        writer.timed([(10, 0.0, 0.1), (11, 0.1, 0.2)])
        writer.checkpoint(20, len(mp3))
        writer.timed([(25, 0.3, 0.35)])  # past the checkpoint: beyond the piece once cut
        piece = writer.finish(20, len(mp3))
    assert piece is not None and piece.times_path.exists()
    assert store.read_times(piece) == [(10, 0.0, 0.1), (11, 0.1, 0.2)]
    partial = store.folder / f"{KEY}.30-40.{len(mp3)}.partial"
    partial.write_bytes(mp3)
    (store.folder / (partial.name + TIMES)).write_text("30 0.0 0.5\n31 0.5 0.6\n35 0.")
    recovered = [p for p in store.found(KEY) if p.start == 30]
    assert store.read_times(recovered[0]) == [(30, 0.0, 0.5), (31, 0.5, 0.6)]
    store.remove([piece, *recovered])
    assert names(store) == [] and os.listdir(store.folder) == []
