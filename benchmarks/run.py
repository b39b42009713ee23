"""narrator's benchmarks, run by hand; each prints Markdown tables (see benchmarks/README.md).

    python benchmarks/run.py pool       # -j 1,2,4,8,16 against the ideal (scaled latency model)
    python benchmarks/run.py compare    # narrator -j 8 against the SDK and a sequential client
    python benchmarks/run.py scenario   # pool + compare in one run, on one server
    python benchmarks/run.py memory     # peak RSS of narrate on 0.5, 2 and 8 MB books
    python benchmarks/run.py cpu        # narrate's CPU seconds per hour of audio
    python benchmarks/run.py split      # load_book on 10 MB of Markdown
    python benchmarks/run.py segments   # chapters cut across the pool: speed and characters
    python benchmarks/run.py outputs    # what subtitles and a one-file book add to a run
    python benchmarks/run.py all        # scenario, memory, cpu and split

Every client (narrate, the SDK helper, the sequential client) runs as a child process and the
server (``narrate-server --test-voice tone``) in another, so wall time, CPU and peak memory
of the client are measured apart from the server's (``os.wait4``). The latency model is the
real service's (300 ms to first audio, audio 10x faster than real time per session) times
``--time-scale``. Generated books and audio go to a temp folder, removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from books import scenario_book, sized_book  # noqa: E402

from narrator.output.names import chapter_file_names  # noqa: E402
from narrator.reading.chapters import load_book  # noqa: E402
from narrator.service.chunking import chunk_text  # noqa: E402
from narrator.settings import ParseOptions  # noqa: E402

BIN = Path(sys.executable).parent
NARRATE = str(BIN / "narrate")
NARRATE_SERVER = str(BIN / "narrate-server")
SDK_PYTHON = os.environ.get("BENCH_SDK_PYTHON", "/tmp/benchvenv/bin/python")
CORPUS = Path(os.environ.get("NARRATOR_CORPUS", HERE.parent.parent / "shared" / "corpus"))

#: The real service, per session: time to first audio, and characters generated a second.
#: 14.5 characters make one second of the tone voice's audio at speed 1.0; 10x real time.
FIRST_AUDIO_S = 0.3
CHARS_PER_SECOND = 145.0
VOICE, MODEL, API_KEY = "JBFqnCBsd6RMkjVDRZzb", "eleven_multilingual_v2", "bench-key"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- processes -------------------------------------------------------------------------------


@dataclass
class Measured:
    """One child process: wall seconds, CPU seconds (user + system), peak RSS in MB."""

    wall: float
    cpu: float
    rss_mb: float
    code: int
    output: str


def measure(command: Sequence[str], env: dict[str, str] | None = None) -> Measured:
    """Run ``command`` to its end; its resources come from ``os.wait4`` (the child alone)."""
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
    measured = Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                        child.returncode, output)  # fmt: skip
    if measured.code != 0:
        raise RuntimeError(f"{command[0]} exited {measured.code}:\n{output[-2000:]}")
    return measured


class Server:
    """``narrate-server`` in its own process, on a free port, optionally with TLS."""

    def __init__(self, work: Path, *, first_audio: float = 0.0, cps: float | None = None,
                 tls: bool = False) -> None:  # fmt: skip
        command = [NARRATE_SERVER, "--port", "0", "--test-voice", "tone"]
        if first_audio:
            command += ["--first-audio-latency", f"{first_audio:g}"]
        if cps:
            command += ["--chars-per-second", f"{cps:g}"]
        self.cert: Path | None = None
        if tls:
            self.cert, key = make_certificate(work)
            command += ["--certfile", str(self.cert), "--keyfile", str(key)]
        self.command = command
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"narrate-server did not start: {line!r}")
        self.url = line.split("listening on", 1)[1].strip()

    def env(self) -> dict[str, str]:
        """The environment a client needs to trust the server's certificate."""
        env = dict(os.environ)
        if self.cert is not None:
            env["SSL_CERT_FILE"] = str(self.cert)
        return env

    def cpu(self) -> float:
        """CPU seconds the server has used so far (``/proc``, Linux)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_certificate(work: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (the ``openssl`` CLI)."""
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def narrate_command(book: Path, out: Path, url: str, jobs: int, fmt: str) -> list[str]:
    return [NARRATE, str(book), "--out", str(out), "--engine", "elevenlabs", "--api-key",
            API_KEY, "--base-url", url, "--voice", VOICE, "--model", MODEL, "--format", fmt,
            "-j", str(jobs), "--force", "--quiet"]  # fmt: skip


def audio_hours(out: Path) -> float:
    """Hours of audio in a finished output folder, from narrator's manifest; all done."""
    record = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    bad = [c for c in record["chapters"] if c["status"] != "done"]
    if bad:
        raise RuntimeError(f"{len(bad)} chapter(s) not done: {bad[0]}")
    return sum(c["duration_s"] for c in record["chapters"]) / 3600


def folder_bytes(out: Path, suffix: str = ".mp3") -> int:
    return sum(p.stat().st_size for p in out.glob(f"*{suffix}"))


# --- the book as sent ------------------------------------------------------------------------


@dataclass
class SentBook:
    """What every client sends: per chapter its file name and its pieces of speech text."""

    path: Path
    files: list[str]
    pieces: list[list[str]]

    @property
    def characters(self) -> list[int]:
        return [sum(map(len, p)) for p in self.pieces]

    def job(self, url: str, fmt: str) -> dict[str, object]:
        chapters = [{"file": f, "pieces": p} for f, p in zip(self.files, self.pieces, strict=True)]
        return {"url": url, "api_key": API_KEY, "voice_id": VOICE, "model_id": MODEL,
                "output_format": fmt, "chapters": chapters}  # fmt: skip


def sent_book(path: Path) -> SentBook:
    book = load_book(path, ParseOptions())
    files = chapter_file_names([c.title for c in book.chapters], ".mp3")
    return SentBook(path, files, [chunk_text(c.text) for c in book.chapters])


def ideal_seconds(characters: Sequence[int], sessions: int, scale: float,
                  split: bool = False) -> float:  # fmt: skip
    """The longer of total generation / N and the longest chapter, plus one first audio.

    ``split=True``: chapters may be cut across sessions, so only total generation / N counts.
    """
    cps, first = CHARS_PER_SECOND / scale, FIRST_AUDIO_S * scale
    if split:
        return sum(characters) / cps / sessions + first
    return max(sum(characters) / cps / sessions, max(characters) / cps) + first


# --- tables ----------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], digits: int = 2) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def machine() -> str:
    model = cores = "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("CPU(s):"):
                cores = line.split(":", 1)[1].strip()
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{model}, {cores} cores, {ram:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")  # fmt: skip


def say(text: str = "") -> None:
    print(text, flush=True)


# --- scenario: pool and comparison -----------------------------------------------------------

FORMAT = "mp3_44100_128"


def round_robin(
    work: Path,
    server: Server,
    contenders: dict[str, Callable[[Path], list[str]]],
    runs: int,
    chapters: int,
    inspect: Callable[[str, Path], None] | None = None,
) -> dict[str, list[tuple[Measured, float]]]:
    """Run every contender ``runs`` times, round robin (slow drift hits every one alike),
    each into a fresh folder that must end with one non-empty file per chapter; ``inspect``
    sees each folder before it is removed. Per contender: (measured, server CPU s) per run."""
    results: dict[str, list[tuple[Measured, float]]] = {name: [] for name in contenders}
    for run in range(runs):
        for name, command in contenders.items():
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            cpu_before = server.cpu()
            measured = measure(command(out), server.env())
            server_cpu = server.cpu() - cpu_before
            files = sorted(out.glob("*.mp3"))
            if len(files) != chapters or any(f.stat().st_size == 0 for f in files):
                raise RuntimeError(f"{name}: {len(files)} files for {chapters} chapters")
            if inspect is not None:
                inspect(name, out)
            results[name].append((measured, server_cpu))
            say(f"  run {run + 1} {name}: {measured.wall:.2f} s wall, "
                f"{measured.cpu:.2f} s CPU, {measured.rss_mb:.0f} MB, "
                f"server {server_cpu:.2f} s CPU, "
                f"{folder_bytes(out) / 1e6:.0f} MB audio")  # fmt: skip
            shutil.rmtree(out, ignore_errors=True)
    return results


def scenario(work: Path, args: argparse.Namespace, pool: bool, compare: bool) -> None:
    scale = args.time_scale
    book = sent_book(scenario_book(work))
    chars = book.characters
    first, cps = FIRST_AUDIO_S * scale, CHARS_PER_SECOND / scale
    say(f"\n### Scenario: {len(chars)} chapters, {sum(chars):,} characters sent "
        f"({min(chars):,} to {max(chars):,} per chapter), {FORMAT}, time scale {scale:g} "
        f"(first audio {first * 1000:.0f} ms, {cps:.0f} characters/s per session), "
        f"median of {args.runs}\n")  # fmt: skip
    jobs = sorted(set(args.jobs if pool else []) | ({8} if compare else set()))
    with Server(work, first_audio=first, cps=cps, tls=True) as server:
        shown = " ".join(Path(c).name if c.startswith("/") else c for c in server.command)
        say(f"server: `{shown}` (wss, self-signed certificate)\n")
        job_file = work / "job.json"
        job_file.write_text(json.dumps(book.job(server.url, FORMAT)), encoding="utf-8")
        contenders: dict[str, Callable[[Path], list[str]]] = {
            f"narrate -j {n}": (
                lambda out, n=n: narrate_command(book.path, out, server.url, n, FORMAT)
            )
            for n in jobs
        }
        if compare:
            contenders["elevenlabs SDK convert_realtime"] = lambda out: [
                SDK_PYTHON,
                str(HERE / "sdk_client.py"),
                str(job_file),
                str(out),
            ]
            contenders["sequential client"] = lambda out: [
                sys.executable,
                str(HERE / "sequential_client.py"),
                str(job_file),
                str(out),
            ]
        results = round_robin(work, server, contenders, args.runs, len(chars))
    say()
    if pool:
        rows = []
        for n in args.jobs:
            walls = [m.wall for m, _ in results[f"narrate -j {n}"]]
            ideal = ideal_seconds(chars, n, scale)
            rows.append([n, f"{ideal:.2f}", f"{med(walls):.2f}", spread(walls),
                         f"**{ideal / med(walls):.2f}**",
                         f"{med([m.cpu for m, _ in results[f'narrate -j {n}']]):.2f}",
                         f"{med([s for _, s in results[f'narrate -j {n}']]):.2f}"])  # fmt: skip
        say(f"#### Pool against the ideal (time scale {scale:g})\n")
        say(table(["-j", "ideal s", "measured s (median)", "range", "efficiency",
                   "client CPU s", "server CPU s"], rows))  # fmt: skip
        say()
    if compare:
        ours = med([m.wall for m, _ in results["narrate -j 8"]])
        rows = []
        for name in contenders:
            if name.startswith("narrate") and name != "narrate -j 8":
                continue
            walls = [m.wall for m, _ in results[name]]
            rows.append([name, f"{med(walls):.2f}", spread(walls),
                         f"**{med(walls) / ours:.2f}x**",
                         f"{med([m.cpu for m, _ in results[name]]):.2f}",
                         f"{med([m.rss_mb for m, _ in results[name]]):.0f}"])  # fmt: skip
        say(f"#### narrate -j 8 against what a user would use instead (time scale {scale:g})\n")
        say(table(["client", "wall s (median)", "range", "narrate -j 8 is faster by",
                   "client CPU s", "client peak RSS MB"], rows))  # fmt: skip
        say()


# --- memory and CPU --------------------------------------------------------------------------


def memory(work: Path, args: argparse.Namespace) -> None:
    fmt = "mp3_22050_32"
    specs = [(0.5, False, 0), (2.0, False, 0), (8.0, False, 1_000_000)]
    if args.plain:
        specs += [(0.5, True, 0), (8.0, True, 1_000_000)]
    say(f"\n### Memory: peak RSS of `narrate -j {args.memory_jobs}`, {fmt}, tone voice, "
        f"no latency, median of {args.runs}\n")  # fmt: skip
    rows = []
    with Server(work) as server:
        say(f"server: `{' '.join(server.command[1:])}`\n")
        for megabytes, plain, big in specs:
            path = sized_book(work, megabytes, plain=plain, big_chapter=big)
            size = path.stat().st_size
            chapters = len(load_book(path, ParseOptions()).chapters)
            runs: list[tuple[Measured, float, float]] = []
            for _ in range(args.runs if not plain else 1):
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                cpu_before = server.cpu()
                measured = measure(narrate_command(path, out, server.url, args.memory_jobs, fmt))
                hours = audio_hours(out)
                runs.append((measured, hours, server.cpu() - cpu_before))
                say(f"  {path.name}: {measured.rss_mb:.1f} MB, {measured.wall:.1f} s wall, "
                    f"{measured.cpu:.1f} s CPU, {hours:.1f} h audio, "
                    f"{folder_bytes(out) / 1e6:.0f} MB written")  # fmt: skip
                shutil.rmtree(out, ignore_errors=True)
            hours = runs[0][1]
            rows.append(
                [
                    f"{size / 1e6:.2f} MB {'text' if plain else 'Markdown'}"
                    + (" (one 1 MB chapter)" if big else ""),
                    chapters,
                    f"{hours:.1f}",
                    f"**{med([m.rss_mb for m, _, _ in runs]):.1f}**",
                    spread([m.rss_mb for m, _, _ in runs], 1),
                    f"{med([m.wall for m, _, _ in runs]):.1f}",
                    f"{med([m.cpu for m, _, _ in runs]):.1f}",
                    f"{med([m.cpu for m, _, _ in runs]) / hours:.2f}",
                ]
            )
            path.unlink()
    say()
    say(table(["book", "chapters", "audio h", "peak RSS MB (median)", "range", "wall s",
               "client CPU s", "client CPU s per audio h"], rows))  # fmt: skip
    say()


def cpu(work: Path, args: argparse.Namespace) -> None:
    say(f"\n### Client cost: CPU of `narrate -j 4` per hour of audio, {FORMAT}, tone voice, "
        f"no latency, median of {args.runs}\n")  # fmt: skip
    book = scenario_book(work)
    rows = []
    with Server(work) as server:
        say(f"server: `{' '.join(server.command[1:])}`\n")
        fixed = [measure([NARRATE, str(book), "--dry-run", "--quiet"]).cpu
                 for _ in range(args.runs)]  # fmt: skip
        runs = []
        for _ in range(args.runs):
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            cpu_before = server.cpu()
            measured = measure(narrate_command(book, out, server.url, 4, FORMAT))
            runs.append((measured, audio_hours(out), server.cpu() - cpu_before))
            say(f"  {measured.cpu:.2f} s CPU, {measured.wall:.2f} s wall, "
                f"{runs[-1][1]:.2f} h audio, {folder_bytes(out) / 1e6:.0f} MB, "
                f"server {runs[-1][2]:.2f} s CPU")  # fmt: skip
            shutil.rmtree(out, ignore_errors=True)
    hours = runs[0][1]
    client = med([m.cpu for m, _, _ in runs])
    rows.append(["24-chapter book", f"{hours:.2f}", f"{client:.2f}", f"**{client / hours:.2f}**",
                 f"{med(fixed):.2f}", f"{(client - med(fixed)) / hours:.2f}",
                 f"{med([s for _, _, s in runs]):.2f}"])  # fmt: skip
    say(table(["book", "audio h", "client CPU s", "client CPU s per audio h",
               "fixed: `--dry-run` CPU s", "per audio h without the fixed part",
               "server CPU s"], rows))  # fmt: skip
    say()


# --- splitting -------------------------------------------------------------------------------


def build_corpus_markdown(path: Path, megabytes: float) -> Path:
    sources = sorted(p for p in CORPUS.iterdir() if p.suffix in (".md", ".markdown")
                     and p.name != "SOURCES.md")  # fmt: skip
    texts = [p.read_text(encoding="utf-8") for p in sources]
    target = int(megabytes * 1_000_000)
    with path.open("w", encoding="utf-8") as out:
        written = 0
        while written < target:
            for text in texts:
                out.write(text.rstrip("\n") + "\n\n")
                written += len(text.encode("utf-8")) + 2
    return path


def split(work: Path, args: argparse.Namespace) -> None:
    say(f"\n### Splitting: `narrator.reading.chapters.load_book` on 10 MB, in process, "
        f"median of {args.runs}\n")  # fmt: skip
    rows = []
    books = [("corpus Markdown, repeated", build_corpus_markdown(work / "corpus10.md", 10)),
             ("generated prose Markdown", sized_book(work, 10.0)),
             ("generated prose, plain text", sized_book(work, 10.0, plain=True))]  # fmt: skip
    for label, path in books:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            book = load_book(path, ParseOptions())
            times.append(time.perf_counter() - started)
        speech = sum(len(c.text) for c in book.chapters)
        rows.append([label, f"{path.stat().st_size / 1e6:.1f} MB", len(book.chapters),
                     f"{speech / 1e6:.1f} M", f"**{med(times):.2f}**", spread(times)])  # fmt: skip
        say(f"  {label}: {times}")
        path.unlink()
    say()
    say(table(["input", "size", "chapters", "speech characters", "seconds (median)", "range"],
              rows))  # fmt: skip
    say()


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["pool", "compare", "scenario", "segments", "outputs",
                                         "memory", "cpu", "split", "all"])  # fmt: skip
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.05,
        help="Multiply the latency model's times by this (default 0.05).",
    )
    parser.add_argument("--runs", type=int, default=3, help="Runs per figure (median).")
    parser.add_argument(
        "--jobs",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 2, 4, 8, 16],
        help="Concurrency levels for pool.",
    )
    parser.add_argument("--memory-jobs", type=int, default=4, help="-j for the memory runs.")
    parser.add_argument("--plain", action="store_true", help="memory: plain-text books too.")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep files here.")
    parser.add_argument(
        "--parts",
        type=lambda s: s.split(","),
        default=["chapter", "book", "sdk", "characters"],
        help="segments: which of chapter,book,sdk,characters (default: all).",
    )
    parser.add_argument(
        "--drop-share",
        type=float,
        default=0.35,
        help="segments: the server's chance to drop each session (default 0.35; sessions that "
        "end before their drop point are not dropped, so fewer are).",
    )
    parser.add_argument(
        "--no-kills",
        dest="kills",
        action="store_false",
        help="segments: leave out the SIGKILL cases of the characters part.",
    )
    parser.add_argument(
        "--whole-runs",
        type=int,
        default=1,
        help="segments: runs with --max-segment-chars 0 for reference (default 1; 0: none).",
    )
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="narrator-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-ups below
    started = time.perf_counter()
    say(f"## narrator benchmarks: {args.what}\n")
    say(f"- machine: {machine()}")
    say(f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    say(f"- command: `python benchmarks/run.py {' '.join(sys.argv[1:])}`")
    try:
        if args.what in ("pool", "compare", "scenario", "all"):
            scenario(work, args, pool=args.what != "compare", compare=args.what != "pool")
        if args.what == "outputs":
            from outputs import outputs  # its own module: it imports this one

            outputs(work, args)
        if args.what == "segments":
            from segments import segments  # its own module: it imports this one

            segments(work, args)
        if args.what in ("memory", "all"):
            memory(work, args)
        if args.what in ("cpu", "all"):
            cpu(work, args)
        if args.what in ("split", "all"):
            split(work, args)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    say(f"_benchmark wall time: {time.perf_counter() - started:.0f} s_")


if __name__ == "__main__":
    main()
