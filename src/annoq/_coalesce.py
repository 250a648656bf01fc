"""Coalescing: many concurrent single requests of one kind sent as a few batch requests.

Backend-agnostic. Bulk workers each ask for one thing (``await coalescer.submit(x)``);
the coalescer sends what has piled up as one batch (``send([x, y, ...])``) whenever
fewer than ``max_in_flight`` batches are on the way, so batches grow with the load and a
lone request still goes out at once. ``send`` returns one result (or an exception
instance) per entry, in order; an exception raised by ``send`` fails the whole batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from . import _config

__all__ = ["Coalescer"]

K = TypeVar("K")
R = TypeVar("R")


class Coalescer(Generic[K, R]):
    """Send concurrent ``submit`` calls in batches of at most ``max_batch``.

    reads = Coalescer(send_many, max_batch=100, max_in_flight=2)
    result = await reads.submit(entry)      # from many tasks at once
    await reads.aclose()                    # cancel batches still on the way
    """

    def __init__(
        self,
        send: Callable[[list[K]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_batch: int,
        max_in_flight: int = _config.COALESCE_MAX_IN_FLIGHT,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be >= 1")
        self._send = send
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: list[tuple[K, asyncio.Future[R]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._scheduled = False
        self.batches = 0
        """Batches sent so far (for tests and benchmarks)."""

    async def submit(self, entry: K) -> R:
        """Queue ``entry`` for the next batch and wait for its result."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((entry, future))
        self._maybe_flush()
        return await future

    def _maybe_flush(self) -> None:
        if len(self._in_flight) >= self._max_in_flight or not self._waiting:
            return
        if len(self._waiting) >= self._max_batch:
            self._flush()
        elif not self._scheduled:
            # Wait one turn of the loop: entries submitted in the same turn go together.
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        while self._waiting and len(self._in_flight) < self._max_in_flight:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            batch = [(k, f) for k, f in batch if not f.done()]  # cancelled waiters drop out
            if not batch:
                continue
            task = asyncio.ensure_future(self._run(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._done)
            self.batches += 1

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._maybe_flush()

    async def _run(self, batch: list[tuple[K, asyncio.Future[R]]]) -> None:
        try:
            results = await self._send([entry for entry, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError("a batch sender returned the wrong number of results")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def aclose(self) -> None:
        """Cancel batches still on the way and fail what still waits."""
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
