"""The local server's switches, its live counters, and the per-key limits sessions share.

Every test switch is off by default, so a plain ``ServerOptions()`` behaves like a healthy
service with no limits. Limits are per API key (``""`` when none is given), as a plan's are.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Literal

from narrator.local.session import ProtocolFailure


@dataclass(frozen=True)
class ServerOptions:
    """How the local server behaves; see ``narrate-server --help`` for each switch.

    ``max_concurrency`` counts sessions that have started generating (idle connections opened
    ahead do not count, as on the service where only generating time counts); above it a
    session waits (``"queue"``, the default: what the service does on WebSockets) or gets
    ``too_many_concurrent_requests`` and close 1008 (``"refuse"``).

    ``quota_characters`` is per key over the server's life, counting every character
    received (keep-alive spaces too). The message that passes it ends the session:
    ``"error"`` sends a ``quota_exceeded`` frame and closes 1008; ``"close"`` closes 1008
    with no frame, the reason "This request exceeds your quota of N. You have M credits
    remaining, while K credits are required for this request." cut to 123 bytes (as seen
    on the service); ``"silent"`` sends no more audio and ends with a normal final.

    A generation is one audio frame, carrying its timing, unless ``max_frame_bytes`` is set:
    then longer audio is cut into frames of at most that many bytes, at arbitrary byte
    positions (mp3 frames are split too, as the service promises nothing), and only the
    first frame of the generation carries ``alignment`` and ``normalizedAlignment``, the
    others ``null``. All frames of a generation leave together, at the generation's time.

    ``drop_after_frames`` (abort the TCP connection, no close frame) and
    ``internal_error_after_frames`` (error frame and close 1011) count audio frames, so with
    ``max_frame_bytes`` a fault can land inside a generation: it hits right after the Nth
    frame (0: before the first). They apply to the first ``fault_sessions`` sessions (None:
    all).

    ``drop_share`` drops sessions at random, for benchmarks of recovery: each session that
    starts is chosen with that probability and then dropped after a number of audio frames
    drawn uniformly from ``0..drop_within_frames`` (a session that ends sooner is not
    dropped). One ``random.Random(fault_seed)`` per server makes every draw, so a run is
    reproducible for a given order of sessions. These drops ignore ``fault_sessions``.

    ``repeat_alignment`` makes ``alignment`` restart from the session's character 0, as
    Flash v2.5 has been seen to do: the frame of every generation after the first carries,
    in front of its own entries, the own entries of every earlier generation in order, with
    the characters and times they first had (each generation's times start at 0). So the
    times go back to 0 wherever a generation begins, the last ``len(text)`` entries are this
    generation's, and a client that counts characters naively over-counts.
    ``normalizedAlignment`` is never repeated: it is always the generation's own.

    ``echo_key_in_errors`` repeats a wrong key in the invalid-key error.
    """

    api_key: str | None = None
    first_audio_latency_s: float = 0.0
    chars_per_second: float | None = None
    max_concurrency: int | None = None
    concurrency_mode: Literal["queue", "refuse"] = "queue"
    quota_characters: int | None = None
    quota_mode: Literal["error", "close", "silent"] = "error"
    drop_after_frames: int | None = None
    internal_error_after_frames: int | None = None
    fault_sessions: int | None = None
    max_frame_bytes: int | None = None
    drop_share: float = 0.0
    drop_within_frames: int = 8
    fault_seed: int = 0
    repeat_alignment: bool = False
    voice_engine: Literal["espeak", "tone"] = "espeak"
    echo_key_in_errors: bool = False
    certfile: str | None = None
    keyfile: str | None = None

    def __post_init__(self) -> None:
        """Refuse switches that would make the fault model meaningless, at construction."""
        if self.max_frame_bytes is not None and self.max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be at least 1, not {self.max_frame_bytes}")
        if not 0.0 <= self.drop_share <= 1.0:
            raise ValueError(f"drop_share must be within 0..1, not {self.drop_share}")
        if self.drop_within_frames < 0:
            raise ValueError(f"drop_within_frames must be 0 or more, not {self.drop_within_frames}")


@dataclass
class ServerStats:
    """Live counters, read by tests and benchmarks.

    ``peak_concurrency`` counts generating sessions. ``sessions_dropped`` and
    ``sessions_failed`` count the injected drops and internal errors, so that a test can
    tell a fault really happened rather than a run that merely went well.
    """

    sessions_started: int = 0
    sessions_completed: int = 0
    characters_received: int = 0
    audio_frames_sent: int = 0
    peak_concurrency: int = 0
    peak_connections: int = 0
    open_connections: int = 0
    generating: int = 0
    sessions_dropped: int = 0
    sessions_failed: int = 0


class RandomDrops:
    """The random drop plan of one server: which sessions ``drop_share`` hits, and where.

    One generator serves every session, so the same seed and the same order of sessions
    give the same drops, whatever else the sessions do.
    """

    def __init__(self, options: ServerOptions) -> None:
        self.share = options.drop_share
        self.within = options.drop_within_frames
        self._random = random.Random(options.fault_seed)

    def draw(self) -> int | None:
        """For a session that starts: the audio frames after which to drop it, or None."""
        if self.share <= 0.0 or self._random.random() >= self.share:
            return None
        return self._random.randint(0, self.within)


class Limits:
    """Quota, concurrency and random drops, shared by all sessions of one server.

    Quota and concurrency are kept per key; ``drops`` is one plan for the whole server.
    """

    def __init__(self, options: ServerOptions, stats: ServerStats) -> None:
        self.options = options
        self.stats = stats
        self.drops = RandomDrops(options)
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
        """The end of a session over quota: a frame and a close, or (``"close"``) the close."""
        quota = self.options.quota_characters or 0
        remaining = max(quota - self._used.get(key, 0), 0)
        return ProtocolFailure(
            "quota_exceeded",
            f"This request exceeds your quota of {quota}. You have {remaining} credits "
            f"remaining, while {characters} credits are required for this request.",
            send_frame=self.options.quota_mode != "close",
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
