"""One stream-input WebSocket connection: move frames between the socket and the rules.

The rules live in :mod:`narrator.local.session`; this module adds what needs time and
sockets: the inactivity timer, synthesis off the event loop, pacing, limits and faults.
As on the service, a generation is one frame holding all its audio and its timing, or
(``max_frame_bytes``) several frames of which only the first carries the timing.
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

from narrator.local.alignment import Aligner, Timing
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
    unknown_voice,
)
from narrator.local.voice import Espeak, Speech, ToneVoice, resolve_voice

log = logging.getLogger("narrator.local")

#: A receive that returns faster than this found its frame already queued.
_QUEUED = 0.002
#: How long a deliberate drop waits for the frames already sent to leave the socket.
_DROP_FLUSH_S = 2.0


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
        self.aligner = Aligner(options.repeat_alignment)
        self.key = ""
        self.frames_sent = 0
        self.drop_at: int | None = None  # the random drop drawn for this session, if any
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
                if failure.send_frame:
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
        voice = resolve_voice(self.params.voice_id)
        if voice is None:
            raise unknown_voice(self.params.voice_id)
        self.voice = voice
        fmt = FORMATS.get(self.params.output_format)
        if fmt is None:
            raise ProtocolFailure(
                "invalid_output_format",
                f"Unsupported output format {self.params.output_format!r}. "
                f"Supported: {', '.join(FORMATS)}.",
            )
        self.state.begin(first)
        self.drop_at = self.limits.drops.draw()
        self.encoder = StreamEncoder(fmt)
        if self.options.voice_engine == "tone":
            self.tone = ToneVoice(fmt.sample_rate, self.state.speed)
        while True:
            received = self.state.receive(parse_message(await self._receive()))
            if received.billed and not self.limits.bill(self.key, received.billed):
                if self.options.quota_mode != "silent":
                    raise self.limits.quota_failure(self.key, received.billed)
                self.muted = True
            for text in received.texts:
                await self._generate(text)
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

    async def _generate(self, text: str) -> None:
        """One generation: its audio in one frame or more, sent together when due."""
        if self.muted:
            return
        if not self.slot_taken:
            await self.limits.acquire(self.key)
            self.slot_taken = True
            self.arrived = max(self.arrived, asyncio.get_running_loop().time())  # it waited
        due = self._schedule(len(text))
        speech, audio = await self._synthesize(text)
        delay = due - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        if audio:
            await self._send_audio(audio, *self.aligner.frame(speech))

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

    async def _synthesize(self, text: str) -> tuple[Speech, bytes]:
        encoder = self.encoder
        assert encoder is not None
        if self.tone is not None:  # fast enough to stay on the loop
            speech = self.tone.synthesize(text)
            return speech, encoder.encode(speech)

        def work() -> tuple[Speech, bytes]:
            speech = self.espeak.synthesize(text, self.voice, self.state.speed)
            return speech, encoder.encode(speech)

        return await asyncio.to_thread(work)

    async def _send_audio(self, audio: bytes, alignment: Timing, normalized: Timing) -> None:
        """Send a generation's frames back to back; the timing rides on the first only.

        A fault is checked before the first frame and after each one, so that it hits
        after exactly the configured number of frames, inside a generation or not.
        """
        await self._fault()
        for index, piece in enumerate(self._pieces(audio)):
            first = index == 0
            await self._send({
                "audio": base64.b64encode(piece).decode("ascii"),
                "isFinal": None,
                "normalizedAlignment": normalized if first else None,
                "alignment": alignment if first else None,
            })  # fmt: skip
            self.frames_sent += 1
            self.stats.audio_frames_sent += 1
            await self._fault()

    def _pieces(self, audio: bytes) -> list[bytes]:
        """The audio cut every ``max_frame_bytes`` bytes, wherever that falls."""
        size = self.options.max_frame_bytes
        if size is None:
            return [audio]
        return [audio[start : start + size] for start in range(0, len(audio), size)]

    async def _fault(self) -> None:
        """Inject a fault once ``frames_sent`` reaches a threshold: drawn, or configured."""
        if self.drop_at is not None and self.frames_sent >= self.drop_at:
            await self._drop()
        if not self.faulted:
            return
        drop = self.options.drop_after_frames
        if drop is not None and self.frames_sent >= drop:
            await self._drop()
        limit = self.options.internal_error_after_frames
        if limit is not None and self.frames_sent >= limit:
            self.stats.sessions_failed += 1
            raise ProtocolFailure("internal_server_error", INTERNAL_ERROR, 1011)

    async def _drop(self) -> None:
        """End the TCP connection with no close frame, between two frames.

        The server half-closes (FIN) and waits for the client to close too, rather than
        closing at once: a socket closed while the client's latest messages sit unread in
        it sends a reset, and a reset makes the client's kernel throw away frames already
        received but not yet read. The point of the drop, as the client sees it, is then
        ``drop_after_frames`` and not a matter of timing.
        """
        log.info("fault: dropping the connection after %d frames", self.frames_sent)
        self.stats.sessions_dropped += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _DROP_FLUSH_S
        transport = self.ws.transport
        while transport.get_write_buffer_size() and loop.time() < deadline:
            await asyncio.sleep(0.005)
        if transport.can_write_eof():
            transport.write_eof()
        while not transport.is_closing() and loop.time() < deadline:
            await asyncio.sleep(0.005)
        transport.abort()
        raise _Dropped

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))
