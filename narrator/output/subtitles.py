"""Subtitles of whole phrases, made from a chapter's word timings.

A viewer reads a cue as one unit, so a cue that stops mid-clause or flashes past is harder to
follow than the speech alone. Cues therefore follow the practice broadcasters and streaming
services share: at most two lines of about 42 characters, one to seven seconds on screen,
lines of similar length, and cuts where the speaker's own phrasing cuts -- at sentence ends
first, then at clause marks, then at the widest pause, never inside a word. Cues never
overlap and come in order, because players disagree on overlapping cues (some stack them,
some drop one) and both SRT and WebVTT readers expect cues sorted by time.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate, pairwise

from narrator.errors import UsageError
from narrator.output.timings import Word

SUBTITLE_FORMATS = ("srt", "vtt")

_OPENERS = "\"'“‘«„([¿¡"
_CLOSERS = "\"'”’»)]"
_SENTENCE_MARKS = (".", "!", "?", "…")
_CLAUSE_MARKS = (",", ";", ":", "—", "–", "--")
# C0 and C1 controls and the Unicode line/paragraph separators: each would break a cue's
# lines or its blank-line framing in a player.
_CONTROLS = {c: None for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}
_SRT_LAST_MS = 100 * 3_600_000 - 1


@dataclass(frozen=True)
class Cue:
    """Lines shown from ``start`` to ``end`` seconds on the audio file's timeline."""

    start: float
    end: float
    lines: tuple[str, ...]


def _mark(text: str) -> int:
    """2 after a sentence mark, 1 after a clause mark, else 0."""
    bare = text.rstrip(_CLOSERS)
    if bare.endswith(_SENTENCE_MARKS):
        return 2
    if bare.endswith(_CLAUSE_MARKS) or bare == "-":
        return 1
    return 0


class _Cutter:
    """The words of one chapter with what cutting them needs: widths, marks, limits."""

    def __init__(self, words: Sequence[Word], limits: tuple[int, int, float, float]) -> None:
        self.max_line, self.max_lines, self.max_seconds, self.min_seconds = limits
        self.texts = [w.text for w in words]
        self.starts = [w.start for w in words]
        self.ends = [w.end for w in words]
        # prefix[k]: width of words[:k], a space after each
        self.prefix = [0, *accumulate(len(text) + 1 for text in self.texts)]
        self.marks = [_mark(t) for t in self.texts]
        for k in range(len(words) - 1):
            # "Stop!" she said: a sentence mark before a lowercase word ends only a clause.
            if self.marks[k] == 2 and self.texts[k + 1].lstrip(_OPENERS)[:1].islower():
                self.marks[k] = 1
        pauses = [b - a for a, b in zip(self.ends[:-1], self.starts[1:], strict=True)]
        # ending a cue after word k: cheap at a mark, elsewhere the cheaper the wider the pause
        self.cuts = [
            0.25 if self.marks[k] else 1.5 - min(max(p, 0.0), 1.0) for k, p in enumerate(pauses)
        ]

    def width(self, i: int, j: int) -> int:
        """Characters of words ``i..j`` joined by spaces."""
        return self.prefix[j + 1] - self.prefix[i] - 1

    def line_count(self, i: int, j: int) -> int:
        """Fewest lines words ``i..j`` take (filling lines greedily is optimal for that)."""
        lines, pos = 0, i
        while pos <= j and lines <= self.max_lines:
            limit = self.prefix[pos] + self.max_line + 1
            pos = max(bisect_right(self.prefix, limit, pos + 1, j + 2) - 1, pos + 1)
            lines += 1
        return lines

    def fits(self, i: int, j: int) -> bool:
        if i == j:
            return True  # one word is always a cue, however long it is or lasts
        duration = self.ends[j] - self.starts[i]
        return duration <= self.max_seconds and self.line_count(i, j) <= self.max_lines

    def sentences(self, first: int, last: int) -> list[tuple[int, int]]:
        """Sentences of words ``first..last``, the last of them perhaps unfinished."""
        found = []
        for k in range(first, last + 1):
            if self.marks[k] == 2 or k == last:
                found.append((first, k))
                first = k + 1
        return found

    def split(self, first: int, last: int) -> list[tuple[int, int]]:
        """Words ``first..last`` as the cheapest run of cues that fit, a cue costing more the
        emptier or briefer it is, a cut as :attr:`cuts` says."""
        if self.fits(first, last):
            return [(first, last)]
        prefix, starts, cuts = self.prefix, self.starts, self.cuts
        room = self.max_line * self.max_lines
        best = [0.0] + [math.inf] * (last - first + 1)
        back = [first] * (last - first + 2)
        lo = first
        for j in range(first, last + 1):
            while not self.fits(lo, j):  # what fits shrinks from the left as j grows
                lo += 1
            right, end = prefix[j + 1] - 1, self.ends[j]
            for i in range(lo, j + 1):
                slack = 1.0 - min((right - prefix[i]) / room, 1.0)
                cost = best[i - first] + 1.0 + slack * slack
                if end - starts[i] < self.min_seconds:
                    cost += 1.0
                if i > first:
                    cost += cuts[i - 1]
                if cost < best[j - first + 1]:
                    best[j - first + 1], back[j - first + 1] = cost, i
        spans: list[tuple[int, int]] = []
        while last >= first:
            spans.append((back[last - first + 1], last))
            last = spans[-1][0] - 1
        return spans[::-1]

    def spans(self) -> list[tuple[int, int]]:
        """Every word in exactly one span: whole sentences where they fit, short whole
        sentences sharing a span when together they fit."""
        spans: list[tuple[int, int]] = []
        whole = False  # is spans[-1] made of whole sentences?
        for first, last in self.sentences(0, len(self.texts) - 1):
            parts = self.split(first, last)
            if whole and len(parts) == 1 and self._may_share(spans[-1][0], first, last):
                spans[-1] = (spans[-1][0], last)
            else:
                spans.extend(parts)
            whole = len(parts) == 1
        return spans

    def _may_share(self, i: int, k: int, j: int) -> bool:
        """May sentences ``i..k-1`` and ``k..j`` share a cue: on one line, or each on lines
        of its own when one of them would be on screen too briefly alone."""
        brief = min(self.ends[k - 1] - self.starts[i], self.ends[j] - self.starts[k])
        stacked = brief < self.min_seconds and self._stacked(i, j) is not None
        return self.fits(i, j) and (self.width(i, j) <= self.max_line or stacked)

    def _stacked(self, i: int, j: int) -> list[tuple[int, int]] | None:
        """The sentences of ``i..j`` if, each starting a line, they fit in a cue's lines."""
        parts = self.sentences(i, j)
        if len(parts) > 1 and sum(self.line_count(a, b) for a, b in parts) <= self.max_lines:
            return parts
        return None

    def lines(self, i: int, j: int) -> tuple[str, ...]:
        """Words ``i..j`` in as few lines as they need; sentences sharing a cue each start a
        line."""
        parts = self._stacked(i, j) if self.width(i, j) > self.max_line else None
        return tuple(line for a, b in parts or [(i, j)] for line in self._balanced(a, b))

    def _balanced(self, i: int, j: int) -> list[str]:
        """Words ``i..j`` in as few lines as they need, of similar lengths, broken after a
        clause or sentence mark when that costs little balance."""
        count = self.line_count(i, j)
        if count == 1:
            return [" ".join(self.texts[i : j + 1])]
        target = (self.width(i, j) - count + 1) / count
        bonus = self.max_line / 3  # lines a third of a line apart are worth a break at a mark
        # rows[l][b] = (cost, ends): words i..b-1 in l lines, line n ending before word ends[n]
        rows: list[dict[int, tuple[float, tuple[int, ...]]]] = [{i: (0.0, ())}]
        for line in range(1, count + 1):
            row: dict[int, tuple[float, tuple[int, ...]]] = {}
            for a, (before, ends) in rows[-1].items():
                for b in range(a + 1, j + 2):
                    width = self.width(a, b - 1)
                    if width > self.max_line and b > a + 1:
                        break
                    if line == count and b <= j:
                        continue  # the last line ends with the last word
                    cost = before + abs(width - target)
                    if b <= j:
                        cost -= bonus * self.marks[b - 1]
                    if b not in row or cost < row[b][0]:
                        row[b] = (cost, (*ends, b))
            rows.append(row)
        breaks = (i, *rows[-1][j + 1][1])
        return [" ".join(self.texts[a:b]) for a, b in pairwise(breaks)]


def make_cues(
    words: Sequence[Word],
    *,
    max_line: int = 42,
    max_lines: int = 2,
    max_seconds: float = 7.0,
    min_seconds: float = 1.0,
) -> list[Cue]:
    """Cues covering every word once, in order: each from its first word's start to its last
    word's end, held on to ``min_seconds`` where the silence before the next cue allows."""
    cutter = _Cutter(words, (max_line, max_lines, max_seconds, min_seconds))
    spans = cutter.spans()
    cues: list[Cue] = []
    for k, (i, j) in enumerate(spans):
        start, end = words[i].start, words[j].end
        following = words[spans[k + 1][0]].start if k + 1 < len(spans) else math.inf
        end = max(end, min(start + min_seconds, following))
        end = max(start, min(end, following))  # overlapping word times never overlap cues
        cues.append(Cue(start, end, cutter.lines(i, j)))
    return cues


def _timestamp(seconds: float, separator: str, last_ms: int | None = None) -> str:
    """``HH:MM:SS<sep>mmm``, milliseconds rounded half up on the decimal value."""
    exact = Decimal(repr(max(seconds, 0.0))) * 1000
    ms = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if last_ms is not None:
        ms = min(ms, last_ms)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _shown(cues: Sequence[Cue], clean: Callable[[str], str]) -> Iterator[tuple[Cue, list[str]]]:
    """Each cue with its cleaned lines; a cue with nothing left to show is dropped."""
    for cue in cues:
        lines = [line for line in (clean(raw.translate(_CONTROLS)) for raw in cue.lines) if line]
        if lines:
            yield cue, lines


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip text. Hours have two digits, so times stop at 99:59:59,999; a chapter is far
    shorter than that."""
    blocks = [
        f"{number}\n{_timestamp(cue.start, ',', _SRT_LAST_MS)} --> "
        f"{_timestamp(cue.end, ',', _SRT_LAST_MS)}\n" + "\n".join(lines)
        for number, (cue, lines) in enumerate(_shown(cues, str.strip), start=1)
    ]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _vtt_escape(text: str) -> str:
    return text.strip().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT text, cue text escaped so that no word reads as a tag, entity or ``-->``."""
    blocks = [
        f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}\n" + "\n".join(lines)
        for cue, lines in _shown(cues, _vtt_escape)
    ]
    return "WEBVTT\n\n" + ("\n\n".join(blocks) + "\n" if blocks else "")


_RENDERERS: dict[str, Callable[[Sequence[Cue]], str]] = {"srt": to_srt, "vtt": to_vtt}


def render(fmt: str, cues: Sequence[Cue]) -> str:
    """The cues in ``fmt``, one of :data:`SUBTITLE_FORMATS`."""
    if fmt not in _RENDERERS:
        choices = ", ".join(SUBTITLE_FORMATS)
        raise UsageError(f"unknown subtitle format {fmt!r}; choose one of {choices}")
    return _RENDERERS[fmt](cues)
