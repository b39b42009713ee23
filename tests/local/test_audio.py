"""Output formats, determinism, voices and the tone voice, checked on the bytes received."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from mutagen.mp3 import MP3
from websockets.asyncio.client import connect

from narrator.local import LocalServer
from narrator.local.encode import FORMATS, split_mp3_frames

from .wire import (
    BOS,
    EOS,
    SENTENCE,
    ServerFactory,
    audio_frames,
    audio_of,
    narrate,
    rest_of_session,
    stream_url,
)

TEXT = SENTENCE * 4


def _aligned_ms(messages: list[dict[str, object]]) -> int:
    """Audio length the alignment claims: the end of each generation's last character."""
    total = 0
    for frame in audio_frames(messages):  # type: ignore[arg-type]
        alignment = frame["alignment"]
        if alignment:
            total += alignment["charStartTimesMs"][-1] + alignment["charDurationsMs"][-1]
    return total


@pytest.mark.parametrize("name", [n for n in FORMATS if n.startswith("mp3")])
async def test_mp3_frames_concatenate_into_one_valid_stream(
    local_server: ServerFactory, name: str
) -> None:
    async with local_server() as server:
        messages, _ = await narrate(server, TEXT, output_format=name)
    audio = audio_of(messages)
    frames = split_mp3_frames(audio)  # raises on a broken frame sequence
    assert b"".join(frames) == audio
    info = MP3(io.BytesIO(audio)).info
    assert info.sample_rate == FORMATS[name].sample_rate
    assert info.bitrate == FORMATS[name].bitrate_kbps * 1000
    assert info.length * 1000 == pytest.approx(_aligned_ms(messages), rel=0.05)


@pytest.mark.parametrize("name", [n for n in FORMATS if not n.startswith("mp3")])
async def test_pcm_and_ulaw_have_the_length_of_their_duration(
    local_server: ServerFactory, name: str
) -> None:
    async with local_server() as server:
        messages, _ = await narrate(server, TEXT, output_format=name)
    fmt = FORMATS[name]
    width = 2 if fmt.codec == "pcm" else 1
    audio = audio_of(messages)
    assert len(audio) % width == 0
    seconds = len(audio) / width / fmt.sample_rate
    assert seconds * 1000 == pytest.approx(_aligned_ms(messages), abs=30)


async def test_unsupported_format_gets_an_error_naming_the_supported_ones(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server:
        messages, ws = await narrate(server, TEXT, output_format="opus_48000_64")
    (error,) = messages
    assert error["error"] == "invalid_output_format" and error["code"] == 1008
    assert "opus_48000_64" in error["message"] and "mp3_44100_128" in error["message"]
    assert "ulaw_8000" in error["message"]
    assert ws.close_code == 1008


async def test_the_same_text_and_settings_give_the_same_bytes(local_server: ServerFactory) -> None:
    async with local_server() as server:
        first, _ = await narrate(server, TEXT)
        await narrate(server, "Something else in between. ")
        second, _ = await narrate(server, TEXT)
    assert audio_of(first) == audio_of(second)
    assert first == second


async def test_speed_changes_the_rate(local_server: ServerFactory) -> None:
    slow = '{"text": " ", "voice_settings": {"speed": 0.7}}'
    fast = '{"text": " ", "voice_settings": {"speed": 1.2}}'
    async with local_server() as server:
        slow_messages, _ = await narrate(server, TEXT, first=slow, output_format="pcm_16000")
        fast_messages, _ = await narrate(server, TEXT, first=fast, output_format="pcm_16000")
    assert len(audio_of(slow_messages)) > 1.4 * len(audio_of(fast_messages))


async def test_premade_ids_map_to_espeak_voices_and_espeak_names_work_directly(
    local_server: ServerFactory,
) -> None:
    async with local_server() as server:
        george, _ = await narrate(server, SENTENCE, voice="JBFqnCBsd6RMkjVDRZzb")
        rachel, _ = await narrate(server, SENTENCE, voice="21m00Tcm4TlvDq8ikWAM")
        direct, ws = await narrate(server, SENTENCE, voice="en-us+f3")
    assert audio_of(george) != audio_of(rachel) == audio_of(direct)
    assert ws.close_code == 1000


async def _stream(server: LocalServer, pieces: list[str], **query: str) -> list[dict[str, Any]]:
    """A batch client's session: sentence pieces, the last one flushed, end of stream."""
    async with connect(stream_url(server, **query), max_size=2**24) as ws:
        await ws.send(BOS)
        for i, piece in enumerate(pieces):
            await ws.send(json.dumps({"text": piece, "flush": i == len(pieces) - 1}))
        await ws.send(EOS)
        messages = await rest_of_session(ws)
    assert ws.close_code == 1000
    return messages


async def test_tone_voice_streams_long_text_fast_as_valid_mp3(
    local_server: ServerFactory,
) -> None:
    pieces = ["Tone voice words here. "] * 2000  # 46,000 characters, about 53 minutes
    async with local_server(voice_engine="tone") as server:
        messages = await _stream(server, pieces, output_format="mp3_22050_32")
        again = await _stream(server, pieces, output_format="mp3_22050_32")
    audio = audio_of(messages)
    assert audio == audio_of(again)
    assert b"".join(split_mp3_frames(audio)) == audio
    expected = len(pieces) * len(pieces[0]) / 14.5
    # Each generation pads its last MP3 frame out: at most 26 ms of silence apiece.
    assert MP3(io.BytesIO(audio)).info.length == pytest.approx(expected, rel=0.01)
    frames = audio_frames(messages)
    assert len(frames) > 100  # the chunk schedule cut it into generations
    assert "".join(c for f in frames for c in f["alignment"]["chars"]) == "".join(pieces)
    assert frames[0]["alignment"]["charStartTimesMs"][:3] == [0, 69, 138]


@pytest.mark.parametrize("name", ["pcm_24000", "ulaw_8000", "mp3_44100_128"])
async def test_tone_voice_lengths_match_the_character_rate(
    local_server: ServerFactory, name: str
) -> None:
    text = SENTENCE * 10
    async with local_server(voice_engine="tone") as server:
        messages, _ = await narrate(server, text, output_format=name)
    fmt = FORMATS[name]
    audio = audio_of(messages)
    if fmt.codec == "mp3":
        seconds = MP3(io.BytesIO(audio)).info.length
    else:
        seconds = len(audio) / (2 if fmt.codec == "pcm" else 1) / fmt.sample_rate
    assert seconds == pytest.approx(len(text) / 14.5, rel=0.01)


async def test_each_generation_is_one_frame_holding_all_its_audio(
    local_server: ServerFactory,
) -> None:
    pieces = [SENTENCE] * 8  # 360 characters: 135 at the 120 threshold, 180 at 160, 45 flushed
    async with local_server() as server:
        messages = await _stream(server, pieces, output_format="mp3_44100_128")
    frames = audio_frames(messages)
    assert len(frames) == 3
    for frame in frames:  # each frame alone is whole MP3 frames, as long as its timing says
        audio = base64.b64decode(frame["audio"])
        assert b"".join(split_mp3_frames(audio)) == audio
        alignment = frame["alignment"]
        spoken_ms = alignment["charStartTimesMs"][-1] + alignment["charDurationsMs"][-1]
        assert MP3(io.BytesIO(audio)).info.length * 1000 == pytest.approx(spoken_ms, abs=80)
    assert "".join(c for f in frames for c in f["alignment"]["chars"]) == SENTENCE * 8
