"""The pool's own rules: order, bounds, retries, the lowered limit and fatal stops."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from narrator.errors import (
    AuthenticationError,
    ConcurrencyLimitError,
    ConnectionDroppedError,
    OutputError,
    ServiceError,
)
from narrator.service.policy import classify
from narrator.service.pool import Pool, PoolHooks, RetryPolicy, backoff
from tests.helpers import seconds


class Session:
    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False
        self.fresh = True
        self.job: object = None

    async def close(self) -> None:
        self.closed = True


class Recorder:
    def __init__(self) -> None:
        self.counter = itertools.count(1)
        self.opened: list[Session] = []
        self.active = 0
        self.peak = 0
        self.started: list[str] = []

    async def open(self, job: object = None) -> Session:
        await asyncio.sleep(0)
        session = Session(next(self.counter))
        session.job = job
        self.opened.append(session)
        return session


def make_pool(rec: Recorder, work, workers: int = 2, retries: int = 3, hooks=None) -> Pool:  # type: ignore[no-untyped-def]
    return Pool(
        workers=workers,
        open_session=rec.open,
        work=work,
        classify=classify,
        policy=RetryPolicy(retries=retries, base_delay=seconds(0.001), max_delay=seconds(0.01)),
        hooks=hooks,
    )


async def test_longest_jobs_start_first_and_concurrency_is_bounded() -> None:
    rec = Recorder()

    async def work(job: str, session: Session, attempt: int) -> None:
        rec.started.append(job)
        rec.active += 1
        rec.peak = max(rec.peak, rec.active)
        await asyncio.sleep(seconds(0.01))
        rec.active -= 1

    jobs = ["a", "bbbb", "cc", "ddddddd", "eee"]
    await make_pool(rec, work, workers=2).run(jobs, weight=len)
    assert rec.started[:2] == ["ddddddd", "bbbb"]
    assert sorted(rec.started) == sorted(jobs)
    assert rec.peak == 2
    assert all(s.closed for s in rec.opened)


async def test_sessions_are_opened_ahead_and_closed_when_unused() -> None:
    rec = Recorder()
    seen: list[int] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        # The next session is already being opened while this job runs.
        await asyncio.sleep(seconds(0.01))
        seen.append(len(rec.opened))

    await make_pool(rec, work, workers=1).run(["x", "yy", "zzz"], weight=len)
    assert seen[0] == 2
    assert len(rec.opened) == 3
    assert all(s.closed for s in rec.opened)


async def test_transient_errors_are_retried_then_succeed() -> None:
    rec = Recorder()
    attempts: list[int] = []
    retried: list[int] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        attempts.append(attempt)
        if attempt < 3:
            raise ConnectionDroppedError("dropped")

    hooks: PoolHooks[str] = PoolHooks(on_retry=lambda job, n, exc, d: retried.append(n))
    await make_pool(rec, work, hooks=hooks).run(["only"], weight=len)
    assert attempts == [1, 2, 3]
    assert retried == [1, 2]


async def test_a_job_that_keeps_failing_is_reported_and_the_others_finish() -> None:
    rec = Recorder()
    failed: list[tuple[str, BaseException]] = []
    done: list[str] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        if job == "bad":
            raise ConnectionDroppedError("dropped")
        done.append(job)

    async def on_failure(job: str, exc: BaseException) -> None:
        failed.append((job, exc))

    hooks: PoolHooks[str] = PoolHooks(on_failure=on_failure)
    await make_pool(rec, work, retries=2, hooks=hooks).run(["bad", "good", "fine"], weight=len)
    assert [job for job, _ in failed] == ["bad"]
    assert sorted(done) == ["fine", "good"]


async def test_non_retryable_errors_fail_at_once() -> None:
    rec = Recorder()
    attempts: list[int] = []
    failed: list[str] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        attempts.append(attempt)
        raise ServiceError("bad message", code=1008, error="invalid_input_message")

    async def on_failure(job: str, exc: BaseException) -> None:
        failed.append(job)

    await make_pool(rec, work, hooks=PoolHooks(on_failure=on_failure)).run(["j"], weight=len)
    assert attempts == [1]
    assert failed == ["j"]


async def test_a_fatal_error_lets_running_jobs_finish_and_starts_nothing_new() -> None:
    rec = Recorder()
    finished: list[str] = []
    started: list[str] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        started.append(job)
        if job == "quota":
            await asyncio.sleep(seconds(0.01))
            raise AuthenticationError("Invalid API key", code=1008, error="invalid_api_key")
        await asyncio.sleep(seconds(0.05))  # still streaming when the fatal error arrives
        finished.append(job)

    jobs = ["quota", "long-one-", "long-two-", "x", "y"]
    with pytest.raises(AuthenticationError):
        await make_pool(rec, work, workers=3).run(jobs, weight=len)
    assert sorted(finished) == ["long-one-", "long-two-"]
    assert "x" not in started and "y" not in started
    assert all(s.closed for s in rec.opened)


async def test_no_retry_starts_after_a_stop() -> None:
    rec = Recorder()
    attempts: list[str] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        attempts.append(job)
        if job == "fatal":
            await asyncio.sleep(seconds(0.01))
            raise AuthenticationError("no", error="invalid_api_key")
        await asyncio.sleep(seconds(0.03))
        raise ConnectionDroppedError("dropped")  # would be retried, but the run stops

    pool = Pool(
        workers=2,
        open_session=rec.open,
        work=work,
        classify=classify,
        policy=RetryPolicy(retries=3, base_delay=seconds(5.0), max_delay=seconds(5.0)),
    )
    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(pool.run(["fatal", "droppy"], weight=len), seconds(2.0))
    assert attempts.count("droppy") == 1


async def test_a_bug_in_the_work_stops_the_run_and_is_raised_as_itself() -> None:
    rec = Recorder()
    failed: list[str] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        raise KeyError("a bug")

    async def on_failure(job: str, exc: BaseException) -> None:
        failed.append(job)

    with pytest.raises(KeyError):
        await make_pool(rec, work, hooks=PoolHooks(on_failure=on_failure)).run(["j"], weight=len)
    assert failed == []


async def test_rate_limits_lower_the_concurrency() -> None:
    rec = Recorder()
    lowered: list[int] = []
    refused = {"a": 1, "b": 1}

    async def work(job: str, session: Session, attempt: int) -> None:
        rec.active += 1
        try:
            await asyncio.sleep(seconds(0.005))
            if refused.get(job, 0) > 0:
                refused[job] -= 1
                raise ConcurrencyLimitError("busy", error="too_many_concurrent_requests")
            rec.peak = max(rec.peak, rec.active)
        finally:
            rec.active -= 1

    hooks: PoolHooks[str] = PoolHooks(on_lowered=lowered.append)
    await make_pool(rec, work, workers=4, hooks=hooks).run(["a", "b", "c", "d"], weight=len)
    assert lowered and lowered[-1] < 4


def test_backoff_doubles_its_ceiling_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("narrator.service.pool.random.uniform", lambda low, high: high)
    assert list(itertools.islice(backoff(1.0, 8.0), 6)) == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_draws_with_full_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        calls.append((low, high))
        return low

    monkeypatch.setattr("narrator.service.pool.random.uniform", uniform)
    assert list(itertools.islice(backoff(0.5, 30.0), 3)) == [0.0, 0.0, 0.0]
    assert calls == [(0, 0.5), (0, 1.0), (0, 2.0)]


async def test_two_retries_mean_exactly_three_attempts() -> None:
    rec = Recorder()
    attempts: list[int] = []
    failed: list[str] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        attempts.append(attempt)
        raise ConnectionDroppedError("dropped")

    async def on_failure(job: str, exc: BaseException) -> None:
        failed.append(job)

    pool = make_pool(rec, work, retries=2, hooks=PoolHooks(on_failure=on_failure))
    await pool.run(["j"], weight=len)
    assert attempts == [1, 2, 3]
    assert failed == ["j"]


async def test_a_session_opened_ahead_and_left_waiting_too_long_is_replaced() -> None:
    rec = Recorder()
    used: list[int] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        used.append(session.number)
        while session.number == 1 and len(rec.opened) < 2:
            await asyncio.sleep(0)  # let the session ahead open
        for opened in rec.opened:  # whatever was opened ahead meanwhile has gone stale
            if opened is not session:
                opened.fresh = False

    await make_pool(rec, work, workers=1).run(["first-job", "second"], weight=len)
    assert used == [1, 3]  # session 2, opened ahead, was closed unused
    assert rec.opened[1].closed and all(s.closed for s in rec.opened)


async def test_nothing_is_sent_after_a_stop_that_came_during_a_slow_handshake() -> None:
    rec = Recorder()
    started: list[str] = []

    async def slow_open(job: object = None) -> Session:
        await asyncio.sleep(seconds(0.2))  # a handshake still under way when the stop comes
        return await rec.open()

    async def work(job: str, session: Session, attempt: int) -> None:
        started.append(job)
        if job == "stop-me":  # stops while the other worker awaits its next handshake
            await asyncio.sleep(seconds(0.1))
            raise AuthenticationError("no", error="invalid_api_key")
        await asyncio.sleep(seconds(0.05))

    pool = Pool(
        workers=2,
        open_session=slow_open,
        work=work,
        classify=classify,
        policy=RetryPolicy(retries=1, base_delay=0.001, max_delay=0.01),
    )
    with pytest.raises(AuthenticationError):
        await pool.run(["stop-me", "long-one", "c", "d"], weight=len)
    assert "c" not in started and "d" not in started


async def test_a_failing_failure_hook_stops_the_run_without_cancelling_streams() -> None:
    rec = Recorder()
    finished: list[str] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        if job == "bad":
            raise ServiceError("refused", code=1008)
        await asyncio.sleep(seconds(0.1))
        finished.append(job)

    async def on_failure(job: str, exc: BaseException) -> None:
        raise OutputError("cannot write manifest.json: No space left on device")

    pool = make_pool(rec, work, workers=2, hooks=PoolHooks(on_failure=on_failure))
    with pytest.raises(OutputError):
        await pool.run(["bad", "streaming"], weight=len)
    assert finished == ["streaming"]


async def test_a_concurrency_refusal_lowers_the_limit_by_one() -> None:
    rec = Recorder()
    lowered: list[int] = []
    refused = {"a": 1}

    async def work(job: str, session: Session, attempt: int) -> None:
        await asyncio.sleep(seconds(0.02))
        if refused.get(job):
            refused[job] -= 1
            raise ConcurrencyLimitError("busy", error="too_many_concurrent_requests")
        await asyncio.sleep(seconds(0.05))

    hooks: PoolHooks[str] = PoolHooks(on_lowered=lowered.append)
    await make_pool(rec, work, workers=4, hooks=hooks).run(["a", "bb", "cc", "dd"], weight=len)
    assert lowered == [3]


async def test_failures_that_made_progress_do_not_use_up_the_retries() -> None:
    rec = Recorder()
    attempts: list[int] = []
    kept = {"j": False}

    async def work(job: str, session: Session, attempt: int) -> None:
        attempts.append(attempt)
        if attempt <= 6:  # twice the retries, every one of them keeping part of the work
            kept[job] = True
            raise ConnectionDroppedError("dropped after voicing a sentence")

    def progressed(job: str) -> bool:
        made, kept[job] = kept[job], False
        return made

    pool = Pool(
        workers=1,
        open_session=rec.open,
        work=work,
        classify=classify,
        policy=RetryPolicy(retries=3, base_delay=seconds(0.001), max_delay=seconds(0.01)),
        progressed=progressed,
    )
    await pool.run(["j"], weight=len)
    assert attempts == [1, 2, 3, 4, 5, 6, 7]


async def test_failures_without_progress_still_run_out() -> None:
    rec = Recorder()
    failed: list[str] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        raise ConnectionDroppedError("dropped before any audio")

    async def on_failure(job: str, exc: BaseException) -> None:
        failed.append(job)

    await make_pool(rec, work, retries=2, hooks=PoolHooks(on_failure=on_failure)).run(
        ["j"], weight=len
    )
    assert failed == ["j"] and len(rec.opened) >= 3


async def test_concurrency_refusals_never_use_up_the_retries_while_the_limit_can_fall() -> None:
    rec = Recorder()
    refusals = {"a": 2}
    done: list[str] = []
    lowered: list[int] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        if job == "a" and refusals["a"] > 0:
            refusals["a"] -= 1
            raise ConcurrencyLimitError("busy", error="too_many_concurrent_requests")
        await asyncio.sleep(seconds(0.01) if job == "a" else seconds(0.3))
        done.append(job)

    jobs = ["a", *"bcdefgh"]
    hooks: PoolHooks[str] = PoolHooks(on_lowered=lowered.append)
    pool = make_pool(rec, work, workers=8, retries=0, hooks=hooks)
    await pool.run(jobs, weight=lambda j: 0 if j == "a" else 1)
    assert sorted(done) == sorted(jobs)  # two refusals and no retries allowed: still done
    assert lowered == [7, 1]


async def test_a_session_opened_ahead_serves_only_a_job_of_its_kind() -> None:
    """Documents with different voices need different sessions: one opened ahead for the
    wrong kind is closed, and each job works on a session opened for its own kind."""
    rec = Recorder()
    used: list[tuple[str, object]] = []

    async def work(job: str, session: Session, attempt: int) -> None:
        used.append((job, session.job))
        await asyncio.sleep(seconds(0.01))

    pool = Pool(
        workers=1,
        open_session=rec.open,
        work=work,
        classify=classify,
        policy=RetryPolicy(retries=0, base_delay=seconds(0.001)),
        session_key=lambda job: job[0],  # "a..." and "b..." are two voices
    )
    jobs = ["a3", "b2", "a1"]
    await pool.run(jobs, weight=lambda job: int(job[1]))
    assert [job for job, _ in used] == ["a3", "b2", "a1"]
    assert all(job[0] == str(opened_for)[0] for job, opened_for in used)
    assert all(s.closed for s in rec.opened)
