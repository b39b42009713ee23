"""The stream-input rules of one session, without I/O: query, messages, buffering, errors.

Written from the ElevenLabs protocol notes (sections 1-7), not from narrator's
client, so that a misreading shared by both sides cannot pass the tests. The server feeds
raw client frames in and gets back what to generate; failures are :class:`ProtocolFailure`
carrying the error frame the service would send (or none, for the failures it reports by
the close alone), refusals at the handshake :class:`HandshakeRefusal`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_SCHEDULE = (120, 160, 250, 290)
DEFAULT_INACTIVITY_TIMEOUT = 20
MAX_INACTIVITY_TIMEOUT = 180
REFUSED_MODELS = frozenset({"eleven_v3"})
_PATH_PREFIX, _PATH_SUFFIX = "/v1/text-to-speech/", "/stream-input"

INVALID_INPUT = (
    "Could not parse input message, make sure it is a json and follows the schema outlined "
    "in protocol."
)
SETTINGS_CHANGED = (
    "voice_settings field must be provided in the first message and then either be not "
    "provided or not change."
)
NO_CREDENTIALS = (
    "None of the authentication methods (xi-api-key, authorization header, single-use token) "
    "were found."
)
INTERNAL_ERROR = "We are sorry, something went wrong. You are not charged for this request."


class ProtocolFailure(Exception):
    """An error frame ``{"message", "error", "code"}`` followed by a close with ``code``.

    ``send_frame=False`` is the bare close: the message is only the close reason, as the
    service has been seen to end a session over quota.
    """

    def __init__(
        self, error: str, message: str, code: int = 1008, *, send_frame: bool = True
    ) -> None:
        super().__init__(message)
        self.error, self.message, self.code = error, message, code
        self.send_frame = send_frame

    def frame(self) -> dict[str, Any]:
        return {"message": self.message, "error": self.error, "code": self.code}

    @property
    def reason(self) -> str:
        """The close reason: the message cut to 123 bytes without splitting a character."""
        return self.message.encode("utf-8")[:123].decode("utf-8", "ignore")


class HandshakeRefusal(Exception):
    """An HTTP answer instead of the WebSocket upgrade (unknown path, refused model)."""

    def __init__(
        self, status: HTTPStatus, body: str, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        super().__init__(body)
        self.status, self.body, self.content_type = status, body, content_type


def unsupported_model(model: str) -> HandshakeRefusal:
    """HTTP 400 with the service's JSON error body, as 2026 recordings show for eleven_v3."""
    detail = {
        "code": "unsupported_model",
        "message": f"The model '{model}' is not supported on the WebSocket stream-input "
        "endpoint. Use the HTTP text-to-speech endpoints for this model, or choose another one.",
        "param": "model_id",
    }
    return HandshakeRefusal(
        HTTPStatus.BAD_REQUEST, json.dumps({"detail": detail}), "application/json"
    )


def inactivity_failure(seconds: int) -> ProtocolFailure:
    return ProtocolFailure(
        "input_timeout_exceeded",
        f"Have not received a new text input within the timeout of {seconds} seconds. "
        f"Streaming input terminated. Please make sure to send at least one text message "
        f"every {seconds} seconds or use the inactivity_timeout query parameter to increase "
        "the timeout.",
    )


def unknown_voice(voice_id: str) -> ProtocolFailure:
    """The service's answer, after the first frame, to a voice id it does not know."""
    return ProtocolFailure(
        "voice_id_does_not_exist", f"A voice with voice_id {voice_id} does not exist."
    )


@dataclass(frozen=True)
class Params:
    """The query of a stream-input request; unknown parameters are ignored.

    ``sync_alignment`` is read but changes nothing here: a generation is one frame, which
    carries its timing either way.
    """

    voice_id: str
    model_id: str = "eleven_flash_v2_5"
    output_format: str = "mp3_44100_128"
    inactivity_timeout: int = DEFAULT_INACTIVITY_TIMEOUT
    sync_alignment: bool = False
    auto_mode: bool = False
    authorization: str | None = None


def parse_request(path: str) -> Params:
    """Check the request path and read its query; refuse as the service does at the handshake."""
    parts = urlsplit(path)
    route = parts.path
    voice = route[len(_PATH_PREFIX) : -len(_PATH_SUFFIX)]
    if not (route.startswith(_PATH_PREFIX) and route.endswith(_PATH_SUFFIX)) or not voice:
        raise HandshakeRefusal(HTTPStatus.NOT_FOUND, "Not Found\n")
    if "/" in voice:
        raise HandshakeRefusal(HTTPStatus.NOT_FOUND, "Not Found\n")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    model = query.get("model_id") or Params.model_id
    if model in REFUSED_MODELS:
        raise unsupported_model(model)
    timeout_text = query.get("inactivity_timeout", str(DEFAULT_INACTIVITY_TIMEOUT))
    try:
        timeout = int(float(timeout_text))
    except ValueError:
        raise HandshakeRefusal(
            HTTPStatus.BAD_REQUEST, "inactivity_timeout must be a number\n"
        ) from None
    return Params(
        voice_id=unquote(voice),
        model_id=model,
        output_format=query.get("output_format") or Params.output_format,
        inactivity_timeout=min(max(timeout, 1), MAX_INACTIVITY_TIMEOUT),
        sync_alignment=query.get("sync_alignment", "").lower() == "true",
        auto_mode=query.get("auto_mode", "").lower() == "true",
        authorization=query.get("authorization"),
    )


def parse_message(raw: str | bytes) -> dict[str, Any]:
    """A client frame as a JSON object, or ``invalid_input_message``."""
    if isinstance(raw, bytes):
        raise ProtocolFailure("invalid_input_message", INVALID_INPUT)
    try:
        message = json.loads(raw)
    except ValueError:
        raise ProtocolFailure("invalid_input_message", INVALID_INPUT) from None
    if not isinstance(message, dict):
        raise ProtocolFailure("invalid_input_message", INVALID_INPUT)
    return message


def message_credentials(message: dict[str, Any]) -> str | None:
    """The key or bearer token a first message carries (``xi_api_key`` or ``xi-api-key``)."""
    for name in ("xi_api_key", "xi-api-key", "authorization"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value.removeprefix("Bearer ").strip()
    return None


@dataclass(frozen=True)
class Received:
    """What one text message did: characters billed, texts to generate now (one generation
    each), and whether the stream ends."""

    billed: int = 0
    texts: list[str] = field(default_factory=list)
    end_of_stream: bool = False


_RANGES = {"stability": (0, 1), "similarity_boost": (0, 1), "style": (0, 1), "speed": (0.7, 1.2)}
_FROZEN_FIELDS = ("voice_settings", "generator_config", "generation_config")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class StreamInput:
    """One single-context session: the initial message, then text, then ``""``."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.schedule: tuple[int, ...] = DEFAULT_SCHEDULE
        self.speed = 1.0
        self.buffer = ""
        self.generations = 0
        self._first: dict[str, Any] = {}

    def begin(self, message: dict[str, Any]) -> None:
        """Validate the initial message: text exactly one space, settings in range."""
        if message.get("text") != " ":
            raise ProtocolFailure(
                "invalid_input_message",
                'The first message must be the initial message, with "text" set to " ".',
            )
        settings = message.get("voice_settings")
        if settings is not None:
            if not isinstance(settings, dict):
                raise ProtocolFailure("invalid_input_message", INVALID_INPUT)
            for name, (low, high) in _RANGES.items():
                value = settings.get(name)
                if value is not None and not (_number(value) and low <= value <= high):
                    raise ProtocolFailure(
                        "invalid_input_message",
                        f"voice_settings.{name} must be a number between {low} and {high}.",
                    )
            self.speed = float(settings.get("speed") or 1.0)
        config = message.get("generation_config") or {}
        schedule = config.get("chunk_length_schedule") if isinstance(config, dict) else None
        if schedule is not None:
            if not (
                isinstance(schedule, list)
                and schedule
                and all(_number(v) and 50 <= v <= 500 for v in schedule)
            ):
                raise ProtocolFailure(
                    "invalid_input_message",
                    "chunk_length_schedule must be a list of numbers, each between 50 and 500.",
                )
            self.schedule = tuple(int(v) for v in schedule)
        self._first = {name: message.get(name) for name in _FROZEN_FIELDS}

    def receive(self, message: dict[str, Any]) -> Received:
        """Apply one message after the initial one (section 3 and the section 4 buffering)."""
        for name in _FROZEN_FIELDS:
            if name in message and message[name] != self._first[name]:
                raise ProtocolFailure("invalid_input_message", SETTINGS_CHANGED)
        text, flush = message.get("text"), message.get("flush", False)
        if text is None and flush is True:  # a bare flush, as multi-context clients send it
            return Received(0, self._take(len(self.buffer)))
        if not isinstance(text, str) or not isinstance(flush, bool):
            raise ProtocolFailure("invalid_input_message", INVALID_INPUT)
        if text == "":
            return Received(0, self._take(len(self.buffer)), end_of_stream=True)
        # A keep-alive (one space) is text like any other: it joins the buffer and is billed,
        # as 2026 recordings show.
        self.buffer += text
        if flush or self.params.auto_mode:
            return Received(len(text), self._take(len(self.buffer)))
        return Received(len(text), self._scheduled())

    def _scheduled(self) -> list[str]:
        """Generate when the buffer reaches the next threshold, up to its last space only."""
        out: list[str] = []
        while True:
            threshold = self.schedule[min(self.generations, len(self.schedule) - 1)]
            last_space = self.buffer.rfind(" ")
            if len(self.buffer) < threshold or last_space < 0:
                return out
            out += self._take(last_space + 1)

    def _take(self, count: int) -> list[str]:
        text, self.buffer = self.buffer[:count], self.buffer[count:]
        if not text.strip():
            return []
        self.generations += 1
        return [text]
