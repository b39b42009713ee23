"""``narrate --list-voices``: offline from the local engine, or over HTTP from a server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from narrator.errors import NarratorError
from narrator.local import ServerOptions
from narrator.local.voice import VOICE_TABLE
from narrator.local.voices import PREMADE, voices_answer
from narrator.service.voices import fetch_voices, voices_url
from tests.helpers import run_cli, server_in_thread

GEORGE = "JBFqnCBsd6RMkjVDRZzb"
KEY = "k-123456"


def voice_ids(output: str) -> list[str]:
    """The ids of the voice lines, which come first."""
    return [line.split()[0] for line in output.splitlines()[: len(VOICE_TABLE)]]


def test_offline_list_shows_the_local_voices_sorted_by_name() -> None:
    result = run_cli("--list-voices")
    assert result.exit_code == 0, result.output
    george = next(line for line in result.output.splitlines() if line.startswith(GEORGE))
    assert george.split()[1:4] == ["George", "premade", "british,"]
    assert "en-gb" in george
    names = [line.split()[1] for line in result.output.splitlines()[: len(VOICE_TABLE)]]
    assert names == sorted(names)
    assert "en-us+f2" in result.output and " fr " in result.output  # eSpeak names, briefly


def test_paths_are_still_required_without_list_voices() -> None:
    result = run_cli()
    assert result.exit_code == 2
    assert "Missing argument 'PATHS...'" in result.output


def test_the_service_list_comes_over_http_with_the_key() -> None:
    offline = run_cli("--list-voices")
    with server_in_thread(ServerOptions(api_key=KEY)) as server:
        args = ("--engine", "elevenlabs", "--base-url", server.url, "--api-key", KEY)
        result = run_cli("--list-voices", *args)
    assert result.exit_code == 0, result.output
    assert "eSpeak" not in result.output  # the service's list, not the offline one
    assert voice_ids(result.output) == voice_ids(offline.output)
    assert any(line.split()[:2] == [GEORGE, "George"] for line in result.output.splitlines())


def test_the_key_is_found_as_for_narrating() -> None:
    with server_in_thread(ServerOptions(api_key=KEY)) as server:
        result = run_cli("--list-voices", "--base-url", server.url, env={"ELEVENLABS_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    assert GEORGE in result.output and "eSpeak" not in result.output


def test_a_wrong_key_is_exit_3_and_never_printed() -> None:
    wrong = "wrong-key-98765"
    with server_in_thread(ServerOptions(api_key=KEY, echo_key_in_errors=True)) as server:
        args = ("--engine", "elevenlabs", "--base-url", server.url, "--api-key", wrong)
        result = run_cli("--list-voices", *args)
    assert result.exit_code == 3
    assert len(result.output.strip().splitlines()) == 1
    assert "Invalid API key" in result.output
    assert wrong not in result.output and wrong[:8] not in result.output


def test_elevenlabs_without_a_key_is_exit_3() -> None:
    result = run_cli("--list-voices", "--engine", "elevenlabs")
    assert result.exit_code == 3
    assert "no API key" in result.output


def test_an_unreachable_port_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ("--engine", "elevenlabs", "--base-url", f"ws://127.0.0.1:{port}", "--api-key", KEY)
    result = run_cli("--list-voices", *args)
    assert result.exit_code in (2, 3)
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("narrate: ")
    assert f"cannot reach 127.0.0.1:{port}" in result.output and KEY not in result.output


class _Canned(BaseHTTPRequestHandler):
    """Answers every GET with the status, headers and body the test put on the server."""

    def do_GET(self) -> None:
        status, headers, body = self.server.canned  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "headers", "body", "code", "words"),
    [
        (200, {}, b"<html>hello</html>", 2, "is not the service's voice list"),
        (200, {}, b'{"voices": "none"}', 2, "is not the service's voice list"),
        (302, {"Location": "http://example.invalid/"}, b"", 2, "HTTP 302"),
        (404, {}, b"Not Found", 2, "no voice list"),
        (401, {}, b'{"detail": {"status": "missing_permissions", "message": "no voices_read"}}',
         3, "no voices_read (missing_permissions)"),
        (402, {}, b'{"detail": {"code": "payment_required", "message": "Pay"}}', 3, "Pay"),
        (500, {}, b"oops", 3, "HTTP 500"),
    ],
)  # fmt: skip
def test_every_failure_is_one_of_narrators_errors(
    http_server: ThreadingHTTPServer,
    status: int,
    headers: dict[str, str],
    body: bytes,
    code: int,
    words: str,
) -> None:
    http_server.canned = (status, headers, body)  # type: ignore[attr-defined]
    base = f"ws://127.0.0.1:{http_server.server_address[1]}"
    with pytest.raises(NarratorError) as caught:
        fetch_voices(base, KEY, timeout=10)
    assert caught.value.exit_code == code
    assert words in str(caught.value) and KEY not in str(caught.value)
    result = run_cli(
        "--list-voices", "--engine", "elevenlabs", "--base-url", base, "--api-key", KEY
    )
    assert result.exit_code == code and len(result.output.strip().splitlines()) == 1


def test_the_http_address_follows_the_websocket_one() -> None:
    assert voices_url("wss://api.elevenlabs.io") == "https://api.elevenlabs.io/v1/voices"
    assert voices_url("ws://127.0.0.1:8080/") == "http://127.0.0.1:8080/v1/voices"
    assert voices_url("wss://proxy.example/eleven") == "https://proxy.example/eleven/v1/voices"


def test_the_local_server_checks_the_key_only_when_it_has_one() -> None:
    assert voices_answer(None, ServerOptions())[0] == HTTPStatus.OK
    status, body = voices_answer(None, ServerOptions(api_key=KEY))
    assert status == HTTPStatus.UNAUTHORIZED and "needs_authorization" in body
    assert voices_answer("other", ServerOptions(api_key=KEY))[0] == HTTPStatus.UNAUTHORIZED
    assert voices_answer(KEY, ServerOptions(api_key=KEY))[0] == HTTPStatus.OK
    assert set(PREMADE) == set(VOICE_TABLE)
