"""The ``narrate`` command's options, their checks, and the settings they become.

Every value is checked where Click parses it, so a bad option is one line and exit 2 before
anything is read; :func:`build_settings` turns the checked values into the frozen settings
the core reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from narrator.cli.config import CONFIG_NAME, load_config
from narrator.output.feed import feed_url_problem
from narrator.reading.documents import check_encoding
from narrator.service.protocol import UNSUPPORTED_MODELS, base_url_problem, voice_id_problem
from narrator.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_CHUNK_SCHEDULE,
    DEFAULT_FORMAT,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    MAX_DICTIONARIES,
    OUTPUT_FORMATS,
    TEXT_NORMALIZATION,
    OutputOptions,
    ParseOptions,
    RunSettings,
    ServiceSettings,
    SpeechSettings,
    VoiceSettings,
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


_LANGUAGE = re.compile(r"[a-z]{2,3}")
_DICTIONARY_PART = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Models that take no ``language_code`` (the service documents it for Flash and Turbo v2.5).
_NO_LANGUAGE_CODE = ("eleven_multilingual_v2", "eleven_monolingual_v1")


def _language(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if _LANGUAGE.fullmatch(value) is None:
        raise click.BadParameter("an ISO 639-1 code such as en, de or hi")
    return value


def _subtitle_formats(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...]:
    if not value:
        return ()
    formats = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",")))
    unknown = [f for f in formats if f not in ("srt", "vtt")]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: subtitle formats are srt and vtt")
    return formats


def _dictionaries(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str | None], ...]:
    if len(values) > MAX_DICTIONARIES:
        raise click.BadParameter(f"at most {MAX_DICTIONARIES} dictionaries")
    found: list[tuple[str, str | None]] = []
    for value in values:
        ident, colon, version = value.partition(":")
        if _DICTIONARY_PART.fullmatch(ident) is None or (
            colon and _DICTIONARY_PART.fullmatch(version) is None
        ):
            raise click.BadParameter(f"{value!r} is not ID or ID:VERSION (letters and digits)")
        found.append((ident, version or None))
    return tuple(found)


OPTIONS: list[Callable[[Any], Any]] = [
    # Optional only for --list-voices; the command refuses a run without PATHS.
    click.argument("paths", nargs=-1, required=False, type=click.Path(path_type=Path)),
    click.option(
        "--config",
        type=click.Path(path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=load_config,
        help=f"Defaults for these options from a TOML file (else ./{CONFIG_NAME} if present).",
    ),
    click.option(
        "--list-voices",
        is_flag=True,
        help="List the voices (the service's with a key, else the local engine's) and exit.",
    ),
    click.option(
        "-o",
        "--out",
        type=click.Path(path_type=Path),
        default=Path("audiobook"),
        show_default=True,
        help="Output folder.",
    ),
    click.option(
        "--engine",
        type=click.Choice(["auto", "elevenlabs", "local"]),
        default="auto",
        show_default=True,
        help="auto: elevenlabs when an API key is found, else local.",
    ),
    click.option("--api-key", help="ElevenLabs API key (else ELEVENLABS_API_KEY or .env)."),
    click.option(
        "--base-url",
        envvar="ELEVENLABS_BASE_URL",
        default=DEFAULT_BASE_URL,
        show_default=True,
        callback=_base_url,
        help="Service endpoint (env ELEVENLABS_BASE_URL); ws:// works.",
    ),
    click.option(
        "--voice", default=DEFAULT_VOICE, show_default=True, callback=_voice, help="Voice id."
    ),
    click.option("--model", default=DEFAULT_MODEL, show_default=True, callback=_model),
    click.option(
        "--format",
        "output_format",
        type=click.Choice(OUTPUT_FORMATS),
        default=DEFAULT_FORMAT,
        show_default=True,
        help="Audio format (pcm -> .wav).",
    ),
    click.option(
        "--stability",
        type=click.FloatRange(0, 1),
        help="Voice setting, 0..1 (default: the voice's own).",
    ),
    click.option(
        "--similarity-boost",
        type=click.FloatRange(0, 1),
        help="Voice setting, 0..1 (default: the voice's own).",
    ),
    click.option(
        "--style",
        type=click.FloatRange(0, 1),
        help="Voice setting, 0..1 (default: the voice's own).",
    ),
    click.option(
        "--speed", type=click.FloatRange(0.7, 1.2), help="0.7..1.2 (default: the voice's own)."
    ),
    click.option(
        "--speaker-boost/--no-speaker-boost",
        default=None,
        help="Voice setting (default: the voice's own).",
    ),
    click.option(
        "--chunk-schedule",
        default=",".join(map(str, DEFAULT_CHUNK_SCHEDULE)),
        show_default=True,
        callback=_schedule,
        help="Buffer sizes, each 50..500.",
    ),
    click.option(
        "--inactivity-timeout",
        type=click.IntRange(1, 180),
        default=20,
        show_default=True,
        help="Seconds the service waits for text before closing.",
    ),
    click.option(
        "--stall-timeout",
        type=click.FloatRange(1, 3600),
        default=120.0,
        show_default=True,
        help="Give a session up after this many seconds without new audio.",
    ),
    click.option(
        "--queue-timeout",
        type=click.FloatRange(1, 86400),
        default=600.0,
        show_default=True,
        help="Seconds a session may wait for its first audio while the service queues it.",
    ),
    click.option(
        "--seed", type=click.IntRange(0, 4294967295), help="Sampling seed (0..4294967295)."
    ),
    click.option(
        "--language",
        callback=_language,
        help="ISO 639-1 language code (language_code; Flash and Turbo v2.5 models).",
    ),
    click.option(
        "--text-normalization",
        type=click.Choice(TEXT_NORMALIZATION),
        help="The service's apply_text_normalization: auto, on or off.",
    ),
    click.option(
        "--pronunciation-dictionary",
        "pronunciation_dictionaries",
        multiple=True,
        callback=_dictionaries,
        metavar="ID[:VERSION]",
        help=f"A pronunciation dictionary on the service (up to {MAX_DICTIONARIES}).",
    ),
    click.option(
        "-j",
        "--concurrency",
        type=click.IntRange(1, 64),
        default=4,
        show_default=True,
        help="Sessions at once.",
    ),
    click.option(
        "--max-characters",
        type=click.IntRange(1, None),
        default=None,
        help="Send at most this many characters in this run, retries included; chapters "
        "that would cross it stay pending for the next run (exit 1).",
    ),
    click.option(
        "--max-segment-chars",
        type=click.IntRange(0, 1_000_000),
        default=None,
        help="Longest piece of a chapter one session narrates (default: the model's "
        "limit, 10,000 to 40,000); chapters are cut further only to keep every session "
        "busy. 0 narrates every chapter whole.",
    ),
    click.option(
        "--retries",
        type=click.IntRange(0, 100),
        default=5,
        show_default=True,
        help="Retries of a segment that fails without progress.",
    ),
    click.option(
        "--retry-delay",
        type=click.FloatRange(0, 60),
        default=1.0,
        show_default=True,
        help="First backoff delay in seconds; it doubles, with jitter, up to 30 s.",
    ),
    click.option(
        "--heading-level", type=click.IntRange(1, 6), help="Split Markdown at this level."
    ),
    click.option("--encoding", help="Text encoding of the documents (default: detect UTF-8/16)."),
    click.option("--image-alt-text", is_flag=True, help="Read images' alt text aloud."),
    click.option(
        "--rules",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Pronunciation rules: one 'search==replace' a line (search is a regular "
        "expression, whole words unless it says otherwise; # starts a comment).",
    ),
    click.option(
        "--cover",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Image to embed as cover art.",
    ),
    click.option(
        "--subtitles",
        callback=_subtitle_formats,
        metavar="srt,vtt",
        help="Subtitles per chapter (either or both), made from the word timings.",
    ),
    click.option(
        "--book-file",
        type=click.Choice(["mp3", "m4b"]),
        help="Also one file for the whole book, with chapter marks (m4b needs narrator[m4b]).",
    ),
    click.option(
        "--abs-metadata",
        is_flag=True,
        help="Write Audiobookshelf's metadata.json (book fields and chapters).",
    ),
    click.option(
        "--feed-url",
        metavar="URL",
        help="Public base URL of --out: write feed.xml, a podcast with one episode per "
        "document (implies --book-file mp3 unless another is given).",
    ),
    click.option("--force", is_flag=True, help="Narrate every chapter again."),
    click.option("--prune", is_flag=True, help="Delete audio of chapters that no longer exist."),
    click.option("--dry-run", is_flag=True, help="Show the plan and cost; write and send nothing."),
    click.option("--show-text", is_flag=True, help="With --dry-run: print the text to be spoken."),
    click.option("-q", "--quiet", is_flag=True, help="Only problems and the summary (for cron)."),
    click.option("-v", "--verbose", is_flag=True, help="Log each session."),
    click.option("--debug", is_flag=True, help="Tracebacks for errors."),
]


def narrate_options(command: Callable[..., None]) -> Callable[..., None]:
    """Apply every option, in the order ``--help`` lists them."""
    for option in reversed(OPTIONS):
        command = option(command)
    return command


class Options:
    """Typed access to Click's parsed options: Click has already checked every value."""

    def __init__(self, raw: dict[str, object], given: frozenset[str] = frozenset()) -> None:
        self.raw = raw
        self.given = given

    def get(self, name: str, kind: type[T]) -> T:
        value = self.raw[name]
        if not isinstance(value, kind):
            raise TypeError(f"option {name}: expected {kind.__name__}, got {value!r}")
        return value

    def optional(self, name: str, kind: type[T]) -> T | None:
        return None if self.raw[name] is None else self.get(name, kind)

    def flag(self, name: str) -> bool:
        return bool(self.raw[name])


def build_settings(opts: Options, api_key: str | None, engine: str) -> RunSettings:
    """The frozen settings of one run; the language is checked against the model here, where
    both are known."""
    model = opts.get("model", str)
    language = opts.optional("language", str)
    if language is not None and model in _NO_LANGUAGE_CODE:
        raise click.UsageError(
            f"--language is not taken by {model}; use eleven_flash_v2_5 or eleven_turbo_v2_5"
        )
    speech = SpeechSettings(
        voice_id=opts.get("voice", str),
        model_id=model,
        output_format=opts.get("output_format", str),
        voice=VoiceSettings(
            stability=opts.optional("stability", float),
            similarity_boost=opts.optional("similarity_boost", float),
            style=opts.optional("style", float),
            use_speaker_boost=opts.optional("speaker_boost", bool),
            speed=opts.optional("speed", float),
        ),
        chunk_schedule=opts.get("chunk_schedule", tuple),
        seed=opts.optional("seed", int),
        language_code=language,
        text_normalization=opts.optional("text_normalization", str),
        pronunciation_dictionaries=opts.get("pronunciation_dictionaries", tuple),
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
            queue_timeout=opts.get("queue_timeout", float),
        ),
        parse=ParseOptions(
            encoding=_encoding(opts.optional("encoding", str)),
            heading_level=opts.optional("heading_level", int),
            image_alt_text=opts.flag("image_alt_text"),
            rules=opts.optional("rules", Path),
            spell_numbers=engine == "local",
        ),
        concurrency=opts.get("concurrency", int),
        max_segment_chars=opts.optional("max_segment_chars", int),
        max_characters=opts.optional("max_characters", int),
        retries=opts.get("retries", int),
        retry_delay=opts.get("retry_delay", float),
        force=opts.flag("force"),
        prune=opts.flag("prune"),
        dry_run=opts.flag("dry_run"),
        show_text=opts.flag("show_text"),
        cover=opts.optional("cover", Path),
        outputs=_outputs(opts),
        given=opts.given,
    )


def _outputs(opts: Options) -> OutputOptions:
    feed_url = opts.optional("feed_url", str)
    if feed_url is not None:
        problem = feed_url_problem(feed_url)
        if problem:
            raise click.UsageError(f"--feed-url {problem}")
    book_file = opts.optional("book_file", str)
    return OutputOptions(
        subtitles=opts.get("subtitles", tuple),
        book_file=book_file or ("mp3" if feed_url else None),
        abs_metadata=opts.flag("abs_metadata"),
        feed_url=feed_url,
    )


def _encoding(name: str | None) -> str | None:
    return None if name is None else check_encoding(name)
