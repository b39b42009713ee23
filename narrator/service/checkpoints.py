"""How much of a session's text its audio has proven voiced, and where its audio may be cut.

A session that fails part-way has been paid for everything it was sent. What it voiced can be
kept if two things are known: which sentences the service finished (the ``alignment`` of each
generation names its characters and their times), and that the audio covering them has
arrived (the frames received reach past the sentence's end). A :class:`Checkpoint` records the
latest such sentence end: the next session starts at the following sentence, and the audio is
cut at the frame (mp3) or sample (PCM) boundary nearest the pause between the two sentences,
so nothing is said twice and nothing is skipped.

Only the input ``alignment`` counts: ``normalizedAlignment`` follows the normalised text
(numbers spelled out), whose positions do not map back to the text that was sent.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from narrator.audioformat import FrameIndex, joinable
from narrator.service.chunking import sentence_spans
from narrator.service.completeness import Coverage, spoken_length
from narrator.service.protocol import Alignment

#: Time after a generation's last character that still belongs to it, when nothing of the
#: next sentence follows in the same generation: the end of the word's sound.
TAIL_MS = 80


@dataclass(frozen=True)
class Checkpoint:
    """The session's text is voiced up to ``text_end`` (a raw offset into the text, at the
    start of the next sentence), by the first ``audio_bytes`` bytes of its audio."""

    text_end: int
    spoken: int
    audio_bytes: int


@dataclass
class _Candidate:
    spoken: int  # voiced characters up to and including the sentence's last
    text_end: int
    cut_ms: float  # from the start of its generation


def sentence_stops(text: str) -> dict[int, int]:
    """Voiced length at each sentence end -> raw offset where the next sentence starts."""
    spans = sentence_spans(text)
    stops: dict[int, int] = {}
    spoken = 0
    previous = 0
    for number, (_, end) in enumerate(spans):
        spoken += spoken_length(text[previous:end])
        previous = end
        following = spans[number + 1][0] if number + 1 < len(spans) else len(text)
        stops[spoken] = following
    return stops


class CheckpointTracker:
    """Follows one session's generations and audio; calls ``on_checkpoint`` with each new
    proven sentence end, in order."""

    def __init__(
        self,
        text: str,
        coverage: Coverage,
        output_format: str,
        on_checkpoint: Callable[[Checkpoint], None],
        on_timing: Callable[[list[tuple[int, float, float]]], None] = lambda timed: None,
    ) -> None:
        self._coverage = coverage
        self._stops = sentence_stops(text)
        # Eight bytes a character, not the 36 of a list of ints: one lives per open session.
        self._raw = array("q", (offset for offset, char in enumerate(text) if not char.isspace()))
        self._on_timing = on_timing
        # Audio that cannot be cut (Ogg Opus) is kept whole or not at all.
        self._index = FrameIndex(output_format) if joinable(output_format) else None
        self._pending: list[_Candidate] = []
        self._on_checkpoint = on_checkpoint
        self.latest: Checkpoint | None = None

    def generation(self, alignment: Alignment | None) -> int:
        """A frame that opens a generation: settle the one before, then read this one's
        timing. Returns the voiced characters it newly accounts for."""
        self._settle_generation()
        if self._index is not None:
            self._index.mark()
        if alignment is None:
            return 0
        timing = (alignment.chars, alignment.start_ms, alignment.duration_ms)
        timed = self._coverage.add_timed(*timing)
        self._pending += self._candidates(timed)
        if timed and self._index is not None:
            # Times are from the generation's start: place it by the samples before it.
            base = self._index.samples / self._index.sample_rate
            self._on_timing(
                [(o, base + s / 1000, base + e / 1000) for o, s, e in self._runs(timed)]
            )
        return len(timed)

    def _runs(self, timed: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """The timed characters as runs of adjacent ones (words, as a rule): the raw offset
        of each run's first character, its first start and its last end. A word's time is
        all that timings keep, and a run is a sixth of the characters to carry."""
        raw = self._raw
        runs: list[tuple[int, int, int]] = []
        last = -2
        for position, start, end in timed:
            offset = raw[position]
            if offset == last + 1 and runs:
                first, began, _ = runs[-1]
                runs[-1] = (first, began, max(end, runs[-1][2]))
            else:
                runs.append((offset, start, end))
            last = offset
        return runs

    def audio(self, chunk: bytes) -> None:
        if self._index is not None:
            self._index.feed(chunk)
            self._prove(settled=False)

    def finished(self) -> None:
        """The stream ended normally: its last generation is complete."""
        self._settle_generation()

    def _candidates(self, timed: Sequence[tuple[int, int, int]]) -> list[_Candidate]:
        found: list[_Candidate] = []
        for number, (position, _, end) in enumerate(timed):
            text_end = self._stops.get(position + 1)
            if text_end is None:
                continue
            following = timed[number + 1] if number + 1 < len(timed) else None
            if following is not None and following[0] == position + 1 and following[1] >= end:
                cut = (end + following[1]) / 2
            else:
                cut = end + TAIL_MS
            found.append(_Candidate(position + 1, text_end, cut))
        return found

    def _settle_generation(self) -> None:
        """Every byte of the current generation has arrived: all its sentence ends hold."""
        self._prove(settled=True)
        self._pending.clear()

    def _prove(self, *, settled: bool) -> None:
        index = self._index
        if index is None or index.broken is not None:
            self._pending.clear()
            return
        frames = index.frames_since_mark
        per_ms = index.sample_rate / 1000 / index.samples_per_frame
        while self._pending:
            candidate = self._pending[0]
            if self._coverage.frontier < candidate.spoken:
                return  # a hole before it: not proven by the alignment
            frame = round(candidate.cut_ms * per_ms)
            if frame >= frames and not settled:
                return  # the audio past the cut has not arrived
            frame = min(frame, frames)
            self._pending.pop(0)
            if self.latest is not None and candidate.spoken <= self.latest.spoken:
                continue
            self.latest = Checkpoint(candidate.text_end, candidate.spoken, index.offset(frame))
            self._on_checkpoint(self.latest)
