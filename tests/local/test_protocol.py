"""Sections 3-5 and 7 of the protocol notes, message by literal message."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .wire import (
    BOS,
    EOS,
    SENTENCE,
    ServerFactory,
    audio_frames,
    messages_until_quiet,
    narrate,
    next_message,
    no_message_within,
    rest_of_session,
    stream_url,
)

FINAL = {"audio": None, "isFinal": True, "normalizedAlignment": None, "alignment": None}


async def test_end_of_stream_sends_audio_then_the_final_message_then_close_1000(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server:
        messages, ws = await narrate(server, "Hello world. ")
    frames = audio_frames(messages)
    assert frames and messages[-1] == FINAL
    assert all(f["isFinal"] is None for f in frames)
    assert set(frames[0]) == {"audio", "isFinal", "normalizedAlignment", "alignment"}
    assert ws.close_code == 1000


async def test_alignment_covers_the_generated_characters_in_order(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server:
        messages, _ = await narrate(server, "Hello wörld, café 42. ")
    alignment = audio_frames(messages)[0]["alignment"]
    assert alignment == audio_frames(messages)[0]["normalizedAlignment"]
    assert "".join(alignment["chars"]) == "Hello wörld, café 42. "
    starts, durations = alignment["charStartTimesMs"], alignment["charDurationsMs"]
    assert len(starts) == len(durations) == len(alignment["chars"])
    assert starts == sorted(starts) and starts[0] == 0
    assert all(isinstance(v, int) and v >= 0 for v in starts + durations)
    assert starts[6] > 100  # "wörld" starts when eSpeak says it does, not at 0


async def test_119_characters_wait_and_the_120th_starts_a_generation(
    local_server: ServerFactory,
) -> None:
    text = ("word " * 24)[:119]  # 119 characters, ends with "wor"
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send(BOS)
        await ws.send(json.dumps({"text": text}))
        assert await no_message_within(ws, 0.5)
        await ws.send('{"text": "d "}')
        frame = await next_message(ws)
        # Generation stops at the last space: here the whole buffer, which ends in one.
        assert "".join(frame["alignment"]["chars"]) == text + "d "


async def test_generation_stops_at_the_last_space_and_keeps_the_rest(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send(BOS)
        await ws.send(json.dumps({"text": SENTENCE * 3 + "unfinis"}))
        first = await messages_until_quiet(ws)
        assert "".join(first[0]["alignment"]["chars"]) == SENTENCE * 3
        await ws.send('{"text": "hed. "}')
        assert await no_message_within(ws, 0.3)  # 12 characters < 160: held
        await ws.send('{"text": "", "flush": false}')
        rest = await rest_of_session(ws)
    aligned = [f for f in audio_frames(rest) if f["alignment"]]
    assert "".join(aligned[0]["alignment"]["chars"]) == "unfinished. "
    assert rest[-1] == FINAL


async def test_custom_schedule_and_its_second_threshold(local_server: ServerFactory) -> None:
    first = '{"text": " ", "generation_config": {"chunk_length_schedule": [50, 100]}}'
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send(first)
        await ws.send(json.dumps({"text": "a" * 10 + " " + "b" * 39}))  # 50 characters
        first = await messages_until_quiet(ws)
        assert "".join(first[0]["alignment"]["chars"]) == "a" * 10 + " "
        await ws.send(json.dumps({"text": " " + "c" * 48 + " "}))  # buffer 39 + 50 = 89
        assert await no_message_within(ws, 0.3)
        await ws.send(json.dumps({"text": "d" * 10 + " "}))  # 100: the second threshold
        assert "".join((await next_message(ws))["alignment"]["chars"]).startswith("bbb")
        await messages_until_quiet(ws)  # unread frames would stall the close handshake


async def test_flush_generates_everything_and_keeps_the_connection_open(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send(BOS)
        await ws.send('{"text": "Short one", "flush": true}')
        frame = await next_message(ws)
        assert "".join(frame["alignment"]["chars"]) == "Short one"
        assert all(m["isFinal"] is None for m in await messages_until_quiet(ws))
        await ws.send('{"text": "Another. ", "flush": true}')
        assert "".join((await next_message(ws))["alignment"]["chars"]) == "Another. "
        await ws.send(EOS)
        assert (await rest_of_session(ws))[-1] == FINAL


async def test_keep_alive_adds_nothing_and_resets_the_timer(local_server: ServerFactory) -> None:
    async with local_server() as server:
        url = stream_url(server, inactivity_timeout="1")
        async with connect(url) as ws:
            await ws.send(BOS)
            await ws.send('{"text": "Kept. "}')
            for _ in range(3):
                assert await no_message_within(ws, 0.6)
                await ws.send('{"text": " "}')
            await ws.send(EOS)
            messages = await rest_of_session(ws)
        assert "".join(audio_frames(messages)[0]["alignment"]["chars"]) == "Kept. "
        assert server.stats.characters_received == len("Kept. ")
        assert ws.close_code == 1000


async def test_inactivity_timeout_sends_the_error_and_closes_1008(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server, connect(stream_url(server, inactivity_timeout="1")) as ws:
        await ws.send(BOS)
        messages = await rest_of_session(ws, timeout=5)
    assert messages == [
        {
            "message": "Have not received a new text input within the timeout of 1 seconds. "
            "Streaming input terminated. Please make sure to send text input more frequently "
            "or use the inactivity_timeout query parameter to increase the timeout.",
            "error": "input_timeout_exceeded",
            "code": 1008,
        }
    ]
    assert ws.close_code == 1008
    assert ws.close_reason == messages[0]["message"].encode()[:123].decode()


INVALID = {
    "message": "Could not parse input message, make sure it is a json and follows the schema "
    "outlined in protocol.",
    "error": "invalid_input_message",
    "code": 1008,
}


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '{"text": 5}', '{"text": "a", "flush": 1}'])
async def test_bad_messages_are_invalid_input_and_close_1008(
    local_server: ServerFactory, bad: str
) -> None:
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send(BOS)
        await ws.send(bad)
        messages = await rest_of_session(ws)
    assert messages == [INVALID]
    assert (ws.close_code, ws.close_reason) == (1008, INVALID["message"][:123])


async def test_a_bad_first_message_is_invalid_input(local_server: ServerFactory) -> None:
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send("{oops")
        assert await rest_of_session(ws) == [INVALID]
        assert ws.close_code == 1008


async def test_the_first_message_must_be_one_space(local_server: ServerFactory) -> None:
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send('{"text": "Hello "}')
        (error,) = await rest_of_session(ws)
    assert error["error"] == "invalid_input_message" and error["code"] == 1008
    assert ws.close_code == 1008


@pytest.mark.parametrize(
    "later",
    [
        '{"text": "Hi. ", "voice_settings": {"stability": 0.9, "similarity_boost": 0.75}}',
        '{"text": "Hi. ", "voice_settings": null}',
        '{"text": "Hi. ", "generation_config": {"chunk_length_schedule": [50]}}',
    ],
)
async def test_changed_voice_settings_close_1008(local_server: ServerFactory, later: str) -> None:
    first = '{"text": " ", "voice_settings": {"stability": 0.5, "similarity_boost": 0.75}}'
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send(first)
        await ws.send(later)
        messages = await rest_of_session(ws)
    message = (
        "voice_settings field must be provided in the first message and then either be not "
        "provided or not change."
    )
    assert messages == [{"message": message, "error": "invalid_input_message", "code": 1008}]
    assert (ws.close_code, ws.close_reason) == (1008, message[:123])


async def test_identical_voice_settings_and_try_trigger_generation_are_accepted(
    local_server: ServerFactory,
) -> None:
    settings = '"voice_settings": {"stability": 0.5, "similarity_boost": 0.75}'
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send('{"text": " ", ' + settings + "}")
        await ws.send('{"text": "Same. ", "try_trigger_generation": true, ' + settings + "}")
        await ws.send(EOS)
        messages = await rest_of_session(ws)
    assert audio_frames(messages) and messages[-1] == FINAL


@pytest.mark.parametrize("schedule", ["[49]", "[120, 501]", "[]", '"120"'])
async def test_chunk_length_schedule_is_validated(
    local_server: ServerFactory, schedule: str
) -> None:
    first = '{"text": " ", "generation_config": {"chunk_length_schedule": ' + schedule + "}}"
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send(first)
        (error,) = await rest_of_session(ws)
    assert error["error"] == "invalid_input_message" and "50 and 500" in error["message"]
    assert ws.close_code == 1008


async def test_auto_mode_generates_each_message(local_server: ServerFactory) -> None:
    async with local_server() as server, connect(stream_url(server, auto_mode="true")) as ws:
        await ws.send(BOS)
        await ws.send('{"text": "One sentence. "}')
        assert "".join((await next_message(ws))["alignment"]["chars"]) == "One sentence. "


async def test_sync_alignment_puts_timing_on_every_frame(local_server: ServerFactory) -> None:
    text = SENTENCE * 6
    async with local_server() as server:
        plain, _ = await narrate(server, text, output_format="pcm_16000")
        synced, _ = await narrate(server, text, output_format="pcm_16000", sync_alignment="true")
    assert len(audio_frames(plain)) > 2
    assert [f["alignment"] is None for f in audio_frames(plain)][1:] == [True] * (
        len(audio_frames(plain)) - 1
    )
    frames = audio_frames(synced)
    assert all(f["alignment"] for f in frames)
    assert "".join(c for f in frames for c in f["alignment"]["chars"]) == text
    # times are relative to each frame: 16-bit samples at 16 kHz, so 32 bytes per ms
    second = frames[1]["alignment"]
    assert second["charStartTimesMs"][0] < len(frames[0]["audio"]) * 3 // 4 // 32


async def test_unknown_query_parameters_are_ignored(local_server: ServerFactory) -> None:
    async with local_server() as server:
        messages, ws = await narrate(
            server, "Fine. ", model_id="eleven_flash_v2_5", seed="7", enable_logging="false",
            language_code="en", apply_text_normalization="auto", whatever="x",
        )  # fmt: skip
    assert audio_frames(messages) and ws.close_code == 1000


async def test_eleven_v3_is_refused_with_403_at_the_handshake(local_server: ServerFactory) -> None:
    async with local_server() as server:
        with pytest.raises(InvalidStatus) as refused:
            await connect(stream_url(server, model_id="eleven_v3"))
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(
    "path",
    ["/v1/text-to-speech/x/multi-stream-input", "/v1/other", "/v1/text-to-speech//stream-input"],
)
async def test_other_paths_get_404(local_server: ServerFactory, path: str) -> None:
    async with local_server() as server:
        with pytest.raises(InvalidStatus) as refused:
            await connect(server.url + path)
    assert refused.value.response.status_code == 404
