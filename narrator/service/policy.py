"""The whole retry policy: what each kind of failure means for its chapter and for the run.

One function, so that a change of policy is one change, and the pool stays ignorant of
narrator's error tree.
"""

from __future__ import annotations

from narrator.errors import (
    ConcurrencyLimitError,
    FatalServiceError,
    NarratorError,
    OutputError,
    TransientServiceError,
)
from narrator.service.pool import Action


def classify(exc: BaseException) -> Action:
    """Map a failed attempt to what the pool does next.

    The service refusing the run (key, quota, voice, model, unreachable) and the output folder
    failing (a full disk, a file size limit) stop the run: every other chapter would meet
    them too. Transient service failures are retried, a concurrency refusal with fewer
    sessions. Any other narrator error fails its chapter alone; anything that is not a
    narrator error is a bug, which stops the run and shows as one.
    """
    if isinstance(exc, (FatalServiceError, OutputError)):
        return Action.STOP
    if isinstance(exc, ConcurrencyLimitError):
        return Action.RETRY_FEWER
    if isinstance(exc, TransientServiceError):
        return Action.RETRY
    if isinstance(exc, NarratorError):
        return Action.FAIL
    return Action.STOP
