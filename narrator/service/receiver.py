"""What one session receives: audio checked and passed on, timing turned into progress,
proof of what was voiced, and how far ahead the sender may go."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from narrator.service import protocol
from narrator.service.checkpoints import Checkpoint, CheckpointTracker
from narrator.service.completeness import Coverage, StreamTally, check_audio
from narrator.settings import SpeechSettings

AudioSink = Callable[[bytes], None]
#: ``(offset in the text, start, end)`` of voiced characters, seconds from the stream's start.
Timed = Sequence[tuple[int, float, float]]


@dataclass(frozen=True)
class StreamHooks:
    """What a caller hears while a session streams: voiced characters as they are shown
    (progress), each sentence end proven voiced (what may be kept if the session fails),
    the characters' times on the stream's own timeline, and each piece's characters as it
    is sent."""

    on_progress: Callable[[int], None] = lambda voiced: None
    on_checkpoint: Callable[[Checkpoint], None] = lambda proven: None
    on_timing: Callable[[Timed], None] = lambda timed: None
    #: Characters just sent (each piece as it goes): billed, whatever happens next.
    on_sent: Callable[[int], None] = lambda characters: None


#: Voiced characters a session may have sent beyond what the alignment shows voiced: about
#: two pieces, one generating and one queued behind it (see ``Session._send_paced``).
WINDOW_CHARS = 300


class Receiver:
    """Takes audio frames for one text: checks, counts, passes on, and proves progress."""

    def __init__(
        self,
        speech: SpeechSettings,
        text: str,
        sink: AudioSink,
        tally: StreamTally,
        hooks: StreamHooks,
    ) -> None:
        self.coverage = Coverage(text)
        self.spoken = self.coverage.length
        self.voiced = asyncio.Event()
        self._format = speech.output_format
        self._sink, self._tally, self._hooks = sink, tally, hooks
        self._tracker = CheckpointTracker(
            text, self.coverage, speech.output_format, hooks.on_checkpoint, hooks.on_timing
        )

    def take(self, event: protocol.AudioChunk) -> bool:
        """Pass the frame's audio on; True when it brought news (audio or timing).

        A frame with timing opens a generation. Timing is read from ``alignment``, else
        from ``normalizedAlignment``; each position of the text is counted once, so a
        repeated pass adds nothing.
        """
        tally = self._tally
        voiced = 0
        if event.alignment is not None:
            voiced = self._tracker.generation(event.alignment)
        elif event.normalized_alignment is not None:
            self._tracker.generation(None)
            voiced = self.coverage.add(event.normalized_alignment.chars)
        if event.alignment is not None or event.normalized_alignment is not None:
            tally.alignment_seen = True
            tally.aligned_characters = self.coverage.covered
        if event.audio:
            check_audio(tally, event.audio, self._format, self.spoken)
            self._sink(event.audio)
            tally.audio_bytes += len(event.audio)
            self._tracker.audio(event.audio)
        if voiced or event.audio:
            self.voiced.set()
        if voiced:
            self._hooks.on_progress(voiced)
        return bool(event.audio) or voiced > 0

    def holds_back(self, spoken_sent: int) -> bool:
        """Whether the next piece should wait: a window's worth is not yet shown voiced.

        A service that sends audio without any timing gives pacing nothing to go by: then
        the text goes as fast as the socket takes it, as it did before pacing.
        """
        if self._tally.audio_bytes and not self._tally.alignment_seen:
            return False
        return spoken_sent - self.coverage.covered >= WINDOW_CHARS

    def finished(self) -> None:
        self._tracker.finished()
