"""Shared test helpers: the real local server in a background thread, and CLI runs.

CLI tests own their event loop (the CLI calls ``asyncio.run``), so the server runs in a thread
with its own loop, as httpx's ``serve_in_thread`` does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from narrator.cli.main import narrate_command
from narrator.local import LocalServer, serve_in_thread

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
