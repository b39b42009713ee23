"""Word timings of a chapter file: the words as spoken, on the file's own timeline.

One small JSON file per chapter beside its audio (``NN - Title.timings.json``)::

    {"format": "narrator-timings", "version": 1, "audio": "01 - Title.mp3",
     "text_sha256": "...", "duration_s": 341.204,
     "words": [{"text": "Hello,", "start": 0.12, "end": 0.48, "offset": 0, "length": 6}, ...]}

``text`` is the word as it stands in the chapter's speech text (punctuation attached),
``offset`` and ``length`` locate it there, ``start`` and ``end`` are seconds from the start of
the audio file. Times are placed from the audio actually written (frame or sample counts of
every piece before the word's), never by adding up alignment durations, so they stay in step
over hours. Subtitles, the one-file book's chapters and the feed's transcripts are made from
these files, so they can be remade without narrating again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from narrator.output.files import write_json_atomic, write_stream_atomic

FORMAT = "narrator-timings"
VERSION = 1
SUFFIX = ".timings.json"


@dataclass(frozen=True)
class Word:
    """One word as spoken: where it is in the text, when it is in the file."""

    text: str
    start: float
    end: float
    offset: int
    length: int


@dataclass(frozen=True)
class ChapterTimings:
    audio: str
    text_sha256: str
    duration_s: float
    words: tuple[Word, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "audio": self.audio,
            "text_sha256": self.text_sha256,
            "duration_s": round(self.duration_s, 3),
            "words": [
                {
                    "text": w.text,
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "offset": w.offset,
                    "length": w.length,
                }
                for w in self.words
            ],
        }

    @classmethod
    def from_json(cls, data: object) -> ChapterTimings:
        """Timings read back; ValueError says what is wrong with them."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not narrator's word timings")
        if data.get("version") != VERSION:
            raise ValueError(f"timings version {data.get('version')!r} is not {VERSION}")
        try:
            words = tuple(
                Word(
                    str(w["text"]),
                    float(w["start"]),
                    float(w["end"]),
                    int(w["offset"]),
                    int(w["length"]),
                )
                for w in data["words"]
            )
            return cls(
                str(data["audio"]), str(data["text_sha256"]), float(data["duration_s"]), words
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed timings: {exc}") from exc


def timings_name(audio_name: str) -> str:
    """``01 - Title.mp3`` -> ``01 - Title.timings.json``."""
    stem = audio_name.rsplit(".", 1)[0]
    return stem + SUFFIX


def derived_names(audio_name: str) -> list[str]:
    """The files made from a chapter file's audio and timings, which go where it goes."""
    stem = audio_name.rsplit(".", 1)[0]
    return [timings_name(audio_name), f"{stem}.srt", f"{stem}.vtt"]


def carry_timings(folder: Path, moves: Sequence[tuple[str, str]]) -> None:
    """Give timings to audio reused under a new name: ``(old name, new name)`` pairs, all
    read before any is written, so a swap of two chapters loses neither."""
    carried: list[tuple[str, ChapterTimings]] = []
    for old, new in moves:
        try:
            timings = load_timings(folder / timings_name(old))
        except (OSError, ValueError):
            continue
        carried.append((new, ChapterTimings(new, timings.text_sha256, timings.duration_s,
                                            timings.words)))  # fmt: skip
    for new, timings in carried:
        write_json_atomic(folder / timings_name(new), timings.to_json())


_TOKEN = re.compile(r"\S+")


def words_of(
    text: str, voiced: Sequence[tuple[int, float, float]], start: int = 0, end: int | None = None
) -> list[Word]:
    """Words of ``text[start:end]`` (split at whitespace) timed by their characters'
    ``(offset, start, end)``; a word none of whose characters was timed is left out."""
    times: dict[int, tuple[float, float]] = {offset: (s, e) for offset, s, e in voiced}
    words: list[Word] = []
    for token in _TOKEN.finditer(text, start, len(text) if end is None else end):
        timed = [times[i] for i in range(token.start(), token.end()) if i in times]
        if timed:
            began = min(s for s, _ in timed)
            ended = max(e for _, e in timed)
            words.append(
                Word(token.group(), began, max(ended, began), token.start(), len(token.group()))
            )
    return words


def write_timings(
    path: Path, audio: str, text_sha256: str, duration_s: float, words: Iterable[Word]
) -> None:
    """Write a chapter's timings as they are made: an hour-long chapter's words are never
    all in memory at once."""
    head = ChapterTimings(audio, text_sha256, duration_s, ()).to_json()
    opening = json.dumps(head, ensure_ascii=False)[: -len("[]}")] + "["

    def blocks() -> Iterator[bytes]:
        yield opening.encode("utf-8")
        for number, word in enumerate(words):
            item = ChapterTimings(audio, text_sha256, duration_s, (word,)).to_json()["words"][0]
            yield ((",\n" if number else "\n") + json.dumps(item, ensure_ascii=False)).encode()
        yield b"\n]}\n"

    write_stream_atomic(path, blocks())


def load_timings(path: Path) -> ChapterTimings:
    return ChapterTimings.from_json(json.loads(path.read_text(encoding="utf-8")))
