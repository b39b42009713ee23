"""Wire helpers for the local server's tests: raw JSON over a real socket, nothing of
narrator's client."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from narrator.local import LocalServer

GEORGE = "JBFqnCBsd6RMkjVDRZzb"
BOS = '{"text": " "}'
EOS = '{"text": ""}'
SENTENCE = "The quick brown fox jumps over the lazy dog. "


def stream_url(server: LocalServer, voice: str = GEORGE, **query: str) -> str:
    path = f"{server.url}/v1/text-to-speech/{voice}/stream-input"
    return f"{path}?{urlencode(query)}" if query else path


async def next_message(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def rest_of_session(ws: ClientConnection, timeout: float = 20) -> list[dict[str, Any]]:
    """Every message until the server closes."""
    messages: list[dict[str, Any]] = []
    try:
        while True:
            messages.append(await next_message(ws, timeout))
    except ConnectionClosed:
        return messages


def audio_of(messages: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(m["audio"]) for m in messages if m.get("audio"))


def audio_frames(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("audio")]


async def no_message_within(ws: ClientConnection, seconds: float) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return True
    return False


ServerFactory = Callable[..., AbstractAsyncContextManager[LocalServer]]


async def narrate(
    server: LocalServer, text: str, voice: str = GEORGE, first: str = BOS, **query: str
) -> tuple[list[dict[str, Any]], ClientConnection]:
    """One whole session: initial message, ``text`` flushed, end of stream; all replies."""
    async with connect(stream_url(server, voice, **query), max_size=2**24) as ws:
        await ws.send(first)
        await ws.send(json.dumps({"text": text, "flush": True}))
        await ws.send(EOS)
        messages = await rest_of_session(ws)
    return messages, ws


async def messages_until_quiet(ws: ClientConnection, seconds: float = 0.5) -> list[dict[str, Any]]:
    """Every message until none arrives for ``seconds`` (a generation's frames)."""
    messages: list[dict[str, Any]] = []
    while True:
        try:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), seconds)))
        except asyncio.TimeoutError:
            return messages
