"""The coalescer: concurrent single requests sent as a few batches, one result each."""

from __future__ import annotations

import asyncio

import pytest

from annoq._coalesce import Coalescer


async def test_concurrent_submits_go_out_in_batches_and_each_gets_its_own_result() -> None:
    sent: list[list[int]] = []

    async def send(batch: list[int]) -> list[int | BaseException]:
        sent.append(batch)
        await asyncio.sleep(0)
        return [n * 10 for n in batch]

    coalescer: Coalescer[int, int] = Coalescer(send, max_batch=8, max_in_flight=1)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(20)))
    assert results == [n * 10 for n in range(20)]
    assert sorted(n for batch in sent for n in batch) == list(range(20))
    assert all(len(batch) <= 8 for batch in sent)
    assert len(sent) == 3


async def test_a_lone_submit_is_sent_at_once() -> None:
    async def send(batch: list[str]) -> list[str | BaseException]:
        return [s.upper() for s in batch]

    coalescer: Coalescer[str, str] = Coalescer(send, max_batch=50)
    assert await coalescer.submit("a") == "A"
    assert coalescer.batches == 1


async def test_an_error_result_fails_only_its_entry_and_a_raised_error_fails_the_batch() -> None:
    async def send(batch: list[int]) -> list[int | BaseException]:
        if 99 in batch:
            raise RuntimeError("down")
        return [ValueError(n) if n == 2 else n for n in batch]

    coalescer: Coalescer[int, int] = Coalescer(send, max_batch=10)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(4)), return_exceptions=True)
    assert results[:2] == [0, 1]
    assert isinstance(results[2], ValueError)
    assert results[3] == 3
    with pytest.raises(RuntimeError, match="down"):
        await coalescer.submit(99)


async def test_aclose_cancels_batches_on_the_way() -> None:
    started = asyncio.Event()

    async def send(batch: list[int]) -> list[int | BaseException]:
        started.set()
        await asyncio.Event().wait()  # never answers
        return batch  # pragma: no cover

    coalescer: Coalescer[int, int] = Coalescer(send, max_batch=10)
    waiter = asyncio.ensure_future(coalescer.submit(1))
    await started.wait()
    await coalescer.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiter
