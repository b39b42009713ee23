"""Chunking: sentence-complete pieces, each ending in one space, nothing lost."""

from __future__ import annotations

from narrator.service.chunking import chunk_text, sentences


def _words(text: str) -> list[str]:
    return text.split()


def test_sentences_split_at_terminal_marks_and_quotes() -> None:
    text = "He said “Stop!” She left. Why? Because… it rained.\nNext paragraph"
    assert list(sentences(text)) == [
        "He said “Stop!”",
        "She left.",
        "Why?",
        "Because…",
        "it rained.",
        "Next paragraph",
    ]


def test_abbreviation_like_dots_inside_words_do_not_split() -> None:
    assert list(sentences("Version 3.11 is out. e.g.x")) == ["Version 3.11 is out.", "e.g.x"]


def test_pieces_end_in_one_space_and_keep_every_word() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    pieces = chunk_text(text, target_chars=250)
    assert all(p.endswith(" ") and not p.endswith("  ") for p in pieces)
    assert all(len(p) <= 251 for p in pieces)
    assert _words("".join(pieces)) == _words(text)
    assert all(p.rstrip().endswith(".") for p in pieces)


def test_an_overlong_sentence_is_cut_at_clauses_then_spaces() -> None:
    text = ", ".join(["word " * 20] * 10) + "."
    pieces = chunk_text(text, target_chars=100, max_chars=150)
    assert all(len(p) <= 151 for p in pieces)
    assert _words("".join(pieces)) == _words(text)


def test_a_word_longer_than_the_limit_is_cut_but_kept() -> None:
    text = "x" * 1200
    pieces = chunk_text(text, max_chars=500)
    assert "".join(p.strip() for p in pieces) == text


def test_empty_text_gives_no_pieces() -> None:
    assert chunk_text("  \n ") == []
