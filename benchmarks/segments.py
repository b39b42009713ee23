"""``python benchmarks/run.py segments``: chapters cut into segments across one pool.

Parts (``--parts``, default all):

- ``chapter``: one 60,000-character chapter (Markdown, no headings) at ``-j 8`` against the
  split ideal (total generation / 8 + one first audio), and once with
  ``--max-segment-chars 0`` (the chapter whole) for reference.
- ``book``: the 24-chapter book at ``-j 8`` against the split and the whole-chapter ideal.
- ``sdk``: the official SDK's ``convert_realtime``, chapter after chapter, on the same book,
  round robin with the ``book`` runs (needs ``book``).
- ``characters``: what the service received for the book, clean, with sessions dropped
  (each with the chance ``--drop-share``), and with narrate SIGKILLed part-way and run again
  (unless ``--no-kills``); the server is a
  ``LocalServer`` in this process (a thread with its own loop), so its counters can be read.

The first three use ``narrate-server`` in its own process over wss, as the scenario does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from books import prose, scenario_book
from run import (
    CHARS_PER_SECOND,
    FIRST_AUDIO_S,
    FORMAT,
    HERE,
    SDK_PYTHON,
    Server,
    audio_hours,
    ideal_seconds,
    med,
    narrate_command,
    round_robin,
    say,
    sent_book,
    spread,
    table,
)

from narrator.local import ServerOptions, serve_in_thread
from narrator.reading.chapters import load_book
from narrator.settings import ParseOptions

JOBS = 8
CHAPTER_CHARS = 60_000
#: The characters benchmark always runs at this time scale (the figure does not depend on it).
CHARACTERS_SCALE = 0.05
MAX_FRAME_BYTES = 32_768
DROP_SEEDS = (1, 2, 3)
KILL_POINTS = (0.5, 0.3, 0.7)  # share of the book's characters received before the SIGKILL


# --- inputs ----------------------------------------------------------------------------------


def one_chapter_book(work: Path, target: int = CHAPTER_CHARS, seed: int = 60) -> Path:
    """A Markdown document with no headings whose speech text is about ``target`` characters.

    ``books.prose`` counts Markdown characters (emphasis, links), so the length asked for is
    corrected once from what ``load_book`` makes of a first draft.
    """
    path = work / "chapter60k.md"
    length = target
    for _ in range(3):
        path.write_text("\n\n".join(prose(random.Random(seed), length)) + "\n", "utf-8")
        speech = sum(len(c.text) for c in load_book(path, ParseOptions()).chapters)
        if abs(speech - target) <= 200:
            break
        length = round(length * target / speech)
    return path


@dataclass
class Manifest:
    """What narrate's manifest says of a finished run, summed over chapters."""

    characters: int
    attempts: int
    pieces: int
    chapters: int
    done: int


def read_manifest(out: Path) -> Manifest | None:
    try:
        record = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    chapters = record["chapters"]
    return Manifest(
        sum(c.get("characters", 0) for c in chapters),
        sum(c.get("attempts", 0) for c in chapters),
        sum(c.get("pieces", 0) for c in chapters),
        len(chapters),
        sum(c["status"] == "done" for c in chapters),
    )


def narrate_segmented(book: Path, url: str, whole: bool = False) -> Callable[[Path], list[str]]:
    def command(out: Path) -> list[str]:
        extra = ["--max-segment-chars", "0"] if whole else []
        return narrate_command(book, out, url, JOBS, FORMAT) + extra

    return command


# --- 1-3: the pool on one chapter and on the book, and the SDK -------------------------------


def pool_runs(work: Path, args: argparse.Namespace, book: Path, label: str, sdk: bool,
              whole_runs: int) -> None:  # fmt: skip
    """Measure narrate -j 8 (``args.runs`` times), the SDK (same), the chapters whole."""
    scale = args.time_scale
    sent = sent_book(book)
    chars = sent.characters
    first, cps = FIRST_AUDIO_S * scale, CHARS_PER_SECOND / scale
    say(f"\n### Segments: {label}: {len(chars)} chapter(s), {sum(chars):,} characters sent, "
        f"{FORMAT}, `-j {JOBS}`, time scale {scale:g} (first audio {first * 1000:.0f} ms, "
        f"{cps:.0f} characters/s per session), median of {args.runs}\n")  # fmt: skip
    seen: dict[str, list[Manifest]] = {}

    def inspect(name: str, out: Path) -> None:
        if name.startswith("narrate"):
            audio_hours(out)  # raises unless every chapter is done
            manifest = read_manifest(out)
            assert manifest is not None
            seen.setdefault(name, []).append(manifest)

    split_name, whole_name = f"narrate -j {JOBS}", f"narrate -j {JOBS} --max-segment-chars 0"
    sdk_name = "elevenlabs SDK convert_realtime, chapter after chapter"
    with Server(work, first_audio=first, cps=cps, tls=True) as server:
        shown = " ".join(Path(c).name if c.startswith("/") else c for c in server.command)
        say(f"server: `{shown}` (wss, self-signed certificate)\n")
        contenders = {split_name: narrate_segmented(sent.path, server.url)}
        if sdk:
            job_file = work / "job.json"
            job_file.write_text(json.dumps(sent.job(server.url, FORMAT)), encoding="utf-8")
            contenders[sdk_name] = lambda out: [SDK_PYTHON, str(HERE / "sdk_client.py"),
                                                str(job_file), str(out)]  # fmt: skip
        results = round_robin(work, server, contenders, args.runs, len(chars), inspect)
        if whole_runs:
            whole = {whole_name: narrate_segmented(sent.path, server.url, whole=True)}
            results |= round_robin(work, server, whole, whole_runs, len(chars), inspect)
    say()
    ideal_split = ideal_seconds(chars, JOBS, scale, split=True)
    ideal_whole = ideal_seconds(chars, JOBS, scale)
    rows = []
    for name in (split_name, whole_name):
        if name not in results:
            continue
        walls = [m.wall for m, _ in results[name]]
        manifests = seen[name]
        rows.append([f"`{name}`", len(walls), f"{med(walls):.2f}", spread(walls),
                     f"{ideal_split:.2f}", f"**{ideal_split / med(walls):.2f}**",
                     f"{ideal_whole:.2f}", f"{ideal_whole / med(walls):.2f}",
                     "/".join(str(m.pieces) for m in manifests),
                     "/".join(str(m.attempts) for m in manifests),
                     "/".join(f"{m.characters:,}" for m in manifests),
                     f"{med([m.cpu for m, _ in results[name]]):.2f}",
                     f"{med([s for _, s in results[name]]):.2f}"])  # fmt: skip
    say(f"#### {label} against the ideal (time scale {scale:g})\n")
    say(table(["client", "runs", "measured s (median)", "range", "ideal s (split)",
               "efficiency (split ideal)", "ideal s (whole chapters)",
               "efficiency (whole ideal)", "segments (pieces) per run", "sessions per run",
               "characters sent per run", "client CPU s", "server CPU s"], rows))  # fmt: skip
    say()
    if sdk:
        ours = med([m.wall for m, _ in results[split_name]])
        rows = []
        for name in (split_name, sdk_name):
            walls = [m.wall for m, _ in results[name]]
            rows.append([name, f"{med(walls):.2f}", spread(walls),
                         f"**{med(walls) / ours:.2f}x**",
                         f"{med([m.cpu for m, _ in results[name]]):.2f}",
                         f"{med([m.rss_mb for m, _ in results[name]]):.0f}"])  # fmt: skip
        sequential = sum(chars) / cps + first * len(chars)
        say(f"#### narrate -j {JOBS} against the SDK (time scale {scale:g})\n")
        say(table(["client", "wall s (median)", "range", "SDK wall / narrate wall",
                   "client CPU s", "client peak RSS MB"], rows))  # fmt: skip
        say(f"\nThe SDK's sequential bound (every chapter's generation one after another, one "
            f"first audio per chapter): {sequential:.2f} s, i.e. "
            f"{sequential / ours:.2f}x the narrate -j {JOBS} median.\n")  # fmt: skip


# --- 4: characters the service received ------------------------------------------------------


@dataclass
class Counted:
    """One case of the characters benchmark."""

    label: str
    received: int
    sent: int | None
    sessions: int
    dropped: int
    frames: int
    wall: float
    note: str = ""
    pieces: int | None = None
    attempts: int | None = None


def run_child(command: list[str], stop_when: Callable[[], bool] | None = None) -> tuple[int, float]:
    """Run narrate; SIGKILL it as soon as ``stop_when()`` holds. (exit code, wall seconds)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed = False
    while child.poll() is None:
        if stop_when is not None and not killed and stop_when():
            os.kill(child.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.002)
    output = child.stdout.read().decode("utf-8", "replace") if child.stdout else ""
    wall = time.perf_counter() - started
    if not killed and child.returncode != 0:
        raise RuntimeError(f"narrate exited {child.returncode}:\n{output[-2000:]}")
    return child.returncode, wall


def characters(work: Path, args: argparse.Namespace) -> None:
    scale = CHARACTERS_SCALE
    book = scenario_book(work)
    chapters = load_book(book, ParseOptions()).chapters
    voiced = sum(len(c.text) for c in chapters)
    voiced_ns = sum(len(c.text) - c.text.count(" ") - c.text.count("\n") for c in chapters)
    base = {"voice_engine": "tone", "first_audio_latency_s": FIRST_AUDIO_S * scale,
            "chars_per_second": CHARS_PER_SECOND / scale,
            "max_frame_bytes": MAX_FRAME_BYTES}  # fmt: skip
    say(f"\n### Segments: characters the service received, 24-chapter book, `-j {JOBS}`, "
        f"{FORMAT}, time scale {scale:g}\n")  # fmt: skip
    say(
        f"server: `LocalServer` in the benchmark process (a thread with its own loop, ws://), "
        f"`ServerOptions({', '.join(f'{k}={v!r}' for k, v in base.items())}, ...)`\n"
    )
    say(f"book: {len(chapters)} chapters, speech text {voiced:,} characters "
        f"({voiced_ns:,} not spaces or newlines)\n")  # fmt: skip
    cases: list[Counted] = []

    def one(label: str, options: ServerOptions, kill_at: float | None = None) -> None:
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        with serve_in_thread(options) as server:
            command = narrate_command(book, out, server.url, JOBS, FORMAT)
            if kill_at is None:
                _, wall = run_child(command)
                audio_hours(out)
                manifest = read_manifest(out)
                stats = server.stats
                cases.append(
                    Counted(
                        label,
                        stats.characters_received,
                        manifest.characters if manifest else None,
                        stats.sessions_started,
                        stats.sessions_dropped,
                        stats.audio_frames_sent,
                        wall,
                        pieces=manifest.pieces if manifest else None,
                        attempts=manifest.attempts if manifest else None,
                    )
                )
            else:
                threshold = kill_at * voiced
                code, wall1 = run_child(
                    command, lambda: server.stats.characters_received >= threshold
                )
                first = read_manifest(out)
                received1 = server.stats.characters_received
                sessions1 = server.stats.sessions_started
                rerun = [a for a in command if a != "--force"]
                _, wall2 = run_child(rerun)
                audio_hours(out)
                manifest = read_manifest(out)
                stats = server.stats
                cases.append(Counted(f"{label}: first run (SIGKILL, exit {code})", received1,
                                     first.characters if first else None, sessions1, 0, 0,
                                     wall1, "manifest as the killed run left it",
                                     first.pieces if first else None,
                                     first.attempts if first else None))  # fmt: skip
                cases.append(
                    Counted(
                        f"{label}: rerun",
                        stats.characters_received - received1,
                        None,
                        stats.sessions_started - sessions1,
                        0,
                        0,
                        wall2,
                    )
                )
                cases.append(
                    Counted(
                        f"{label}: total",
                        stats.characters_received,
                        manifest.characters if manifest else None,
                        stats.sessions_started,
                        0,
                        stats.audio_frames_sent,
                        wall1 + wall2,
                        "sent: the manifest after the rerun",
                        manifest.pieces if manifest else None,
                        manifest.attempts if manifest else None,
                    )
                )
        c = cases[-1]
        say(f"  {c.label}: received {c.received:,}, sent {c.sent}, sessions {c.sessions}, "
            f"dropped {c.dropped}, frames {c.frames}, {c.wall:.1f} s")  # fmt: skip
        shutil.rmtree(out, ignore_errors=True)

    one("(a) clean", ServerOptions(**base))
    clean = cases[0]
    within = max(1, round(clean.frames / max(1, clean.sessions)))
    say(
        f"  clean run: {clean.frames} audio frames in {clean.sessions} sessions started, "
        f"{clean.frames / max(1, clean.sessions):.1f} a session started "
        f"({clean.frames / max(1, clean.pieces or 1):.1f} a segment): "
        f"drop_within_frames={within}"
    )
    for seed in DROP_SEEDS:
        one(f"(b) drops, seed {seed}",
            ServerOptions(**base, drop_share=args.drop_share, drop_within_frames=within,
                          fault_seed=seed))  # fmt: skip
    for point in KILL_POINTS if args.kills else ():
        one(f"(c) SIGKILL at {point:.0%} of the book", ServerOptions(**base), kill_at=point)
    say()
    rows = []
    for c in cases:
        share = f"{c.dropped / c.sessions:.2f}" if c.label.startswith("(b)") else ""
        rows.append([c.label, f"{c.received:,}", "" if c.sent is None else f"{c.sent:,}",
                     f"{voiced:,}", f"**{c.received / voiced:.3f}**",
                     "" if c.sent is None else f"{c.sent / voiced:.3f}",
                     f"{c.received / voiced_ns:.3f}", c.sessions,
                     f"{c.dropped}" if c.label.startswith("(b)") else "", share,
                     "" if c.pieces is None else c.pieces,
                     "" if c.attempts is None else c.attempts,
                     f"{c.wall:.1f}", c.note])  # fmt: skip
    say(table(["case", "received by the server", "sent (manifest `characters`)",
               "book (speech text)", "received / book", "sent / book",
               "received / book non-space", "sessions started", "sessions dropped",
               "dropped / started", "manifest pieces", "manifest attempts", "wall s", "note"],
              rows))  # fmt: skip
    drops = [c for c in cases if c.label.startswith("(b)")]
    kills = [c for c in cases if c.label.endswith("total")]
    worst = [f"drops {max(c.received for c in drops) / voiced:.3f} (target <= 1.05)"]
    if kills:
        worst.append(f"SIGKILL + rerun {max(c.received for c in kills) / voiced:.3f} "
                     f"(target <= 1.10)")  # fmt: skip
    worst.append(f"clean {clean.received / voiced:.3f} (target 1.00)")
    say(f"\nworst: {', '.join(worst)}\n")


# --- the command -----------------------------------------------------------------------------


def segments(work: Path, args: argparse.Namespace) -> None:
    parts = set(args.parts)
    unknown = parts - {"chapter", "book", "sdk", "characters"}
    if unknown:
        raise SystemExit(f"unknown --parts: {', '.join(sorted(unknown))}")
    if "chapter" in parts:
        pool_runs(work, args, one_chapter_book(work), "one 60,000-character chapter",
                  sdk=False, whole_runs=args.whole_runs)  # fmt: skip
    if "book" in parts:
        pool_runs(work, args, scenario_book(work), "the 24-chapter book", sdk="sdk" in parts,
                  whole_runs=args.whole_runs)  # fmt: skip
    if "characters" in parts:
        characters(work, args)
