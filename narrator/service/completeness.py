"""Whether a stream really voiced its text, and how much audio a text can plausibly need.

The most common complaint about narration tools is silent truncation: audio that ends early
with exit status 0. A stream is accepted only when it carried audio in the requested format,
when its length is plausible for the text, and, where the service sent alignment, when that
alignment accounts for (nearly) every character sent: the service's own account of what it
voiced. The same plausibility works the other way: audio far beyond what the text can need is
refused as a broken stream, so a server that streams forever cannot fill the disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from narrator.errors import BrokenStreamError, IncompleteAudioError
from narrator.settings import FASTEST_SPEED

#: Fastest narration at speed 1.0, with margin: ordinary narration is about 15 voiced
#: characters a second, brisk reading 18; 22 leaves room for dense text without letting a
#: third of a chapter (about 45 a second) pass.
MAX_CHARS_PER_SECOND = 22.0
#: Slowest plausible narration, with a wide margin (speed 0.7 reads about 10 a second).
MIN_CHARS_PER_SECOND = 2.0
#: Audio any text may carry beyond its characters' share: silence, headers, a short heading.
AUDIO_SLACK_SECONDS = 30.0
#: Byte rate assumed where the format has none (Opus): its highest bitrate, with Ogg overhead.
_VARIABLE_RATE_CEILING = 192_000 / 8 * 1.5
#: Share of the sent (non-space) characters that the alignment must cover.
MIN_ALIGNED_SHARE = 0.9

_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def spoken_length(chars: Iterable[str]) -> int:
    """Characters that are voiced: text sent and alignment received are compared without
    whitespace, which the service may collapse or drop."""
    if isinstance(chars, str):
        return len(_voiced_text(chars))
    return sum(1 for c in chars if not c.isspace())


def _voiced_text(text: str) -> str:
    """``text`` without whitespace: ``split()`` drops exactly what ``isspace()`` is true of,
    in C rather than a Python loop over every character."""
    return "".join(text.split())


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


def max_audio_seconds(spoken: int) -> float:
    """The longest audio a text of ``spoken`` voiced characters can plausibly need."""
    return AUDIO_SLACK_SECONDS + spoken / MIN_CHARS_PER_SECOND


def max_audio_bytes(spoken: int, output_format: str) -> int:
    """Bytes of audio past which a stream for this text is broken, not long."""
    rate = bytes_per_second(output_format) or _VARIABLE_RATE_CEILING
    return int(max_audio_seconds(spoken) * rate)


def audio_format_problem(head: bytes, output_format: str) -> str | None:
    """Why the first bytes of a stream cannot be ``output_format``, or None if they can be.

    Only containers with a signature are checked: raw PCM and G.711 have none.
    """
    codec, _, rest = output_format.partition("_")
    if codec == "opus":
        return None if head.startswith(b"OggS") else "the audio is not Ogg Opus"
    if codec != "mp3" or head.startswith(b"ID3"):
        return None
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0 or (head[1] >> 1) & 3 != 1:
        return "the audio is not MP3"
    rates = _MP3_RATES.get((head[1] >> 3) & 3)
    index = (head[2] >> 2) & 3
    rate = rates[index] if rates is not None and index < 3 else None
    wanted = int(rest.split("_")[0])
    if rate != wanted:
        return f"the audio is MP3 at {rate or 'an invalid rate'} Hz, not {wanted} Hz"
    return None


class Coverage:
    """Which voiced characters of a text the service's alignment has accounted for.

    Positions, not counts: an alignment item may hold several code points (a Devanagari
    cluster, an emoji sequence), and a pass may repeat from the start (seen with Flash v2.5),
    so each chunk is located in the text and each position is counted once. A chunk that
    cannot be found (normalised text: numbers spelled out) is taken to continue where the
    last one ended.
    """

    def __init__(self, text: str) -> None:
        self._text = _voiced_text(text)
        self._seen = bytearray(len(self._text))
        self._cursor = 0
        self.covered = 0
        #: Positions before this one are all accounted for.
        self.frontier = 0

    @property
    def length(self) -> int:
        return len(self._text)

    def add(self, chars: Iterable[str]) -> int:
        """Account for one chunk's characters; returns how many positions are new."""
        items = list(chars)
        return len(self.add_timed(items, [0] * len(items), [0] * len(items)))

    def add_timed(
        self, chars: Sequence[str], starts: Sequence[int], durations: Sequence[int]
    ) -> list[tuple[int, int, int]]:
        """Account for one chunk; returns ``(position, start, end)`` of each new position,
        with the times of the alignment item that voiced it."""
        voiced = [
            (c, start, start + duration)
            for item, start, duration in zip(chars, starts, durations, strict=False)
            for c in item
            if not c.isspace()
        ]
        if not voiced or not self._text:
            return []
        at = self._locate("".join(c for c, _, _ in voiced))
        end = min(at + len(voiced), len(self._text))
        new = [
            (position, voiced[position - at][1], voiced[position - at][2])
            for position in range(at, end)
            if not self._seen[position]
        ]
        self._seen[at:end] = b"\x01" * (end - at)
        self._cursor = max(self._cursor, end)
        self.covered += len(new)
        while self.frontier < len(self._text) and self._seen[self.frontier]:
            self.frontier += 1
        return new

    def _locate(self, chunk: str) -> int:
        text, cursor = self._text, self._cursor
        if text.startswith(chunk, cursor):
            return cursor
        ahead = text.find(chunk, cursor)
        if ahead >= 0:
            return ahead
        earlier = text.find(chunk)  # a repeated pass
        if earlier >= 0:
            return earlier
        return min(cursor, len(text) - 1)


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


def check_audio(tally: StreamTally, chunk: bytes, output_format: str, spoken_total: int) -> None:
    """Refuse a chunk that makes the stream impossible: wrong format, or too much audio."""
    if tally.audio_bytes == 0:
        problem = audio_format_problem(chunk, output_format)
        if problem is not None:
            raise BrokenStreamError(f"{problem} (requested {output_format})")
    ceiling = max_audio_bytes(spoken_total, output_format)
    if tally.audio_bytes + len(chunk) > ceiling:
        raise BrokenStreamError(
            f"the service sent more than {ceiling:,} bytes of audio for {spoken_total:,} "
            "characters, far more than the text can need"
        )


def check_complete(
    tally: StreamTally, output_format: str, max_speed: float = FASTEST_SPEED
) -> None:
    """Raise IncompleteAudioError when the stream cannot have voiced all of its text.

    Without alignment the only evidence is the audio's length, so it must reach what the text
    needs at the fastest speed the voice may use (``max_speed``).
    """
    spoken = tally.spoken_characters_sent
    if tally.audio_bytes == 0:
        raise IncompleteAudioError(
            f"the stream ended with no audio for {tally.characters_sent} characters sent"
        )
    duration = tally.estimated_duration(output_format)
    shortest = spoken / (MAX_CHARS_PER_SECOND * max_speed)
    if duration is not None and spoken and duration < shortest:
        raise IncompleteAudioError(
            f"only {duration:.1f} s of audio for {spoken} characters (at least "
            f"{shortest:.1f} s expected): the audio is truncated"
        )
    if tally.alignment_seen and tally.aligned_characters < MIN_ALIGNED_SHARE * spoken:
        raise IncompleteAudioError(
            f"the service's alignment covers {tally.aligned_characters} of {spoken} "
            "characters: part of the text was not voiced"
        )
