"""Deterministic generated books (seeded), written as Markdown or plain text.

Prose only: sentences of common words with a little Markdown (emphasis, a link) so that the
speech text is about as long as the source. Chapter lengths are speech-text targets in
characters; the heading is extra.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

WORDS = (  # noqa: SIM905 (a word list reads better as prose)
    "the of and a to in is you that it he was for on are as with his they I at be this have "
    "from or one had by word but not what all were we when your can said there use an each "
    "which she do how their if will up other about out many then them these so some her would "
    "make like him into time has look two more write go see number no way could people my "
    "than first water been call who oil its now find long down day did get come made may part "
    "river morning garden lantern harbour letter window evening journey mountain silence "
    "stranger promise winter kitchen library carriage orchard thunder whisper village"
).split()


def prose(rng: random.Random, length: int) -> list[str]:
    """Paragraphs totalling about ``length`` characters (each ends a sentence)."""
    paragraphs: list[str] = []
    total = 0
    while total < length:
        sentences = []
        for _ in range(rng.randint(3, 7)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(6, 22))]
            if rng.random() < 0.15:
                i = rng.randrange(len(words))
                words[i] = f"*{words[i]}*"
            if rng.random() < 0.05:
                i = rng.randrange(len(words))
                words[i] = f"[{words[i]}](https://example.org/{words[i]})"
            if len(words) > 8 and rng.random() < 0.4:
                words[len(words) // 2] += ","
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + rng.choice(".....?!"))
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return paragraphs


def uneven_lengths(seed: int, count: int, low: int, high: int) -> list[int]:
    """``count`` log-uniform lengths in [low, high], the shortest and longest included."""
    rng = random.Random(seed)
    lengths = [round(math.exp(rng.uniform(math.log(low), math.log(high)))) for _ in range(count)]
    lengths[rng.randrange(count)] = high
    lengths[min(range(count), key=lambda i: lengths[i] if lengths[i] != high else high)] = low
    return lengths


def write_book(path: Path, lengths: list[int], seed: int, plain: bool = False) -> Path:
    """Write a book with one chapter per length; Markdown ``#`` headings or ``CHAPTER N.``."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        if not plain:
            out.write("---\ntitle: The Benchmark\nauthor: A. Seed\n---\n\n")
        for number, length in enumerate(lengths, start=1):
            title = " ".join(rng.choice(WORDS) for _ in range(3)).title()
            if plain:
                out.write(f"CHAPTER {number}.\n\n{title}\n\n")
            else:
                out.write(f"# Chapter {number}: {title}\n\n")
            paragraphs = prose(rng, length)
            if plain:  # plain text: no Markdown symbols to speak
                paragraphs = [p.replace("*", "") for p in paragraphs]
            out.write("\n\n".join(paragraphs))
            out.write("\n\n")
    return path


def scenario_book(folder: Path) -> Path:
    """The pool scenario: 24 chapters of 2,000 to 20,000 characters (seed 8, ~190k in all)."""
    return write_book(folder / "book24.md", uneven_lengths(8, 24, 2_000, 20_000), seed=8)


def sized_book(folder: Path, megabytes: float, plain: bool = False, big_chapter: int = 0) -> Path:
    """About ``megabytes`` MB of prose in 20,000-character chapters (plus one of
    ``big_chapter`` characters first when given)."""
    target = int(megabytes * 1_000_000)
    lengths = [big_chapter] if big_chapter else []
    rest = target - big_chapter
    lengths += [20_000] * max(1, rest // 20_000)
    suffix = "txt" if plain else "md"
    name = f"book_{megabytes:g}MB{'_big' if big_chapter else ''}.{suffix}"
    return write_book(folder / name, lengths, seed=int(megabytes * 1000) + 7, plain=plain)
