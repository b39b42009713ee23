"""The ``narrate`` command: options -> settings, one ``asyncio.run``, errors -> exit codes.

``main`` handles, ``_run`` works: only here does a NarratorError become a one-line message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import traceback
from pathlib import Path
from typing import TypeVar

import click

from narrator import __version__
from narrator.cli.display import printable
from narrator.cli.dryrun import print_plan
from narrator.cli.progress import ProgressView
from narrator.errors import (
    AuthenticationError,
    Interrupted,
    NarratorError,
    UsageError,
    redact,
)
from narrator.reading.documents import check_encoding
from narrator.report import Report
from narrator.run import narrate
from narrator.service.engine import check_engine
from narrator.service.protocol import (
    UNSUPPORTED_MODELS,
    api_key_problem,
    base_url_problem,
    voice_id_problem,
)
from narrator.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_CHUNK_SCHEDULE,
    DEFAULT_FORMAT,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    OUTPUT_FORMATS,
    ParseOptions,
    RunSettings,
    ServiceSettings,
    SpeechSettings,
    VoiceSettings,
    find_api_key,
)

T = TypeVar("T")

EPILOG = """\b
Examples:
  narrate book.md --out audiobook/            one mp3 per chapter + manifest.json
  narrate book.md --dry-run --show-text       chapters, cost and the exact text, no network
  narrate docs/ --out audio/ --quiet          a folder from cron: only what changed
  narrate book.txt --voice EXAVITQu4vr4xnSDxMaL --model eleven_flash_v2_5 -j 8
  ELEVENLABS_API_KEY=... narrate book.md       the real service (else the offline engine)

\b
Exit codes: 0 done, 1 some chapters failed, 2 bad usage or input,
3 the service refused the run (key, quota, voice, model), 130 interrupted.
"""


def _schedule(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter("a comma-separated list of whole numbers") from None
    if not numbers or any(not 50 <= n <= 500 for n in numbers):
        raise click.BadParameter("each entry must be between 50 and 500")
    return numbers


def _base_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    problem = base_url_problem(value)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


def _voice(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    problem = voice_id_problem(value)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


def _model(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if value in UNSUPPORTED_MODELS:
        raise click.BadParameter(
            f"{value} is not served over the WebSocket stream-input endpoint; "
            "use eleven_multilingual_v2, eleven_flash_v2_5 or eleven_turbo_v2_5"
        )
    return value


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    default=Path("audiobook"),
    show_default=True,
    help="Output folder.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "elevenlabs", "local"]),
    default="auto",
    show_default=True,
    help="auto: elevenlabs when an API key is found, else local.",
)
@click.option("--api-key", help="ElevenLabs API key (else ELEVENLABS_API_KEY or .env).")
@click.option(
    "--base-url",
    envvar="ELEVENLABS_BASE_URL",
    default=DEFAULT_BASE_URL,
    show_default=True,
    callback=_base_url,
    help="Service endpoint (env ELEVENLABS_BASE_URL); ws:// works.",
)
@click.option(
    "--voice", default=DEFAULT_VOICE, show_default=True, callback=_voice, help="Voice id."
)
@click.option("--model", default=DEFAULT_MODEL, show_default=True, callback=_model)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(OUTPUT_FORMATS),
    default=DEFAULT_FORMAT,
    show_default=True,
    help="Audio format (pcm -> .wav).",
)
@click.option("--stability", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option("--similarity-boost", type=click.FloatRange(0, 1), default=0.75, show_default=True)
@click.option("--style", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--speed", type=click.FloatRange(0.7, 1.2), default=1.0, show_default=True)
@click.option("--speaker-boost/--no-speaker-boost", default=True, show_default=True)
@click.option(
    "--chunk-schedule",
    default=",".join(map(str, DEFAULT_CHUNK_SCHEDULE)),
    show_default=True,
    callback=_schedule,
    help="Buffer sizes, each 50..500.",
)
@click.option(
    "--inactivity-timeout",
    type=click.IntRange(1, 180),
    default=20,
    show_default=True,
    help="Seconds the service waits for text before closing.",
)
@click.option(
    "--stall-timeout",
    type=click.FloatRange(1, 3600),
    default=120.0,
    show_default=True,
    help="Give a session up after this many seconds without new audio.",
)
@click.option(
    "-j",
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Sessions at once.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 100),
    default=5,
    show_default=True,
    help="Retries of a chapter after a transient failure.",
)
@click.option(
    "--retry-delay",
    type=click.FloatRange(0, 60),
    default=1.0,
    show_default=True,
    help="First backoff delay in seconds; it doubles, with jitter, up to 30 s.",
)
@click.option("--heading-level", type=click.IntRange(1, 6), help="Split Markdown at this level.")
@click.option("--encoding", help="Text encoding of the documents (default: detect UTF-8/16).")
@click.option("--image-alt-text", is_flag=True, help="Read images' alt text aloud.")
@click.option(
    "--cover",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Image to embed as cover art.",
)
@click.option("--force", is_flag=True, help="Narrate every chapter again.")
@click.option("--prune", is_flag=True, help="Delete audio of chapters that no longer exist.")
@click.option("--dry-run", is_flag=True, help="Show the plan and cost; write and send nothing.")
@click.option("--show-text", is_flag=True, help="With --dry-run: print the text to be spoken.")
@click.option("-q", "--quiet", is_flag=True, help="Only problems and the summary (for cron).")
@click.option("-v", "--verbose", is_flag=True, help="Log each session.")
@click.option("--debug", is_flag=True, help="Tracebacks for errors.")
@click.version_option(__version__, prog_name="narrate")
def narrate_command(**options: object) -> None:
    """Narrate Markdown and plain-text documents, one audio file per chapter.

    PATHS are files (.md, .markdown, .txt) or folders searched recursively.
    """
    debug = bool(options["debug"])
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    view = ProgressView(quiet=bool(options["quiet"]), verbose=bool(options["verbose"]))
    opts = Options(options)
    api_key: str | None = None
    try:
        api_key = find_api_key(opts.optional("api_key", str))
        code = _run(opts, api_key, view)
    except NarratorError as exc:
        view.close()
        if debug:  # a traceback as well, never another exit status
            click.echo(redact(traceback.format_exc(), api_key).rstrip(), err=True)
        click.echo(f"narrate: {printable(redact(str(exc), api_key))}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C outside the event loop (a dry run, say)
        view.close()
        click.echo("narrate: interrupted", err=True)
        code = Interrupted.exit_code
    sys.exit(code)


class RedactingFilter(logging.Filter):
    """Keeps the key out of every log line, websockets' own debug dump of headers included."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = redact(message, self.secret), None
        return True


class Options:
    """Typed access to Click's parsed options: Click has already checked every value."""

    def __init__(self, raw: dict[str, object]) -> None:
        self.raw = raw

    def get(self, name: str, kind: type[T]) -> T:
        value = self.raw[name]
        if not isinstance(value, kind):
            raise TypeError(f"option {name}: expected {kind.__name__}, got {value!r}")
        return value

    def optional(self, name: str, kind: type[T]) -> T | None:
        return None if self.raw[name] is None else self.get(name, kind)

    def flag(self, name: str) -> bool:
        return bool(self.raw[name])


def _settings(opts: Options, api_key: str | None, engine: str) -> RunSettings:
    speech = SpeechSettings(
        voice_id=opts.get("voice", str),
        model_id=opts.get("model", str),
        output_format=opts.get("output_format", str),
        voice=VoiceSettings(
            stability=opts.get("stability", float),
            similarity_boost=opts.get("similarity_boost", float),
            style=opts.get("style", float),
            use_speaker_boost=opts.flag("speaker_boost"),
            speed=opts.get("speed", float),
        ),
        chunk_schedule=opts.get("chunk_schedule", tuple),
    )
    return RunSettings(
        paths=opts.get("paths", tuple),
        out=opts.get("out", Path),
        speech=speech,
        service=ServiceSettings(
            engine=engine,
            base_url=opts.get("base_url", str),
            api_key=api_key,
            inactivity_timeout=opts.get("inactivity_timeout", int),
            open_timeout=min(20.0, opts.get("stall_timeout", float)),
            stall_timeout=opts.get("stall_timeout", float),
        ),
        parse=ParseOptions(
            encoding=_encoding(opts.optional("encoding", str)),
            heading_level=opts.optional("heading_level", int),
            image_alt_text=opts.flag("image_alt_text"),
        ),
        concurrency=opts.get("concurrency", int),
        retries=opts.get("retries", int),
        retry_delay=opts.get("retry_delay", float),
        force=opts.flag("force"),
        prune=opts.flag("prune"),
        dry_run=opts.flag("dry_run"),
        show_text=opts.flag("show_text"),
        cover=opts.optional("cover", Path),
    )


def _encoding(name: str | None) -> str | None:
    return None if name is None else check_encoding(name)


def _run(opts: Options, api_key: str | None, view: ProgressView) -> int:
    if opts.flag("show_text") and not opts.flag("dry_run"):
        raise UsageError("--show-text goes with --dry-run")
    if api_key:
        problem = api_key_problem(api_key)
        if problem is not None:
            raise UsageError(problem)
        for handler in logging.getLogger().handlers:
            handler.addFilter(RedactingFilter(api_key))
    engine = opts.get("engine", str)
    if engine == "auto":
        engine = "elevenlabs" if api_key else "local"
    elif engine == "elevenlabs" and not api_key and not opts.flag("dry_run"):
        raise AuthenticationError(
            "no API key: pass --api-key, set ELEVENLABS_API_KEY or put it in .env"
        )
    settings = _settings(opts, api_key, engine)
    check_engine(settings)
    if settings.dry_run:
        return print_plan(settings, view)
    report = asyncio.run(_narrate(settings, view))
    view.close()
    for line in report.summary().splitlines():
        click.echo(printable(line))
    return report.exit_code


async def _narrate(settings: RunSettings, view: ProgressView) -> Report:
    """Run the core; SIGINT and SIGTERM cancel it, which removes temp files on the way out."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available off the main thread or on Windows: Ctrl-C still cancels asyncio.run.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, task.cancel)
    try:
        return await narrate(settings, view)
    except asyncio.CancelledError:
        raise Interrupted(
            "interrupted: chapters in progress were cancelled and their partial files "
            "removed; the manifest records what is done"
        ) from None


def narrate_main() -> None:
    """Console-script entry point."""
    narrate_command(prog_name="narrate")
