"""N concurrent sessions from three small parts: workers on a queue, a retry policy, a backoff.

The pool knows nothing of Markdown or of the protocol's messages: it is given jobs, a way to
open a session ahead of use, and the work to do with one. Longest jobs start first so the
last minutes of a run are not spent on one long chapter; a slow job only holds its own worker.
A concurrency-limit error lowers the number of sessions allowed at once for the rest of the
run; other rate limits are only retried later.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from narrator.errors import ConcurrencyLimitError, FatalServiceError


class Closable(Protocol):
    async def close(self) -> None: ...


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
        self.limit = max(1, min(self.limit, self._active) - 1)


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
        open_session: Callable[[], Coroutine[Any, Any, S]],
        work: Callable[[J, S, int], Awaitable[None]],
        is_retryable: Callable[[BaseException], bool],
        policy: RetryPolicy,
        hooks: PoolHooks[J] | None = None,
    ) -> None:
        self._workers = max(1, workers)
        self._open = open_session
        self._work = work
        self._is_retryable = is_retryable
        self._policy = policy
        self._hooks = hooks or PoolHooks()
        self._limiter = Limiter(self._workers)
        self._queue: asyncio.Queue[J] = asyncio.Queue()

    async def run(self, jobs: Sequence[J], weight: Callable[[J], int]) -> None:
        """Run every job; a fatal service error cancels the rest and is raised."""
        for job in sorted(jobs, key=weight, reverse=True):
            self._queue.put_nowait(job)
        count = min(self._workers, len(jobs))
        tasks = [asyncio.create_task(self._worker()) for _ in range(count)]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _worker(self) -> None:
        slot = _Slot[S]()
        try:
            while not self._queue.empty():
                await self._run_job(self._queue.get_nowait(), slot)
        finally:
            if slot.ahead is not None:
                await _discard(slot.ahead)

    async def _run_job(self, job: J, slot: _Slot[S]) -> None:
        """Try ``job`` until it succeeds or fails for good, opening the next session ahead."""
        delays = backoff(self._policy.base_delay, self._policy.max_delay)
        attempt = 0
        while True:
            attempt += 1
            opening = slot.take() or asyncio.create_task(self._open())
            pending: asyncio.Task[S] | None = opening
            try:
                await self._limiter.acquire()
                try:
                    session = await opening
                    pending = None
                    if not self._queue.empty():
                        slot.ahead = asyncio.create_task(self._open())
                    try:
                        await self._work(job, session, attempt)
                    finally:
                        await session.close()
                finally:
                    await self._limiter.release()
                return
            except FatalServiceError:
                raise
            except Exception as exc:
                if not self._is_retryable(exc) or attempt > self._policy.retries:
                    if self._hooks.on_failure is not None:
                        await self._hooks.on_failure(job, exc)
                    return
                if isinstance(exc, ConcurrencyLimitError):
                    self._limiter.lower()
                    self._hooks.on_lowered(self._limiter.limit)
                delay = next(delays)
                self._hooks.on_retry(job, attempt, exc, delay)
                await asyncio.sleep(delay)
            finally:
                if pending is not None:  # never handed to the work: close what it opened
                    await _discard(pending)


class _Slot(Generic[S]):
    """The session a worker is opening ahead for its next job."""

    def __init__(self) -> None:
        self.ahead: asyncio.Task[S] | None = None

    def take(self) -> asyncio.Task[S] | None:
        task, self.ahead = self.ahead, None
        return task


async def _discard(task: asyncio.Task[S]) -> None:
    """Close a session opened ahead that no job needed (or drop the attempt to open it)."""
    if not task.done():
        task.cancel()
    with contextlib.suppress(BaseException):
        session = await task
        await session.close()
