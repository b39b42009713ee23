"""Whether a finished stream really voiced its chapter.

The most common complaint about narration tools is silent truncation: audio that ends early
with exit status 0. A stream is accepted only when it carried audio, when its length is
plausible for the text, and, where the service sent alignment, when that alignment accounts
for (nearly) every character sent: the service's own account of what it voiced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from narrator.errors import IncompleteAudioError

#: Faster than any narration (about 15 characters a second is normal speech at speed 1.0).
MAX_CHARS_PER_SECOND = 60.0
#: Share of the sent (non-space) characters that the alignment must cover.
MIN_ALIGNED_SHARE = 0.9


def spoken_length(chars: Iterable[str]) -> int:
    """Characters that are voiced: text sent and alignment received are compared without
    whitespace, which the service may collapse or drop."""
    return sum(1 for c in chars if not c.isspace())


def bytes_per_second(output_format: str) -> float | None:
    """Bytes a second for constant-rate formats; None where only decoding can tell."""
    codec, _, rest = output_format.partition("_")
    parts = rest.split("_")
    if codec == "mp3" and len(parts) == 2:
        return int(parts[1]) * 1000 / 8
    if codec == "pcm":
        return int(parts[0]) * 2
    if codec in ("ulaw", "alaw"):
        return int(parts[0])
    return None


@dataclass
class StreamTally:
    """What one stream delivered, counted as it arrives."""

    characters_sent: int = 0
    spoken_characters_sent: int = 0
    audio_bytes: int = 0
    aligned_characters: int = 0
    alignment_seen: bool = False

    def estimated_duration(self, output_format: str) -> float | None:
        rate = bytes_per_second(output_format)
        return self.audio_bytes / rate if rate else None


def check_complete(tally: StreamTally, output_format: str) -> None:
    """Raise IncompleteAudioError when the stream cannot have voiced all of its text."""
    spoken = tally.spoken_characters_sent
    if tally.audio_bytes == 0:
        raise IncompleteAudioError(
            f"the stream ended with no audio for {tally.characters_sent} characters sent"
        )
    duration = tally.estimated_duration(output_format)
    if duration is not None and spoken and duration < spoken / MAX_CHARS_PER_SECOND:
        raise IncompleteAudioError(
            f"only {duration:.1f} s of audio for {spoken} characters: the audio is truncated"
        )
    if tally.alignment_seen and tally.aligned_characters < MIN_ALIGNED_SHARE * spoken:
        raise IncompleteAudioError(
            f"the service's alignment covers {tally.aligned_characters} of {spoken} "
            "characters: part of the text was not voiced"
        )
