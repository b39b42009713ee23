"""TLS, the ``narrate-server`` console script, and the threaded server helper."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from websockets.asyncio.client import connect

from narrator.local import ServerOptions, serve_in_thread
from narrator.local import cli as server_cli

from .wire import BOS, EOS, GEORGE, audio_frames, rest_of_session, stream_url


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_serves_wss(local_server: object, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    client_context = ssl.create_default_context(cafile=str(cert))
    async with local_server(certfile=str(cert), keyfile=str(key)) as server:  # type: ignore[operator]
        assert server.url.startswith("wss://")
        async with connect(stream_url(server), ssl=client_context) as ws:
            await ws.send(BOS)
            await ws.send('{"text": "Secure. ", "flush": true}')
            await ws.send(EOS)
            messages = await rest_of_session(ws)
    assert audio_frames(messages) and ws.close_code == 1000


def test_serve_in_thread_yields_a_running_server() -> None:
    async def talk(url: str) -> int | None:
        async with connect(url) as ws:
            await ws.send(BOS)
            await ws.send(EOS)
            await rest_of_session(ws)
        return ws.close_code

    with serve_in_thread(ServerOptions(voice_engine="tone")) as server:
        assert asyncio.run(talk(stream_url(server))) == 1000
        assert server.stats.sessions_completed == 1


def test_narrate_server_prints_its_url_and_stops_on_ctrl_c() -> None:
    command = [sys.executable, "-c", "from narrator.local.cli import main; main()"]
    process = subprocess.Popen(
        [*command, "--port", "0", "--test-voice", "tone", "--api-key", "k"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("narrate-server: listening on ws://127.0.0.1:")
        url = line.split()[-1]

        async def talk() -> list[dict[str, object]]:
            path = f"{url}/v1/text-to-speech/{GEORGE}/stream-input"
            async with connect(path, additional_headers={"xi-api-key": "k"}) as ws:
                await ws.send(BOS)
                await ws.send(json.dumps({"text": "From the CLI. ", "flush": True}))
                await ws.send(EOS)
                return await rest_of_session(ws)

        assert audio_frames(asyncio.run(talk()))
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_narrate_server_options_become_server_options(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[ServerOptions] = []

    async def serve(host: str, port: int, options: ServerOptions) -> None:
        served.append(options)

    monkeypatch.setattr(server_cli, "_serve", serve)
    args = ["--quota", "100", "--quota-mode", "close", "--repeat-alignment",
            "--drop-after-frames", "3", "--internal-error-after-frames", "4",
            "--max-frame-bytes", "1000", "--drop-share", "0.25", "--drop-within-frames", "5",
            "--fault-seed", "7"]  # fmt: skip
    result = CliRunner().invoke(server_cli.main, args)
    assert result.exit_code == 0, result.output
    (options,) = served
    assert (options.quota_characters, options.quota_mode) == (100, "close")
    assert options.repeat_alignment is True
    assert (options.drop_after_frames, options.internal_error_after_frames) == (3, 4)
    assert options.max_frame_bytes == 1000
    assert (options.drop_share, options.drop_within_frames, options.fault_seed) == (0.25, 5, 7)
    assert options.concurrency_mode == "queue"
    CliRunner().invoke(server_cli.main, [])
    assert served[-1] == ServerOptions()
    refused = CliRunner().invoke(server_cli.main, ["--drop-share", "2"])
    assert refused.exit_code == 2 and len(served) == 2
