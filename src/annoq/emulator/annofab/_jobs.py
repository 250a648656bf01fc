"""Jobs and whole-project exports of the emulated Annofab.

A job runs for ``duration`` seconds of wall time after it starts (``progress``), then
finishes when next looked at: it ``succeeded`` (and its work is done then: a
``gen-tasks-list`` job rebuilds the tasks export from the tasks as they are at that
moment), or ``failed`` with errors when failures were asked for. The exports are JSON
files behind signed URLs the emulator serves itself, without Annofab's authorization.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import attrs

from ._records import AnnofabError, format_jst, parse_ms

EXPORT_JOBS: Final = {
    "tasks": "gen-tasks-list",
    "inputs": "gen-inputs-list",
    "annotations": "gen-annotation",
}
JOB_TYPES: Final = (
    "copy-project",
    "gen-inputs",
    "gen-tasks",
    "gen-annotation",
    "gen-tasks-list",
    "gen-inputs-list",
    "delete-project",
    "invoke-hook",
    "move-project",
)
DEFAULT_JOB_SECONDS: Final = 0.2


@attrs.define
class AfJob:
    """One job of a project."""

    project_id: str
    job_type: str
    job_id: str
    created_ms: int
    updated_ms: int
    due: float  # time.monotonic() when it may finish
    status: str = "progress"
    errors: list[dict[str, Any]] = attrs.Factory(list)
    on_success: Callable[[], None] | None = None
    fail_with: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "job_type": self.job_type,
            "job_id": self.job_id,
            "job_status": self.status,
            "job_execution": {},
            "errors": {"errors": self.errors, "context": {}},
            "created_datetime": format_jst(self.created_ms),
            "updated_datetime": format_jst(self.updated_ms),
        }


class Jobs:
    """Every project's jobs, newest first; they finish when looked at after ``due``."""

    def __init__(self, tick: Callable[[], int], new_id: Callable[[], str]) -> None:
        self._tick = tick
        self._new_id = new_id
        self.by_project: dict[str, list[AfJob]] = {}
        self.duration = DEFAULT_JOB_SECONDS
        """Seconds a job stays in ``progress`` (0: done at the next look)."""
        self.failures_left = 0
        self.failure_errors: list[dict[str, Any]] = []

    def start(
        self, project_id: str, job_type: str, on_success: Callable[[], None] | None = None
    ) -> AfJob:
        """A new job in ``progress``; 409 while one of the same type runs there."""
        self.settle(project_id)
        if any(
            j.job_type == job_type and j.status == "progress"
            for j in self.by_project.get(project_id, [])
        ):
            raise AnnofabError(409, "CONFLICT", f"a {job_type} job is already running")
        now = self._tick()
        job = AfJob(
            project_id,
            job_type,
            self._new_id(),
            now,
            now,
            time.monotonic() + self.duration,
            on_success=on_success,
        )
        if self.failures_left > 0:
            self.failures_left -= 1
            job.fail_with = list(self.failure_errors)
        self.by_project.setdefault(project_id, []).insert(0, job)
        return job

    def add_finished(
        self, project_id: str, job_type: str, *, created_ms: int | None = None
    ) -> AfJob:
        """A job that has already succeeded, created at ``created_ms`` (default: now;
        several jobs may share an instant, as on the service)."""
        now = self._tick()
        at = now if created_ms is None else created_ms
        job = AfJob(project_id, job_type, self._new_id(), at, now, 0.0, status="succeeded")
        self.by_project.setdefault(project_id, []).insert(0, job)
        return job

    def settle(self, project_id: str, *, force: bool = False) -> None:
        """Finish the jobs whose time has come (all running ones when ``force``)."""
        now = time.monotonic()
        for job in self.by_project.get(project_id, []):
            if job.status == "progress" and (force or job.due <= now):
                job.updated_ms = self._tick()
                if job.fail_with is not None:
                    job.status = "failed"
                    job.errors = job.fail_with
                else:
                    job.status = "succeeded"
                    if job.on_success is not None:
                        job.on_success()
                job.on_success = None

    def running(self, project_id: str, job_type: str) -> bool:
        self.settle(project_id)
        return any(
            j.job_type == job_type and j.status == "progress"
            for j in self.by_project.get(project_id, [])
        )

    def page(self, project_id: str, params: Any, limit: int) -> dict[str, Any]:
        """``{list, has_next}``: jobs created before ``exclusive_start_created_datetime``
        (newest first), of ``type`` if given."""
        self.settle(project_id)
        kind = params.get("type")
        if kind is not None and kind not in JOB_TYPES:
            raise AnnofabError(400, "INVALID_ARGUMENT", f"type: {kind!r} is not a job type")
        jobs = [
            j for j in self.by_project.get(project_id, []) if kind is None or j.job_type == kind
        ]
        cursor = params.get("exclusive_start_created_datetime")
        if cursor is not None:
            before = parse_ms(cursor)
            if before is None:
                raise AnnofabError(
                    400, "INVALID_ARGUMENT", "exclusive_start_created_datetime must be a date-time"
                )
            jobs = [j for j in jobs if j.created_ms < before]
        return {"list": [j.to_json() for j in jobs[:limit]], "has_next": len(jobs) > limit}

    def delete(self, project_id: str, job_type: str, job_id: str) -> None:
        jobs = self.by_project.get(project_id, [])
        for index, job in enumerate(jobs):
            if job.job_type == job_type and job.job_id == job_id:
                del jobs[index]
                return
        raise AnnofabError(404, "NOT_FOUND", f"job {job_type}/{job_id} was not found")


@attrs.define
class Export:
    """One export file and the signed token that reads it."""

    content: bytes
    token: str


class Exports:
    """The rawdata files of every project, behind signed tokens."""

    def __init__(self, new_token: Callable[[], str]) -> None:
        self._new_token = new_token
        self.files: dict[tuple[str, str], Export] = {}
        self.by_token: dict[str, tuple[str, str]] = {}
        self.expired: set[str] = set()

    def put(self, project_id: str, kind: str, content: bytes) -> None:
        """Replace a project's file (a new signed URL; the old one stops working)."""
        old = self.files.get((project_id, kind))
        if old is not None:
            self.by_token.pop(old.token, None)
        token = self._new_token()
        self.files[(project_id, kind)] = Export(content, token)
        self.by_token[token] = (project_id, kind)

    def token(self, project_id: str, kind: str, build: Callable[[], bytes]) -> str:
        """The signed token of the file (built the first time, as the nightly job would);
        a fresh one when the last has expired, as the service signs a new URL per ask."""
        if (project_id, kind) not in self.files:
            self.put(project_id, kind, build())
        export = self.files[(project_id, kind)]
        if export.token in self.expired:
            self.by_token.pop(export.token, None)
            export.token = self._new_token()
            self.by_token[export.token] = (project_id, kind)
        return export.token

    def read(self, token: str) -> bytes:
        """The file a token signs; 403 once expired or replaced."""
        where = self.by_token.get(token)
        if where is None or token in self.expired:
            raise AnnofabError(403, "FORBIDDEN", "the signed URL has expired")
        return self.files[where].content

    def expire_all(self) -> int:
        """Every signed URL handed out so far answers 403."""
        self.expired.update(self.by_token)
        return len(self.by_token)


__all__ = ["DEFAULT_JOB_SECONDS", "EXPORT_JOBS", "AfJob", "Export", "Exports", "Jobs"]
