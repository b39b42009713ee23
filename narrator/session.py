"""One chapter over one WebSocket connection.

The connection is opened and initialised ahead of use (:meth:`Connector.open`) and kept alive
with the protocol's keep-alive until a chapter is given to it, so a handshake never sits on
the critical path. Every websockets and OSError failure is translated here, where it enters,
into narrator's error tree (see :mod:`narrator.errors`); nothing foreign escapes this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect

from narrator import protocol
from narrator.completeness import StreamTally, check_complete, spoken_length
from narrator.errors import ConnectionDroppedError, ServiceError, redact
from narrator.settings import ServiceSettings, SpeechSettings

AudioSink = Callable[[bytes], None]
ProgressSink = Callable[[int], None]


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
        return protocol.error_from_close(None, "", after_final=after_final)
    return protocol.error_from_close(exc.rcvd.code, exc.rcvd.reason, after_final=after_final)


class Connector:
    """Opens initialised sessions for one run's service and speech settings."""

    def __init__(self, service: ServiceSettings, speech: SpeechSettings) -> None:
        self._service = service
        self._speech = speech
        self._url = protocol.session_url(service.base_url, speech, service.inactivity_timeout)
        self._headers = protocol.session_headers(service.api_key)

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
        session = Session(ws, self._service, self._speech)
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        return session

    def _translate_handshake(self, exc: Exception) -> ServiceError:
        if isinstance(exc, websockets.exceptions.InvalidStatus):
            return protocol.error_from_handshake(exc.response.status_code, self._speech.model_id)
        message = redact(str(exc) or type(exc).__name__, self._service.api_key)
        return ConnectionDroppedError(f"cannot connect to {self._url}: {message}")


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
        await self._stop_keepalive()
        sender = asyncio.create_task(self._send_all(pieces, tally))
        try:
            await self._receive_all(sink, tally, on_progress)
            await sender  # surfaces a send failure that the receiver did not see
        finally:
            if not sender.done():
                sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ServiceError):
                await sender
        check_complete(tally, self._speech.output_format)

    async def _send_all(self, pieces: Sequence[str], tally: StreamTally) -> None:
        for number, piece in enumerate(pieces, start=1):
            message = protocol.text_message(piece, flush=number == len(pieces))
            await self._send(message)
            tally.characters_sent += len(piece)
            tally.spoken_characters_sent += spoken_length(piece)
        await self._send(protocol.END_OF_STREAM)

    async def _receive_all(
        self, sink: AudioSink, tally: StreamTally, on_progress: ProgressSink | None
    ) -> None:
        final = False
        while True:
            try:
                raw = await asyncio.wait_for(self._ws.recv(), self._receive_timeout)
            except websockets.exceptions.ConnectionClosed as exc:
                error = _close_error(exc, after_final=final)
                if error is None:
                    return
                raise error from exc
            except (asyncio.TimeoutError, TimeoutError) as exc:
                raise ConnectionDroppedError(
                    f"no message from the service for {self._receive_timeout:.0f} s"
                ) from exc
            event = protocol.parse_message(raw)
            if isinstance(event, protocol.Final):
                final = True
                continue
            self._take_audio(event, sink, tally, on_progress)

    @staticmethod
    def _take_audio(
        event: protocol.AudioChunk,
        sink: AudioSink,
        tally: StreamTally,
        on_progress: ProgressSink | None,
    ) -> None:
        if event.audio:
            sink(event.audio)
            tally.audio_bytes += len(event.audio)
        if event.alignment is not None:
            tally.alignment_seen = True
            voiced = spoken_length(event.alignment.chars)
            tally.aligned_characters += voiced
            if on_progress is not None and voiced:
                on_progress(voiced)

    @property
    def _receive_timeout(self) -> float:
        return float(self._service.inactivity_timeout) + 40.0

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
