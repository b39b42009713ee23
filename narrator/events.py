"""What the core tells the outside world while it runs; tqdm and logs only render these.

Library callers and tests see plain values, never a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RunStarted:
    chapters: int
    characters: int
    skipped: int


@dataclass(frozen=True)
class Notice:
    """A one-line message for the user (engine choice, warnings, skipped documents)."""

    text: str
    warning: bool = False


@dataclass(frozen=True)
class ChapterStarted:
    label: str
    attempt: int


@dataclass(frozen=True)
class Progress:
    """Characters voiced (negative when a failed attempt's progress is taken back)."""

    characters: int


@dataclass(frozen=True)
class ChapterRetry:
    label: str
    attempt: int
    error: str
    delay: float


@dataclass(frozen=True)
class ChapterFinished:
    label: str
    ok: bool
    detail: str


Event = RunStarted | Notice | ChapterStarted | Progress | ChapterRetry | ChapterFinished
EventSink = Callable[[Event], None]
