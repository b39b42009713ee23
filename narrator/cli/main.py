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
from typing import TypeVar

import click

from narrator import __version__
from narrator.cli.config import ConfiguredCommand
from narrator.cli.display import printable
from narrator.cli.dryrun import print_plan
from narrator.cli.options import EPILOG, Options, build_settings, narrate_options
from narrator.cli.progress import ProgressView
from narrator.cli.voices import list_voices
from narrator.errors import (
    AuthenticationError,
    Interrupted,
    NarratorError,
    UsageError,
    redact,
)
from narrator.report import Report
from narrator.run import narrate
from narrator.service.engine import check_engine
from narrator.service.protocol import (
    api_key_problem,
)
from narrator.settings import (
    RunSettings,
    find_api_key,
)

T = TypeVar("T")


def _given(ctx: click.Context) -> frozenset[str]:
    """Options the user set for this run (command line or environment), which a document's
    front matter must not override; defaults and the config file's values may be."""
    sources = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return frozenset(name for name in ctx.params if ctx.get_parameter_source(name) in sources)


@click.command(
    cls=ConfiguredCommand,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="narrate")
@narrate_options
def narrate_command(**options: object) -> None:
    """Narrate Markdown, plain-text, EPUB and HTML documents, one audio file per chapter.

    PATHS are files (.md, .markdown, .txt, .epub, .html, .htm) or folders searched
    recursively. Defaults for the options can come from narrator.toml in the working
    folder, or --config FILE.
    """
    if not options["paths"] and not options["list_voices"]:
        raise click.UsageError("Missing argument 'PATHS...'.", click.get_current_context())
    debug = bool(options["debug"])
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    view = ProgressView(quiet=bool(options["quiet"]), verbose=bool(options["verbose"]))
    opts = Options(options, _given(click.get_current_context()))
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


def _run(opts: Options, api_key: str | None, view: ProgressView) -> int:
    listing = opts.flag("list_voices")
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
    elif engine == "elevenlabs" and not api_key and (listing or not opts.flag("dry_run")):
        raise AuthenticationError(
            "no API key: pass --api-key, set ELEVENLABS_API_KEY or put it in .env"
        )
    if listing:
        return list_voices(engine, opts.get("base_url", str), api_key)
    settings = build_settings(opts, api_key, engine)
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
