"""One session against the real local server: what is sent, what is kept, what is raised.

Every failure must arrive as a narrator error: a websockets or OSError escaping the session
module would crash a worker instead of being retried or recorded.
"""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from narrator.errors import (
    AuthenticationError,
    ConnectionDroppedError,
    ModelRefusedError,
    NarratorError,
    TransientServiceError,
    VoiceNotFoundError,
)
from narrator.local import LocalServer, ServerOptions
from narrator.service.chunking import chunk_text
from narrator.service.completeness import StreamTally
from narrator.service.session import Connector
from narrator.settings import ServiceSettings, SpeechSettings
from tests.helpers import seconds

TEXT = "The lamp was lit at six. Mara climbed the steps with a can of oil. " * 6


def settings(
    url: str, key: str | None = "sk_test_key_0001"
) -> tuple[ServiceSettings, SpeechSettings]:
    return (
        ServiceSettings(engine="elevenlabs", base_url=url, api_key=key),
        SpeechSettings(output_format="mp3_22050_32"),
    )


async def narrate_once(
    url: str, key: str | None = "sk_test_key_0001", **speech: object
) -> tuple[bytes, StreamTally]:
    service, speech_settings = settings(url, key)
    speech_settings = replace(speech_settings, **speech)  # type: ignore[arg-type]
    session = await Connector(service, speech_settings).open()
    chunks: list[bytes] = []
    tally = StreamTally()
    try:
        await session.narrate(TEXT, chunks.append, tally)
    finally:
        await session.close()
    return b"".join(chunks), tally


async def test_a_session_streams_audio_and_accounts_for_every_character() -> None:
    async with LocalServer(port=0, options=ServerOptions()) as server:
        audio, tally = await narrate_once(server.url)
        assert server.stats.characters_received == tally.characters_sent
    assert audio[:3] == b"ID3" or audio[0] == 0xFF
    assert tally.characters_sent == sum(len(p) for p in chunk_text(TEXT))
    assert tally.alignment_seen
    assert tally.aligned_characters == tally.spoken_characters_sent


async def test_a_session_opened_ahead_sends_no_keep_alive_and_goes_stale() -> None:
    import asyncio

    async with LocalServer(port=0, options=ServerOptions()) as server:
        service, speech = settings(server.url)
        # whole seconds, as the URL carries them
        service = replace(service, inactivity_timeout=max(1, int(seconds(1))))
        session = await Connector(service, speech).open()
        assert session.fresh
        await asyncio.sleep(service.inactivity_timeout * 0.6)
        assert not session.fresh  # the pool closes it unused and opens another
        await session.close()
        assert server.stats.characters_received == 0  # no keep-alive space was spoken


async def test_refused_connection_is_a_dropped_connection() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionDroppedError, match="cannot connect"):
        await narrate_once(f"ws://127.0.0.1:{port}")


async def test_model_refused_at_the_handshake_shows_the_services_message() -> None:
    async with LocalServer(port=0, options=ServerOptions()) as server:
        with pytest.raises(ModelRefusedError, match="is not supported on the WebSocket") as caught:
            await narrate_once(server.url, model_id="eleven_v3")
    assert caught.value.code == 400 and caught.value.error == "unsupported_model"


async def test_an_error_sent_to_a_session_opened_ahead_is_what_surfaces() -> None:
    import asyncio

    async with LocalServer(port=0, options=ServerOptions(api_key="right")) as server:
        service, speech = settings(server.url, key="sk_wrong_key_0002")
        session = await Connector(service, speech).open()
        await asyncio.sleep(seconds(0.3))  # the service has refused it and closed meanwhile
        with pytest.raises(AuthenticationError, match="Invalid API key") as caught:
            await session.narrate(TEXT, lambda b: None, StreamTally())
        await session.close()
    assert caught.value.error == "invalid_api_key"


async def test_an_unknown_voice_stops_with_the_services_words() -> None:
    async with LocalServer(port=0, options=ServerOptions()) as server:
        with pytest.raises(VoiceNotFoundError, match="NoSuchVoice123 does not exist"):
            await narrate_once(server.url, voice_id="NoSuchVoice123")


async def test_a_repeated_alignment_pass_neither_fails_nor_overcounts() -> None:
    async with LocalServer(port=0, options=ServerOptions(repeat_alignment=True)) as server:
        _, tally = await narrate_once(server.url)
    assert tally.aligned_characters == tally.spoken_characters_sent


async def test_bad_key_is_an_authentication_error() -> None:
    async with LocalServer(port=0, options=ServerOptions(api_key="right")) as server:
        with pytest.raises(AuthenticationError, match="Invalid API key"):
            await narrate_once(server.url, key="wrong")
        with pytest.raises(AuthenticationError):
            await narrate_once(server.url, key=None)


@pytest.mark.parametrize(
    "options",
    [
        ServerOptions(drop_after_frames=1),
        ServerOptions(internal_error_after_frames=1),
        ServerOptions(quota_characters=5, quota_mode="silent"),
    ],
)
async def test_faults_arrive_as_transient_narrator_errors(options: ServerOptions) -> None:
    async with LocalServer(port=0, options=options) as server:
        with pytest.raises(NarratorError) as caught:
            await narrate_once(server.url)
    assert isinstance(caught.value, TransientServiceError)


async def test_a_session_keeps_only_a_window_of_text_ahead_of_what_was_voiced() -> None:
    from narrator.service.receiver import WINDOW_CHARS, StreamHooks

    text = " ".join(f"Sentence number {n} walks along the quiet river bank." for n in range(120))
    options = ServerOptions(voice_engine="tone", chars_per_second=40_000)
    async with LocalServer(port=0, options=options) as server:
        service, speech = settings(server.url)
        session = await Connector(service, speech).open()
        tally = StreamTally()
        voiced = 0
        ahead: list[int] = []

        def progress(count: int) -> None:
            nonlocal voiced
            voiced += count
            ahead.append(tally.spoken_characters_sent - voiced)

        try:
            await session.narrate(text, lambda audio: None, tally, StreamHooks(progress))
        finally:
            await session.close()
    assert tally.characters_sent == len(text) + 1  # every piece went, each ending in a space
    assert len(ahead) > 10
    assert max(ahead) <= WINDOW_CHARS + 500  # the window, and at most one piece over it
    assert max(ahead) < tally.spoken_characters_sent / 5  # never the whole text at once
