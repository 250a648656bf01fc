"""Annofab jobs: a walk over the whole job list and a wait with backoff.

async for job in walk_jobs(project, "gen-tasks-list"):
    ...
job = await wait_job(project, "gen-tasks-list")
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Final

from .. import _config
from .._errors import AnnoqError

if TYPE_CHECKING:
    from ._models_data import Job, JobType
    from ._project import Project

JOB_FIRST_POLL_SECONDS: Final = _config.ANNOFAB_JOB_FIRST_POLL
JOB_POLL_GROWTH: Final = _config.ANNOFAB_JOB_POLL_GROWTH
JOB_POLL_CAP_SECONDS: Final = _config.ANNOFAB_JOB_POLL_CAP


class JobWaitError(AnnoqError):
    """A job did not finish as asked; ``job_type`` and ``job_id`` name it."""

    def __init__(self, message: str, job_type: str, job_id: str | None) -> None:
        super().__init__(message)
        self.job_type = job_type
        self.job_id = job_id


class JobFailedError(JobWaitError):
    """The job finished ``failed``; ``errors`` are the job's own."""

    def __init__(self, job: Job) -> None:
        details = "; ".join(str(e) for e in job.errors) or "no errors given"
        super().__init__(
            f"job {job.job_type}/{job.job_id} failed: {details}", str(job.job_type), job.job_id
        )
        self.job = job
        self.errors = job.errors


class JobTimeoutError(JobWaitError):
    """The job was still running when the wait's ``timeout`` passed."""


class JobNotFoundError(JobWaitError):
    """No such job in the project's job list."""


async def walk_jobs(project: Project, job_type: JobType | str | None = None) -> AsyncIterator[Job]:
    """Every job, newest first, following ``exclusive_start_created_datetime``/``has_next``."""
    before = None
    seen: set[str] = set()
    while True:
        page = await project.job_list(job_type, before=before)
        for job in page.jobs:
            if job.job_id not in seen:
                seen.add(job.job_id)
                yield job
        if not page.has_next or not page.jobs:
            return
        before = page.jobs[-1].created_datetime


async def _find(project: Project, job_type: JobType | str, job_id: str | None) -> Job | None:
    async for job in walk_jobs(project, job_type):
        if job_id is None or job.job_id == job_id:
            return job
    return None


async def wait_job(
    project: Project,
    job_type: JobType | str,
    job_id: str | None = None,
    *,
    poll: float = JOB_FIRST_POLL_SECONDS,
    timeout: float | None = None,  # noqa: ASYNC109 (the API the issue names)
    on_progress: Callable[[Job], None] | None = None,
) -> Job:
    """Poll until the job (the newest of ``job_type`` when no ``job_id``) is done.

    Returns the succeeded job; raises JobFailedError, JobTimeoutError or JobNotFoundError.
    """
    if poll <= 0:
        from .._errors import InvalidArgumentError

        raise InvalidArgumentError(f"poll={poll!r} must be positive")
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    delay = poll
    while True:
        job = await _find(project, job_type, job_id)
        if job is None:
            raise JobNotFoundError(
                f"no {job_type} job {job_id or ''}".strip(), str(job_type), job_id
            )
        job_id = job.job_id
        if on_progress is not None:
            on_progress(job)
        if job.job_status == "succeeded":
            return job
        if job.job_status == "failed":
            raise JobFailedError(job)
        wait = delay
        if deadline is not None:
            left = deadline - loop.time()
            if left <= 0:
                raise JobTimeoutError(
                    f"job {job_type}/{job_id} still running after {timeout}s", str(job_type), job_id
                )
            wait = min(wait, left)
        await asyncio.sleep(wait)
        delay = min(delay * JOB_POLL_GROWTH, JOB_POLL_CAP_SECONDS)


__all__ = [
    "JobFailedError",
    "JobNotFoundError",
    "JobTimeoutError",
    "JobWaitError",
    "wait_job",
    "walk_jobs",
]
