"""The bulk engine on its own: outcomes, bounds, laziness, throttling, fail-fast, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from annoq import (
    BulkAbortedError,
    BulkError,
    BulkFailure,
    BulkInputError,
    BulkProgress,
    InvalidArgumentError,
    InvalidTransitionError,
    Outcome,
    ServerError,
)
from annoq._bulk import BulkRun, run_bulk
from annoq._config import ADAPTIVE_INITIAL_LIMIT


def key(work: str) -> str:
    return work


async def test_every_input_ends_as_exactly_one_outcome_and_counts_add_up():
    async def apply(work: str) -> Outcome:
        await anyio.lowlevel.checkpoint()
        n = int(work)
        if n % 7 == 0:
            raise InvalidTransitionError(
                400, "Invalid state transition from 'skipped' to 'completed'"
            )
        if n % 5 == 0:
            raise ServerError(503, "unavailable")
        return Outcome.UNCHANGED if n % 3 == 0 else Outcome.UPDATED

    inputs = [str(n) for n in range(1, 201)]
    result = await run_bulk(inputs, apply, key=key, concurrency=8)
    expect_failed = {n for n in range(1, 201) if n % 7 == 0 or n % 5 == 0}
    expect_unchanged = {n for n in range(1, 201) if n % 3 == 0} - expect_failed
    assert result.total == 200
    assert result.failed == len(expect_failed)
    assert result.unchanged == len(expect_unchanged)
    assert result.updated == 200 - len(expect_failed) - len(expect_unchanged)
    assert result.updated + result.unchanged + result.failed == result.total
    assert {int(f.key) for f in result.failures} == expect_failed
    reasons = {f.reason for f in result.failures}
    assert reasons == {"invalid_transition", "retries_exhausted"}
    assert result.complete
    assert not result.ok


async def test_parallelism_starts_small_never_exceeds_the_ceiling_and_reaches_it():
    running = 0
    peak = 0
    release = anyio.Event()
    engine: BulkRun[str]

    async def apply(work: str) -> Outcome:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if int(work) < ADAPTIVE_INITIAL_LIMIT:
            await release.wait()
        await anyio.lowlevel.checkpoint()
        running -= 1
        return Outcome.UPDATED

    async def release_when_blocked() -> None:
        await wait_all_tasks_blocked()
        assert running == ADAPTIVE_INITIAL_LIMIT  # the run starts small
        release.set()

    engine = BulkRun(
        apply,
        key,
        concurrency=12,
        total=None,
        on_progress=None,
        throttle_count=None,
        retry_count=None,
        fail_fast=False,
        dedupe_window=None,
        progress_interval=1.0,
    )
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(release_when_blocked)
            result = await engine.run([str(i) for i in range(2_000)])
    assert result.updated == 2_000
    assert peak == 12  # flat latency: it grows to the ceiling, never past it
    assert engine.adaptive.limit == 12


async def test_input_is_read_lazily_and_pending_work_stays_bounded():
    """200,000 ids from a generator: never more than `concurrency` tasks pending, and the
    reader never runs ahead of the finished work by more than that."""
    lag = 0

    def ids():
        for i in range(200_000):
            yield f"id-{i}"

    engine: BulkRun[str]

    async def apply(work: str) -> Outcome:
        nonlocal lag
        counters = engine.counters
        lag = max(lag, counters.read - counters.done)
        await anyio.lowlevel.checkpoint()
        return Outcome.UPDATED

    engine = BulkRun(
        apply,
        key,
        concurrency=16,
        total=None,
        on_progress=None,
        throttle_count=None,
        retry_count=None,
        fail_fast=False,
        dedupe_window=1000,
        progress_interval=1.0,
    )
    result = await engine.run(ids())
    assert result.total == 200_000
    assert result.updated == 200_000
    assert engine.counters.max_in_flight <= 16
    assert lag <= 16


async def test_async_iterable_input_is_accepted():
    async def source() -> AsyncIterator[str]:
        for i in range(50):
            yield str(i)

    async def apply(work: str) -> Outcome:
        return Outcome.UPDATED

    result = await run_bulk(source(), apply, key=key, concurrency=4)
    assert result.updated == 50
    assert result.total == 50


async def test_repeated_input_ids_are_reported_as_duplicates_not_merged():
    calls: list[str] = []

    async def apply(work: str) -> Outcome:
        calls.append(work)
        return Outcome.UPDATED

    result = await run_bulk(["a", "b", "a", "c", "b", "a"], apply, key=key, concurrency=2)
    assert sorted(calls) == ["a", "b", "c"]
    assert result.total == 6
    assert result.updated == 3
    assert result.unchanged == 3
    assert result.duplicates == ("a", "b", "a")


async def test_throttling_halves_parallelism_then_it_recovers_up_to_the_ceiling():
    throttles = 0
    limits: list[int] = []
    engine: BulkRun[str]

    async def apply(work: str) -> Outcome:
        nonlocal throttles
        if work == "100":
            throttles += 1  # the transport saw a 429 while doing this item
        await anyio.lowlevel.checkpoint()
        limits.append(int(engine.limiter.total_tokens))
        return Outcome.UPDATED

    engine = BulkRun(
        apply,
        key,
        concurrency=8,
        total=None,
        on_progress=None,
        throttle_count=lambda: throttles,
        retry_count=None,
        fail_fast=False,
        dedupe_window=None,
        progress_interval=1.0,
    )
    await engine.run([str(i) for i in range(400)])
    assert limits[0] == ADAPTIVE_INITIAL_LIMIT
    assert max(limits) == 8
    after_peak = limits[limits.index(8) :]
    assert min(after_peak) == 4  # halved once
    assert limits[-1] == 8  # and back to the ceiling, never above it


async def test_fail_fast_stops_at_the_first_failure_with_the_partial_result():
    started: list[str] = []

    async def apply(work: str) -> Outcome:
        started.append(work)
        if work == "3":
            raise InvalidTransitionError(400, "Invalid state transition")
        await anyio.lowlevel.checkpoint()
        return Outcome.UPDATED

    with pytest.raises(BulkAbortedError) as caught:
        await run_bulk(
            (str(i) for i in range(10_000)), apply, key=key, concurrency=1, fail_fast=True
        )
    result = caught.value.result
    assert caught.value.first_failure.key == "3"
    assert result.failed == 1
    assert result.updated == 3
    assert not result.complete
    assert len(started) == 4


async def test_cancellation_stops_promptly_and_reports_what_was_done():
    events: list[BulkProgress] = []
    done = asyncio.Event()

    async def apply(work: str) -> Outcome:
        if work == "5":
            done.set()
            await asyncio.Event().wait()  # hangs until cancelled
        return Outcome.UPDATED

    task = asyncio.create_task(
        run_bulk(
            (str(i) for i in range(1_000_000)),
            apply,
            key=key,
            concurrency=1,
            on_progress=events.append,
        )
    )
    await done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    final = events[-1]
    assert final.final
    assert final.result is not None
    assert final.result.updated == 5
    assert not final.result.complete


async def test_progress_events_end_with_a_final_event_carrying_the_result():
    events: list[BulkProgress] = []

    async def apply(work: str) -> Outcome:
        return Outcome.UPDATED

    result = await run_bulk(
        ["a", "b", "c"],
        apply,
        key=key,
        concurrency=2,
        on_progress=events.append,
        progress_interval=0.0,
    )
    assert events[-1].final
    assert events[-1].result == result
    assert events[-1].total == 3
    assert events[-1].done == 3
    assert [e.done for e in events] == sorted(e.done for e in events)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
async def test_invalid_concurrency_is_refused(bad):
    async def apply(work: str) -> Outcome:
        raise AssertionError("must not run")

    with pytest.raises(InvalidArgumentError, match="concurrency"):
        await run_bulk(["a"], apply, key=key, concurrency=bad)


# -- early stops: one typed error with the partial result, abandoned inputs named -----------


def assert_adds_up(result, read: int) -> None:
    assert result.updated + result.unchanged + result.failed == result.total
    assert result.total + len(result.abandoned) == read


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_an_input_that_raises_gives_one_bulk_input_error_with_the_partial_result(kind):
    class Broken(Exception):
        pass

    read = 0
    hang = asyncio.Event()

    def ids():
        nonlocal read
        for i in range(100):
            read += 1
            yield str(i)
        raise Broken("the input broke")

    async def aids():
        for work in ids():
            yield work

    async def apply(work: str) -> Outcome:
        if work in ("98", "99"):
            await hang.wait()  # still in flight when the input breaks
        await anyio.lowlevel.checkpoint()
        return Outcome.UPDATED

    with anyio.fail_after(10), pytest.raises(BulkInputError) as caught:
        await run_bulk(ids() if kind == "sync" else aids(), apply, key=key, concurrency=4)
    error = caught.value
    assert isinstance(error, BulkError)
    assert isinstance(error.__cause__, Broken)
    result = error.result
    assert_adds_up(result, read)
    assert set(result.abandoned) == {"98", "99"}
    assert result.updated == 98
    assert not result.complete
    assert "the input broke" in str(error)


async def test_fail_fast_names_the_inputs_it_abandoned_in_flight():
    hang = asyncio.Event()
    started: list[str] = []

    async def apply(work: str) -> Outcome:
        started.append(work)
        if work == "3":
            while len(started) < 4:
                await anyio.lowlevel.checkpoint()
            raise InvalidTransitionError(400, "Invalid state transition")
        await hang.wait()
        return Outcome.UPDATED

    with anyio.fail_after(10), pytest.raises(BulkAbortedError) as caught:
        await run_bulk([str(i) for i in range(4)], apply, key=key, concurrency=4, fail_fast=True)
    result = caught.value.result
    assert isinstance(caught.value, BulkError)
    assert (result.failed, result.updated) == (1, 0)
    assert sorted(result.abandoned) == ["0", "1", "2"]
    assert_adds_up(result, 4)


async def test_cancellation_names_the_abandoned_inputs_in_the_final_event():
    events: list[BulkProgress] = []
    hanging = asyncio.Event()
    hung = 0

    async def apply(work: str) -> Outcome:
        nonlocal hung
        if int(work) >= 10:
            hung += 1
            if hung == 3:
                hanging.set()  # every worker now holds an unfinished input
            await asyncio.Event().wait()
        return Outcome.UPDATED

    task = asyncio.create_task(
        run_bulk(
            (str(i) for i in range(1_000)), apply, key=key, concurrency=3, on_progress=events.append
        )
    )
    await hanging.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    result = events[-1].result
    assert result is not None
    assert result.updated == 10
    assert sorted(result.abandoned) == ["10", "11", "12"]
    assert_adds_up(result, 13)


# -- failures: streamed as they happen, kept small ----------------------------------------


async def test_on_failure_is_called_as_each_failure_happens():
    seen: list[tuple[str, int]] = []
    engine_done = 0

    async def apply(work: str) -> Outcome:
        nonlocal engine_done
        engine_done += 1
        if int(work) % 10 == 0:
            raise InvalidTransitionError(400, "Invalid state transition")
        return Outcome.UPDATED

    def on_failure(failure: BulkFailure) -> None:
        seen.append((failure.key, engine_done))

    result = await run_bulk(
        [str(i) for i in range(100)], apply, key=key, concurrency=1, on_failure=on_failure
    )
    assert [k for k, _ in seen] == [str(i) for i in range(0, 100, 10)]
    assert [done for _, done in seen] == list(range(1, 100, 10))  # at once, not at the end
    assert result.failed == 10


async def test_an_on_failure_callback_that_raises_stops_the_run_and_is_raised_as_is():
    async def apply(work: str) -> Outcome:
        raise InvalidTransitionError(400, "Invalid state transition")

    def on_failure(failure: BulkFailure) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await run_bulk(
            (str(i) for i in range(10_000)), apply, key=key, concurrency=2, on_failure=on_failure
        )


async def test_failures_keep_no_traceback_frames_or_chained_errors():
    async def apply(work: str) -> Outcome:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ServerError(503, "unavailable") from inner

    result = await run_bulk([str(i) for i in range(20)], apply, key=key, concurrency=4)
    assert result.failed == 20
    for failure in result.failures:
        assert failure.error.__traceback__ is None
        assert failure.error.__cause__ is None
        assert failure.error.__context__ is None
        assert str(failure.error) == "HTTP 503: unavailable"


@pytest.mark.parametrize("name", ["on_progress", "on_failure"])
async def test_a_callback_that_is_not_callable_is_refused_before_any_work(name):
    async def apply(work: str) -> Outcome:
        raise AssertionError("must not run")

    with pytest.raises(InvalidArgumentError, match=name):
        await run_bulk(["a"], apply, key=key, concurrency=1, **{name: "not callable"})
