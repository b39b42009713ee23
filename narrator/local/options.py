"""The local server's switches, its live counters, and the per-key limits sessions share.

Every test switch is off by default, so a plain ``ServerOptions()`` behaves like a healthy
service with no limits. Limits are per API key (``""`` when none is given), as a plan's are.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from narrator.local.session import ProtocolFailure


@dataclass(frozen=True)
class ServerOptions:
    """How the local server behaves; see ``narrate-server --help`` for each switch.

    ``max_concurrency`` counts sessions that have started generating (idle connections opened
    ahead do not count, as on the service where only generating time counts); above it a
    session waits (``"queue"``) or gets ``too_many_concurrent_requests`` and close 1008
    (``"refuse"``). ``quota_characters`` is per key over the server's life; past it a session
    gets ``quota_exceeded`` and close 1008 (``"error"``) or no audio and a normal final
    (``"silent"``). ``echo_key_in_errors`` repeats a wrong key in the invalid-key error.
    Faults apply to the first ``fault_sessions`` sessions (None: all).
    """

    api_key: str | None = None
    first_audio_latency_s: float = 0.0
    chars_per_second: float | None = None
    max_concurrency: int | None = None
    concurrency_mode: Literal["queue", "refuse"] = "queue"
    quota_characters: int | None = None
    quota_mode: Literal["error", "silent"] = "error"
    drop_after_frames: int | None = None
    internal_error_after_frames: int | None = None
    fault_sessions: int | None = None
    voice_engine: Literal["espeak", "tone"] = "espeak"
    echo_key_in_errors: bool = False
    certfile: str | None = None
    keyfile: str | None = None


@dataclass
class ServerStats:
    """Live counters, read by tests. ``peak_concurrency`` counts generating sessions."""

    sessions_started: int = 0
    sessions_completed: int = 0
    characters_received: int = 0
    audio_frames_sent: int = 0
    peak_concurrency: int = 0
    peak_connections: int = 0
    open_connections: int = 0
    generating: int = 0


class Limits:
    """Quota and concurrency bookkeeping per key, shared by all sessions of one server."""

    def __init__(self, options: ServerOptions, stats: ServerStats) -> None:
        self.options = options
        self.stats = stats
        self._used: dict[str, int] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}

    def bill(self, key: str, characters: int) -> bool:
        """Count ``characters`` against the key's quota; False when they would pass it."""
        self.stats.characters_received += characters
        quota = self.options.quota_characters
        used = self._used.get(key, 0)
        if quota is not None and used + characters > quota:
            return False
        self._used[key] = used + characters
        return True

    def quota_failure(self, key: str, characters: int) -> ProtocolFailure:
        remaining = max((self.options.quota_characters or 0) - self._used.get(key, 0), 0)
        return ProtocolFailure(
            "quota_exceeded",
            f"This request exceeds your quota. You have {remaining} credits remaining, while "
            f"{characters} credits are required for this request.",
        )

    async def acquire(self, key: str) -> None:
        """Take a generating slot: wait for one, or refuse, when the key is at its limit."""
        limit = self.options.max_concurrency
        if limit is not None:
            slot = self._slots.setdefault(key, asyncio.Semaphore(limit))
            if self.options.concurrency_mode == "refuse" and slot.locked():
                raise ProtocolFailure(
                    "too_many_concurrent_requests",
                    f"Too many concurrent requests: your plan allows {limit} at a time. "
                    "Retry when one of them has finished.",
                )
            await slot.acquire()
        self.stats.generating += 1
        self.stats.peak_concurrency = max(self.stats.peak_concurrency, self.stats.generating)

    def release(self, key: str) -> None:
        self.stats.generating -= 1
        if self.options.max_concurrency is not None:
            self._slots[key].release()
