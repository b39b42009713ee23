"""Shared test helpers: the real local server in a background thread, and CLI runs.

CLI tests own their event loop (the CLI calls ``asyncio.run``), so the server runs in a thread
with its own loop, as httpx's ``serve_in_thread`` does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from narrator.cli.main import narrate_command
from narrator.local import LocalServer, serve_in_thread

#: One unit of test time in seconds; a slow machine sets NARRATOR_TEST_TIME_UNIT=2 (or more)
#: and every sleep, latency and timeout in the tests grows with it.
TIME_UNIT = float(os.environ.get("NARRATOR_TEST_TIME_UNIT", "1"))


def seconds(n: float) -> float:
    """``n`` units of test time, in seconds: for every sleep, latency and timeout."""
    return n * TIME_UNIT


def per_second(n: float) -> float:
    """A pace of ``n`` a second at one unit, slowed with it (``n`` characters a second...)."""
    return n / TIME_UNIT


def time_limit(n: float) -> pytest.MarkDecorator:
    """``pytest.mark.timeout`` of ``n`` units of test time."""
    return pytest.mark.timeout(seconds(n))


#: The real local server in a thread with its own loop; yields the server (``.url``, ``.stats``).
server_in_thread = serve_in_thread
RunningServer = LocalServer


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    environment = {"ELEVENLABS_API_KEY": "", "ELEVENLABS_BASE_URL": ""}
    environment.update(env or {})
    return CliRunner().invoke(
        narrate_command, [str(a) for a in args], env=environment, catch_exceptions=False
    )


def service_args(server: RunningServer, key: str = "test-key-123") -> list[str]:
    return [
        *("--engine", "elevenlabs", "--base-url", server.url, "--api-key", key),
        *("--retry-delay", str(seconds(0.02))),
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
