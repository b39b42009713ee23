"""Local engine synthesis speed: eSpeak NG + LAME on 100,000 characters, on one core.

Runs the same path the server uses (one generation per ~290 characters, the default
schedule's steady size, each ending at a space; one session encoder) without sockets, and
prints the median of three runs in seconds and in times faster than real time.

    python benchmarks/synthesis.py [--chars 100000] [--format mp3_44100_128] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from narrator.local.encode import FORMATS, StreamEncoder
from narrator.local.voice import Espeak

SAMPLE = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was "
    "the age of foolishness, it was the epoch of belief, it was the epoch of incredulity. "
    "There were 12 chapters in the book, and the narrator read every one of them aloud. "
)


def chunks(total: int, size: int = 290) -> list[str]:
    text = (SAMPLE * (total // len(SAMPLE) + 1))[:total]
    out: list[str] = []
    while text:
        cut = text.rfind(" ", 0, size) + 1 if len(text) > size else len(text)
        out.append(text[:cut])
        text = text[cut:]
    return out


def run_once(pieces: list[str], fmt_name: str) -> tuple[float, float]:
    """Seconds of work and seconds of audio for one pass."""
    espeak, encoder = Espeak(), StreamEncoder(FORMATS[fmt_name])
    audio_ms = 0.0
    started = time.perf_counter()
    for piece in pieces:
        speech = espeak.synthesize(piece, "en-us", 1.0)
        encoder.encode(speech)
        audio_ms += speech.duration_ms
    return time.perf_counter() - started, audio_ms / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--format", default="mp3_44100_128", choices=sorted(FORMATS))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    pieces = chunks(args.chars)
    results = [run_once(pieces, args.format) for _ in range(args.runs)]
    seconds = statistics.median(r[0] for r in results)
    audio = results[0][1]
    print(f"{args.chars} characters, {args.format}: audio {audio:.0f} s")
    print(f"median of {args.runs}: {seconds:.2f} s, {audio / seconds:.0f}x real time")


if __name__ == "__main__":
    main()
