"""Renders the core's events: a tqdm bar on a terminal, log lines otherwise.

The bar counts characters voiced, with chapters done out of the total in its postfix; it is
shown only on a terminal, so cron mail holds the summary and the problems, nothing else.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

from narrator.cli.display import printable
from narrator.events import (
    ChapterFinished,
    ChapterRetry,
    ChapterStarted,
    Event,
    Notice,
    Progress,
    RunStarted,
)


class ProgressView:
    """An event sink; ``close()`` before printing the summary."""

    def __init__(self, *, quiet: bool, verbose: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.stream = stream or sys.stderr
        self.bar: tqdm[None] | None = None
        self.total_chapters = 0
        self.finished = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._start(event)
        elif isinstance(event, Progress):
            if self.bar is not None:
                self.bar.update(event.characters)
        elif isinstance(event, ChapterFinished):
            self._finished(event)
        elif isinstance(event, Notice):
            self._say(event.text, always=event.warning, info=True)
        elif isinstance(event, ChapterRetry):
            self._say(
                f"retrying {event.label} in {event.delay:.1f} s "
                f"(attempt {event.attempt} failed: {event.error})",
                always=False,
                info=True,
            )
        elif isinstance(event, ChapterStarted) and self.verbose:
            self._say(f"narrating {event.label} (attempt {event.attempt})", always=False)

    def _start(self, event: RunStarted) -> None:
        self.total_chapters = event.chapters
        if self.verbose or not self.quiet:
            self._say(
                f"{event.chapters} chapter(s) to narrate, {event.skipped} unchanged",
                always=False,
                info=True,
            )
        if not self.quiet and event.chapters and self.stream.isatty():
            bar: tqdm[None] = tqdm(  # type: ignore[assignment]
                total=event.characters,
                unit="char",
                unit_scale=True,
                file=self.stream,
                dynamic_ncols=True,
            )
            bar.set_postfix_str(f"chapters 0/{event.chapters}")
            self.bar = bar

    def _finished(self, event: ChapterFinished) -> None:
        self.finished += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"chapters {self.finished}/{self.total_chapters}")
        if not event.ok:
            self._say(f"failed: {event.label}: {event.detail}", always=True)
        elif self.verbose:
            self._say(f"done: {event.label} ({event.detail})", always=False)

    def _say(self, text: str, *, always: bool, info: bool = False) -> None:
        """Warnings always; information unless quiet; details only when verbose."""
        if not (always or self.verbose or (info and not self.quiet)):
            return
        text = printable(text)  # titles and paths come from documents: no escape codes
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
