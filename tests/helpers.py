"""Shared test helpers: the real local server in a background thread, and CLI runs.

CLI tests own their event loop (the CLI calls ``asyncio.run``), so the server runs in a thread
with its own loop, as httpx's ``serve_in_thread`` does.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from narrator.cli import narrate_command
from narrator.local import LocalServer, ServerOptions


@dataclass
class RunningServer:
    url: str
    server: LocalServer

    @property
    def stats(self) -> Any:
        return self.server.stats


@contextmanager
def server_in_thread(options: ServerOptions | None = None) -> Iterator[RunningServer]:
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        holder["stop"] = stop
        holder["loop"] = asyncio.get_running_loop()
        async with LocalServer(host="127.0.0.1", port=0, options=options or ServerOptions()) as srv:
            holder["server"] = srv
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the local server did not start")
    server = holder["server"]
    try:
        yield RunningServer(server.url, server)
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(30)


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    environment = {"ELEVENLABS_API_KEY": "", "ELEVENLABS_BASE_URL": ""}
    environment.update(env or {})
    return CliRunner().invoke(
        narrate_command, [str(a) for a in args], env=environment, catch_exceptions=False
    )


def service_args(server: RunningServer, key: str = "test-key-123") -> list[str]:
    return [
        *("--engine", "elevenlabs", "--base-url", server.url, "--api-key", key),
        *("--retry-delay", "0.02"),
    ]


def read_manifest(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return data


def write_book(path: Path, chapters: int, sentences: int = 4, marker: str = "") -> Path:
    """A small Markdown book with distinct chapters, for tests that count sessions."""
    parts = ["---\ntitle: Test Book\nauthor: Test Author\n---\n"]
    for number in range(1, chapters + 1):
        body = " ".join(
            f"Chapter {number} sentence {s} tells a short story{marker}." for s in range(sentences)
        )
        parts.append(f"# Part {number}\n\n{body}\n")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
