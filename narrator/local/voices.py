"""The local server's voice list: ``GET /v1/voices`` in the service's JSON shape, and the
same list offline for ``narrate --list-voices`` without a key.

The answer is ``{"voices": [{"voice_id", "name", "category", "labels", ...}]}``, as the
service sends it, so that a client is tested against the local server over real sockets
without the internet. The labels describe the voice the local engine speaks with: the accent
follows its eSpeak voice (en-gb is British), not the service's recording of that name.
When the server was started with a key, the request must carry it in ``xi-api-key``; a wrong
or missing one is HTTP 401 with the service's ``{"detail": {"status", "message"}}`` body.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from narrator.local.options import ServerOptions
from narrator.local.voice import _KNOWN, VOICE_TABLE

#: The path the service lists voices on (plain HTTP, beside the WebSocket endpoints).
VOICES_PATH = "/v1/voices"

#: Name, gender and age of each premade voice in :data:`VOICE_TABLE`.
PREMADE: dict[str, tuple[str, str, str]] = {
    "JBFqnCBsd6RMkjVDRZzb": ("George", "male", "middle aged"),
    "21m00Tcm4TlvDq8ikWAM": ("Rachel", "female", "young"),
    "EXAVITQu4vr4xnSDxMaL": ("Sarah", "female", "young"),
    "pNInz6obpgDQGcFmaJgB": ("Adam", "male", "middle aged"),
    "ErXwobaYiN019PkySvjV": ("Antoni", "male", "young"),
    "AZnzlk1XvdvUeBnXmlld": ("Domi", "female", "young"),
    "MF3mGyEYCl7XYWbV9V6O": ("Elli", "female", "young"),
    "TxGEqnHWrfWFTfGW9XjX": ("Josh", "male", "young"),
    "VR6AewLTigWG4xSOukaG": ("Arnold", "male", "middle aged"),
    "yoZ06aMxZJJ28mfd3POQ": ("Sam", "male", "young"),
    "onwK4e9ZLuTAKqWW03F9": ("Daniel", "male", "middle aged"),
    "XB0fDUnXU5powFXDhCwa": ("Charlotte", "female", "young"),
    "IKne3meq5aSn9XLyUdCD": ("Charlie", "male", "middle aged"),
}

NO_CREDENTIALS = "Neither authorization header nor xi-api-key received, please provide one."


def voice_list() -> list[dict[str, Any]]:
    """Every premade voice of the local engine, as the service describes a voice."""
    voices = []
    for voice_id, espeak in VOICE_TABLE.items():
        name, gender, age = PREMADE[voice_id]
        accent = "british" if espeak.startswith("en-gb") else "american"
        voices.append(
            {
                "voice_id": voice_id,
                "name": name,
                "category": "premade",
                "labels": {"accent": accent, "gender": gender, "age": age},
                "description": None,
                "preview_url": None,
            }
        )
    return voices


def espeak_names() -> tuple[list[str], list[str]]:
    """The eSpeak languages and variants the local engine accepts directly as a voice id."""
    languages = sorted(name for name in _KNOWN if not name.startswith("+"))
    variants = sorted(name[1:] for name in _KNOWN if name.startswith("+"))
    return languages, variants


def voices_answer(given_key: str | None, options: ServerOptions) -> tuple[HTTPStatus, str]:
    """Status and JSON body of ``GET /v1/voices`` for a request carrying ``given_key``."""
    expected = options.api_key
    if expected is not None and given_key != expected:
        if not given_key:
            detail = {"status": "needs_authorization", "message": NO_CREDENTIALS}
        else:
            # The switch lets tests prove that an echoed key never reaches narrator's output.
            echo = f": {given_key}" if options.echo_key_in_errors else ""
            detail = {"status": "invalid_api_key", "message": f"Invalid API key{echo}"}
        return HTTPStatus.UNAUTHORIZED, json.dumps({"detail": detail})
    return HTTPStatus.OK, json.dumps({"voices": voice_list()})


def voices_response(
    connection: ServerConnection, request: Request, options: ServerOptions
) -> Response:
    """The HTTP response to ``GET /v1/voices``, for the server's ``process_request`` hook."""
    keys = request.headers.get_all("xi-api-key")
    status, body = voices_answer(keys[0] if keys else None, options)
    response = connection.respond(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
