"""The timing a generation's frame carries: ``alignment`` and ``normalizedAlignment``.

``alignment`` follows the input text character for character; ``normalizedAlignment``
begins with a space and follows the normalised text (:mod:`narrator.local.normalize`), as
the service's do. Both start at 0 for their generation. A normalised piece takes the time of
the input characters it stands for, shared evenly among its characters; the leading space
takes none.
"""

from __future__ import annotations

from typing import Any

from narrator.local.normalize import normalize
from narrator.local.voice import Speech

Timing = dict[str, list[Any]]


def _timing(chars: list[str], starts: list[int], durations: list[int]) -> Timing:
    return {"chars": chars, "charStartTimesMs": starts, "charDurationsMs": durations}


def input_alignment(speech: Speech) -> Timing:
    """Every input character of the generation with its start and duration."""
    return _timing(list(speech.text), list(speech.starts_ms), list(speech.durations_ms))


def normalized_alignment(speech: Speech) -> Timing:
    """A leading space, then the normalised text, timed from the characters it came from."""
    chars, starts, durations = [" "], [0], [0]
    for piece in normalize(speech.text):
        begin = speech.starts_ms[piece.start]
        end = speech.starts_ms[piece.stop - 1] + speech.durations_ms[piece.stop - 1]
        count = len(piece.text)
        for k, char in enumerate(piece.text):
            a = begin + (end - begin) * k // count
            b = begin + (end - begin) * (k + 1) // count
            chars.append(char)
            starts.append(a)
            durations.append(b - a)
    return _timing(chars, starts, durations)


class Aligner:
    """One session's timing, one call per generation.

    With ``repeat`` (Flash v2.5 has been seen to do this) every ``alignment`` after the
    first starts again from the session's character 0: the own entries of every earlier
    generation in order, with the times they first had (each from 0), then this
    generation's own. ``normalizedAlignment`` never repeats.
    """

    def __init__(self, repeat: bool = False) -> None:
        self.repeat = repeat
        self._sent = _timing([], [], [])

    def frame(self, speech: Speech) -> tuple[Timing, Timing]:
        """``(alignment, normalizedAlignment)`` for the one frame of this generation."""
        own = input_alignment(speech)
        if not self.repeat:
            return own, normalized_alignment(speech)
        repeated = {name: self._sent[name] + own[name] for name in own}
        self._sent = repeated
        return repeated, normalized_alignment(speech)
