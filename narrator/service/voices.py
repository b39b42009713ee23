"""The service's voice list (``GET /v1/voices``), so a user can pick a voice id without a browser.

One blocking request through :mod:`urllib.request`: the listing is a single call made before
any event loop exists, so it needs neither asyncio nor another HTTP library. Every foreign
failure is translated here, where it enters, into narrator's errors:

=====================================  ==========================  =====
what happened                          error                       exit
=====================================  ==========================  =====
HTTP 401 (bad key, missing permission) AuthenticationError         3
HTTP 402, 403                          PlanRefusedError            3
a redirect, HTTP 404, not a voice list UsageError (check the URL)  2
any other HTTP status                  FatalServiceError           3
refused, unreachable, timed out        ServiceUnreachableError     3
=====================================  ==========================  =====

The key travels in the ``xi-api-key`` header only; redirects are not followed, so it never
reaches another host, and it is removed from anything the service writes back.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from narrator.errors import (
    AuthenticationError,
    FatalServiceError,
    NarratorError,
    PlanRefusedError,
    ServiceError,
    ServiceUnreachableError,
    UsageError,
)

#: Seconds the whole request may take; the service answers in well under one.
TIMEOUT = 20.0
#: The most of an answer that is read: thousands of voices fit in far less.
MAX_ANSWER_BYTES = 16 * 2**20
#: Labels worth a column, in the order shown; the service has more (use case, description).
SHOWN_LABELS = ("accent", "gender", "age")


@dataclass(frozen=True)
class Voice:
    """One voice as the service lists it."""

    voice_id: str
    name: str
    category: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """Accent, gender and age, those the service gives, comma-separated."""
        return ", ".join(self.labels[key] for key in SHOWN_LABELS if self.labels.get(key))


def voices_url(base_url: str) -> str:
    """The HTTP address of the voice list for a WebSocket base URL (wss -> https, ws -> http)."""
    parts = urlsplit(base_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, f"{parts.path.rstrip('/')}/v1/voices", "", ""))


def parse_voices(payload: Any) -> list[Voice]:
    """The voices of a ``{"voices": [...]}`` answer, sorted by name; ValueError if it is none."""
    if not isinstance(payload, dict) or not isinstance(payload.get("voices"), list):
        raise ValueError("no list of voices in it")
    voices = []
    for entry in payload["voices"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("voice_id"), str):
            raise ValueError("a voice without a voice_id")
        labels = entry.get("labels")
        voices.append(
            Voice(
                voice_id=entry["voice_id"],
                name=str(entry.get("name") or ""),
                category=str(entry.get("category") or ""),
                labels={
                    str(k): str(v) for k, v in (labels if isinstance(labels, dict) else {}).items()
                },
            )
        )
    return sorted(voices, key=lambda voice: (voice.name.casefold(), voice.voice_id))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would resend the key header to wherever a redirect points: refuse instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch_voices(base_url: str, api_key: str, timeout: float = TIMEOUT) -> list[Voice]:
    """The account's voices from the service at ``base_url`` (its WebSocket base URL)."""
    url = voices_url(base_url)
    host = urlsplit(url).netloc
    request = urllib.request.Request(
        url, headers={"xi-api-key": api_key, "Accept": "application/json"}
    )
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=timeout) as answer:
            body = answer.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        with exc:
            error = _refusal(exc.code, _read(exc.fp), url)
        if isinstance(error, ServiceError):
            error = error.redacted(api_key)
        raise error from exc
    except urllib.error.URLError as exc:
        raise ServiceUnreachableError(f"cannot reach {host}: {_why(exc.reason)}") from exc
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, broken answers
        raise ServiceUnreachableError(f"cannot reach {host}: {_why(exc)}") from exc
    try:
        if len(body) > MAX_ANSWER_BYTES:
            raise ValueError("far too large")
        return parse_voices(json.loads(body))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise UsageError(
            f"the answer from {url} is not the service's voice list ({_short(exc)}); "
            "check --base-url"
        ) from exc


def _refusal(status: int, body: bytes, url: str) -> NarratorError:
    """The error for an HTTP refusal, with the service's own message when it sent one."""
    code, message = _detail(body)
    if status == 401:
        text = message or "the service refused the API key"
        return AuthenticationError(text, error=code or "invalid_api_key")
    if status in (402, 403):
        return PlanRefusedError(message or f"HTTP {status} from the voice list", error=code)
    if 300 <= status < 400 or status == 404:
        return UsageError(f"no voice list at {url} (HTTP {status}); check --base-url")
    return FatalServiceError(message or f"HTTP {status} from {url}", error=code)


def _detail(body: bytes) -> tuple[str | None, str | None]:
    """``(status or code, message)`` of the service's ``{"detail": ...}`` error body."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return None, None
    if isinstance(detail, str):
        return None, _short(detail)
    if not isinstance(detail, dict):
        return None, None
    code = detail.get("status") or detail.get("code")
    message = detail.get("message")
    return (
        _short(code) if isinstance(code, str) else None,
        _short(message) if isinstance(message, str) else None,
    )


def _why(reason: object) -> str:
    """The reason a connection failed, as one line (``timed out``, ``Connection refused``)."""
    if isinstance(reason, OSError) and reason.strerror:
        return _short(reason.strerror)
    return _short(reason) or type(reason).__name__


def _read(stream: IO[bytes] | None) -> bytes:
    try:
        return stream.read(65536) if stream is not None else b""
    except (OSError, http.client.HTTPException):
        return b""


def _short(text: object, limit: int = 200) -> str:
    """One line of at most ``limit`` characters: what a service writes is not trusted."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
