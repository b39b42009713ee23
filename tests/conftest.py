"""Shared fixtures for the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real documents in ../shared/corpus beside the project; missing is a failure."""
    default = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    path = Path(os.environ.get("NARRATOR_CORPUS", default))
    if not path.is_dir():
        pytest.fail(f"corpus folder {path} is missing; set NARRATOR_CORPUS")
    return path
