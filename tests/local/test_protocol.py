"""Sections 3-5 and 7 of the protocol notes, message by literal message."""

from __future__ import annotations

import json
from typing import Any

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


def _well_formed(timing: dict[str, list[Any]]) -> None:
    starts, durations = timing["charStartTimesMs"], timing["charDurationsMs"]
    assert len(starts) == len(durations) == len(timing["chars"])
    assert starts == sorted(starts) and starts[0] == 0
    assert all(isinstance(v, int) and v >= 0 for v in starts + durations)


async def test_alignment_covers_the_generated_characters_in_order(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server:
        messages, _ = await narrate(server, "Hello wörld, café 42. ")
    alignment = audio_frames(messages)[0]["alignment"]
    assert "".join(alignment["chars"]) == "Hello wörld, café 42. "
    _well_formed(alignment)
    assert alignment["charStartTimesMs"][6] > 100  # "wörld" starts when eSpeak says, not at 0


async def test_normalized_alignment_begins_with_a_space_and_spells_numbers(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server:
        messages, _ = await narrate(server, "Chapter 12 has 1,500 words. ")
    (frame,) = audio_frames(messages)
    alignment, normalized = frame["alignment"], frame["normalizedAlignment"]
    assert normalized is not alignment and normalized != alignment
    assert "".join(alignment["chars"]) == "Chapter 12 has 1,500 words. "
    assert "".join(normalized["chars"]) == " Chapter twelve has one thousand five hundred words. "
    _well_formed(normalized)
    # "twelve" takes the time eSpeak gave "12"; the text around it keeps its own timing.
    twelve = "".join(normalized["chars"]).index("twelve")
    assert normalized["charStartTimesMs"][twelve] == alignment["charStartTimesMs"][8]
    assert normalized["charStartTimesMs"][1:9] == alignment["charStartTimesMs"][:8]
    end = normalized["charStartTimesMs"][-1] + normalized["charDurationsMs"][-1]
    assert end == alignment["charStartTimesMs"][-1] + alignment["charDurationsMs"][-1]


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


async def test_keep_alive_spaces_join_the_text_and_reset_the_timer(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server:
        url = stream_url(server, inactivity_timeout="1")
        async with connect(url) as ws:
            await ws.send(BOS)
            await ws.send('{"text": "Kept"}')
            for _ in range(3):
                assert await no_message_within(ws, 0.6)
                await ws.send('{"text": " "}')
            await ws.send('{"text": "going. "}')
            await ws.send(EOS)
            messages = await rest_of_session(ws)
        # Spoken and billed like any text (2026 recordings), not dropped.
        assert "".join(audio_frames(messages)[0]["alignment"]["chars"]) == "Kept   going. "
        assert server.stats.characters_received == len("Kept   going. ")
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
            "Streaming input terminated. Please make sure to send at least one text message "
            "every 1 seconds or use the inactivity_timeout query parameter to increase the "
            "timeout.",
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


@pytest.mark.parametrize("sync_alignment", ["false", "true"])
async def test_a_generation_is_one_frame_over_1_mib_with_its_timing_from_0(
    local_server: ServerFactory, sync_alignment: str
) -> None:
    text = SENTENCE * 9  # 405 characters: 28 s of 44.1 kHz PCM, 2.4 MB in one frame
    async with local_server(voice_engine="tone") as server:
        messages, _ = await narrate(
            server, text, output_format="pcm_44100", sync_alignment=sync_alignment
        )
    (frame,) = audio_frames(messages)
    assert len(frame["audio"]) * 3 // 4 > 2**20
    assert "".join(frame["alignment"]["chars"]) == text
    _well_formed(frame["alignment"])
    spoken_ms = (
        frame["alignment"]["charStartTimesMs"][-1] + frame["alignment"]["charDurationsMs"][-1]
    )
    assert len(frame["audio"]) * 3 // 4 // 2 / 44.1 == pytest.approx(spoken_ms, abs=1)


async def test_each_generations_timing_starts_at_0_on_its_one_frame(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server, connect(stream_url(server)) as ws:
        await ws.send(BOS)
        await ws.send(json.dumps({"text": "First part. ", "flush": True}))
        await ws.send(json.dumps({"text": "Second part. ", "flush": True}))
        await ws.send(EOS)
        frames = audio_frames(await rest_of_session(ws))
    assert len(frames) == 2
    for frame, text in zip(frames, ["First part. ", "Second part. "], strict=True):
        assert "".join(frame["alignment"]["chars"]) == text
        assert "".join(frame["normalizedAlignment"]["chars"]) == " " + text
        _well_formed(frame["alignment"])


async def test_repeat_alignment_restarts_alignment_from_character_0(
    local_server: ServerFactory,
) -> None:
    texts = ["First part. ", "Second part. ", "Third part. "]
    async with local_server(repeat_alignment=True) as server, connect(stream_url(server)) as ws:
        await ws.send(BOS)
        for text in texts:
            await ws.send(json.dumps({"text": text, "flush": True}))
        await ws.send(EOS)
        frames = audio_frames(await rest_of_session(ws))
    assert len(frames) == 3
    alignments = [f["alignment"] for f in frames]
    # Each alignment repeats every earlier generation's own entries, then its own.
    for k, alignment in enumerate(alignments):
        assert "".join(alignment["chars"]) == "".join(texts[: k + 1])
        own = len(texts[k])
        first = alignments[0] if k == 0 else {n: v[-own:] for n, v in alignment.items()}
        assert first["charStartTimesMs"][0] == 0
    assert alignments[2]["charStartTimesMs"][: len(texts[0])] == alignments[0]["charStartTimesMs"]
    assert alignments[2]["charStartTimesMs"][len(texts[0])] == 0  # back to 0: a new pass
    # A naive client that adds up the characters counts 12 + 25 + 38 instead of 38.
    assert sum(len(a["chars"]) for a in alignments) > len("".join(texts))
    # normalizedAlignment is never repeated.
    assert ["".join(f["normalizedAlignment"]["chars"]) for f in frames] == [" " + t for t in texts]


async def test_unknown_query_parameters_are_ignored(local_server: ServerFactory) -> None:
    async with local_server() as server:
        messages, ws = await narrate(
            server, "Fine. ", model_id="eleven_flash_v2_5", seed="7", enable_logging="false",
            language_code="en", apply_text_normalization="auto", whatever="x",
        )  # fmt: skip
    assert audio_frames(messages) and ws.close_code == 1000


async def test_eleven_v3_is_refused_with_400_and_a_json_body_at_the_handshake(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server:
        with pytest.raises(InvalidStatus) as refused:
            await connect(stream_url(server, model_id="eleven_v3"))
    response = refused.value.response
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    assert body["detail"]["code"] == "unsupported_model"
    assert body["detail"]["param"] == "model_id"
    assert "eleven_v3" in body["detail"]["message"]
    assert "not supported" in body["detail"]["message"]
    assert set(body["detail"]) == {"code", "message", "param"}


async def test_an_unknown_voice_is_refused_after_the_first_frame(
    local_server: ServerFactory,
) -> None:
    message = "A voice with voice_id NoSuchVoice123 does not exist."
    async with (
        local_server() as server,
        connect(stream_url(server, voice="NoSuchVoice123")) as ws,
    ):
        assert await no_message_within(ws, 0.3)  # the handshake succeeds; nothing yet
        await ws.send(BOS)
        messages = await rest_of_session(ws)
    assert messages == [{"message": message, "error": "voice_id_does_not_exist", "code": 1008}]
    assert (ws.close_code, ws.close_reason) == (1008, message)


async def test_an_unknown_voice_reason_is_cut_to_123_bytes(local_server: ServerFactory) -> None:
    voice = "é" * 80  # 160 bytes in UTF-8
    async with local_server() as server, connect(stream_url(server, voice=voice)) as ws:
        await ws.send(BOS)
        (error,) = await rest_of_session(ws)
    assert error["message"] == f"A voice with voice_id {voice} does not exist."
    assert ws.close_reason == error["message"].encode()[:123].decode("utf-8", "ignore")
    assert len(ws.close_reason.encode()) <= 123


@pytest.mark.parametrize(
    "path",
    ["/v1/text-to-speech/x/multi-stream-input", "/v1/other", "/v1/text-to-speech//stream-input"],
)
async def test_other_paths_get_404(local_server: ServerFactory, path: str) -> None:
    async with local_server() as server:
        with pytest.raises(InvalidStatus) as refused:
            await connect(server.url + path)
    assert refused.value.response.status_code == 404
