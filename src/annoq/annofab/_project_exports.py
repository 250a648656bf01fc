"""The whole-project exports of a :class:`Project` (mixed in): the tasks and input data
JSON files, the annotation ZIP, and the walks that read them past 10,000.

Each file sits behind a signed URL (:mod:`._exports` downloads it without Annofab
credentials). ``refresh=True`` starts the job that rebuilds it and waits for it; a
job of that type already running (409) is waited for instead of failing, and an
export GET answering 409 while a rebuild runs waits for the rebuild.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from .. import _config
from .._args import require_flag
from .._errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    ServerError,
    TransportError,
)
from . import _protocol_data as pdata
from ._exports import (
    ExpiredUrlError,
    InputDataFilter,
    Target,
    download,
    export_url,
    read_records,
    read_tasks_file,
    task_matches,
)
from ._models import Task, TaskQuery
from ._models_data import InputData, Job, JobPage

if TYPE_CHECKING:
    from ._session import AnnofabSession

__all__ = ["EXPORT_JOB_TYPES", "ProjectExports"]

EXPORT_JOB_TYPES: Final = {
    "tasks": "gen-tasks-list",
    "inputs": "gen-inputs-list",
    "annotations": "gen-annotation",
}
"""The job that rebuilds each export."""

Progress = Callable[[int], object] | None
JobProgress = Callable[[Job], object] | None


class Waiting:
    """How to wait for a job: the time limit and the per-poll callback."""

    __slots__ = ("on_progress", "timeout")

    def __init__(self, timeout: float | None, on_progress: JobProgress = None) -> None:
        self.timeout = timeout
        self.on_progress = on_progress


class ProjectExports:
    """The exports of a :class:`Project` (mixed in)."""

    if TYPE_CHECKING:  # set by Project; not runtime annotations (hints must resolve)
        _session: AnnofabSession
        id: str

        async def wait_job(
            self,
            job_type: str,
            job_id: str | None = None,
            *,
            timeout: float | None = ...,  # noqa: ASYNC109
            on_progress: JobProgress = ...,
        ) -> Job: ...

        async def task(self, task_id: str) -> Task: ...

        async def job_list(self, job_type: str | None = None, *, limit: int = ...) -> JobPage: ...

    async def export_tasks(
        self,
        path: Target,
        *,
        refresh: bool = False,
        on_progress: Progress = None,
        job_timeout: float | None = _config.ANNOFAB_JOB_TIMEOUT,
        on_job: JobProgress = None,
    ) -> int:
        """Download the whole-project tasks export (a JSON array) to ``path``
        atomically; returns its size in bytes. ``refresh=True`` asks for a fresh file
        first and waits for its ``gen-tasks-list`` job (``job_timeout`` seconds at
        most; one already running is waited for; ``on_job(job)`` sees each poll).
        ``on_progress(bytes_so_far)``. The
        signed URL is read without Annofab credentials. ``path`` may also be a binary
        stream (anything with ``write(bytes)``), written as the bytes arrive.

            await project.export_tasks("tasks.json", refresh=True)
        """
        return await self._export("tasks", path, refresh, on_progress, Waiting(job_timeout, on_job))

    async def export_input_data(
        self,
        path: Target,
        *,
        refresh: bool = False,
        on_progress: Progress = None,
        job_timeout: float | None = _config.ANNOFAB_JOB_TIMEOUT,
        on_job: JobProgress = None,
    ) -> int:
        """Download the whole-project input data export to ``path`` atomically (as
        :meth:`export_tasks`; the job is ``gen-inputs-list``)."""
        return await self._export(
            "inputs", path, refresh, on_progress, Waiting(job_timeout, on_job)
        )

    async def annotation_archive(
        self,
        path: Target,
        *,
        refresh: bool = False,
        on_progress: Progress = None,
        job_timeout: float | None = _config.ANNOFAB_JOB_TIMEOUT,
        on_job: JobProgress = None,
    ) -> int:
        """Download the project's annotation ZIP (simple annotations, one JSON file per
        task and input data) to ``path`` atomically; returns its size in bytes.
        ``refresh=True`` rebuilds it first (the ``gen-annotation`` job), as
        :meth:`export_tasks`.

            await project.annotation_archive("annotations.zip", refresh=True)
        """
        return await self._export(
            "annotations", path, refresh, on_progress, Waiting(job_timeout, on_job)
        )

    async def _export(
        self, kind: str, path: Target, refresh: bool, on_progress: Progress, waiting: Waiting
    ) -> int:
        require_flag(refresh, "refresh")
        if not isinstance(path, str | os.PathLike) and not callable(getattr(path, "write", None)):
            raise InvalidArgumentError("path must be a file path or a binary stream")
        if refresh:
            await self._rebuild(kind, waiting)
        url = await self._signed_url(kind, waiting)
        try:
            return await download(url, path, on_progress)
        except ExpiredUrlError:
            if not isinstance(path, str | os.PathLike):
                raise  # bytes were written to the stream already: no second start
            # The URL expired (or a rebuild replaced the file) between the answer and
            # the download: one fresh URL.
            return await download(await self._signed_url(kind, waiting), path, on_progress)

    async def _rebuild(self, kind: str, waiting: Waiting) -> Job:
        """Start the job rebuilding ``kind`` and wait for it; one of its type already
        running (409) is waited for instead."""
        api = self._session.api
        start: Callable[[str], Awaitable[Any]] = {
            "tasks": api.post_project_tasks_update,
            "inputs": api.post_project_inputs_update,
            "annotations": api.post_annotation_archive_update,
        }[kind]
        return await self.start_job(
            lambda: start(self.id),
            EXPORT_JOB_TYPES[kind],
            timeout=waiting.timeout,
            on_progress=waiting.on_progress,
        )

    async def start_job(
        self,
        post: Callable[[], Awaitable[Any]],
        job_type: str,
        *,
        timeout: float | None = _config.ANNOFAB_JOB_TIMEOUT,  # noqa: ASYNC109 (JobTimeoutError names the job)
        on_progress: JobProgress = None,
    ) -> Job:
        """Send a job-starting ``post()`` (its answer ``{job}`` or the job itself) and
        wait for that job (as :meth:`wait_job`). A 409 answer (one of ``job_type`` is
        already running) waits for the running one instead of failing. A lost answer
        (the POST is never re-sent blindly) is resolved against the job list: a job of
        that type newer than the one before the POST is waited for; else the POST did
        not start one, and is sent once more.

            job = await project.start_job(
                lambda: af.api.post_project_tasks_update(project.id), "gen-tasks-list")
        """
        before = await self._newest_job_id(job_type)
        for attempt in range(2):
            try:
                answer = await post()
            except ConflictError:
                return await self.wait_job(job_type, timeout=timeout, on_progress=on_progress)
            except (TransportError, ServerError):
                newest = await self._newest_job_id(job_type)
                if newest is not None and newest != before:
                    return await self.wait_job(
                        job_type, newest, timeout=timeout, on_progress=on_progress
                    )
                if attempt == 1:
                    raise
                continue  # it did not reach the service: once more
            job = pdata.read_job(answer.get("job") if isinstance(answer, dict) else answer)
            return await self.wait_job(
                job.job_type, job.job_id, timeout=timeout, on_progress=on_progress
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _newest_job_id(self, job_type: str) -> str | None:
        jobs = (await self.job_list(job_type, limit=1)).jobs
        return jobs[0].job_id if jobs else None

    async def _signed_url(self, kind: str, waiting: Waiting) -> str:
        api = self._session.api
        read: Callable[[str], Awaitable[Any]] = {
            "tasks": api.get_project_tasks_url,
            "inputs": api.get_project_inputs_url,
            "annotations": api.get_annotation_archive,
        }[kind]
        try:
            return export_url(await read(self.id))
        except ConflictError:  # a rebuild is running: wait for it, then read the new file
            await self.wait_job(
                EXPORT_JOB_TYPES[kind], timeout=waiting.timeout, on_progress=waiting.on_progress
            )
            return export_url(await read(self.id))

    # -- reading past 10,000 ----------------------------------------------------------

    async def _export_tasks_walk(self, query: TaskQuery) -> AsyncIterator[Task]:
        with tempfile.TemporaryDirectory(prefix="annoq-export-") as folder:
            path = os.path.join(folder, "tasks.json")
            await self.export_tasks(path)
            for task in read_tasks_file(path):
                if task_matches(query, task):
                    yield task

    async def _export_input_data_walk(
        self,
        parts: dict[str, str],
        task_id: str | None,
        from_: datetime | None,
        to: datetime | None,
    ) -> AsyncIterator[InputData]:
        task_inputs = None
        if task_id is not None:
            try:
                task_inputs = frozenset((await self.task(task_id)).input_data_id_list)
            except NotFoundError:
                task_inputs = frozenset()  # as the list answers: none
        keep = InputDataFilter(parts, task_inputs, from_, to)
        with tempfile.TemporaryDirectory(prefix="annoq-export-") as folder:
            path = os.path.join(folder, "inputs.json")
            await self.export_input_data(path)
            for item in read_records(path, InputData, "input data"):
                if keep(item):
                    yield item
