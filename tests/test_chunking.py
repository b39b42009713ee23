"""Chunking: sentence-complete pieces, each ending in one space, nothing lost."""

from __future__ import annotations

import itertools
import random

from narrator.service.chunking import (
    chunk_text,
    message_pieces,
    sentence_spans,
    sentence_starts,
    sentences,
)


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


def _prose(seed: int, paragraphs: int) -> str:
    """Seeded prose with quotes, clauses and one over-long sentence in every fifth paragraph."""
    rng = random.Random(seed)
    words = [
        "the",
        "river",
        "morning",
        "lantern",
        "harbour",
        "letter",
        "window",
        "evening",
        "journey",
        "said",
    ]
    out = []
    for number in range(paragraphs):
        parts = []
        for _ in range(rng.randint(2, 6)):
            count = 90 if number % 5 == 4 else rng.randint(4, 18)
            sentence = " ".join(rng.choice(words) for _ in range(count))
            if rng.random() < 0.3:
                sentence = sentence.replace(" said ", ", said “", 1) + "”"
            parts.append(sentence.capitalize() + rng.choice([".", "!", "?", "…"]))
        out.append(" ".join(parts))
    return "Heading line\n" + "\n".join(out) + "\n"


def test_sentence_spans_are_the_sentences_with_raw_offsets() -> None:
    text = "  He said “Stop!”  She left.\n\nWhy?  Because… it rained \n"
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == list(sentences(text))
    assert spans[0] == (2, 17)


def test_sentence_starts_inside_any_stretch_match_the_full_scan() -> None:
    text = _prose(3, 40)
    starts = [s for s, _ in sentence_spans(text)]
    rng = random.Random(4)
    for _ in range(200):
        a = rng.randrange(len(text))
        b = rng.randrange(a, len(text) + 1)
        assert sentence_starts(text, a, b) == [s for s in starts if a < s < b]


def test_message_pieces_are_the_chunks_with_their_offsets() -> None:
    text = _prose(1, 60)
    for target, limit in ((250, 500), (80, 120)):
        pieces = message_pieces(text, target, limit)
        assert [p.text for p in pieces] == chunk_text(text, target, limit)
        for piece in pieces:
            assert _words(text[piece.start : piece.end]) == _words(piece.text)
            assert not text[piece.start].isspace() and not text[piece.end - 1].isspace()
        for before, after in itertools.pairwise(pieces):
            assert before.end <= after.start
            assert text[before.end : after.start].strip() == ""
        assert _words(text[pieces[0].start : pieces[-1].end]) == _words(text)


def test_only_a_piece_cut_inside_a_sentence_is_not_a_sentence_end() -> None:
    text = _prose(2, 30)
    ends = {e for _, e in sentence_spans(text)}
    pieces = message_pieces(text, 80, 120)
    assert any(not p.sentence_end for p in pieces)  # the over-long sentences were cut
    assert all(p.sentence_end == (p.end in ends) for p in pieces)
    assert pieces[-1].sentence_end
