"""Audiobookshelf's metadata.json, parsed back as ABS would read it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from narrator.output.absmeta import BookChapterMark, abs_metadata, render_abs_metadata

MARKS = [
    BookChapterMark(0.0, 61.23456, "Opening"),
    BookChapterMark(61.23456, 3600.0, "Tom & Jerry — Ærø"),
    BookChapterMark(3600.0, 7322.5, "Last"),
]


def render(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "title": "A Book",
        "author": "A. Writer",
        "description": "What it is about.",
        "language": "en",
        "narrator": "Rachel",
        "chapters": MARKS,
    }
    args.update(changes)
    data = render_abs_metadata(**args)
    assert data.endswith(b"\n") and data.startswith(b'{\n  "tags"')
    parsed: dict[str, Any] = json.loads(data.decode("utf-8"))
    return parsed


def test_fields_parse_back_with_abs_names_and_types() -> None:
    meta = render()
    assert meta["title"] == "A Book"
    assert meta["subtitle"] is None
    assert meta["authors"] == ["A. Writer"]
    assert meta["narrators"] == ["Rachel"]
    assert meta["series"] == []
    assert meta["genres"] == ["Audiobook"]
    assert meta["tags"] == []
    assert meta["publishedYear"] is None
    assert meta["description"] == "What it is about."
    assert meta["language"] == "en"
    assert meta["explicit"] is False
    assert meta["abridged"] is False
    for unknown in ("publishedDate", "publisher", "isbn", "asin"):
        assert meta[unknown] is None


def test_chapters_parse_back_with_ids_starts_ends_titles() -> None:
    assert render()["chapters"] == [
        {"id": 0, "start": 0.0, "end": 61.235, "title": "Opening"},
        {"id": 1, "start": 61.235, "end": 3600.0, "title": "Tom & Jerry — Ærø"},
        {"id": 2, "start": 3600.0, "end": 7322.5, "title": "Last"},
    ]


def test_unknown_people_and_text_become_empty_lists_and_null() -> None:
    meta = render(author=None, narrator="", description=None, language=" ", chapters=[])
    assert meta["authors"] == [] and meta["narrators"] == []
    assert meta["description"] is None and meta["language"] is None
    assert meta["chapters"] == []


def test_non_ascii_is_written_literally_with_two_space_indent() -> None:
    data = render_abs_metadata(
        title="Ærø 日本語",
        author=None,
        description=None,
        language=None,
        narrator=None,
        chapters=[],
    )
    assert "Ærø 日本語".encode() in data
    assert b'\n  "title": ' in data


def test_dict_and_rendering_agree() -> None:
    args: dict[str, Any] = {
        "title": "T", "author": "A", "description": "D", "language": "de", "narrator": "N",
        "chapters": MARKS,
    }  # fmt: skip
    assert json.loads(render_abs_metadata(**args)) == abs_metadata(**args)


@pytest.mark.parametrize(
    "marks",
    [
        [BookChapterMark(0.0, 10.0, "  ")],
        [BookChapterMark(-1.0, 10.0, "a")],
        [BookChapterMark(5.0, 4.0, "a")],
        [BookChapterMark(float("nan"), 4.0, "a")],
        [BookChapterMark(10.0, 20.0, "a"), BookChapterMark(5.0, 30.0, "b")],
    ],
)
def test_chapters_abs_would_drop_are_refused(marks: list[BookChapterMark]) -> None:
    with pytest.raises(ValueError):
        render(chapters=marks)


def test_title_is_required() -> None:
    with pytest.raises(ValueError):
        render(title="")
