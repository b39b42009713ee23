"""One chapter over one WebSocket connection.

The connection is opened and initialised ahead of use (:meth:`Connector.open`) and kept alive
with the protocol's keep-alive until a chapter is given to it, so a handshake never sits on
the critical path. Every websockets and OSError failure is translated here, where it enters,
into narrator's error tree (see :mod:`narrator.errors`); nothing foreign escapes this module,
and the API key is removed from anything the service echoes.

Nothing here waits without a bound: a handshake gets ``open_timeout`` seconds; a session that
brings no new audio for ``stall_timeout`` seconds is given up; a whole session gets
``stall_timeout`` plus the longest audio its text can need; the audio it may bring is capped
by :func:`narrator.service.completeness.max_audio_bytes`. When connections keep failing, the
:class:`Connector` stops the run instead of letting every chapter wait out its retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect

from narrator.errors import (
    BrokenStreamError,
    ConnectionDroppedError,
    ServiceError,
    ServiceUnreachableError,
    redact,
)
from narrator.service import protocol
from narrator.service.completeness import (
    StreamTally,
    check_audio,
    check_complete,
    max_audio_seconds,
    spoken_length,
)
from narrator.settings import ServiceSettings, SpeechSettings

AudioSink = Callable[[bytes], None]
ProgressSink = Callable[[int], None]

#: Consecutive failed connections after which a run that never connected stops.
FIRST_CONNECT_ATTEMPTS = 3
#: Seconds to wait for the close that follows ``isFinal`` before closing ourselves.
CLOSE_AFTER_FINAL_S = 10.0


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _close_error(
    exc: websockets.exceptions.ConnectionClosed, *, after_final: bool
) -> ServiceError | None:
    """What a close means; no close frame received (``rcvd`` is None) is a dropped link."""
    if exc.rcvd is None:
        if exc.sent is not None and exc.sent.code == 1009:
            return BrokenStreamError("the service sent a frame larger than narrator accepts")
        return protocol.error_from_close(None, "", after_final=after_final)
    return protocol.error_from_close(exc.rcvd.code, exc.rcvd.reason, after_final=after_final)


class Connector:
    """Opens initialised sessions for one run's service and speech settings.

    It also watches the run's connections as a whole: when the first attempts all fail, or
    nothing could be opened for ``unreachable_after`` seconds after earlier successes, the
    service is unreachable and :class:`ServiceUnreachableError` stops the run.
    """

    def __init__(self, service: ServiceSettings, speech: SpeechSettings) -> None:
        self._service = service
        self._speech = speech
        self._url = protocol.session_url(service.base_url, speech, service.inactivity_timeout)
        self._headers = protocol.session_headers(service.api_key)
        parts = urlsplit(self._url)
        self._where = f"{parts.scheme}://{parts.hostname}" + (
            f":{parts.port}" if parts.port else ""
        )
        self._ever_opened = False
        self._failures = 0
        self._failing_since: float | None = None

    @property
    def url(self) -> str:
        """The session URL; it never holds the key, so it may be logged."""
        return self._url

    async def open(self) -> Session:
        """Connect and send the initial message; failures come back as ServiceError."""
        try:
            ws = await connect(
                self._url,
                additional_headers=self._headers,
                max_size=self._service.max_size,
                open_timeout=self._service.open_timeout,
                proxy=None if _is_loopback(self._url) else True,
                compression=None,
            )
        except Exception as exc:
            raise self._translate_handshake(exc) from exc
        self._ever_opened, self._failures, self._failing_since = True, 0, None
        session = Session(ws, self._service, self._speech)
        try:
            await session.start()
        except ServiceError as exc:
            await session.close()
            raise exc.redacted(self._service.api_key) from exc.__cause__
        except BaseException:
            await session.close()
            raise
        return session

    def _translate_handshake(self, exc: Exception) -> ServiceError:
        key = self._service.api_key
        if isinstance(exc, websockets.exceptions.InvalidStatus):
            error = protocol.error_from_handshake(exc.response.status_code, self._speech.model_id)
            return error.redacted(key)
        if isinstance(exc, TimeoutError):
            reason = f"no answer to the handshake within {self._service.open_timeout:g} s"
        else:
            reason = protocol.one_line(redact(str(exc) or type(exc).__name__, key))
        return self._connect_failed(f"cannot connect to {self._where}: {reason}")

    def _connect_failed(self, message: str) -> ServiceError:
        now = time.monotonic()
        self._failures += 1
        if self._failing_since is None:
            self._failing_since = now
        if self._failures >= FIRST_CONNECT_ATTEMPTS and (
            not self._ever_opened or now - self._failing_since >= self._service.unreachable_after
        ):
            return ServiceUnreachableError(
                f"{message} ({self._failures} attempts failed); "
                "check --base-url and the network, then run again"
            )
        return ConnectionDroppedError(message)


class Session:
    """An initialised stream-input connection, waiting for its one chapter."""

    def __init__(self, ws: ClientConnection, service: ServiceSettings, speech: SpeechSettings):
        self._ws = ws
        self._service = service
        self._speech = speech
        self._keepalive: asyncio.Task[None] | None = None
        self._used = False

    async def start(self) -> None:
        await self._send(protocol.initial_message(self._speech))
        self._keepalive = asyncio.create_task(self._keep_alive())

    async def _keep_alive(self) -> None:
        """Reset the service's inactivity timer while the session waits for a chapter."""
        interval = max(0.2, self._service.inactivity_timeout / 3)
        while True:
            await asyncio.sleep(interval)
            await self._send(protocol.KEEP_ALIVE)

    async def _stop_keepalive(self) -> None:
        if self._keepalive is None:
            return
        task, self._keepalive = self._keepalive, None
        if task.done():
            task.result()  # a keep-alive that failed means the connection is gone
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def narrate(
        self,
        pieces: Sequence[str],
        sink: AudioSink,
        tally: StreamTally,
        on_progress: ProgressSink | None = None,
    ) -> None:
        """Stream ``pieces`` and pass audio to ``sink`` until the final message and close."""
        if self._used:
            raise RuntimeError("a session narrates one chapter")
        self._used = True
        try:
            await self._stop_keepalive()
            await self._exchange(pieces, sink, tally, on_progress)
            check_complete(tally, self._speech.output_format, self._speech.fastest_speed)
        except ServiceError as exc:
            raise exc.redacted(self._service.api_key) from exc.__cause__

    async def _exchange(
        self,
        pieces: Sequence[str],
        sink: AudioSink,
        tally: StreamTally,
        on_progress: ProgressSink | None,
    ) -> None:
        spoken = sum(spoken_length(piece) for piece in pieces)
        sender = asyncio.create_task(self._send_all(pieces, tally))
        try:
            await self._receive_all(_Receiver(self._speech, spoken, sink, tally, on_progress))
            await sender  # surfaces a send failure that the receiver did not see
        finally:
            if not sender.done():
                sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ServiceError):
                await sender

    async def _send_all(self, pieces: Sequence[str], tally: StreamTally) -> None:
        for number, piece in enumerate(pieces, start=1):
            message = protocol.text_message(piece, flush=number == len(pieces))
            await self._send(message)
            tally.characters_sent += len(piece)
            tally.spoken_characters_sent += spoken_length(piece)
        await self._send(protocol.END_OF_STREAM)

    async def _receive_all(self, receiver: _Receiver) -> None:
        loop = asyncio.get_running_loop()
        stall = self._service.stall_timeout
        allowed = stall + max_audio_seconds(receiver.spoken)
        deadline = loop.time() + allowed
        last_news = loop.time()
        final = False
        while True:
            limit = last_news + (CLOSE_AFTER_FINAL_S if final else stall)
            try:
                raw = await asyncio.wait_for(self._ws.recv(), min(limit, deadline) - loop.time())
            except websockets.exceptions.ConnectionClosed as exc:
                error = _close_error(exc, after_final=final)
                if error is None:
                    return
                raise error from exc
            except (asyncio.TimeoutError, TimeoutError) as exc:
                if final:
                    return  # every byte arrived; only the closing handshake is missing
                if loop.time() >= deadline:
                    raise BrokenStreamError(
                        f"the session took longer than the {allowed:.0f} s allowed for its text"
                    ) from exc
                raise ConnectionDroppedError(
                    f"no audio from the service for {stall:g} s; giving the session up"
                ) from exc
            event = protocol.parse_message(raw)
            if isinstance(event, protocol.Final):
                final, last_news = True, loop.time()
            elif not final and receiver.take(event):
                last_news = loop.time()

    async def _send(self, message: str) -> None:
        try:
            await self._ws.send(message)
        except websockets.exceptions.ConnectionClosed as exc:
            raise _close_error(exc, after_final=False) or ConnectionDroppedError(
                "connection closed"
            ) from exc
        except OSError as exc:
            raise ConnectionDroppedError(f"connection lost: {exc}") from exc

    async def close(self) -> None:
        """Close without waiting long: used for sessions never given a chapter."""
        with contextlib.suppress(Exception):
            await self._stop_keepalive()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ws.close(), 2.0)


class _Receiver:
    """Takes audio frames for one text: checks, counts, passes on."""

    def __init__(
        self,
        speech: SpeechSettings,
        spoken: int,
        sink: AudioSink,
        tally: StreamTally,
        on_progress: ProgressSink | None,
    ) -> None:
        self.spoken = spoken
        self._format = speech.output_format
        self._sink, self._tally, self._on_progress = sink, tally, on_progress

    def take(self, event: protocol.AudioChunk) -> bool:
        """Pass the frame's audio on; True when it brought news (audio or timing)."""
        tally = self._tally
        if event.audio:
            check_audio(tally, event.audio, self._format, self.spoken)
            self._sink(event.audio)
            tally.audio_bytes += len(event.audio)
        voiced = 0
        if event.alignment is not None:
            tally.alignment_seen = True
            voiced = spoken_length(event.alignment.chars)
            tally.aligned_characters += voiced
            if self._on_progress is not None and voiced:
                self._on_progress(voiced)
        return bool(event.audio) or voiced > 0
