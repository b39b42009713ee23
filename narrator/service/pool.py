"""N concurrent sessions from three small parts: workers on a queue, a retry policy, a backoff.

The pool knows nothing of Markdown or of the protocol's messages: it is given jobs, a way to
open a session ahead of use, the work to do with one, and one ``classify(exc)`` function that
says what a failure means (:class:`Action`). Longest jobs start first so the last minutes of
a run are not spent on one long chapter; a slow job only holds its own worker. ``STOP`` ends
the run gently: no job starts or retries after it, but jobs already streaming finish, since
their text is already paid for; then the stopping error is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar


class Closable(Protocol):
    async def close(self) -> None: ...

    @property
    def fresh(self) -> bool:
        """False once a session opened ahead has waited too long to be used."""
        ...


class Action(Enum):
    """What a failed attempt means for its job and for the run."""

    RETRY = "retry"  # after a backoff
    RETRY_FEWER = "retry with fewer sessions"  # the service said the pool is too large
    FAIL = "fail the job"  # recorded; the run goes on
    STOP = "stop the run"  # running jobs finish; nothing new starts; the error is raised


J = TypeVar("J")
S = TypeVar("S", bound=Closable)


def backoff(base: float, cap: float) -> Iterator[float]:
    """Exponential backoff with full jitter: spreads retries of workers that failed together."""
    attempt = 0
    while True:
        yield random.uniform(0, min(cap, base * 2**attempt))
        attempt += 1


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a job is retried."""

    retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0


class Limiter:
    """A concurrency limit that can only go down: the service told us it was too high."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active = 0
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._active < self.limit)
            self._active += 1

    async def release(self) -> None:
        async with self._changed:
            self._active -= 1
            self._changed.notify_all()

    def lower(self) -> None:
        """One fewer than were running when the refusal came; the refused one has already
        released its slot, so it counts back in."""
        self.limit = max(1, min(self.limit, self._active + 1) - 1)


@dataclass
class PoolHooks(Generic[J]):
    """What the caller hears from the pool."""

    on_retry: Callable[[J, int, BaseException, float], None] = lambda job, n, exc, d: None
    on_failure: Callable[[J, BaseException], Awaitable[None]] | None = None
    on_lowered: Callable[[int], None] = lambda limit: None


class Pool(Generic[J, S]):
    """Runs ``work(job, session, attempt)`` for every job on at most ``workers`` sessions."""

    def __init__(
        self,
        *,
        workers: int,
        open_session: Callable[[J], Coroutine[Any, Any, S]],
        work: Callable[[J, S, int], Awaitable[None]],
        classify: Callable[[BaseException], Action],
        policy: RetryPolicy,
        hooks: PoolHooks[J] | None = None,
        progressed: Callable[[J], bool] = lambda job: False,
        session_key: Callable[[J], Hashable] = lambda job: None,
    ) -> None:
        """``open_session(job)`` opens a session fit for ``job``; jobs with the same
        ``session_key`` can use each other's sessions (documents narrated with different
        voices cannot), so a session opened ahead is used only by a job of its key.
        ``progressed(job)``: whether the attempt that just failed still moved the job
        forward (kept part of its work); such a failure does not use up a retry."""
        self._workers = max(1, workers)
        self._open = open_session
        self._key = session_key
        self._work = work
        self._classify = classify
        self._policy = policy
        self._hooks = hooks or PoolHooks()
        self._progressed = progressed
        self._limiter = Limiter(self._workers)
        self._queue: deque[J] = deque()
        self._stopping = asyncio.Event()
        self._stop_error: BaseException | None = None

    async def run(self, jobs: Sequence[J], weight: Callable[[J], int]) -> None:
        """Run every job; after a ``STOP`` the running jobs finish and its error is raised."""
        for job in sorted(jobs, key=weight, reverse=True):
            self._queue.append(job)
        count = min(self._workers, len(jobs))
        tasks = [asyncio.create_task(self._worker()) for _ in range(count)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._stop_error is not None:
            raise self._stop_error

    async def _worker(self) -> None:
        slot = _Slot[S]()
        try:
            while self._queue and not self._stopping.is_set():
                await self._run_job(self._queue.popleft(), slot)
        finally:
            if slot.ahead is not None:
                await _discard(slot.ahead)

    def _stop(self, exc: BaseException) -> None:
        if self._stop_error is None:
            self._stop_error = exc
        self._stopping.set()

    async def _run_job(self, job: J, slot: _Slot[S]) -> None:
        """Try ``job`` until it succeeds or fails for good, opening the next session ahead.

        Only failures that made no progress count against the retries: a session that kept
        part of its work before it dropped proved the service is working, and a refusal
        of concurrency says nothing about the job at all.
        """
        delays = backoff(self._policy.base_delay, self._policy.max_delay)
        attempt = failures = 0
        while not self._stopping.is_set():
            attempt += 1
            opening = await slot.take(self._key(job)) or asyncio.create_task(self._open(job))
            pending: asyncio.Task[S] | None = opening
            try:
                await self._limiter.acquire()
                try:
                    session = await opening
                    pending = None
                    if not session.fresh:  # opened ahead, then kept waiting too long
                        await session.close()
                        session = await self._open(job)
                    try:
                        if self._stopping.is_set():  # stopped while waiting: send nothing
                            return
                        if self._queue:  # most likely the next job of this worker
                            upcoming = self._queue[0]
                            slot.ahead = asyncio.create_task(self._open(upcoming))
                            slot.key = self._key(upcoming)
                        await self._work(job, session, attempt)
                    finally:
                        await session.close()
                finally:
                    await self._limiter.release()
                return
            except Exception as exc:
                action = self._classify(exc)
                if self._progressed(job):
                    delays = backoff(self._policy.base_delay, self._policy.max_delay)
                elif action is not Action.RETRY_FEWER or self._limiter.limit == 1:
                    failures += 1  # refused even alone: the account is busy elsewhere
                if not await self._after_failure(job, failures, action, exc):
                    return
                await self._pause(next(delays), job, attempt, exc)
            finally:
                if pending is not None:  # never handed to the work: close what it opened
                    await _discard(pending)

    async def _after_failure(self, job: J, failures: int, action: Action, exc: Exception) -> bool:
        """Act on a failed attempt; True when the job is to be tried again."""
        if action is Action.STOP:
            self._stop(exc)
            return False
        if self._stopping.is_set() and action is not Action.FAIL:
            return False  # the run is stopping: the job stays undone, not failed
        try:
            if action is Action.FAIL or failures > self._policy.retries:
                if self._hooks.on_failure is not None:
                    await self._hooks.on_failure(job, exc)
                return False
            if action is Action.RETRY_FEWER:
                self._limiter.lower()
                self._hooks.on_lowered(self._limiter.limit)
        except Exception as hook_error:  # recording failed (a full disk): stop, gently
            self._stop(hook_error)
            return False
        return True

    async def _pause(self, delay: float, job: J, attempt: int, exc: Exception) -> None:
        """The backoff before a retry, cut short when the run stops."""
        try:
            self._hooks.on_retry(job, attempt, exc, delay)
        except Exception as hook_error:
            self._stop(hook_error)
            return
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)


class _Slot(Generic[S]):
    """The session a worker is opening ahead for its next job, and the key it was opened for."""

    def __init__(self) -> None:
        self.ahead: asyncio.Task[S] | None = None
        self.key: Hashable = None

    async def take(self, key: Hashable) -> asyncio.Task[S] | None:
        """The session opened ahead if it suits a job of ``key``; otherwise it is closed."""
        task, self.ahead = self.ahead, None
        if task is not None and key != self.key:
            await _discard(task)
            return None
        return task


async def _discard(task: asyncio.Task[S]) -> None:
    """Close a session opened ahead that no job needed (or drop the attempt to open it)."""
    if not task.done():
        task.cancel()
    with contextlib.suppress(BaseException):
        session = await task
        await session.close()
