"""``python benchmarks/run.py outputs``: what subtitles and a one-file book add to a run.

The 24-chapter book at ``-j 8`` against the tone server, narrated plainly (chapter files,
manifest and word timings, which are always written) and with ``--subtitles srt,vtt
--book-file mp3``, round robin; wall, client CPU and peak RSS per run, median reported. A
third contender adds the outputs to the book the plain run just narrated (nothing is sent),
which is the outputs' own cost without the narration around it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from books import scenario_book
from run import (
    CHARS_PER_SECOND,
    FIRST_AUDIO_S,
    FORMAT,
    Measured,
    Server,
    measure,
    med,
    narrate_command,
    say,
    spread,
    table,
)

EXTRAS = ["--subtitles", "srt,vtt", "--book-file", "mp3"]


def outputs(work: Path, args: argparse.Namespace) -> None:
    scale = args.time_scale
    book = scenario_book(work)
    first, cps = FIRST_AUDIO_S * scale, CHARS_PER_SECOND / scale
    say(f"\n### Outputs: the 24-chapter book, `-j 8`, {FORMAT}, time scale {scale:g}, "
        f"median of {args.runs}\n")  # fmt: skip
    # "outputs only" adds them to the folder "plain" just narrated: nothing is sent again.
    results: dict[str, list[Measured]] = {"plain": [], "outputs only": [], "with outputs": []}
    with Server(work, first_audio=first, cps=cps, tls=True) as server:
        for run in range(args.runs):
            for name in results:
                out = work / "out"
                if name != "outputs only":
                    shutil.rmtree(out, ignore_errors=True)
                command = narrate_command(book, out, server.url, 8, FORMAT)
                if name == "outputs only":  # the book narrated plainly just before
                    command = [c for c in command if c != "--force"]
                if name != "plain":
                    command += EXTRAS
                measured = measure(command, server.env())
                _check(out, with_outputs=name != "plain")
                results[name].append(measured)
                say(f"  run {run + 1} {name}: {measured.wall:.2f} s wall, "
                    f"{measured.cpu:.2f} s CPU, {measured.rss_mb:.0f} MB")  # fmt: skip
    base = results["plain"]
    rows = []
    for name, runs in results.items():
        wall, cpu, rss = [m.wall for m in runs], [m.cpu for m in runs], [m.rss_mb for m in runs]
        rows.append([
            name, f"{med(wall):.2f}", spread(wall), f"{med(cpu):.2f}", f"{med(rss):.1f}",
            "" if runs is base else f"{med(wall) - med([m.wall for m in base]):+.2f}",
            "" if runs is base else f"{med(rss) - med([m.rss_mb for m in base]):+.1f}",
        ])  # fmt: skip
    say(table(["narrate -j 8", "wall s", "range", "client CPU s", "peak RSS MB",
               "wall vs plain", "RSS vs plain"], rows))  # fmt: skip


def _check(out: Path, *, with_outputs: bool) -> None:
    chapters = sorted(p for p in out.glob("[0-9]* - *.mp3"))
    timings = sorted(out.glob("*.timings.json"))
    if len(chapters) != 24 or len(timings) != 24:
        raise RuntimeError(f"{len(chapters)} chapter files and {len(timings)} timings in {out}")
    book_file = out / "The Benchmark.mp3"
    if with_outputs and (len(list(out.glob("*.srt"))) != 24 or not book_file.is_file()):
        raise RuntimeError(f"subtitles or the book file missing in {out}")
