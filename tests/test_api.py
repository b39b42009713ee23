"""The package's public API is exactly what ``narrator.__all__`` names, and it works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import narrator
from narrator.events import Event
from tests.helpers import write_book

PUBLIC = {
    "DocumentError",
    "Event",
    "EventSink",
    "FatalServiceError",
    "Interrupted",
    "NarratorError",
    "OutputError",
    "ParseOptions",
    "Report",
    "RunSettings",
    "ServiceError",
    "ServiceSettings",
    "SpeechSettings",
    "TransientServiceError",
    "UsageError",
    "VoiceSettings",
    "__version__",
    "narrate",
}


def test_the_public_api_is_pinned() -> None:
    assert set(narrator.__all__) == PUBLIC
    assert all(hasattr(narrator, name) for name in narrator.__all__)


def test_a_library_caller_narrates_with_settings_and_gets_a_report(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.md", chapters=2)
    events: list[Event] = []
    settings = narrator.RunSettings(paths=(book,), out=tmp_path / "out")
    report = asyncio.run(narrator.narrate(settings, events.append))
    assert isinstance(report, narrator.Report)
    assert (report.done, report.failed, report.exit_code) == (2, 0, 0)
    assert len(list((tmp_path / "out").glob("*.mp3"))) == 2
    assert events  # the core speaks through events, never a progress bar
