"""One stream-input WebSocket connection: move frames between the socket and the rules.

The rules live in :mod:`narrator.local.session`; this module adds what needs time and
sockets: the inactivity timer, synthesis off the event loop, pacing, limits and faults.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from narrator.local.encode import FORMATS, StreamEncoder
from narrator.local.options import Limits, ServerOptions, ServerStats
from narrator.local.session import (
    INTERNAL_ERROR,
    NO_CREDENTIALS,
    Params,
    ProtocolFailure,
    StreamInput,
    inactivity_failure,
    message_credentials,
    parse_message,
    parse_request,
)
from narrator.local.voice import Espeak, Speech, ToneVoice, resolve_voice

log = logging.getLogger("narrator.local")

#: Raw bytes of audio per frame: 12 KiB is 16 KiB of base64, well under any client limit.
FRAME_BYTES = 12 * 1024


#: A receive that returns faster than this found its frame already queued.
_QUEUED = 0.002


class _Dropped(Exception):
    """The connection was aborted on purpose (fault injection): nothing more to send."""


class Connection:
    """Serve one session from the initial message to the final one (or an error)."""

    def __init__(
        self,
        ws: ServerConnection,
        options: ServerOptions,
        stats: ServerStats,
        limits: Limits,
        espeak: Espeak,
        faulted: bool,
    ) -> None:
        self.ws, self.options, self.stats, self.limits = ws, options, stats, limits
        self.espeak = espeak
        self.faulted = faulted
        assert ws.request is not None
        self.params: Params = parse_request(ws.request.path)
        self.header_key = ws.request.headers.get("xi-api-key")
        self.state = StreamInput(self.params)
        self.key = ""
        self.frames_sent = 0
        self.ready_at = 0.0  # when the modelled service finishes its current generation
        self.arrived = 0.0  # when the latest text reached us, as far as we can tell
        self.muted = False
        self.slot_taken = False
        self.encoder: StreamEncoder | None = None
        self.tone: ToneVoice | None = None
        self.voice = ""

    async def run(self) -> None:
        try:
            await self._serve()
        except ProtocolFailure as failure:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(json.dumps(failure.frame()))
                await self.ws.close(failure.code, failure.reason)
        except (_Dropped, ConnectionClosed):
            pass
        finally:
            if self.slot_taken:
                self.limits.release(self.key)

    async def _serve(self) -> None:
        first = parse_message(await self._receive())
        self._authenticate(first)
        fmt = FORMATS.get(self.params.output_format)
        if fmt is None:
            raise ProtocolFailure(
                "invalid_output_format",
                f"Unsupported output format {self.params.output_format!r}. "
                f"Supported: {', '.join(FORMATS)}.",
            )
        self.state.begin(first)
        self.encoder = StreamEncoder(fmt)
        self.voice = resolve_voice(self.params.voice_id)
        if self.options.voice_engine == "tone":
            self.tone = ToneVoice(fmt.sample_rate, self.state.speed)
        while True:
            received = self.state.receive(parse_message(await self._receive()))
            if received.billed and not self.limits.bill(self.key, received.billed):
                if self.options.quota_mode == "error":
                    raise self.limits.quota_failure(self.key, received.billed)
                self.muted = True
            for i, text in enumerate(received.texts):
                last = i == len(received.texts) - 1
                await self._generate(text, drain=received.drain and last)
            if received.drain and not received.texts and not self.muted:
                tail = self.encoder.finish()
                if tail:
                    await self._send_audio(tail, None)
            if received.end_of_stream:
                await self._send({"audio": None, "isFinal": True,
                                  "normalizedAlignment": None, "alignment": None})  # fmt: skip
                self.stats.sessions_completed += 1  # before the close the client waits for
                await self.ws.close(1000)
                return

    async def _receive(self) -> str | bytes:
        """The next client frame; the inactivity timer restarts with each one."""
        loop = asyncio.get_running_loop()
        asked = loop.time()
        try:
            frame = await asyncio.wait_for(self.ws.recv(), self.params.inactivity_timeout)
        except asyncio.TimeoutError:
            raise inactivity_failure(self.params.inactivity_timeout) from None
        if not self.arrived or loop.time() - asked > _QUEUED:  # it arrived just now
            self.arrived = loop.time()
        return frame

    def _authenticate(self, first: dict[str, Any]) -> None:
        """Key from the header, else the first message or ``authorization`` (section 2)."""
        given = self.header_key or message_credentials(first) or self.params.authorization
        self.key = given or ""
        expected = self.options.api_key
        if expected is None:
            return
        if not given:
            raise ProtocolFailure("authentication_required", NO_CREDENTIALS)
        if given.removeprefix("Bearer ").strip() != expected:
            # Some services echo what they were given; the switch lets tests prove that an
            # echoed key never reaches narrator's output.
            echo = f": {given}" if self.options.echo_key_in_errors else ""
            raise ProtocolFailure("invalid_api_key", f"Invalid API key{echo}")

    async def _generate(self, text: str, drain: bool) -> None:
        if self.muted:
            return
        if not self.slot_taken:
            await self.limits.acquire(self.key)
            self.slot_taken = True
            self.arrived = max(self.arrived, asyncio.get_running_loop().time())  # it waited
        due = self._schedule(len(text))
        speech, audio = await self._synthesize(text, drain)
        delay = due - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        for piece, alignment in split_frames(audio, speech, self.params.sync_alignment):
            await self._send_audio(piece, alignment)

    def _schedule(self, characters: int) -> float:
        """When the modelled service would have this generation's audio ready.

        Generations of a session run one after another at ``chars_per_second``, the first
        after ``first_audio_latency_s``, each starting when its text arrived or when the one
        before it ended. Text that was already queued counts from when the queue was last
        empty, so the time this server spends encoding and sending audio overlaps generation,
        as on the service, rather than being added to the model.
        """
        start = max(self.arrived, self.ready_at)
        if self.frames_sent == 0 and self.ready_at == 0.0:
            start += self.options.first_audio_latency_s
        if self.options.chars_per_second:
            start += characters / self.options.chars_per_second
        self.ready_at = start
        return start

    async def _synthesize(self, text: str, drain: bool) -> tuple[Speech, bytes]:
        encoder = self.encoder
        assert encoder is not None
        if self.tone is not None:  # fast enough to stay on the loop
            speech = self.tone.synthesize(text)
            return speech, encoder.encode(speech) + (encoder.finish() if drain else b"")

        def work() -> tuple[Speech, bytes]:
            speech = self.espeak.synthesize(text, self.voice, self.state.speed)
            return speech, encoder.encode(speech) + (encoder.finish() if drain else b"")

        return await asyncio.to_thread(work)

    async def _send_audio(self, audio: bytes, alignment: dict[str, Any] | None) -> None:
        self._fault()
        await self._send({
            "audio": base64.b64encode(audio).decode("ascii"),
            "isFinal": None,
            "normalizedAlignment": alignment,
            "alignment": alignment,
        })  # fmt: skip
        self.frames_sent += 1
        self.stats.audio_frames_sent += 1
        self._fault()

    def _fault(self) -> None:
        """Inject the configured fault once ``frames_sent`` reaches its threshold."""
        if not self.faulted:
            return
        drop = self.options.drop_after_frames
        if drop is not None and self.frames_sent >= drop:
            log.info("fault: dropping the connection after %d frames", self.frames_sent)
            self.ws.transport.abort()
            raise _Dropped
        limit = self.options.internal_error_after_frames
        if limit is not None and self.frames_sent >= limit:
            raise ProtocolFailure("internal_server_error", INTERNAL_ERROR, 1011)

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))


def split_frames(
    audio: bytes, speech: Speech, sync_alignment: bool
) -> list[tuple[bytes, dict[str, Any] | None]]:
    """Cut one generation's audio into frames, with the alignment where the protocol puts it.

    Without ``sync_alignment`` the first frame carries the whole generation's timing; with it
    each frame carries the characters that start inside it, relative to the frame's start
    (frame times are in proportion to bytes, exact for PCM and for constant-bitrate MP3).
    """
    if not audio:
        return []
    pieces = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
    if not sync_alignment:
        first = _alignment(speech, range(len(speech.text)), 0)
        return [(p, first if i == 0 else None) for i, p in enumerate(pieces)]
    frames: list[tuple[bytes, dict[str, Any] | None]] = []
    total, chars = len(audio), 0
    for i, piece in enumerate(pieces):
        begin = round(speech.duration_ms * i * FRAME_BYTES / total)
        end = round(speech.duration_ms * min((i + 1) * FRAME_BYTES, total) / total)
        stop = chars
        while stop < len(speech.text) and (speech.starts_ms[stop] < end or i == len(pieces) - 1):
            stop += 1
        frames.append(
            (piece, _alignment(speech, range(chars, stop), begin) if stop > chars else None)
        )
        chars = stop
    return frames


def _alignment(speech: Speech, indexes: range, offset_ms: int) -> dict[str, Any]:
    return {
        "chars": [speech.text[i] for i in indexes],
        "charStartTimesMs": [max(speech.starts_ms[i] - offset_ms, 0) for i in indexes],
        "charDurationsMs": [speech.durations_ms[i] for i in indexes],
    }
