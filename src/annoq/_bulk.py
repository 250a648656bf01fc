"""The bulk engine: an (async) iterable of work in, exactly one outcome per input out.

Backend-agnostic. A backend supplies ``apply(work) -> Outcome`` (updated or unchanged)
that raises an :class:`~annoq.AnnoqError` on failure; the engine reads the input lazily,
keeps a number of applications running that adapts to the service (an
:class:`~annoq._limits.AdaptiveLimit` moving an anyio CapacityLimiter): it starts small,
grows while latency holds or throughput grows, backs off on 429 and on rising latency,
never above the caller's ``concurrency`` (the ceiling); it reports progress and counts
every input exactly once.

A run that stops early (fail-fast, cancellation, an input that raises) reports the
inputs it had read but not finished as ``abandoned``; the errors it raises
(:class:`BulkAbortedError`, :class:`BulkInputError`) carry the partial result.
Failures are kept small: their errors lose their traceback frames and exception chains.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Generic, TypeVar

import anyio
import attrs

from . import _config
from ._errors import (
    AnnoqError,
    APIError,
    AuthenticationError,
    ConflictError,
    InvalidArgumentError,
    InvalidTransitionError,
    ItemNotInQueueError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TransportError,
)
from ._limits import AdaptiveLimit
from ._walk import SeenWindow

__all__ = [
    "BulkAbortedError",
    "BulkError",
    "BulkFailure",
    "BulkInputError",
    "BulkProgress",
    "BulkResult",
    "Outcome",
    "run_bulk",
]

W = TypeVar("W")


class Outcome(enum.StrEnum):
    """How one input ended."""

    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


def key_by(model: type, attribute: str) -> Callable[[object], str]:
    """The bulk key of an input: ``attribute`` of a ``model`` instance, a string as it
    is, anything else by its repr (so an invalid input is still reported by name)."""

    def key(work: object) -> str:
        if isinstance(work, model):
            return str(getattr(work, attribute))
        return work if isinstance(work, str) else repr(work)

    return key


def failure_reason(error: BaseException) -> str:
    """A short, stable code for why an item failed (for reports and the CLI).

    An error that knows better carries its own code as a ``failure_code`` string
    attribute (a backend's refusal decided before any request, say).
    """
    own = getattr(error, "failure_code", None)
    if isinstance(own, str) and own:
        return own
    table: tuple[tuple[type[BaseException], str], ...] = (
        (InvalidTransitionError, "invalid_transition"),
        (ItemNotInQueueError, "not_in_queue"),
        (NotFoundError, "not_found"),
        (ConflictError, "conflict"),
        (AuthenticationError, "unauthenticated"),
        (PermissionDeniedError, "permission_denied"),
        (RateLimitError, "retries_exhausted"),
        (TransportError, "retries_exhausted"),
    )
    for cls, code in table:
        if isinstance(error, cls):
            return code
    if isinstance(error, APIError) and error.status >= 500:
        return "retries_exhausted"
    return "error"


@attrs.frozen
class BulkFailure:
    """One input that failed: its key (item or task id), a reason code and the error.

    The error keeps its message and attributes (``status``, ``attempts``, ...) but no
    traceback frames and no chained exceptions, so thousands of failures stay small.
    """

    key: str
    reason: str
    error: AnnoqError


def slim_error(error: AnnoqError) -> AnnoqError:
    """``error`` without its traceback frames and exception chain (in place)."""
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    error.__suppress_context__ = True
    return error


@attrs.frozen
class BulkResult:
    """The outcome of a bulk operation; ``updated + unchanged + failed == total``.

    ``duplicates`` lists input keys that appeared more than once (each repeat is counted
    as ``unchanged`` and sent no request). ``complete`` is ``False`` when the run was
    stopped early (fail-fast, cancellation, an input error) and not every input was
    read. ``abandoned`` lists the keys of inputs that were read but not finished when it
    stopped (their request may or may not have taken effect), so
    ``total + len(abandoned)`` is the number of inputs read.
    """

    total: int
    updated: int
    unchanged: int
    failed: int
    failures: tuple[BulkFailure, ...]
    duplicates: tuple[str, ...]
    elapsed: float
    retries: int = 0
    complete: bool = True
    abandoned: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing failed and every input was processed."""
        return self.failed == 0 and self.complete

    @property
    def rate(self) -> float:
        """Inputs per second."""
        return self.total / self.elapsed if self.elapsed > 0 else 0.0


@attrs.frozen
class BulkProgress:
    """A snapshot for progress displays, passed to ``on_progress``.

    ``total`` is known only when the input has a length. ``final`` marks the last event
    of a run (also sent when it is cancelled); it then carries the ``result``.
    """

    done: int
    total: int | None
    updated: int
    unchanged: int
    failed: int
    elapsed: float
    concurrency: int
    final: bool = False
    result: BulkResult | None = None

    @property
    def rate(self) -> float:
        """Inputs finished per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


class BulkError(AnnoqError):
    """A bulk run stopped before its end; ``result`` has what was done (with
    ``abandoned``: the inputs read but not finished)."""

    def __init__(self, message: str, result: BulkResult) -> None:
        self.result = result
        super().__init__(message)


class BulkAbortedError(BulkError):
    """A fail-fast bulk run stopped at its first failure; ``result`` has what was done."""

    def __init__(self, result: BulkResult, first: BulkFailure) -> None:
        self.first_failure = first
        super().__init__(
            f"bulk operation stopped after a failure on {first.key!r} ({first.reason}): "
            f"{first.error}; {result.updated} updated, {result.unchanged} unchanged before it",
            result,
        )


class BulkInputError(BulkError):
    """Reading the input failed (the iterable raised, or the walk feeding ``mark_all``
    failed); ``__cause__`` is the original error, ``result`` has what was done.

        try:
            await queue.mark_all("completed")
        except BulkInputError as error:
            print(error.__cause__, error.result.updated, error.result.abandoned)
    """

    def __init__(self, result: BulkResult, cause: BaseException) -> None:
        super().__init__(
            f"bulk input failed after {result.total + len(result.abandoned)} inputs "
            f"({type(cause).__name__}: {cause}); {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.failed} failed, "
            f"{len(result.abandoned)} abandoned",
            result,
        )


@attrs.define
class _Counters:
    """Running counts, also read by tests to prove memory stays bounded."""

    read: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    @property
    def done(self) -> int:
        return self.updated + self.unchanged + self.failed


class BulkRun(Generic[W]):
    """One execution of the engine. Use :func:`run_bulk`; this is its state."""

    def __init__(
        self,
        apply: Callable[[W], Awaitable[Outcome]],
        key: Callable[[W], str],
        *,
        concurrency: int,
        total: int | None,
        on_progress: Callable[[BulkProgress], object] | None,
        throttle_count: Callable[[], int] | None,
        retry_count: Callable[[], int] | None,
        fail_fast: bool,
        dedupe_window: int | None,
        progress_interval: float,
        on_failure: Callable[[BulkFailure], object] | None = None,
    ) -> None:
        self.apply = apply
        self.on_failure = on_failure
        self.key = key
        self.concurrency = concurrency
        self.total = total
        self.on_progress = on_progress
        self.throttle_count = throttle_count
        self.retry_count = retry_count
        self.fail_fast = fail_fast
        self.counters = _Counters()
        self.failures: list[BulkFailure] = []
        self.duplicates: list[str] = []
        self._recent = SeenWindow(dedupe_window)
        self._progress_interval = progress_interval
        self._last_progress = -math.inf
        self._throttles_seen = throttle_count() if throttle_count else 0
        self._retries_at_start = retry_count() if retry_count else 0
        self.adaptive = AdaptiveLimit(concurrency)
        self.limiter = anyio.CapacityLimiter(self.adaptive.limit)
        self.started = time.monotonic()
        self.aborted: BulkFailure | None = None
        self.input_error: BaseException | None = None
        self.callback_error: BaseException | None = None
        self.abandoned: list[str] = []
        self.input_exhausted = False

    def result(self) -> BulkResult:
        c = self.counters
        retries = (self.retry_count() - self._retries_at_start) if self.retry_count else 0
        return BulkResult(
            total=c.done,
            updated=c.updated,
            unchanged=c.unchanged,
            failed=c.failed,
            failures=tuple(self.failures),
            duplicates=tuple(self.duplicates),
            elapsed=time.monotonic() - self.started,
            retries=retries,
            complete=self.input_exhausted and self.aborted is None and self.input_error is None,
            abandoned=tuple(self.abandoned),
        )

    def progress(self, *, final: bool = False, result: BulkResult | None = None) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if not final and now - self._last_progress < self._progress_interval:
            return
        self._last_progress = now
        c = self.counters
        self.on_progress(
            BulkProgress(
                done=c.done,
                total=self.total,
                updated=c.updated,
                unchanged=c.unchanged,
                failed=c.failed,
                elapsed=now - self.started,
                concurrency=int(self.limiter.total_tokens),
                final=final,
                result=result,
            )
        )

    def _check_throttle(self) -> None:
        if self.throttle_count is None:
            return
        seen = self.throttle_count()
        if seen > self._throttles_seen:
            self._throttles_seen = seen
            self.adaptive.on_throttled()
            self._sync_limit()

    def _sync_limit(self) -> None:
        limit = self.adaptive.limit
        if limit != self.limiter.total_tokens:
            self.limiter.total_tokens = limit

    async def _apply_one(self, work: W, key: str, cancel: anyio.CancelScope) -> None:
        c = self.counters
        c.in_flight += 1
        c.max_in_flight = max(c.max_in_flight, c.in_flight)
        began = time.monotonic()
        try:
            outcome = await self.apply(work)
        except AnnoqError as error:
            failure = BulkFailure(key, failure_reason(error), slim_error(error))
            self.failures.append(failure)
            c.failed += 1
            if self.on_failure is not None:
                try:
                    self.on_failure(failure)
                except Exception as problem:  # the caller's callback: stop, raise it as is
                    self._stop(cancel, callback=problem)
            if self.fail_fast and self.aborted is None:
                self.aborted = failure
                cancel.cancel()
        except BaseException:
            self.abandoned.append(key)  # cancelled (or a bug) before it finished
            raise
        else:
            if outcome is Outcome.UPDATED:
                c.updated += 1
            else:
                c.unchanged += 1
            now = time.monotonic()
            self.adaptive.on_sample(now - began, now)
            self._sync_limit()
        finally:
            c.in_flight -= 1
        self._check_throttle()
        self.progress()

    async def _worker(self, source: _Source[W], cancel: anyio.CancelScope) -> None:
        # One long-lived worker per unit of the ceiling: no task per input, and the
        # limiter (whose size the throttling logic moves) decides how many apply at once.
        token = object()
        c = self.counters
        while True:
            await self.limiter.acquire_on_behalf_of(token)
            try:
                try:
                    work = await source.next()
                except Exception as problem:  # the caller's iterable (or walk) raised
                    self._stop(cancel, input=problem)
                    return
                if work is _END:
                    self.input_exhausted = True
                    return
                key = self.key(work)  # type: ignore[arg-type]
                c.read += 1
                if not self._recent.add(key):
                    self.duplicates.append(key)
                    c.unchanged += 1
                    continue
                await self._apply_one(work, key, cancel)  # type: ignore[arg-type]
            finally:
                self.limiter.release_on_behalf_of(token)

    def _stop(
        self,
        cancel: anyio.CancelScope,
        *,
        input: BaseException | None = None,
        callback: BaseException | None = None,
    ) -> None:
        """Stop the run at the first input or callback error (later ones are dropped)."""
        if self.input_error is None and self.callback_error is None:
            self.input_error = input
            self.callback_error = callback
        cancel.cancel()

    async def run(self, inputs: Iterable[W] | AsyncIterable[W]) -> BulkResult:
        source = _Source(inputs)
        try:
            async with anyio.create_task_group() as group:
                for _ in range(self.concurrency):
                    group.start_soon(self._worker, source, group.cancel_scope)
        except BaseException:
            self.progress(final=True, result=self.result())
            raise
        result = self.result()
        self.progress(final=True, result=result)
        if self.callback_error is not None:
            raise self.callback_error
        if self.input_error is not None:
            raise BulkInputError(result, self.input_error) from self.input_error
        if self.aborted is not None:
            raise BulkAbortedError(result, self.aborted)
        return result


class _End:
    pass


_END = _End()


class _Source(Generic[W]):
    """The input, shared by all workers and read one item at a time, lazily."""

    def __init__(self, inputs: Iterable[W] | AsyncIterable[W]) -> None:
        self._sync: Iterator[W] | None = None
        self._async: AsyncIterator[W] | None = None
        if isinstance(inputs, AsyncIterable):
            self._async = aiter(inputs)
        else:
            self._sync = iter(inputs)
        self._lock = anyio.Lock()  # an async iterator must not be advanced concurrently
        self._done = False

    async def next(self) -> W | _End:
        if self._done:
            return _END
        if self._sync is not None:
            try:
                return next(self._sync)
            except StopIteration:
                self._done = True
                return _END
        assert self._async is not None
        async with self._lock:
            if self._done:
                return _END
            try:
                item: W = await anext(self._async)
                return item
            except StopAsyncIteration:
                self._done = True
                return _END


async def run_bulk(
    inputs: Iterable[W] | AsyncIterable[W],
    apply: Callable[[W], Awaitable[Outcome]],
    *,
    key: Callable[[W], str],
    concurrency: int,
    on_progress: Callable[[BulkProgress], object] | None = None,
    throttle_count: Callable[[], int] | None = None,
    retry_count: Callable[[], int] | None = None,
    fail_fast: bool = False,
    dedupe_window: int | None = _config.BULK_DEDUPE_WINDOW,
    progress_interval: float = _config.BULK_PROGRESS_INTERVAL,
    on_failure: Callable[[BulkFailure], object] | None = None,
) -> BulkResult:
    """Apply ``apply`` to every input with at most ``concurrency`` at once.

    ``concurrency`` is a ceiling: the run starts at ``ADAPTIVE_INITIAL_LIMIT`` in flight
    and adapts below the ceiling (:class:`~annoq._limits.AdaptiveLimit`).
    ``throttle_count`` returns a running count of throttled (429) responses; when it
    grows the engine halves its parallelism, then grows back. ``dedupe_window``
    bounds how many recent keys (the last distinct ones read) are remembered to
    report repeats (``None``: all).
    ``on_failure`` is called with each failure as it happens (to stream failures to a
    file, say); an exception it raises stops the run and is raised as it is.

    Raises :class:`BulkAbortedError` (``fail_fast``) or :class:`BulkInputError` (the
    input raised), both with the partial ``result``. On cancellation the final
    ``on_progress`` event still carries the partial result.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidArgumentError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    for name, callback in (("on_progress", on_progress), ("on_failure", on_failure)):
        if callback is not None and not callable(callback):
            raise InvalidArgumentError(f"{name} must be a callable or None, got {callback!r}")
    total = len(inputs) if hasattr(inputs, "__len__") else None  # type: ignore[arg-type]
    engine: BulkRun[W] = BulkRun(
        apply,
        key,
        concurrency=concurrency,
        total=total,
        on_progress=on_progress,
        throttle_count=throttle_count,
        retry_count=retry_count,
        fail_fast=fail_fast,
        dedupe_window=dedupe_window,
        progress_interval=progress_interval,
        on_failure=on_failure,
    )
    return await engine.run(inputs)
