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
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from narrator.errors import (
    AuthenticationError,
    ConcurrencyLimitError,
    ConnectionDroppedError,
    ModelRefusedError,
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
KEEP_ALIVE = json.dumps({"text": " "})

#: Close code of a normal end: anything else after the end of stream is a failure.
NORMAL_CLOSURE = 1000

_FATAL_ERRORS: dict[str, type[ServiceError]] = {
    "invalid_api_key": AuthenticationError,
    "authentication_required": AuthenticationError,
    "unauthorized": AuthenticationError,
    "quota_exceeded": QuotaExceededError,
    "voice_not_found": VoiceNotFoundError,
    "invalid_voice_id": VoiceNotFoundError,
    "model_not_found": ModelRefusedError,
    "unsupported_model": ModelRefusedError,
    "detected_unusual_activity": QuotaExceededError,
}
_RATE_LIMIT_ERRORS = frozenset({"system_busy", "rate_limited"})
_CONCURRENCY_ERRORS = frozenset({"too_many_concurrent_requests"})


def session_url(base_url: str, speech: SpeechSettings, inactivity_timeout: int) -> str:
    """The stream-input URL: the key is never part of it (it goes in a header)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"base URL must start with ws:// or wss://, not {base_url!r}")
    query = urlencode(
        {
            "model_id": speech.model_id,
            "output_format": speech.output_format,
            "inactivity_timeout": str(inactivity_timeout),
        }
    )
    path = f"{parts.path.rstrip('/')}/v1/text-to-speech/{speech.voice_id}/stream-input"
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def session_headers(api_key: str | None) -> dict[str, str]:
    """Authentication travels in the ``xi-api-key`` header, never in a message body."""
    return {"xi-api-key": api_key} if api_key else {}


def initial_message(speech: SpeechSettings) -> str:
    """The first message: exactly one space, the voice settings and the buffering schedule."""
    voice = speech.voice
    return json.dumps(
        {
            "text": " ",
            "voice_settings": {
                "stability": voice.stability,
                "similarity_boost": voice.similarity_boost,
                "style": voice.style,
                "use_speaker_boost": voice.use_speaker_boost,
                "speed": voice.speed,
            },
            "generation_config": {"chunk_length_schedule": list(speech.chunk_schedule)},
        }
    )


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

    ``isFinal`` may be ``null``, ``false`` or missing on audio frames; the alignment's
    duration list has been spelled ``charDurationsMs`` and ``charsDurationsMs``.
    """
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConnectionDroppedError(f"unreadable message from the service: {exc}") from exc
    if not isinstance(message, dict):
        raise ConnectionDroppedError("unexpected message from the service (not an object)")
    if "error" in message or ("message" in message and "audio" not in message):
        raise error_from_frame(message)
    if message.get("isFinal") is True:
        return Final()
    audio_b64 = message.get("audio")
    try:
        audio = base64.b64decode(audio_b64, validate=True) if audio_b64 else b""
    except (binascii.Error, TypeError) as exc:
        raise ConnectionDroppedError("the service sent audio that is not base64") from exc
    return AudioChunk(
        audio=audio,
        alignment=_alignment(message.get("alignment")),
        normalized_alignment=_alignment(message.get("normalizedAlignment")),
    )


def _alignment(value: object) -> Alignment | None:
    if not isinstance(value, dict):
        return None
    chars = value.get("chars") or []
    starts = value.get("charStartTimesMs") or []
    durations = value.get("charDurationsMs") or value.get("charsDurationsMs") or []
    if not (len(chars) == len(starts) == len(durations)):
        return None
    return Alignment(
        chars=tuple(str(c) for c in chars),
        start_ms=tuple(int(s) for s in starts),
        duration_ms=tuple(int(d) for d in durations),
    )


def error_from_frame(message: dict[str, object]) -> ServiceError:
    """Classify an error frame by its ``error`` name and ``code``, never by its wording."""
    name = str(message.get("error") or "")
    text = str(message.get("message") or name or "the service reported an error")
    raw_code = message.get("code")
    code = raw_code if isinstance(raw_code, int) else None
    return _classify(name, text, code)


def error_from_close(code: int | None, reason: str, *, after_final: bool) -> ServiceError | None:
    """The error a close means, or None for the normal close that follows ``isFinal``."""
    if code == NORMAL_CLOSURE and after_final:
        return None
    if code is None:
        return ConnectionDroppedError("the connection was dropped without a close frame")
    if code == NORMAL_CLOSURE:
        return ConnectionDroppedError("the service closed the session before the final message")
    return _classify("", reason or "the service closed the connection", code)


def _classify(name: str, text: str, code: int | None) -> ServiceError:
    if name in _FATAL_ERRORS:
        return _FATAL_ERRORS[name](text, code=code, error=name)
    if name in _CONCURRENCY_ERRORS:
        return ConcurrencyLimitError(text, code=code, error=name)
    if name in _RATE_LIMIT_ERRORS:
        return RateLimitedError(text, code=code, error=name)
    if code == 1008 and name == "invalid_input_message":
        # A message of ours the service could not read is a bug, not bad luck: do not retry.
        return ServiceError(text, code=code, error=name)
    return TransientServiceError(text, code=code, error=name or None)


def error_from_handshake(status: int, model_id: str) -> ServiceError:
    """HTTP status of a refused handshake: 401 key, 403 model or key, 404 voice, 429 busy."""
    if status == 401:
        return AuthenticationError("the service refused the API key", code=status)
    if status == 403:
        return ModelRefusedError(
            f"the service refused the request (model {model_id!r} may not be served "
            "over WebSockets, or the key lacks access)",
            code=status,
        )
    if status in (400, 404, 422):
        return VoiceNotFoundError("the service does not know this voice or model", code=status)
    if status == 429:
        return RateLimitedError("the service is busy (HTTP 429)", code=status)
    return ConnectionDroppedError(f"the handshake failed with HTTP {status}", code=status)


def is_retryable(exc: BaseException) -> bool:
    """The whole retry policy: transient service errors are retried, everything else is not."""
    return isinstance(exc, TransientServiceError)
