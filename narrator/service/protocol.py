"""The ElevenLabs ``stream-input`` protocol, without I/O.

Only this module knows the shape of the service's messages: the URL and headers of a session,
the messages a client sends, how to read what comes back, and which failures are fatal. It
imports neither asyncio nor websockets, so every rule is tested with literal JSON.

A session, as the protocol notes prescribe for a batch client::

    client: {"text": " ", "voice_settings": ..., "generation_config": ...}   (initial)
    client: {"text": "First sentences. "} ... {"text": "Last ones. ", "flush": true}
    client: {"text": ""}                                                      (end of stream)
    server: {"audio": "<base64>", "isFinal": null, "alignment": {...}, ...}   (repeated)
    server: {"audio": null, "isFinal": true, ...}, then close 1000
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlencode, urlsplit, urlunsplit

from narrator.errors import (
    AuthenticationError,
    BrokenStreamError,
    ConcurrencyLimitError,
    ConnectionDroppedError,
    FatalServiceError,
    ModelRefusedError,
    PlanRefusedError,
    QuotaExceededError,
    RateLimitedError,
    ServiceError,
    TransientServiceError,
    VoiceNotFoundError,
)
from narrator.settings import SpeechSettings

#: Models that the WebSocket endpoint refuses at the handshake.
UNSUPPORTED_MODELS = frozenset({"eleven_v3"})

END_OF_STREAM = json.dumps({"text": ""})

#: Close code of a normal end: anything else after the end of stream is a failure.
NORMAL_CLOSURE = 1000

_FATAL_ERRORS: dict[str, type[ServiceError]] = {
    "invalid_api_key": AuthenticationError,
    "authentication_required": AuthenticationError,
    "unauthorized": AuthenticationError,
    "quota_exceeded": QuotaExceededError,
    "detected_unusual_activity": QuotaExceededError,
    "voice_id_does_not_exist": VoiceNotFoundError,
    "voice_not_found": VoiceNotFoundError,
    "invalid_voice_id": VoiceNotFoundError,
    "model_not_found": ModelRefusedError,
    "unsupported_model": ModelRefusedError,
    "payment_required": PlanRefusedError,
    "subscription_required": PlanRefusedError,
}
_RATE_LIMIT_ERRORS = frozenset({"system_busy", "rate_limited"})
_CONCURRENCY_ERRORS = frozenset({"too_many_concurrent_requests"})
#: Known to pass: our own pause (the service's inactivity limit), its internal errors.
_TRANSIENT_ERRORS = frozenset({"input_timeout_exceeded", "internal_error", "internal_server_error"})
#: Close codes that say "try again": going away, abnormal, internal error, restart, overload.
_TRANSIENT_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})
#: The internal error's words, seen with close 1008 (until 2025) as well as 1011.
_INTERNAL_ERROR_WORDS = "something went wrong"


#: Characters a voice id may hold: URL path characters that need no escaping.
_VOICE_ID = re.compile(r"[A-Za-z0-9._~+-]{1,100}")


def voice_id_problem(voice_id: str) -> str | None:
    """Why ``voice_id`` cannot name a voice in the session URL, or None."""
    if _VOICE_ID.fullmatch(voice_id) is None or voice_id in (".", ".."):
        return "a voice id is letters, digits and . _ ~ + - only (1 to 100 of them)"
    return None


def base_url_problem(base_url: str) -> str | None:
    """Why ``base_url`` cannot be the service's WebSocket address, or None.

    The URL is never repeated in the answer: a key pasted into it must not reach a terminal.
    """
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "not a valid URL"
    if parts.username is not None or parts.password is not None:
        return "the URL holds user info (a key?); give the key with --api-key instead"
    if parts.query or parts.fragment:
        return "the URL holds a query or fragment (a key?); give the key with --api-key instead"
    if parts.scheme in ("http", "https"):
        secure = "wss" if parts.scheme == "https" else "ws"
        return f"that is the REST address; use the WebSocket one: {secure}://{parts.hostname}"
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return "the URL must start with wss:// (or ws://) and name a host"
    return None


def api_key_problem(api_key: str) -> str | None:
    """Why ``api_key`` cannot go into a header, or None; the key itself is never shown."""
    if not api_key or any(not "!" <= c <= "~" for c in api_key):
        return (
            "the API key holds a space, line break or other character no key has "
            "(check .env or the variable); it was not sent"
        )
    return None


def session_url(base_url: str, speech: SpeechSettings, inactivity_timeout: int) -> str:
    """The stream-input URL: the key is never part of it (it goes in a header)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"base URL must start with ws:// or wss://, not {base_url!r}")
    params = {
        "model_id": speech.model_id,
        "output_format": speech.output_format,
        "inactivity_timeout": str(inactivity_timeout),
    }
    optional = {
        "seed": None if speech.seed is None else str(speech.seed),
        "language_code": speech.language_code,
        "apply_text_normalization": speech.text_normalization,
    }
    query = urlencode({**params, **{k: v for k, v in optional.items() if v is not None}})
    path = f"{parts.path.rstrip('/')}/v1/text-to-speech/{speech.voice_id}/stream-input"
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def session_headers(api_key: str | None) -> dict[str, str]:
    """Authentication travels in the ``xi-api-key`` header, never in a message body."""
    return {"xi-api-key": api_key} if api_key else {}


def initial_message(speech: SpeechSettings) -> str:
    """The first message: exactly one space, the buffering schedule, and only the voice
    settings the user gave (the voice's stored settings apply to the rest), with any
    pronunciation dictionaries."""
    message: dict[str, object] = {"text": " "}
    given = speech.voice.given()
    if given:
        message["voice_settings"] = given
    message["generation_config"] = {"chunk_length_schedule": list(speech.chunk_schedule)}
    if speech.pronunciation_dictionaries:
        message["pronunciation_dictionary_locators"] = [
            {"pronunciation_dictionary_id": ident, **({"version_id": v} if v else {})}
            for ident, v in speech.pronunciation_dictionaries
        ]
    return json.dumps(message)


def text_message(text: str, *, flush: bool = False) -> str:
    """A piece of text; it must end with a space or the service may hold back its last word."""
    if not text.endswith(" "):
        text += " "
    message: dict[str, object] = {"text": text}
    if flush:
        message["flush"] = True
    return json.dumps(message)


@dataclass(frozen=True)
class Alignment:
    """Character timings of one audio chunk, relative to that chunk's start."""

    chars: tuple[str, ...]
    start_ms: tuple[int, ...]
    duration_ms: tuple[int, ...]


@dataclass(frozen=True)
class AudioChunk:
    """Audio bytes with their alignment (either may be absent on a given frame)."""

    audio: bytes
    alignment: Alignment | None
    normalized_alignment: Alignment | None


@dataclass(frozen=True)
class Final:
    """The ``isFinal`` message: all audio has been sent; a close follows."""


Event = AudioChunk | Final


def parse_message(raw: str | bytes) -> Event:
    """Read one server frame; an error frame is raised as the matching error.

    ``isFinal`` may be ``null``, ``false`` or missing on audio frames; field names come in
    camelCase and, on ElevenLabs' other WebSockets, snake_case. Anything else that breaks the
    schema (not JSON, wrong types, bad base64, alignment lists of different lengths) is a
    :class:`BrokenStreamError`: a broken stream, never mistaken for a stream without timing.
    """
    if isinstance(raw, bytes):
        raise BrokenStreamError("the service sent a binary frame where JSON text was expected")
    try:
        message = json.loads(raw)
    except RecursionError as exc:
        raise BrokenStreamError("the service sent JSON nested too deeply to read") from exc
    except ValueError as exc:
        raise BrokenStreamError("the service sent a frame that is not JSON") from exc
    if not isinstance(message, dict):
        raise BrokenStreamError("the service sent a JSON frame that is not an object")
    if "error" in message or ("message" in message and "audio" not in message):
        raise error_from_frame(message)
    final = _field(message, "isFinal", "is_final")
    if final is not None and not isinstance(final, bool):
        raise BrokenStreamError("the service sent an isFinal that is not a boolean")
    if final:
        return Final()
    return AudioChunk(
        audio=_audio(message.get("audio")),
        alignment=_alignment(message.get("alignment"), "alignment"),
        normalized_alignment=_alignment(
            _field(message, "normalizedAlignment", "normalized_alignment"), "normalizedAlignment"
        ),
    )


def _field(message: dict[str, object], *names: str) -> object:
    for name in names:
        if message.get(name) is not None:
            return message[name]
    return None


def _audio(value: object) -> bytes:
    if value is None or value == "":
        return b""
    if not isinstance(value, str):
        raise BrokenStreamError("the service sent audio that is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BrokenStreamError("the service sent audio that is not valid base64") from exc


def _alignment(value: object, name: str) -> Alignment | None:
    """Timing of one chunk; ``None`` only when the service sent none (``null`` or absent)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BrokenStreamError(f"the service sent {name} that is not an object")
    chars = _list(value, name, "chars")
    starts = _list(value, name, "charStartTimesMs", "char_start_times_ms")
    durations = _list(value, name, "charDurationsMs", "charsDurationsMs", "char_durations_ms")
    if not (len(chars) == len(starts) == len(durations)):
        raise BrokenStreamError(
            f"the service sent {name} whose lists disagree in length "
            f"({len(chars)} characters, {len(starts)} starts, {len(durations)} durations)"
        )
    if not all(isinstance(c, str) for c in chars):
        raise BrokenStreamError(f"the service sent {name} with characters that are not text")
    return Alignment(
        chars=tuple(cast("list[str]", chars)),
        start_ms=_times(starts, name),
        duration_ms=_times(durations, name),
    )


def _times(values: list[object], name: str) -> tuple[int, ...]:
    """Times in milliseconds. A list of plain ints in range (what the service sends) is
    checked by builtins alone, since a generation's alignment is one item a character;
    anything else is checked, and refused, item by item."""
    if all(type(v) is int for v in values):
        ints = cast("list[int]", values)
        if not ints or (min(ints) >= 0 and max(ints) < _MAX_MS):
            return tuple(ints)
    return tuple(_milliseconds(v, name) for v in values)


def _list(value: dict[str, object], name: str, *keys: str) -> list[object]:
    found = _field(value, *keys)
    if found is None:
        return []
    if not isinstance(found, list):
        raise BrokenStreamError(f"the service sent {name}.{keys[0]} that is not a list")
    return found


#: Times at or above this are refused: beyond it a JSON number is no longer exact.
_MAX_MS = 2**53


def _milliseconds(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BrokenStreamError(f"the service sent {name} with a time that is not a number")
    if not 0 <= value < _MAX_MS:  # also false for NaN
        raise BrokenStreamError(f"the service sent {name} with a time out of range")
    return int(value)


#: Service text (messages, close reasons) is shown on one line and cut to this length.
MAX_SERVICE_TEXT = 300


def one_line(text: str) -> str:
    """Service-written text as one short printable line: it may be long or hold controls."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text[:4096]).split())
    return flat if len(flat) <= MAX_SERVICE_TEXT else flat[: MAX_SERVICE_TEXT - 1] + "…"


def error_from_frame(message: dict[str, object]) -> ServiceError:
    """Classify an error frame by its ``error`` name and ``code``, never by its wording."""
    name = one_line(str(message.get("error") or ""))
    text = one_line(str(message.get("message") or name or "the service reported an error"))
    raw_code = message.get("code")
    code = raw_code if isinstance(raw_code, int) else None
    return _classify(name, text, code)


def error_from_close(code: int | None, reason: str, *, after_final: bool) -> ServiceError | None:
    """The error a close means, or None for the normal close that follows ``isFinal``.

    Called only when no error frame came before the close: the frame, when there is one,
    names the error better than the close does.
    """
    if code == NORMAL_CLOSURE and after_final:
        return None
    if code is None:
        return ConnectionDroppedError("the connection was dropped without a close frame")
    if code == NORMAL_CLOSURE:
        return ConnectionDroppedError("the service closed the session before the final message")
    return _classify("", one_line(reason) or "the service closed the connection", code)


def _classify(name: str, text: str, code: int | None) -> ServiceError:
    """By the error's name, then by what its words say, then by the code.

    Only what is known to pass is retried; an unexplained refusal (a bare 1008, an unknown
    name) fails its chapter with the service's words, since retrying it would be paid again.
    """
    words = text.casefold()
    if name in _FATAL_ERRORS:
        return _FATAL_ERRORS[name](text, code=code, error=name)
    if name in _CONCURRENCY_ERRORS:
        return ConcurrencyLimitError(text, code=code, error=name)
    if name in _RATE_LIMIT_ERRORS:
        return RateLimitedError(text, code=code, error=name)
    if "quota" in words:
        # Seen on the real service: a bare close 1008, no error frame, the quota in words.
        return QuotaExceededError(
            f"{text} (the account's credits are likely used up)", code=code, error=name or None
        )
    if name in _TRANSIENT_ERRORS or code in _TRANSIENT_CODES or _INTERNAL_ERROR_WORDS in words:
        return TransientServiceError(text, code=code, error=name or None)
    return ServiceError(text, code=code, error=name or None)


def error_from_handshake(status: int, body: bytes) -> ServiceError:
    """A refused handshake, mapped by what its JSON body says, then by its HTTP status.

    The service answers, for example, ``eleven_v3`` with HTTP 400 and
    ``{"detail": {"code": "unsupported_model", "message": "..."}}``; its message is shown.
    """
    name, message = _handshake_detail(body)
    text = message or f"the service refused the session with HTTP {status}"
    if name:
        error = _classify(name, text, status)
        if isinstance(error, (FatalServiceError, TransientServiceError)):
            return error
    if status in (401, 403) and not name:
        return AuthenticationError(
            f"{text} (HTTP {status}: a wrong key, or one without access)", code=status
        )
    if status == 429:
        return RateLimitedError(text, code=status, error=name or None)
    if status >= 500:
        return ConnectionDroppedError(text, code=status, error=name or None)
    return FatalServiceError(text, code=status, error=name or None)


def _handshake_detail(body: bytes) -> tuple[str, str]:
    """``detail.code`` (or ``status``) and ``detail.message`` of a refusal's JSON body."""
    try:
        data = json.loads(body[:65536].decode("utf-8"))
    except (ValueError, RecursionError):
        return "", one_line(body[:300].decode("utf-8", "replace")) if body else ""
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, str):
        return "", one_line(detail)
    if not isinstance(detail, dict):
        return "", ""
    name = detail.get("code") or detail.get("status") or ""
    return one_line(str(name)), one_line(str(detail.get("message") or ""))
