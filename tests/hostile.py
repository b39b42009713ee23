"""A tiny hostile stream-input server on 127.0.0.1, for faults the local server is too
well-behaved to show: silence, endless audio, broken frames, stalls, echoed keys.

Each behaviour is a coroutine that serves one connection after the handshake; ``silent``
and ``no_handshake`` act below the WebSocket layer. The server runs in a thread with its own
loop, because CLI tests own theirs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import lameenc
from websockets.asyncio.server import Server, ServerConnection, serve

from tests.helpers import seconds

Behaviour = Callable[[ServerConnection, "Hostile"], Awaitable[None]]


def mp3_audio(seconds: float, rate: int = 44100, kbps: int = 128) -> bytes:
    """Real MP3 frames of silence, as the service would send for ``seconds`` of speech."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    data = encoder.encode(b"\0\0" * int(rate * seconds))
    return bytes(data + encoder.flush())


def audio_frame(audio: bytes, text: str | None = None) -> str:
    alignment = None
    if text is not None:
        alignment = {
            "chars": list(text),
            "charStartTimesMs": [i * 60 for i in range(len(text))],
            "charDurationsMs": [60] * len(text),
        }
    return json.dumps(
        {
            "audio": base64.b64encode(audio).decode(),
            "isFinal": None,
            "alignment": alignment,
            "normalizedAlignment": None,
        }
    )


FINAL = json.dumps({"audio": None, "isFinal": True, "alignment": None})


@dataclass
class Hostile:
    """The running server: its URL, what it received and how many connections it saw."""

    port: int = 0
    connections: int = 0
    texts: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


async def read_text(ws: ServerConnection, hostile: Hostile) -> str:
    """Read client messages up to the end of stream; returns the text sent."""
    text = ""
    async for raw in ws:
        message = json.loads(raw)
        piece = message.get("text")
        if piece == "":
            break
        if piece and piece != " ":
            text += piece
    hostile.texts.append(text)
    return text


async def honest_end(ws: ServerConnection, text: str, stall: float = 0.0) -> None:
    """Speech at 15 characters a second, split in two with an optional stall between."""
    audio = mp3_audio(max(1.0, len(text.replace(" ", "")) / 15))
    half = len(audio) // 2
    await ws.send(audio_frame(audio[:half], text[: len(text) // 2]))
    await asyncio.sleep(stall)
    await ws.send(audio_frame(audio[half:], text[len(text) // 2 :]))
    await ws.send(FINAL)
    await ws.close(1000)


@contextlib.contextmanager
def hostile_server(behaviour: Behaviour | str) -> Iterator[Hostile]:
    """Serve ``behaviour`` (a coroutine, or "silent" / "no_handshake") on a free port."""
    hostile = Hostile()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def handler(ws: ServerConnection) -> None:
        hostile.connections += 1
        hostile.headers.append(dict(ws.request.headers) if ws.request else {})
        assert callable(behaviour)
        with contextlib.suppress(Exception):
            await behaviour(ws, hostile)

    async def raw_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hostile.connections += 1
        with contextlib.suppress(Exception, asyncio.CancelledError):
            if behaviour == "no_handshake":
                await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(seconds(3600))

    async def main() -> None:
        stop = asyncio.Event()
        holder.update(loop=asyncio.get_running_loop(), stop=stop)
        server: asyncio.Server | Server
        if isinstance(behaviour, str):
            server = await asyncio.start_server(raw_handler, "127.0.0.1", 0)
        else:
            server = await serve(handler, "127.0.0.1", 0, max_size=None)
        hostile.port = next(iter(server.sockets)).getsockname()[1]
        ready.set()
        await stop.wait()
        server.close()
        for task in asyncio.all_tasks():  # handlers that would wait forever
            if task is not asyncio.current_task():
                task.cancel()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    ready.wait(seconds(10))
    try:
        yield hostile
    finally:
        loop, stop = holder["loop"], holder["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(seconds(5))
