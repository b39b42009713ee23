"""Output formats, determinism, voices and the tone voice, checked on the bytes received."""

from __future__ import annotations

import io
import logging

import pytest
from mutagen.mp3 import MP3

from narrator.local.encode import FORMATS, split_mp3_frames

from .wire import SENTENCE, ServerFactory, audio_frames, audio_of, narrate

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


async def test_voices_differ_and_an_unknown_voice_falls_back_with_a_warning(
    local_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with local_server() as server:
        george, _ = await narrate(server, SENTENCE, voice="JBFqnCBsd6RMkjVDRZzb")
        rachel, _ = await narrate(server, SENTENCE, voice="21m00Tcm4TlvDq8ikWAM")
        direct, _ = await narrate(server, SENTENCE, voice="en-us+f3")
        with caplog.at_level(logging.WARNING, logger="narrator.local"):
            unknown, ws = await narrate(server, SENTENCE, voice="NoSuchVoice123")
    assert audio_of(george) != audio_of(rachel) == audio_of(direct)
    assert audio_of(unknown) and ws.close_code == 1000
    assert "NoSuchVoice123" in caplog.text


async def test_tone_voice_streams_long_text_fast_as_valid_mp3(
    local_server: ServerFactory,
) -> None:
    text = "Tone voice words here. " * 2000  # 46,000 characters, about 53 minutes
    async with local_server(voice_engine="tone") as server:
        messages, ws = await narrate(server, text, output_format="mp3_22050_32")
        again, _ = await narrate(server, text, output_format="mp3_22050_32")
    audio = audio_of(messages)
    assert audio == audio_of(again) and ws.close_code == 1000
    assert b"".join(split_mp3_frames(audio)) == audio
    expected = len(text) / 14.5
    assert MP3(io.BytesIO(audio)).info.length == pytest.approx(expected, rel=0.01)
    alignment = audio_frames(messages)[0]["alignment"]
    assert "".join(alignment["chars"]) == text
    assert alignment["charStartTimesMs"][:3] == [0, 69, 138]


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
