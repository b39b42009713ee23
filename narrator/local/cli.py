"""``narrate-server``: options -> ServerOptions, one ``asyncio.run``, stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Literal

import click

from narrator.local.options import ServerOptions
from narrator.local.server import LocalServer


async def _serve(host: str, port: int, options: ServerOptions) -> None:
    """Serve until SIGINT or SIGTERM; the signal ends the wait, not the process."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with LocalServer(host=host, port=port, options=options) as server:
        click.echo(f"narrate-server: listening on {server.url}")
        await stop.wait()
    click.echo("narrate-server: stopped")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int, help="0 picks a free port.")
@click.option("--api-key", default=None, help="Require this key (default: accept any).")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), help="Serve wss://.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False))
@click.option("--test-voice", type=click.Choice(["espeak", "tone"]), default="espeak",
              show_default=True, help="tone: fast silent audio of the right length.")  # fmt: skip
@click.option("--first-audio-latency", type=float, default=0.0, help="Seconds before audio.")
@click.option("--chars-per-second", type=float, default=None, help="Pace generation.")
@click.option("--max-concurrency", type=int, default=None, help="Generating sessions per key.")
@click.option("--concurrency-mode", type=click.Choice(["queue", "refuse"]), default="queue",
              show_default=True)  # fmt: skip
@click.option("--quota", "quota_characters", type=int, default=None, help="Characters per key.")
@click.option("--quota-mode", type=click.Choice(["error", "close", "silent"]), default="error",
              show_default=True,
              help="error: quota_exceeded frame, close 1008; close: bare close 1008; "
                   "silent: no audio, normal final.")  # fmt: skip
@click.option("--max-frame-bytes", type=click.IntRange(min=1), default=None,
              help="Cut a generation's audio into frames of at most N bytes.")  # fmt: skip
@click.option("--drop-after-frames", type=click.IntRange(min=0), default=None,
              help="Abort TCP after N audio frames.")  # fmt: skip
@click.option("--internal-error-after-frames", type=click.IntRange(min=0), default=None,
              help="Error and close 1011 after N audio frames.")  # fmt: skip
@click.option("--fault-sessions", type=int, default=None, help="Fault only the first N.")
@click.option("--drop-share", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="Drop this share of sessions at random.")  # fmt: skip
@click.option("--drop-within-frames", type=click.IntRange(min=0), default=8, show_default=True,
              help="A random drop comes after 0..N audio frames.")  # fmt: skip
@click.option("--fault-seed", type=int, default=0, show_default=True,
              help="Seed of the random drops.")  # fmt: skip
@click.option("--repeat-alignment", is_flag=True,
              help="Alignments restart from character 0 (as Flash v2.5).")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="Log sessions and warnings.")
def main(
    host: str,
    port: int,
    api_key: str | None,
    certfile: str | None,
    keyfile: str | None,
    test_voice: Literal["espeak", "tone"],
    first_audio_latency: float,
    chars_per_second: float | None,
    max_concurrency: int | None,
    concurrency_mode: Literal["queue", "refuse"],
    quota_characters: int | None,
    quota_mode: Literal["error", "close", "silent"],
    max_frame_bytes: int | None,
    drop_after_frames: int | None,
    internal_error_after_frames: int | None,
    fault_sessions: int | None,
    drop_share: float,
    drop_within_frames: int,
    fault_seed: int,
    repeat_alignment: bool,
    verbose: bool,
) -> None:
    """Serve the ElevenLabs stream-input WebSocket protocol locally, voiced by eSpeak NG."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="narrate-server: %(message)s")  # fmt: skip
    options = ServerOptions(
        api_key=api_key,
        first_audio_latency_s=first_audio_latency,
        chars_per_second=chars_per_second,
        max_concurrency=max_concurrency,
        concurrency_mode=concurrency_mode,
        quota_characters=quota_characters,
        quota_mode=quota_mode,
        drop_after_frames=drop_after_frames,
        internal_error_after_frames=internal_error_after_frames,
        fault_sessions=fault_sessions,
        max_frame_bytes=max_frame_bytes,
        drop_share=drop_share,
        drop_within_frames=drop_within_frames,
        fault_seed=fault_seed,
        repeat_alignment=repeat_alignment,
        voice_engine=test_voice,
        certfile=certfile,
        keyfile=keyfile,
    )
    asyncio.run(_serve(host, port, options))
