"""Annofab jobs: walking the job list over its cursor, and waiting for a job to finish
with growing polls, a time limit and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final, Protocol

from .. import _config
from .._errors import InvalidArgumentError, JobFailedError, JobNotFoundError, JobTimeoutError
from .._walk import Walk
from ._models_data import Job, JobPage, JobStatus

__all__ = ["JobWalk", "wait_for_job", "walk_jobs"]


class _Lister(Protocol):
    def __call__(self, *, limit: int, before: datetime | None) -> Awaitable[JobPage]: ...


class JobWalk(Walk[Job]):
    """An async iterator over a project's jobs, newest first, that can be closed early.

    async for job in project.jobs("gen-tasks-list"):
        print(job.job_id, job.job_status)
    """


async def walk_jobs(lister: _Lister, page_size: int) -> AsyncIterator[Job]:
    """Every job once, newest first, over ``exclusive_start_created_datetime``.

    The cursor excludes its own instant, so jobs sharing the last job's
    ``created_datetime`` but not on the page would be skipped: each next page starts
    one millisecond later (the timestamps' precision), re-reading that instant, and
    the jobs already yielded are dropped. When a whole page shares one instant, it is
    read again at the largest page size; only more than that many jobs created in the
    same millisecond can make the walk step past some of them.
    """
    seen: set[str] = set()
    before: datetime | None = None
    reached: datetime | None = None  # the oldest page end so far
    limit = page_size
    while True:
        page = await lister(limit=limit, before=before)
        for job in page.jobs:
            if job.job_id not in seen:
                seen.add(job.job_id)
                yield job
        if not page.has_next or not page.jobs:
            return
        last = page.jobs[-1].created_datetime
        if reached is None or last < reached:
            before, limit, reached = last + _TICK, page_size, last
        elif limit < _config.ANNOFAB_MAX_PAGE_SIZE:
            limit = _config.ANNOFAB_MAX_PAGE_SIZE  # the page is one instant: read it wider
        elif before is None or before > last:
            before, limit = last, page_size  # more than a page in one instant: step past it
        else:
            return  # the server is not moving the cursor: stop rather than loop


_TICK: Final = timedelta(milliseconds=1)
"""The precision of Annofab's timestamps."""


def check_wait(poll: float, factor: float, cap: float, timeout: float | None) -> None:
    """Validate the polling options (before any request)."""
    for name, value in (("poll", poll), ("poll_cap", cap)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InvalidArgumentError(f"{name} must be a positive number of seconds")
    if isinstance(factor, bool) or not isinstance(factor, int | float) or factor < 1:
        raise InvalidArgumentError("poll_factor must be a number of at least 1")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise InvalidArgumentError("timeout must be a positive number of seconds or None")


async def wait_for_job(
    find: Callable[[], Awaitable[Job | None]],
    describe: str,
    *,
    poll: float = _config.ANNOFAB_JOB_FIRST_POLL,
    factor: float = _config.ANNOFAB_JOB_POLL_FACTOR,
    cap: float = _config.ANNOFAB_JOB_POLL_CAP,
    timeout: float | None = _config.ANNOFAB_JOB_TIMEOUT,  # noqa: ASYNC109 (typed JobTimeoutError with the last state)
    on_progress: Callable[[Job], object] | None = None,
) -> Job:
    """Poll ``find()`` until the job is over: the first poll at once, then after
    ``poll`` seconds, growing ``factor`` times up to ``cap``."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    delay = poll
    while True:
        job = await find()
        if job is None:
            raise JobNotFoundError(f"no {describe} in the project's job list")
        if on_progress is not None:
            on_progress(job)
        if job.job_status is JobStatus.SUCCEEDED:
            return job
        if job.job_status is JobStatus.FAILED:
            raise JobFailedError(job)
        wait = delay
        if deadline is not None:
            left = deadline - loop.time()
            if left <= 0:
                raise JobTimeoutError(job, float(timeout or 0))
            wait = min(wait, left)
        await asyncio.sleep(wait)
        delay = min(delay * factor, cap)
