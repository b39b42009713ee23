"""The ElevenLabs-compatible stream-input server as an async context manager (port 0 in tests).

``LocalServer`` only owns the listening socket and what sessions share (counters, limits,
the eSpeak engine); each connection is served by :class:`narrator.local.connection.Connection`.
``serve_in_thread`` runs one on its own loop in a background thread, for tests whose code
under test owns the main loop (a CLI calling ``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from narrator.local.connection import Connection
from narrator.local.options import Limits, ServerOptions, ServerStats
from narrator.local.session import HandshakeRefusal, parse_request
from narrator.local.voice import Espeak
from narrator.local.voices import VOICES_PATH, voices_response

log = logging.getLogger("narrator.local")

#: Frames can be large (a whole generation): the service's own docs use 16 MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class LocalServer:
    """Serve ``/v1/text-to-speech/{voice_id}/stream-input`` on ``host:port`` while entered."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, options: ServerOptions | None = None
    ) -> None:
        self.host, self.port = host, port
        self.options = options or ServerOptions()
        self.stats = ServerStats()
        self._limits = Limits(self.options, self.stats)
        self._espeak = Espeak()
        self._server: Server | None = None
        self._sessions = 0

    @property
    def url(self) -> str:
        """The base URL (``ws://host:port``); clients append the stream-input path."""
        scheme = "wss" if self.options.certfile else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def __aenter__(self) -> LocalServer:
        context: ssl.SSLContext | None = None
        if self.options.certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.options.certfile, self.options.keyfile)
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=MAX_MESSAGE_BYTES,
            # Keep reading while a session generates, as the service does: a bounded queue
            # would stop the socket being read, and with it the answers to the client's pings.
            max_queue=None,
            ssl=context,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("listening on %s", self.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse at the handshake what the service refuses there: bad paths, ``eleven_v3``.

        ``GET /v1/voices`` is plain HTTP on the same port, answered here as the service does.
        """
        if urlsplit(request.path).path == VOICES_PATH:
            return voices_response(connection, request, self.options)
        try:
            parse_request(request.path)
        except HandshakeRefusal as refusal:
            response = connection.respond(refusal.status, refusal.body)
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = refusal.content_type
            return response
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self._sessions += 1
        fault_sessions = self.options.fault_sessions
        faulted = fault_sessions is None or self._sessions <= fault_sessions
        stats = self.stats
        stats.sessions_started += 1
        stats.open_connections += 1
        stats.peak_connections = max(stats.peak_connections, stats.open_connections)
        try:
            connection = Connection(ws, self.options, stats, self._limits, self._espeak, faulted)
            await connection.run()
        finally:
            stats.open_connections -= 1


@contextmanager
def serve_in_thread(options: ServerOptions | None = None) -> Iterator[LocalServer]:
    """Run a LocalServer on port 0 in a daemon thread with its own loop; yield it (``.url``)."""
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        async with LocalServer(options=options) as server:
            holder.update(server=server, stop=stop, loop=loop)
            ready.set()
            await stop.wait()

    def target() -> None:
        try:
            asyncio.run(main())
        finally:
            ready.set()

    thread = threading.Thread(target=target, name="narrator-local-server", daemon=True)
    thread.start()
    ready.wait(30)
    server = holder.get("server")
    if not isinstance(server, LocalServer):
        raise RuntimeError("the local server did not start")
    try:
        yield server
    finally:
        loop, stop = holder["loop"], holder["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
