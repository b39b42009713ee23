"""Segmenting: cuts only at paragraph or sentence starts, for the size limit or the pool."""

from __future__ import annotations

import itertools
import math
import random
import time
from pathlib import Path

import pytest

from narrator.reading.chapters import load_book
from narrator.segmenting import (
    MIN_SEGMENT_CHARS,
    SESSION_OVERHEAD_CHARS,
    Gap,
    Span,
    chain,
    cut_points,
    default_max_segment_chars,
    makespan,
    plan_segments,
)
from narrator.service.chunking import sentence_spans
from narrator.settings import ParseOptions

BOOK = Path(__file__).resolve().parents[1] / "examples" / "book.md"
WORDS = [
    "the",
    "of",
    "and",
    "a",
    "to",
    "in",
    "was",
    "river",
    "morning",
    "garden",
    "lantern",
    "harbour",
    "letter",
    "window",
]


def prose(seed: int, length: int) -> str:
    """A chapter of about ``length`` characters: a heading line, then paragraphs of about
    500 characters made of sentences of about 100."""
    rng = random.Random(seed)
    paragraphs = [f"Chapter {seed}"]
    total = 0
    while total < length:
        sentences = []
        for _ in range(rng.randint(3, 7)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 24))]
            sentences.append(" ".join(words).capitalize() + rng.choice(".....?!"))
        paragraphs.append(" ".join(sentences))
        total += len(paragraphs[-1]) + 1
    return "\n".join(paragraphs)


def whole(text: str) -> Gap:
    return Gap(text, 0, len(text))


def pool_finish(lengths: list[int], workers: int, overhead: int) -> int:
    """The pool, written out plainly: longest first, each to the worker free first."""
    free = [0] * workers
    for length in sorted(lengths, reverse=True):
        worker = free.index(min(free))
        free[worker] += length + overhead
    return max(free)


def check_plan(gap: Gap, spans: list[Span]) -> None:
    """Spans cover the gap exactly and every boundary is a cut point."""
    assert spans[0].start == gap.start and spans[-1].end == gap.end
    assert all(a.end == b.start for a, b in itertools.pairwise(spans))
    assert all(len(span) > 0 for span in spans)
    paragraphs, sentences = cut_points(gap.text, gap.start, gap.end)
    assert {s.start for s in spans[1:]} <= set(paragraphs) | set(sentences)


def test_cut_points_are_paragraph_starts_and_the_other_sentence_starts() -> None:
    text = "Head\nOne. Two!\n  Three? Four\n\nFive."
    paragraphs, sentences = cut_points(text, 0, len(text))
    assert [text[p:].split()[0] for p in paragraphs] == ["One.", "Three?", "Five."]
    assert [text[s:].split()[0] for s in sentences] == ["Two!", "Four"]
    starts = {s for s, _ in sentence_spans(text)}
    assert set(paragraphs) | set(sentences) == starts - {0}
    assert cut_points(text, paragraphs[0], paragraphs[1]) == ([], [sentences[0]])


def test_default_limits_follow_the_model() -> None:
    assert default_max_segment_chars("eleven_multilingual_v2") == 10_000
    assert default_max_segment_chars("eleven_turbo_v2") == 30_000
    assert default_max_segment_chars("eleven_flash_v2_5") == 40_000
    assert default_max_segment_chars("some_future_model") == 10_000


def test_a_long_chapter_is_cut_into_one_near_equal_span_per_worker() -> None:
    gap = whole(prose(1, 60_000))
    [spans] = plan_segments([gap], workers=8, max_chars=40_000)
    check_plan(gap, spans)
    assert len(spans) == 8
    size = len(gap.text) / 8
    assert all(abs(len(span) - size) < 600 for span in spans)  # within a paragraph
    paragraphs, _ = cut_points(gap.text, 0, len(gap.text))
    assert all(span.start in paragraphs for span in spans[1:])


def test_uneven_chapters_are_cut_only_as_far_as_the_pool_gains() -> None:
    rng = random.Random(8)
    lengths = [round(math.exp(rng.uniform(math.log(2_000), math.log(20_000)))) for _ in range(24)]
    gaps = [whole(prose(i, n)) for i, n in enumerate(lengths)]
    plans = plan_segments(gaps, workers=8, max_chars=40_000)
    for gap, spans in zip(gaps, plans, strict=True):
        check_plan(gap, spans)
    jobs = [len(span) for spans in plans for span in spans]
    cut = pool_finish(jobs, 8, SESSION_OVERHEAD_CHARS)
    uncut = pool_finish([len(g.text) for g in gaps], 8, SESSION_OVERHEAD_CHARS)
    bound = (sum(jobs) + len(jobs) * SESSION_OVERHEAD_CHARS) / 8
    assert cut < uncut
    assert cut <= 1.02 * bound
    assert len(jobs) < 2 * len(gaps)  # a few cuts, not every chapter halved
    assert makespan(jobs, 8, SESSION_OVERHEAD_CHARS) == cut


def test_one_worker_cuts_only_for_the_size_limit() -> None:
    gaps = [whole(prose(i, n)) for i, n in enumerate([3_000, 25_000, 9_000])]
    plans = plan_segments(gaps, workers=1, max_chars=10_000)
    assert [len(spans) for spans in plans] == [1, 3, 1]
    for gap, spans in zip(gaps, plans, strict=True):
        check_plan(gap, spans)
        assert all(len(span) <= 10_000 for span in spans)


def test_no_span_exceeds_the_limit_when_cut_points_allow() -> None:
    gap = whole(prose(5, 100_000))
    [spans] = plan_segments([gap], workers=2, max_chars=3_000)
    check_plan(gap, spans)
    assert len(spans) >= math.ceil(len(gap.text) / 3_000)
    assert max(map(len, spans)) <= 3_000


def test_a_limit_of_zero_means_no_cuts() -> None:
    gaps = [whole(prose(i, 50_000)) for i in range(3)]
    plans = plan_segments(gaps, workers=8, max_chars=0)
    assert plans == [[Span(0, len(g.text))] for g in gaps]


def test_short_chapters_are_never_cut() -> None:
    gaps = [whole(prose(i, 400)) for i in range(10)]
    assert all(len(g.text) < 2 * MIN_SEGMENT_CHARS for g in gaps)
    plans = plan_segments(gaps, workers=8, max_chars=40_000)
    assert all(len(spans) == 1 for spans in plans)


def test_one_giant_sentence_stays_whole() -> None:
    text = " ".join(["word"] * 20_000)
    [spans] = plan_segments([whole(text)], workers=8, max_chars=10_000)
    assert spans == [Span(0, len(text))]


def test_a_long_paragraph_is_cut_at_sentence_starts() -> None:
    text = prose(2, 30_000).replace("\n", " ")  # one paragraph
    [spans] = plan_segments([whole(text)], workers=4, max_chars=40_000)
    check_plan(whole(text), spans)
    assert len(spans) == 4
    starts = {s for s, _ in sentence_spans(text)}
    assert all(span.start in starts for span in spans)


def test_a_gap_inside_a_chapter_is_cut_within_itself() -> None:
    text = prose(3, 60_000)
    paragraphs, _ = cut_points(text, 0, len(text))
    gap = Gap(text, paragraphs[10], paragraphs[-10])
    [spans] = plan_segments([gap], workers=4, max_chars=40_000)
    check_plan(gap, spans)
    assert len(spans) == 4


def test_a_real_chapter_is_cut_at_its_paragraphs() -> None:
    book = load_book(BOOK, ParseOptions())
    longest = max(book.chapters, key=lambda c: len(c.text))
    gap = whole(longest.text)
    [spans] = plan_segments([gap], workers=8, max_chars=len(gap.text) // 2)
    check_plan(gap, spans)
    assert len(spans) >= 2


def test_planning_ten_thousand_chapters_is_fast() -> None:
    text = prose(9, 400_000)
    paragraphs, _ = cut_points(text, 0, len(text))
    rng = random.Random(10)
    gaps = []
    for _ in range(10_000):
        start = rng.choice(paragraphs[: len(paragraphs) // 2])
        size = round(math.exp(rng.uniform(math.log(500), math.log(60_000))))
        gaps.append(Gap(text, start, min(len(text), start + size)))
    began = time.perf_counter()
    plans = plan_segments(gaps, workers=8, max_chars=40_000)
    assert time.perf_counter() - began < 1.0
    assert all(max(map(len, spans)) <= 40_000 for spans in plans)


CHAINED = "Head one.\nSecond is. Third part is long. Tail bit."  # sentences at 0, 10, 21, 41


@pytest.mark.parametrize(
    ("pieces", "chosen", "gaps"),
    [
        ([], [], [(0, 50)]),
        ([(0, 50)], [0], []),
        ([(0, 9), (10, 20)], [0, 1], [(21, 50)]),
        ([(10, 40), (0, 9), (0, 20), (21, 50)], [2, 3], []),  # two earlier plans overlap
        ([(0, 9), (41, 50)], [0, 1], [(10, 41)]),
        ([(21, 50)], [0], [(0, 21)]),
        ([(0, 20), (10, 40)], [0], [(21, 50)]),  # starts inside covered text: skipped
    ],
)
def test_chain_takes_the_furthest_piece_and_leaves_gaps(
    pieces: list[tuple[int, int]], chosen: list[int], gaps: list[tuple[int, int]]
) -> None:
    found, left = chain(pieces, CHAINED)
    assert found == chosen
    assert [(g.start, g.end) for g in left] == gaps
    assert all(g.text is CHAINED for g in left)


def test_chain_steps_over_whitespace_between_pieces() -> None:
    text = "One two.\n\n  Three four.  \n"
    found, left = chain([(0, 8), (12, 23)], text)
    assert (found, left) == ([0, 1], [])  # the trailing whitespace is no gap
    found, left = chain([(0, 8)], text)
    assert left == [Gap(text, 12, len(text))]


def test_a_long_chapter_over_the_model_limit_is_still_cut_evenly_for_the_pool() -> None:
    """Near-equal cuts at the model's limit can land just over it; then the next count is
    tried evenly, never one span recut into halves (two sessions would then do two each)."""
    rng, paragraphs, total = random.Random(1), [], 0
    while total < 59_000:
        paragraph = " ".join(
            "Word " * rng.randint(5, 20) + "end." for _ in range(rng.randint(3, 7))
        )
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    text = "\n\n".join(paragraphs)
    (spans,) = plan_segments([Gap(text, 0, len(text))], 8, 10_000)
    assert len(spans) == 8
    assert max(map(len, spans)) < 1.1 * len(text) / 8
