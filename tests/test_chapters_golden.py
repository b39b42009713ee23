"""Golden files: each ``tests/data/chapters/<case>.md|.txt`` beside its expected ``<case>.json``.

A new real-world case is one pair of files. The JSON holds the book title and author, every
chapter's title and exact speech text, optionally the parse options and the warnings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from narrator.reading.chapters import load_book
from narrator.settings import ParseOptions

CASES = Path(__file__).parent / "data" / "chapters"
DOCUMENTS = sorted(p for p in CASES.iterdir() if p.suffix in (".md", ".markdown", ".txt"))


def test_every_golden_document_has_its_expectation() -> None:
    assert len(DOCUMENTS) >= 12
    assert all(p.with_suffix(".json").is_file() for p in DOCUMENTS)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.stem)
def test_golden_case(document: Path) -> None:
    expected: dict[str, Any] = json.loads(document.with_suffix(".json").read_text("utf-8"))
    book = load_book(document, ParseOptions(**expected.get("options", {})))
    assert book.title == expected["title"]
    assert book.author == expected["author"]
    got = [{"title": c.title, "text": c.text} for c in book.chapters]
    assert got == expected["chapters"]
    assert [c.index for c in book.chapters] == list(range(1, len(got) + 1))
    if "warnings" in expected:
        assert list(book.warnings) == expected["warnings"]
