"""One text (a segment of a chapter, or what is left of it) over one WebSocket connection.

The connection is opened and initialised ahead of use (:meth:`Connector.open`), so a
handshake never sits on the critical path; it is used only while fresh, since no keep-alive
is sent. The text goes out paced, a window ahead of what the service has voiced, and what
comes back is followed by :class:`narrator.service.receiver.Receiver`. Every websockets and
OSError failure is translated here, where it enters, into narrator's error tree (see
:mod:`narrator.errors`); nothing foreign escapes this module, and the API key is removed from
anything the service echoes.

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
from collections.abc import Sequence
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect

from narrator.errors import (
    BrokenStreamError,
    ConnectionDroppedError,
    QuotaExceededError,
    ServiceError,
    ServiceUnreachableError,
    redact,
)
from narrator.service import protocol
from narrator.service.chunking import TextPiece, message_pieces
from narrator.service.completeness import (
    StreamTally,
    check_complete,
    max_audio_seconds,
    spoken_length,
)
from narrator.service.receiver import AudioSink, Receiver, StreamHooks
from narrator.settings import ServiceSettings, SpeechSettings

#: Consecutive failed connections after which a run that never connected stops.
FIRST_CONNECT_ATTEMPTS = 3
#: Streams in a row with no audio and no error that stop the run (see SilenceWatch).
SILENT_STREAMS = 2
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


class SilenceWatch:
    """Streams in a row that ended with text sent, no audio at all and no error.

    The real service has been seen to answer an exhausted quota exactly so. One such stream
    may be bad luck and is retried; :data:`SILENT_STREAMS` in a row stop the run.
    """

    def __init__(self) -> None:
        self._silent = 0

    def stream_ended(self, tally: StreamTally) -> None:
        if tally.audio_bytes or not tally.characters_sent:
            self._silent = 0
            return
        self._silent += 1
        if self._silent >= SILENT_STREAMS:
            raise QuotaExceededError(
                f"{self._silent} streams in a row ended with no audio and no error: "
                "the account's quota is likely used up"
            )


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
        self._silence = SilenceWatch()
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
        session = Session(ws, self._service, self._speech, self._silence)
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
            response = exc.response
            error = protocol.error_from_handshake(response.status_code, bytes(response.body or b""))
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
    """An initialised stream-input connection, waiting for its one chapter.

    It sends no keep-alive: a keep-alive space joins the spoken text on the real service (and
    may be billed), so a session opened ahead is used only while it is fresh (:attr:`fresh`),
    well inside the service's inactivity timeout; a stale one is closed unused.
    """

    def __init__(
        self,
        ws: ClientConnection,
        service: ServiceSettings,
        speech: SpeechSettings,
        silence: SilenceWatch,
    ):
        self._ws = ws
        self._service = service
        self._speech = speech
        self._silence = silence
        self._opened = time.monotonic()
        self._used = False

    @property
    def fresh(self) -> bool:
        """Young enough that the service has not closed it for inactivity."""
        return time.monotonic() - self._opened < self._service.inactivity_timeout / 2

    async def start(self) -> None:
        await self._send(protocol.initial_message(self._speech))

    async def narrate(
        self,
        text: str,
        sink: AudioSink,
        tally: StreamTally,
        hooks: StreamHooks | None = None,
    ) -> None:
        """Stream ``text`` and pass audio to ``sink`` until the final message and close.

        ``on_checkpoint`` hears each sentence end the audio so far has proven voiced: what a
        caller may keep if the session then fails.
        """
        if self._used:
            raise RuntimeError("a session narrates one text")
        self._used = True
        try:
            await self._exchange(text, sink, tally, hooks or StreamHooks())
            self._silence.stream_ended(tally)
            check_complete(tally, self._speech.output_format, self._speech.fastest_speed)
        except ServiceError as exc:
            raise exc.redacted(self._service.api_key) from exc.__cause__

    async def _exchange(
        self,
        text: str,
        sink: AudioSink,
        tally: StreamTally,
        hooks: StreamHooks,
    ) -> None:
        receiver = Receiver(self._speech, text, sink, tally, hooks)
        sender = asyncio.create_task(self._send_paced(message_pieces(text), tally, receiver, hooks))
        try:
            await self._receive_all(receiver)
            await sender  # surfaces a send failure that the receiver did not see
        finally:
            if not sender.done():
                sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ServiceError):
                await sender

    async def _send_paced(
        self,
        pieces: Sequence[TextPiece],
        tally: StreamTally,
        receiver: Receiver,
        hooks: StreamHooks,
    ) -> None:
        """Keep at most a window ahead of what the alignment shows voiced
        (:data:`narrator.service.receiver.WINDOW_CHARS`).

        Each piece is sentence-complete and flushed, so the service generates it at once
        and never waits on its buffering schedule; one piece queued behind the one being
        generated keeps it busy. Text held back is text a dropped session has not been
        paid for. Should the service say nothing for a third of its inactivity timeout,
        the next piece goes anyway, so pacing can never let the session time out.
        """
        idle = self._service.inactivity_timeout / 3
        for piece in pieces:
            while receiver.holds_back(tally.spoken_characters_sent):
                receiver.voiced.clear()
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(receiver.voiced.wait(), idle)
                    continue
                break
            await self._send(protocol.text_message(piece.text, flush=True))
            tally.characters_sent += len(piece.text)
            tally.spoken_characters_sent += spoken_length(piece.text)
            hooks.on_sent(len(piece.text))
        await self._send(protocol.END_OF_STREAM)

    async def _receive_all(self, receiver: Receiver) -> None:
        """Read until the close; every wait is bounded.

        Before the first audio the bound is ``queue_timeout``: over the plan's concurrency the
        service queues the session, and giving up then would pay for its text again. After
        it, a stall of ``stall_timeout`` gives the session up; and the whole session may
        take no longer than both plus the longest audio its text can need.
        """
        loop = asyncio.get_running_loop()
        stall, queue = self._service.stall_timeout, self._service.queue_timeout
        allowed = queue + stall + max_audio_seconds(receiver.spoken)
        started = loop.time()
        deadline = started + allowed
        last_news: float | None = None
        final_at: float | None = None
        while True:
            if final_at is not None:
                limit = final_at + CLOSE_AFTER_FINAL_S
            else:
                limit = started + queue if last_news is None else last_news + stall
            try:
                raw = await asyncio.wait_for(self._ws.recv(), min(limit, deadline) - loop.time())
            except websockets.exceptions.ConnectionClosed as exc:
                error = _close_error(exc, after_final=final_at is not None)
                if error is None:
                    return
                raise error from exc
            except (asyncio.TimeoutError, TimeoutError) as exc:
                if final_at is not None:
                    return  # every byte arrived; only the closing handshake is missing
                if loop.time() >= deadline:
                    raise BrokenStreamError(
                        f"the session took longer than the {allowed:.0f} s allowed for its text"
                    ) from exc
                if last_news is None:
                    raise ConnectionDroppedError(
                        f"no audio from the service within {queue:g} s of sending the text"
                    ) from exc
                raise ConnectionDroppedError(
                    f"no audio from the service for {stall:g} s; giving the session up"
                ) from exc
            event = protocol.parse_message(raw)
            if isinstance(event, protocol.Final):
                if final_at is None:
                    receiver.finished()
                final_at = final_at or loop.time()
            elif final_at is None and receiver.take(event):
                last_news = loop.time()

    async def _send(self, message: str) -> None:
        try:
            await self._ws.send(message)
        except websockets.exceptions.ConnectionClosed as exc:
            raise await self._error_before(exc) from exc
        except OSError as exc:
            raise ConnectionDroppedError(f"connection lost: {exc}") from exc

    async def _error_before(self, exc: websockets.exceptions.ConnectionClosed) -> ServiceError:
        """What the service said before it closed: an error frame names the error better
        than its close (a bad key on a session opened ahead, say)."""
        with contextlib.suppress(websockets.exceptions.ConnectionClosed, TimeoutError):
            while True:
                raw = await asyncio.wait_for(self._ws.recv(), 1.0)
                try:
                    protocol.parse_message(raw)
                except BrokenStreamError:
                    continue
                except ServiceError as error:
                    return error
        return _close_error(exc, after_final=False) or ConnectionDroppedError("connection closed")

    async def close(self) -> None:
        """Close without waiting long: used for sessions never given a chapter."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ws.close(), 2.0)
