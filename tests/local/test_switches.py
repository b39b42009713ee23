"""Authentication, quota, concurrency, latency and fault injection, each from raw frames."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError

from narrator.local import ServerOptions

from .wire import (
    BOS,
    EOS,
    SENTENCE,
    ServerFactory,
    audio_frames,
    narrate,
    next_message,
    rest_of_session,
    stream_url,
)

INVALID_KEY = {"message": "Invalid API key", "error": "invalid_api_key", "code": 1008}
FINAL = {"audio": None, "isFinal": True, "normalizedAlignment": None, "alignment": None}


@pytest.mark.parametrize(
    ("headers", "first"),
    [
        ({"xi-api-key": "sesame"}, BOS),
        ({}, '{"text": " ", "xi_api_key": "sesame"}'),
        ({}, '{"text": " ", "xi-api-key": "sesame"}'),
        ({}, '{"text": " ", "authorization": "Bearer sesame"}'),
    ],
)
async def test_the_right_key_is_accepted_wherever_the_docs_allow_it(
    local_server: ServerFactory, headers: dict[str, str], first: str
) -> None:
    async with (
        local_server(api_key="sesame") as server,
        connect(stream_url(server), additional_headers=headers) as ws,
    ):
        await ws.send(first)
        await ws.send('{"text": "Open. ", "flush": true}')
        await ws.send(EOS)
        messages = await rest_of_session(ws)
    assert audio_frames(messages) and messages[-1] == FINAL and ws.close_code == 1000


@pytest.mark.parametrize(
    ("headers", "first"),
    [({"xi-api-key": "wrong"}, BOS), ({}, '{"text": " ", "xi_api_key": "wrong"}')],
)
async def test_a_wrong_key_gets_invalid_api_key_after_the_first_frame(
    local_server: ServerFactory, headers: dict[str, str], first: str
) -> None:
    async with (
        local_server(api_key="sesame") as server,
        connect(stream_url(server), additional_headers=headers) as ws,
    ):
        await ws.send(first)
        messages = await rest_of_session(ws)
    assert messages == [INVALID_KEY]
    assert (ws.close_code, ws.close_reason) == (1008, "Invalid API key")


async def test_no_key_gets_authentication_required(local_server: ServerFactory) -> None:
    async with local_server(api_key="sesame") as server, connect(stream_url(server)) as ws:
        await ws.send(BOS)
        messages = await rest_of_session(ws)
    message = (
        "None of the authentication methods (xi-api-key, authorization header, single-use "
        "token) were found."
    )
    assert messages == [{"message": message, "error": "authentication_required", "code": 1008}]
    assert (ws.close_code, ws.close_reason) == (1008, message[:123])


async def test_without_a_configured_key_any_key_or_none_is_accepted(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server:
        anonymous, _ = await narrate(server, "Hi. ")
        keyed, _ = await narrate(server, "Hi. ", first='{"text": " ", "xi_api_key": "anything"}')
    assert anonymous[-1] == keyed[-1] == FINAL


async def test_quota_error_mode_sends_quota_exceeded_and_closes_1008(
    local_server: ServerFactory,
) -> None:
    async with local_server(quota_characters=60) as server:
        first, _ = await narrate(server, SENTENCE)  # 45 characters: within the quota
        async with connect(stream_url(server)) as ws:
            await ws.send(BOS)
            await ws.send(json.dumps({"text": SENTENCE}))  # 90 > 60
            messages = await rest_of_session(ws)
    assert first[-1] == FINAL
    message = (
        "This request exceeds your quota of 60. You have 15 credits remaining, while 45 "
        "credits are required for this request."
    )
    assert messages == [{"message": message, "error": "quota_exceeded", "code": 1008}]
    assert (ws.close_code, ws.close_reason) == (1008, message)


async def test_quota_close_mode_closes_1008_with_the_reason_and_no_frame(
    local_server: ServerFactory,
) -> None:
    async with local_server(quota_characters=50, quota_mode="close") as server:
        first, _ = await narrate(server, SENTENCE)  # 45 of 50
        async with connect(stream_url(server)) as ws:
            await ws.send(BOS)
            await ws.send(json.dumps({"text": SENTENCE}))
            messages = await rest_of_session(ws)
    assert first[-1] == FINAL
    assert messages == []
    assert (ws.close_code, ws.close_reason) == (
        1008,
        "This request exceeds your quota of 50. You have 5 credits remaining, while 45 "
        "credits are required for this request.",
    )


async def test_quota_close_reason_is_cut_to_123_bytes(local_server: ServerFactory) -> None:
    async with (
        local_server(quota_characters=999_999, quota_mode="close") as server,
        connect(stream_url(server)) as ws,
    ):
        await ws.send(BOS)
        await ws.send(json.dumps({"text": "a " * 500_000}))
        assert await rest_of_session(ws) == []
    message = (
        "This request exceeds your quota of 999999. You have 999999 credits remaining, while "
        "1000000 credits are required for this request."
    )
    assert len(message) > 123
    assert (ws.close_code, ws.close_reason) == (1008, message[:123])


async def test_quota_silent_mode_gives_no_audio_and_a_normal_final(
    local_server: ServerFactory,
) -> None:
    async with local_server(quota_characters=10, quota_mode="silent") as server:
        messages, ws = await narrate(server, SENTENCE)
        assert server.stats.characters_received == len(SENTENCE)
    assert messages == [FINAL]
    assert ws.close_code == 1000


async def _two_at_once(server_url: str, slow_text: str) -> list[list[dict[str, object]]]:
    async def one() -> list[dict[str, object]]:
        async with connect(server_url) as ws:
            await ws.send(BOS)
            await ws.send(json.dumps({"text": slow_text, "flush": True}))
            await ws.send(EOS)
            return await rest_of_session(ws)

    return list(await asyncio.gather(one(), one()))


async def test_concurrency_refuse_mode_sends_too_many_concurrent_requests(
    local_server: ServerFactory,
) -> None:
    options = {"max_concurrency": 1, "concurrency_mode": "refuse", "chars_per_second": 150}
    async with local_server(**options) as server:
        results = await _two_at_once(stream_url(server), SENTENCE)
    errors = [r for r in results if r and r[0].get("error")]
    assert len(errors) == 1
    assert errors[0][0]["error"] == "too_many_concurrent_requests"
    assert errors[0][0]["code"] == 1008
    assert any(r[-1] == FINAL for r in results)


async def test_over_the_limit_sessions_queue_by_default(local_server: ServerFactory) -> None:
    assert ServerOptions().concurrency_mode == "queue"
    async with local_server(max_concurrency=1, chars_per_second=150) as server:
        started = time.monotonic()
        results = await _two_at_once(stream_url(server), SENTENCE)
        elapsed = time.monotonic() - started
        assert server.stats.peak_concurrency == 1
    assert not any(m.get("error") for r in results for m in r)
    assert all(r[-1] == FINAL for r in results)
    assert elapsed >= 2 * len(SENTENCE) / 150 - 0.05  # one after the other


async def test_latency_switches_delay_the_first_audio(local_server: ServerFactory) -> None:
    async with (
        local_server(first_audio_latency_s=0.4, chars_per_second=100) as server,
        connect(stream_url(server)) as ws,
    ):
        await ws.send(BOS)
        started = time.monotonic()
        await ws.send(json.dumps({"text": SENTENCE, "flush": True}))
        await next_message(ws)
        assert time.monotonic() - started >= 0.4 + len(SENTENCE) / 100 - 0.05


async def _three_generations(ws: ClientConnection) -> None:
    await ws.send(BOS)
    for part in ("One. ", "Two. ", "Three. "):
        await ws.send(json.dumps({"text": part, "flush": True}))


async def test_drop_after_frames_counts_audio_frames_and_sends_no_close_frame(
    local_server: ServerFactory,
) -> None:
    async with local_server(drop_after_frames=2) as server, connect(stream_url(server)) as ws:
        await _three_generations(ws)
        first, second = await next_message(ws), await next_message(ws)
        with pytest.raises(ConnectionClosedError) as closed:
            await next_message(ws)
    assert closed.value.rcvd is None
    assert "".join(first["alignment"]["chars"]) == "One. "  # by default a frame per generation
    assert "".join(second["alignment"]["chars"]) == "Two. "
    assert server.stats.audio_frames_sent == 2
    assert server.stats.sessions_dropped == 1


async def test_internal_error_after_frames_counts_audio_frames_and_sends_1011(
    local_server: ServerFactory,
) -> None:
    async with (
        local_server(internal_error_after_frames=2) as server,
        connect(stream_url(server)) as ws,
    ):
        await _three_generations(ws)
        messages = await rest_of_session(ws)
    assert ["".join(m["alignment"]["chars"]) for m in audio_frames(messages)] == [
        "One. ",
        "Two. ",
    ]
    assert messages[-1] == {
        "message": "We are sorry, something went wrong. You are not charged for this request.",
        "error": "internal_server_error",
        "code": 1011,
    }
    assert ws.close_code == 1011
    assert server.stats.sessions_failed == 1


async def test_faults_hit_only_the_first_fault_sessions(local_server: ServerFactory) -> None:
    async with local_server(internal_error_after_frames=0, fault_sessions=1) as server:
        faulted, first = await narrate(server, SENTENCE)
        healthy, second = await narrate(server, SENTENCE)
        assert server.stats.sessions_started == 2
        assert server.stats.sessions_completed == 1
    assert faulted[0]["code"] == 1011 and first.close_code == 1011
    assert healthy[-1] == FINAL and second.close_code == 1000
