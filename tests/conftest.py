"""Shared fixtures for the test suite."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from narrator.reading.book import Book
from narrator.reading.chapters import load_book
from narrator.settings import ParseOptions

CorpusBook = Callable[..., Book]


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real documents in ../shared/corpus beside the project.

    Required when ``NARRATOR_CORPUS`` names them (CI sets it); otherwise, on a clone with
    nothing beside it, the tests that need them are skipped with this reason.
    """
    named = os.environ.get("NARRATOR_CORPUS")
    if named:
        if not Path(named).is_dir():
            pytest.fail(f"NARRATOR_CORPUS={named} is not a folder")
        return Path(named)
    default = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    if not default.is_dir():
        pytest.skip(
            f"real-document corpus not found at {default}; set NARRATOR_CORPUS to run these"
        )
    return default


@pytest.fixture(scope="session")
def corpus_book(corpus_dir: Path) -> CorpusBook:
    """``corpus_book(name, **parse_options)``: each corpus document is parsed once a session."""
    books: dict[tuple[str, tuple[tuple[str, object], ...]], Book] = {}

    def load(name: str, **options: object) -> Book:
        key = (name, tuple(sorted(options.items())))
        if key not in books:
            books[key] = load_book(corpus_dir / name, ParseOptions(**options))  # type: ignore[arg-type]
        return books[key]

    return load
