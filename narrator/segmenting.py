"""Where to cut chapters into segments, so one pool of sessions finishes them all soon.

A segment is consecutive text of one chapter, cut at a paragraph start, or at a sentence start
when a paragraph is too long to fit, never inside a sentence. Every segment of every chapter
shares one pool of sessions, longest first, each worker taking the next job when free. Cuts
are made for two reasons only: the service's size limit for one request, and the pool's
makespan. A cut costs a session's fixed overhead and a seam in the audio, so a cut for balance
is kept only when a simulation of the pool says the run ends sooner with it.

Offsets are raw ``[start, end)`` positions in a chapter's speech text throughout, so pieces
narrated by an earlier run, cut differently, can be chained back into the text (:func:`chain`).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from narrator.service.chunking import sentence_starts

#: The service's documented characters-per-request limit of each model, for its HTTP
#: text-to-speech endpoint. The ``stream-input`` WebSocket documents no limit of its own, so
#: these are the sizes the service is known to take in one request, and the default largest
#: segment. A model not listed gets the most conservative figure.
MODEL_CHARACTER_LIMITS: dict[str, int] = {
    "eleven_multilingual_v2": 10_000,
    "eleven_flash_v2": 30_000,
    "eleven_turbo_v2": 30_000,
    "eleven_flash_v2_5": 40_000,
    "eleven_turbo_v2_5": 40_000,
}
_UNKNOWN_MODEL_LIMIT = 10_000

# Each segment pays a session's fixed cost and leaves a seam in the audio (the voice's
# prosody starts afresh). Below about 1,000 characters (a minute of speech, a few seconds of
# generation) that cost is a large share of the segment's time, so no cut for balance may
# leave a segment shorter, and text shorter than twice this is never cut for balance.
MIN_SEGMENT_CHARS = 1_000

# A session's fixed cost in characters of generation: connecting and the handshake, about
# 0.3 s to first audio, and the final flush that overlaps nothing, about 2 s in all at the
# roughly 145 characters a second one session generates. Erring high means a cut must win
# clearly before it is made.
SESSION_OVERHEAD_CHARS = 300

_BALANCE_TOLERANCE = 0.01  # stop once the makespan is within 1% of the lower bound
_CANDIDATES = 8  # how many of the longest jobs' gaps are tried for each further cut
_PARAGRAPH_PULL = 0.25  # a paragraph start this share of a span from an aim is preferred
_FIRST_WINDOW = 256  # characters each side of an aim first searched for a sentence start
_PARAGRAPH_START = re.compile(r"\n\s*(?=\S)")
_NON_SPACE = re.compile(r"\S")


def default_max_segment_chars(model_id: str) -> int:
    """The largest segment for ``model_id``: its limit in :data:`MODEL_CHARACTER_LIMITS`."""
    return MODEL_CHARACTER_LIMITS.get(model_id, _UNKNOWN_MODEL_LIMIT)


@dataclass(frozen=True)
class Span:
    """A segment: raw ``[start, end)`` offsets into its chapter's speech text."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Gap:
    """A stretch ``[start, end)`` of one chapter's speech ``text`` still to narrate."""

    text: str
    start: int
    end: int


def cut_points(text: str, start: int, end: int) -> tuple[list[int], list[int]]:
    """Paragraph starts, and the other sentence starts, strictly inside ``(start, end)``.

    A paragraph start is the first non-whitespace character after a newline; every one is
    also a sentence start. Both are found from the stretch alone (and the whitespace or
    sentence end just before it), so looking near a few positions of a long text is cheap.
    """
    paragraphs = _paragraph_starts(text, start, end)
    taken = set(paragraphs)
    return paragraphs, [s for s in sentence_starts(text, start, end) if s not in taken]


def _paragraph_starts(text: str, start: int, end: int) -> list[int]:
    scan = start
    while scan > 0 and text[scan - 1].isspace():  # a newline just before ``start`` counts
        scan -= 1
    found = _PARAGRAPH_START.finditer(text, scan, end)
    return [m.end() for m in found if start < m.end() < end]


def makespan(lengths: Sequence[int], workers: int, overhead_chars: int) -> int:
    """When the pool finishes ``lengths``, in characters: the longest worker's total."""
    return _finish_times(sorted(lengths), max(1, workers), overhead_chars)[0]


def _finish_times(ascending: Sequence[int], workers: int, overhead: int) -> tuple[int, ...]:
    """Each worker's finish under the pool's rule, latest first: jobs longest first, each to
    the worker that is free first; a job costs its length plus a session's overhead."""
    free = [0] * workers
    for length in reversed(ascending):
        heapq.heapreplace(free, free[0] + length + overhead)
    return tuple(sorted(free, reverse=True))


def plan_segments(
    gaps: Sequence[Gap],
    workers: int,
    max_chars: int,
    overhead_chars: int = SESSION_OVERHEAD_CHARS,
) -> list[list[Span]]:
    """The spans each gap is narrated in: consecutive, covering it exactly, in gap order.

    ``max_chars`` of 0 means no cuts at all. Otherwise a gap longer than ``max_chars`` is cut
    into near-equal spans within it (a single sentence longer than that stays whole), then
    gaps are cut further only while a simulation of the pool says the run ends sooner.
    """
    if max_chars < 0:
        raise ValueError(f"max_chars must be 0 (no cuts) or positive, not {max_chars}")
    plans = [[Span(gap.start, gap.end)] for gap in gaps]
    if max_chars == 0:
        return plans
    cutters = [_Cutter(gap, max_chars) for gap in gaps]
    for i, gap in enumerate(gaps):
        if gap.end - gap.start > max_chars:
            plans[i] = cutters[i].spans(math.ceil((gap.end - gap.start) / max_chars))
    _Balance(plans, cutters, max(1, workers), overhead_chars).run()
    return plans


@dataclass
class _Cutter:
    """Cuts one gap into near-equal spans, looking for cut points only near each aim."""

    gap: Gap
    max_chars: int
    _made: dict[int, list[Span]] = field(default_factory=dict, repr=False)

    def spans(self, count: int) -> list[Span]:
        """``count`` near-equal spans, or the fewest more that keep every one within
        ``max_chars``; when no even cut does (a giant sentence), any span still over the
        limit is cut again on its own."""
        if count not in self._made:
            self._made[count] = self._even(count) or self._cut(count)
        return self._made[count]

    def _even(self, count: int) -> list[Span] | None:
        start, end = self.gap.start, self.gap.end
        for tried in range(count, 2 * count + 1):
            cuts = [start, *self._near_equal(start, end, tried), end]
            if all(b - a <= self.max_chars for a, b in _pairs(cuts)):
                return [Span(a, b) for a, b in _pairs(cuts)]
        return None

    def _cut(self, count: int) -> list[Span]:
        start, end = self.gap.start, self.gap.end
        work = _pairs([start, *self._near_equal(start, end, count), end])
        work.reverse()
        spans: list[Span] = []
        while work:
            a, b = work.pop()
            if b - a > self.max_chars:
                inner = self._near_equal(a, b, math.ceil((b - a) / self.max_chars))
                if inner:  # each part is shorter than its span: this ends
                    work.extend(reversed(_pairs([a, *inner, b])))
                    continue
            spans.append(Span(a, b))
        return spans

    def _near_equal(self, start: int, end: int, count: int) -> list[int]:
        """Cuts near ``start + k * size``: a paragraph start within reach of the aim, else
        the nearest cut point of any kind; strictly increasing, strictly inside."""
        text = self.gap.text
        size = (end - start) / count
        reach = _PARAGRAPH_PULL * size
        cuts: list[int] = []
        previous = start
        for k in range(1, count):
            aim = start + k * size
            low, high = max(previous, math.floor(aim - reach)), min(end, math.ceil(aim + reach))
            cut = _nearest(_paragraph_starts(text, low, high + 1), aim)
            if cut is None:
                cut = self._nearest_point(aim, previous, end)
            if cut is None:
                break
            cuts.append(cut)
            previous = cut
        return cuts

    def _nearest_point(self, aim: float, after: int, before: int) -> int | None:
        """The cut point nearest ``aim`` strictly between ``after`` and ``before``, looked
        for in a window that widens until it holds one: all nearer points lie inside it."""
        width = _FIRST_WINDOW
        while True:
            low, high = max(after, math.floor(aim - width)), min(before, math.ceil(aim + width))
            paragraphs, sentences = cut_points(self.gap.text, low, high)
            found = _nearest(paragraphs + sentences, aim)
            if found is not None or (low, high) == (after, before):
                return found
            width *= 4


def _nearest(points: list[int], aim: float) -> int | None:
    return min(points, key=lambda p: abs(p - aim), default=None)


def _pairs(edges: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(edges))


class _Balance:
    """Cuts gaps further while the simulated pool finishes sooner for it.

    Each step tries one more near-equal span for each of the few gaps holding the longest
    jobs and keeps the best try if it improves the pool's finish times, compared latest
    first: the makespan, then (at a tie, such as several equal longest jobs) the next worker.
    Steps after the best makespan was first reached bought nothing and are undone.
    """

    def __init__(
        self, plans: list[list[Span]], cutters: list[_Cutter], workers: int, overhead: int
    ) -> None:
        self.plans = plans
        self.cutters = cutters
        self.workers = workers
        self.overhead = overhead
        self.lengths = sorted(len(span) for plan in plans for span in plan)
        self.stuck: set[int] = set()

    def run(self) -> None:
        if not self.lengths or self._settled_by_size():
            return
        times = _finish_times(self.lengths, self.workers, self.overhead)
        best, best_at = times[0], 0
        undo: list[tuple[int, list[Span]]] = []
        while not self._near_bound(times[0]):
            step = self._best_step(times)
            if step is None:
                break
            i, spans, self.lengths, times = step
            undo.append((i, self.plans[i]))
            self.plans[i] = spans
            if times[0] < best:
                best, best_at = times[0], len(undo)
        for i, spans in reversed(undo[best_at:]):
            self.plans[i] = spans

    def _settled_by_size(self) -> bool:
        """True when the longest job is a sliver of a worker's share: list scheduling then
        ends within that job of the ideal, so no cut can help and none is simulated."""
        share = self._total() / self.workers
        return self.lengths[-1] + self.overhead <= _BALANCE_TOLERANCE * share

    def _total(self) -> int:
        return sum(self.lengths) + len(self.lengths) * self.overhead

    def _near_bound(self, finish: int) -> bool:
        """Whether ``finish`` is within tolerance of what no cutting could beat."""
        fixed = [max(map(len, p)) for i, p in enumerate(self.plans) if not self._can_cut(i)]
        bound = max(self._total() / self.workers, max(fixed, default=0) + self.overhead)
        return finish <= bound * (1 + _BALANCE_TOLERANCE)

    def _can_cut(self, i: int) -> bool:
        gap = self.cutters[i].gap
        return i not in self.stuck and (gap.end - gap.start) / (len(self.plans[i]) + 1) >= (
            MIN_SEGMENT_CHARS
        )

    def _best_step(
        self, times: tuple[int, ...]
    ) -> tuple[int, list[Span], list[int], tuple[int, ...]] | None:
        """The best of one more cut in each of the few gaps with the longest jobs, if any
        makes the pool finish sooner (latest worker first)."""
        movable = (i for i in range(len(self.plans)) if self._can_cut(i))
        longest = heapq.nlargest(_CANDIDATES, movable, key=lambda i: max(map(len, self.plans[i])))
        best = None
        for i in longest:
            spans = self.cutters[i].spans(len(self.plans[i]) + 1)
            if len(spans) <= len(self.plans[i]) or min(map(len, spans)) < MIN_SEGMENT_CHARS:
                self.stuck.add(i)  # more spans are impossible or too short here
                continue
            lengths = self._swapped(self.plans[i], spans)
            tried = _finish_times(lengths, self.workers, self.overhead)
            if tried < times and (best is None or tried < best[3]):
                best = (i, spans, lengths, tried)
        return best

    def _swapped(self, old: list[Span], new: list[Span]) -> list[int]:
        """The sorted job lengths with one gap's spans replaced."""
        lengths = list(self.lengths)
        for span in old:
            del lengths[bisect.bisect_left(lengths, len(span))]
        for span in new:
            bisect.insort(lengths, len(span))
        return lengths


def chain(pieces: Sequence[tuple[int, int]], text: str) -> tuple[list[int], list[Gap]]:
    """Pieces already narrated that chain through ``text``, and the gaps left between them.

    ``pieces`` are ``(start, end)`` offsets, possibly overlapping (earlier runs may have cut
    differently). From position 0, the piece starting there (or only whitespace later) that
    reaches furthest is taken; a piece starting inside text already covered is skipped; text
    no piece starts in becomes a gap, which begins at its first non-whitespace character and
    ends where the next piece starts. Pieces outside the text or empty are ignored.
    """
    order = sorted(
        (i for i, (s, e) in enumerate(pieces) if 0 <= s < e <= len(text)),
        key=lambda i: pieces[i][0],
    )
    chosen: list[int] = []
    gaps: list[Gap] = []
    position = 0
    k = 0
    while True:
        visible = _NON_SPACE.search(text, position)
        if visible is None:
            break
        reach = visible.start()
        while k < len(order) and pieces[order[k]][0] < position:
            k += 1  # starts inside covered text
        best = None
        while k < len(order) and pieces[order[k]][0] <= reach:
            if best is None or pieces[order[k]][1] > pieces[best][1]:
                best = order[k]
            k += 1
        if best is not None:
            chosen.append(best)
            position = pieces[best][1]
            continue
        end = pieces[order[k]][0] if k < len(order) else len(text)
        gaps.append(Gap(text, reach, end))
        position = end
    return chosen, gaps
