"""The bulk engine when a run stops early: what it had read but not finished
(``abandoned``), a failing input (``BulkInputError``), failures streamed as they happen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from annoq import InvalidTransitionError, Outcome
from annoq._bulk import BulkError, BulkFailure, BulkInputError, BulkProgress, run_bulk


def key(work: str) -> str:
    return work


async def test_a_cancelled_run_reports_the_inputs_in_flight_as_abandoned():
    started: list[str] = []
    eight_running = asyncio.Event()
    finals: list[BulkProgress] = []

    async def apply(work: str) -> Outcome:
        if int(work) >= 20:
            started.append(work)
            if len(started) == 8:
                eight_running.set()
            await asyncio.Event().wait()  # never answers
        return Outcome.UPDATED

    task = asyncio.ensure_future(
        run_bulk(
            [str(n) for n in range(100)],
            apply,
            key=key,
            concurrency=8,
            on_progress=lambda e: finals.append(e) if e.final else None,
        )
    )
    await asyncio.wait_for(eight_running.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    [final] = finals
    assert final.result is not None
    assert sorted(final.result.abandoned) == sorted(started)
    assert final.result.total == 20
    assert final.result.total + len(final.result.abandoned) == 28  # inputs read
    assert not final.result.complete


async def test_an_input_that_raises_stops_the_run_with_bulk_input_error_and_the_result():
    def inputs() -> Iterator[str]:
        yield from (str(n) for n in range(50))
        raise OSError("the ids file went away")

    async def apply(work: str) -> Outcome:
        await anyio.lowlevel.checkpoint()
        return Outcome.UPDATED

    with pytest.raises(BulkInputError) as caught:
        await run_bulk(inputs(), apply, key=key, concurrency=4)

    error = caught.value
    assert isinstance(error, BulkError)
    assert isinstance(error.__cause__, OSError)
    result = error.result
    assert result.updated + result.unchanged + result.failed == result.total
    assert result.total + len(result.abandoned) == 50
    assert not result.complete


async def test_an_async_walk_that_raises_midway_is_a_bulk_input_error_too():
    async def walk() -> AsyncIterator[str]:
        for n in range(30):
            yield str(n)
        raise ConnectionResetError("walk failed")

    async def apply(work: str) -> Outcome:
        await anyio.lowlevel.checkpoint()
        return Outcome.UNCHANGED

    with pytest.raises(BulkInputError) as caught:
        await run_bulk(walk(), apply, key=key, concurrency=3)
    assert caught.value.result.total + len(caught.value.result.abandoned) == 30


async def test_on_failure_is_called_with_each_failure_as_it_happens():
    seen: list[BulkFailure] = []
    done_when_seen: list[int] = []
    finished = 0

    async def apply(work: str) -> Outcome:
        nonlocal finished
        await anyio.lowlevel.checkpoint()
        finished += 1
        if int(work) % 10 == 0:
            raise InvalidTransitionError(400, "Invalid state transition")
        return Outcome.UPDATED

    def on_failure(failure: BulkFailure) -> None:
        seen.append(failure)
        done_when_seen.append(finished)

    result = await run_bulk(
        [str(n) for n in range(100)], apply, key=key, concurrency=1, on_failure=on_failure
    )

    assert [f.key for f in seen] == [f.key for f in result.failures]
    assert [f.reason for f in seen] == ["invalid_transition"] * 10
    assert done_when_seen == [n + 1 for n in range(0, 100, 10)]  # at once, not at the end
