"""One exception root for everything narrator reports to a user.

Each class knows its exit code, so only the CLI turns an error into a message and a status::

    NarratorError                     exit 1
    ├── UsageError                    exit 2   bad options
    ├── DocumentError                 exit 2   a document cannot be read or has nothing to say
    ├── OutputError                   exit 2   the output folder cannot be written or is locked
    │   └── TaggingError                       a file cannot be tagged or read back
    ├── ServiceError                           the speech service failed one session
    │   │                                      (not retried: an unexplained refusal)
    │   ├── FatalServiceError         exit 3   the whole run is refused: retrying cannot help
    │   │   ├── AuthenticationError            bad or missing API key
    │   │   ├── QuotaExceededError             out of credits
    │   │   ├── VoiceNotFoundError             unknown voice
    │   │   ├── ModelRefusedError              model not served on this endpoint
    │   │   ├── PlanRefusedError               payment or subscription required, tier-gated
    │   │   └── ServiceUnreachableError        no connection could be opened for a while
    │   ├── BrokenStreamError                  a frame that breaks the protocol: the chapter fails
    │   └── TransientServiceError     retried with backoff
    │       ├── ConnectionDroppedError         socket lost, handshake failed, 1011, timeout
    │       ├── RateLimitedError               system_busy, HTTP 429
    │       │   └── ConcurrencyLimitError      too_many_concurrent_requests
    │       └── IncompleteAudioError           stream ended with no or too little audio
    └── Interrupted                   exit 130 Ctrl-C or SIGTERM

Messages never contain an API key: errors carry service messages and close reasons, which the
service writes, and :func:`redact` is applied to anything that echoes a request.
"""

from __future__ import annotations

from pathlib import Path


class NarratorError(Exception):
    """Root of narrator's errors; ``str()`` is the one line a user sees."""

    exit_code = 1


class UsageError(NarratorError):
    """Options that cannot work together or cannot be parsed."""

    exit_code = 2


class DocumentError(NarratorError):
    """A document that cannot be narrated, named with its path."""

    exit_code = 2

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


class OutputError(NarratorError):
    """The output folder cannot be used (unwritable, or locked by another run)."""

    exit_code = 2


class ServiceError(NarratorError):
    """A failure reported by, or on the way to, the speech service."""

    def __init__(self, message: str, *, code: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.error = error

    def redacted(self, secret: str | None) -> ServiceError:
        """This error with ``secret`` removed from what the service wrote into it."""
        self.message = redact(self.message, secret)
        self.error = redact(self.error, secret) if self.error else self.error
        self.args = (self.message,)
        return self

    def __str__(self) -> str:
        detail = ", ".join(
            part for part in (self.error, f"close code {self.code}" if self.code else None) if part
        )
        return f"{self.message} ({detail})" if detail else self.message


class FatalServiceError(ServiceError):
    """The service refused something that every chapter needs: stop the run."""

    exit_code = 3


class AuthenticationError(FatalServiceError):
    """The API key is missing or wrong."""


class QuotaExceededError(FatalServiceError):
    """The account has no credits left."""


class VoiceNotFoundError(FatalServiceError):
    """The voice id is unknown to the service."""


class ModelRefusedError(FatalServiceError):
    """The model is not served over the WebSocket endpoint."""


class PlanRefusedError(FatalServiceError):
    """The account's plan does not allow the request (payment or a subscription required)."""


class ServiceUnreachableError(FatalServiceError):
    """No session could be opened for long enough that retrying chapter by chapter only waits."""


class BrokenStreamError(ServiceError):
    """The service sent what the protocol does not allow (not JSON, wrong types, bad base64,
    malformed alignment, audio in another format, far more audio than the text can need).

    Not retried: a server that breaks the protocol once will likely break it again, and every
    retry is paid for.
    """


class TransientServiceError(ServiceError):
    """A failure that a later attempt may not meet."""


class ConnectionDroppedError(TransientServiceError):
    """The connection failed or ended before the final message."""


class RateLimitedError(TransientServiceError):
    """The service asked for fewer concurrent sessions or a pause."""


class ConcurrencyLimitError(RateLimitedError):
    """Too many sessions at once for the account: the pool runs fewer from now on."""


class IncompleteAudioError(TransientServiceError):
    """The stream finished but carried no audio, or far too little for its text."""


class Interrupted(NarratorError):
    """The run was stopped by a signal; partial files were removed."""

    exit_code = 130


def redact(text: str, secret: str | None) -> str:
    """Remove a secret from text that might echo it (URLs, headers, server messages)."""
    if not secret:
        return text
    text = text.replace(secret, "***")
    head = secret[:8]
    if len(secret) < 8 or head not in text:
        return text
    # A key cut short by a length limit (a close reason holds 123 bytes) still leaks its start.
    parts, start = [], 0
    while (found := text.find(head, start)) >= 0:
        end = found
        while end < len(text) and end - found < len(secret) and text[end] == secret[end - found]:
            end += 1
        parts.append(text[start:found] + "***")
        start = end
    return "".join(parts) + text[start:]


class TaggingError(OutputError):
    """A chapter file could not be tagged or read back (mutagen refused it), named with its path."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem
