"""Pacing and reading: the server models a service's speed and keeps answering pings."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from .wire import BOS, EOS, SENTENCE, ServerFactory, rest_of_session, stream_url


async def test_pings_are_answered_while_a_long_backlog_is_generated(
    local_server: ServerFactory,
) -> None:
    # Forty pieces at once, as a batch client sends a chapter; generating them takes about
    # 1.8 s, several times the client's ping timeout. The socket must still be read.
    async with (
        local_server(voice_engine="tone", chars_per_second=1000) as server,
        connect(stream_url(server), ping_interval=0.1, ping_timeout=0.3) as ws,
    ):
        await ws.send(BOS)
        for _ in range(40):
            await ws.send(json.dumps({"text": SENTENCE}))
        await ws.send(EOS)
        messages = await rest_of_session(ws)
        assert messages[-1]["isFinal"] is True
        assert ws.close_code == 1000


async def test_generations_follow_the_modelled_speed(local_server: ServerFactory) -> None:
    text = SENTENCE * 8  # 360 characters: 0.36 s at 1000 characters a second, plus 0.2 s
    async with (
        local_server(
            voice_engine="tone", chars_per_second=1000, first_audio_latency_s=0.2
        ) as server,
        connect(stream_url(server, auto_mode="true")) as ws,
    ):
        loop = asyncio.get_running_loop()
        await ws.send(BOS)
        started = loop.time()
        await ws.send(json.dumps({"text": text}))
        await ws.send(EOS)
        await rest_of_session(ws)
        elapsed = loop.time() - started
    assert elapsed >= 0.55
