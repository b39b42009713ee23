"""Segmented generations and the faults that cut them: frame counts, random drops, stats."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from narrator.local import LocalServer, ServerOptions
from narrator.local.encode import split_mp3_frames

from .wire import (
    BOS,
    EOS,
    SENTENCE,
    ServerFactory,
    audio_frames,
    audio_of,
    narrate,
    next_message,
    rest_of_session,
    stream_url,
)

LONG = SENTENCE * 4
PARTS = (LONG, "A second, shorter generation follows the first one. ")
PIECE = 1000


async def _generations(server: LocalServer, parts: tuple[str, ...] = PARTS) -> list[Any]:
    """A session with one flushed generation per part; every message received."""
    async with connect(stream_url(server), max_size=2**24) as ws:
        await ws.send(BOS)
        for part in parts:
            await ws.send(json.dumps({"text": part, "flush": True}))
        await ws.send(EOS)
        return await rest_of_session(ws)


def _grouped(frames: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Audio frames grouped by generation: a frame with timing starts a new one."""
    groups: list[list[dict[str, Any]]] = []
    for frame in frames:
        if frame["alignment"] is not None:
            groups.append([])
        groups[-1].append(frame)
    return groups


@pytest.mark.parametrize("engine", ["tone", "espeak"])
async def test_max_frame_bytes_splits_generations_with_timing_on_the_first_frame_only(
    local_server: ServerFactory, engine: str
) -> None:
    async with local_server(voice_engine=engine) as whole_server:
        whole = await _generations(whole_server)
    async with local_server(voice_engine=engine, max_frame_bytes=PIECE) as split_server:
        split = await _generations(split_server)
        assert split_server.stats.audio_frames_sent == len(audio_frames(split))
    assert split[-1] == whole[-1]  # the same final frame
    generations = _grouped(audio_frames(split))
    assert [len(g) for g in _grouped(audio_frames(whole))] == [1, 1]
    assert len(generations) == 2 and len(generations[0]) > 2
    for generation, part in zip(generations, PARTS, strict=True):
        first, *rest = generation
        assert "".join(first["alignment"]["chars"]) == part
        assert first["normalizedAlignment"] is not None
        assert all(f["alignment"] is None and f["normalizedAlignment"] is None for f in rest)
        assert all(f["isFinal"] is None for f in generation)
        sizes = [len(audio_of([f])) for f in generation]
        assert all(size == PIECE for size in sizes[:-1]) and 0 < sizes[-1] <= PIECE
    assert audio_of(split) == audio_of(whole)
    assert b"".join(split_mp3_frames(audio_of(split))) == audio_of(whole)


async def test_drop_after_frames_can_cut_a_generation_in_the_middle(
    local_server: ServerFactory,
) -> None:
    async with local_server(voice_engine="tone") as whole_server:
        whole, _ = await narrate(whole_server, LONG)
    assert len(audio_of(whole)) > 3 * PIECE  # the drop below falls inside the generation
    options: dict[str, Any] = {"voice_engine": "tone", "max_frame_bytes": PIECE}
    async with (
        local_server(drop_after_frames=2, **options) as server,
        connect(stream_url(server)) as ws,
    ):
        await ws.send(BOS)
        await ws.send(json.dumps({"text": LONG, "flush": True}))
        first, second = await next_message(ws), await next_message(ws)
        with pytest.raises(ConnectionClosedError) as closed:
            await next_message(ws)
    assert closed.value.rcvd is None
    assert "".join(first["alignment"]["chars"]) == LONG
    assert second["alignment"] is None and second["normalizedAlignment"] is None
    assert audio_of([first, second]) == audio_of(whole)[: 2 * PIECE]
    assert server.stats.audio_frames_sent == 2
    assert (server.stats.sessions_dropped, server.stats.sessions_failed) == (1, 0)


async def test_internal_error_after_frames_counts_frames_inside_a_generation(
    local_server: ServerFactory,
) -> None:
    options: dict[str, Any] = {"voice_engine": "tone", "max_frame_bytes": PIECE}
    async with local_server(internal_error_after_frames=3, **options) as server:
        messages, ws = await narrate(server, LONG)
    assert len(audio_frames(messages)) == 3
    assert messages[-1]["error"] == "internal_server_error"
    assert ws.close_code == 1011
    assert (server.stats.sessions_failed, server.stats.sessions_dropped) == (1, 0)


async def _sessions(server: LocalServer, count: int) -> list[tuple[int, bool]]:
    """Run ``count`` sessions one after another: audio frames each got, and whether it ended
    normally (a final frame and close 1000) rather than by a drop (no close frame)."""
    outcomes: list[tuple[int, bool]] = []
    for _ in range(count):
        messages, ws = await narrate(server, LONG)
        completed = bool(messages) and messages[-1].get("isFinal") is True
        assert completed == (ws.close_code == 1000)
        assert completed or ws.close_code == 1006  # 1006: no close frame came
        outcomes.append((len(audio_frames(messages)), completed))
    return outcomes


async def test_drop_share_one_drops_every_session_whatever_fault_sessions_says(
    local_server: ServerFactory,
) -> None:
    options: dict[str, Any] = {"voice_engine": "tone", "fault_sessions": 0}
    async with local_server(drop_share=1.0, drop_within_frames=0, **options) as server:
        outcomes = await _sessions(server, 4)
    assert outcomes == [(0, False)] * 4
    assert (server.stats.sessions_dropped, server.stats.sessions_completed) == (4, 0)


async def test_drop_share_zero_drops_no_session(local_server: ServerFactory) -> None:
    assert ServerOptions().drop_share == 0.0
    async with local_server(voice_engine="tone", max_frame_bytes=PIECE) as server:
        outcomes = await _sessions(server, 4)
    assert all(completed for _, completed in outcomes)
    assert (server.stats.sessions_dropped, server.stats.sessions_completed) == (0, 4)


async def test_drop_share_with_a_seed_drops_a_reproducible_subset(
    local_server: ServerFactory,
) -> None:
    options: dict[str, Any] = {"voice_engine": "tone", "max_frame_bytes": PIECE}
    runs = []
    for _ in range(2):
        async with local_server(drop_share=0.5, fault_seed=3, **options) as server:
            outcomes = await _sessions(server, 10)
            dropped = [frames for frames, completed in outcomes if not completed]
            assert server.stats.sessions_dropped == len(dropped)
            assert server.stats.sessions_completed == 10 - len(dropped)
        runs.append(outcomes)
    assert runs[0] == runs[1]
    assert 0 < len(dropped) < 10
    assert all(frames <= 8 for frames in dropped)  # drop_within_frames defaults to 8
    async with local_server(drop_share=0.5, fault_seed=4, **options) as other_seed:
        assert await _sessions(other_seed, 10) != runs[0]


async def test_a_session_that_ends_before_its_drawn_frame_count_is_not_dropped(
    local_server: ServerFactory,
) -> None:
    options: dict[str, Any] = {"drop_share": 1.0, "drop_within_frames": 1000}
    async with local_server(voice_engine="tone", **options) as server:  # seed 0 draws 776
        messages, ws = await narrate(server, "Short. ")
    assert len(audio_frames(messages)) == 1 and ws.close_code == 1000
    assert server.stats.sessions_dropped == 0


@pytest.mark.parametrize(
    "options",
    [{"max_frame_bytes": 0}, {"drop_share": 1.5}, {"drop_share": -0.1}, {"drop_within_frames": -1}],
)
def test_meaningless_fault_switches_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ServerOptions(**options)
