"""One bulk run on the command line: progress, the ``--failures`` file, and what is
said and saved when the run stops early (Ctrl-C, SIGTERM, a failed input or walk).

Every bulk command (``mark``, ``annofab operate``) runs through :func:`run_bulk_command`:

    feed = CountingFeed(ids)                      # when the inputs are a known list
    run = await run_bulk_command(
        out,
        lambda hooks: queue.bulk_update_progress(
            feed, "completed", on_progress=hooks.on_progress, on_failure=hooks.on_failure
        ),
        description="Marking completed",
        total=len(ids),
        failures=args.failures,
        retries=lambda: session.stats.retries,
        unread=feed.unread,
    )

The failures file gets each failure as it happens, then, if the run stopped early, the
inputs that were read but not finished (``"reason": "abandoned"``) and, for a list of
ids, those never read (``"not_started"``): feeding it back with ``--ids-from`` resumes
exactly where the run stopped. A cancelled run (Ctrl-C, SIGTERM) still re-raises
``CancelledError`` after the caller reports it; :func:`annoq.cli.main` maps it to the
exit status 130 or 143.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Final, TextIO

import attrs

from .._bulk import BulkError, BulkFailure, BulkProgress, BulkResult
from ._errors import describe
from ._io import atomic_file, json_line
from ._render import Bar, Output, bulk_progress, number

ABANDONED: Final = "abandoned"
"""Reason code of an input that was read but not finished when the run stopped."""
NOT_STARTED: Final = "not_started"
"""Reason code of a listed input the run never reached."""

RETRYABLE_REASONS: Final = frozenset({"retries_exhausted", "conflict", ABANDONED, NOT_STARTED})
"""Failure reasons that feeding the failures file back can fix as it is."""
FIXED_FIRST_REASONS: Final = {
    "invalid_transition": "the item's state does not allow it",
    "not_in_queue": "not an item of this queue",
    "not_found": "does not exist",
    "permission_denied": "fix the key's access first",
    "unauthenticated": "fix the credentials first",
}
"""Failure reasons a retry alone does not fix, with what stands in the way."""


class CountingFeed:
    """A list of inputs handed to a bulk run, counting how many it has read, so that
    :meth:`unread` can name the ones it never reached."""

    def __init__(self, inputs: Sequence[str]) -> None:
        self._inputs = inputs
        self.read = 0

    def __len__(self) -> int:
        return len(self._inputs)

    def __iter__(self) -> Iterator[str]:
        for work in self._inputs:
            self.read += 1
            yield work

    def unread(self) -> Sequence[str]:
        """The inputs not read yet, in order."""
        return self._inputs[self.read :]


@attrs.frozen
class Hooks:
    """The callbacks a bulk call takes: pass both where the library accepts them."""

    on_progress: Callable[[BulkProgress], None]
    on_failure: Callable[[BulkFailure], None]


@attrs.frozen
class BulkRun:
    """How a bulk command's run ended.

    ``stopped`` is ``None`` when the run went to its end; else the ``BulkError`` it
    raised, or the ``CancelledError`` of an interruption (the caller reports, then
    re-raises it). ``unread`` is how many listed inputs were never reached
    (``None``: not a list, unknown).
    """

    result: BulkResult
    stopped: BaseException | None
    unread: int | None
    failures: str | None

    @property
    def interrupted(self) -> bool:
        """Stopped by Ctrl-C or SIGTERM."""
        return isinstance(self.stopped, asyncio.CancelledError)


class FailureLog:
    """Failure records written to ``stream`` as they happen (``None``: not kept)."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self.streamed = 0

    def add(self, failure: BulkFailure) -> None:
        """Write one failure now (the ``on_failure`` callback)."""
        self.streamed += 1
        self._write(failure.key, failure.reason, str(failure.error))

    def finish(self, result: BulkResult, unread: Sequence[str]) -> None:
        """Write what was not streamed: the result's failures (when the library did not
        call :meth:`add`), the abandoned inputs, then the unread ones."""
        if self.streamed == 0:
            for failure in result.failures:
                self._write(failure.key, failure.reason, str(failure.error))
        for key in result.abandoned:
            self._write(key, ABANDONED, "read but not finished when the run stopped")
        for key in unread:
            self._write(key, NOT_STARTED, "not reached when the run stopped")

    def _write(self, key: str, reason: str, message: str) -> None:
        if self._stream is not None:
            self._stream.write(json_line({"id": key, "reason": reason, "message": message}))
            self._stream.flush()


async def run_bulk_command(
    out: Output,
    start: Callable[[Hooks], Awaitable[BulkResult]],
    *,
    description: str,
    total: int | None,
    failures: str | None,
    retries: Callable[[], int],
    unread: Callable[[], Sequence[str]] | None = None,
    concurrency: int | None = None,
    connection_limit: int | None = None,
) -> BulkRun:
    """Run ``start(hooks)`` with a progress bar and the failures file; see the module.

    When ``concurrency`` (the updates in flight asked for) is above ``connection_limit``
    (the connections the session's pool opens at once), a note says so, once.
    """
    if concurrency is not None and connection_limit is not None and concurrency > connection_limit:
        out.note(
            f"--concurrency {number(concurrency)} is capped by the connection pool: at most "
            f"{number(connection_limit)} requests run at once"
        )
    last: list[BulkResult] = []
    sink: contextlib.AbstractContextManager[TextIO | None] = (
        atomic_file(failures) if failures else contextlib.nullcontext()
    )
    with sink as stream, out.progress(description, total) as bar:
        log = FailureLog(stream)
        hooks = Hooks(_watch(bar, retries, total, last), log.add)
        stopped: BaseException | None = None
        try:
            result = await start(hooks)
        except BulkError as error:
            result, stopped = error.result, error
        except asyncio.CancelledError as error:
            if not last:
                raise  # interrupted before the run began: nothing to save
            result, stopped = last[-1], error
        pending = unread() if unread is not None and stopped is not None else ()
        log.finish(result, pending)
    return BulkRun(
        result,
        stopped,
        len(pending) if unread is not None and stopped is not None else None,
        failures,
    )


def _watch(
    bar: Bar, retries: Callable[[], int], total: int | None, last: list[BulkResult]
) -> Callable[[BulkProgress], None]:
    draw = bulk_progress(bar, retries, total)

    def on_progress(event: BulkProgress) -> None:
        if event.result is not None:
            last[:] = [event.result]  # the final event's: what a stopped run had done
        draw(event)

    return on_progress


def stop_line(run: BulkRun, what: str) -> str:
    """One line saying how the run stopped, the counts so far and what was saved."""
    result = run.result
    counts = (
        f"{number(result.total)} done ({number(result.updated)} updated, "
        f"{number(result.unchanged)} unchanged, {number(result.failed)} failed), "
        f"{number(len(result.abandoned))} in flight"
    )
    if run.unread is not None:
        counts += f", {number(run.unread)} not started"
    if run.interrupted:
        head = f"{what} interrupted: {counts}"
    else:
        cause = run.stopped.__cause__ if run.stopped is not None else None
        why = f"the input failed: {describe(cause)}" if cause is not None else str(run.stopped)
        head = f"{what} stopped: {why}; {counts}"
    if not run.failures:
        tail = "pass --failures FILE to save the unfinished ids"
    elif run.unread is not None:
        tail = f"the failed and unfinished ids are in {run.failures}: --ids-from {run.failures} "
        tail += "resumes exactly"
    else:
        tail = f"the failed and unfinished ids are in {run.failures} (--ids-from "
        tail += f"{run.failures} retries them); run the same command again for the items "
        tail += "the walk did not reach"
    return f"{head}; {tail}"


def retry_hint(result: BulkResult, failures: str) -> str:
    """Which failures feeding ``failures`` back with ``--ids-from`` can fix, by reason."""
    reasons = Counter(failure.reason for failure in result.failures)
    retryable = {r: n for r, n in reasons.items() if r in RETRYABLE_REASONS}
    fixed_first = {r: n for r, n in reasons.items() if r in FIXED_FIRST_REASONS}
    unknown = {r: n for r, n in reasons.items() if r not in retryable and r not in fixed_first}
    parts = [f"{number(result.failed)} failures written to {failures}"]
    if retryable:
        parts.append(
            f"--ids-from {failures} can retry {number(sum(retryable.values()))} "
            f"({_by_reason(retryable)})"
        )
    if fixed_first:
        why = ", ".join(
            f"{r} {number(n)}: {FIXED_FIRST_REASONS[r]}" for r, n in sorted(fixed_first.items())
        )
        parts.append(f"{number(sum(fixed_first.values()))} will fail again as they are ({why})")
    if unknown:
        parts.append(f"{number(sum(unknown.values()))} need a look ({_by_reason(unknown)})")
    return "; ".join(parts)


def _by_reason(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {number(n)}" for reason, n in sorted(counts.items()))
