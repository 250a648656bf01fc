"""Carrying one task's decisions out, the way Annofab's own CLI does, for the bulk engine.

Each step quotes the previous answer's ``updated_datetime``. On a 409 the task is read
again and the next step decided afresh (a 409 that follows a retried attempt is ours
only if the task shows what we asked for). On a failure or a cancellation after
starting, the task is put back to ``break`` (shielded, within
``ANNOFAB_PUT_BACK_TIMEOUT``) so no work time accrues. The decisions themselves are the
pure functions of :mod:`._decisions`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

from .. import _config
from .._bulk import Outcome
from .._errors import (
    AnnoqError,
    BadRequestError,
    ConflictError,
    InvalidArgumentError,
    InvalidTransitionError,
)
from . import _protocol as proto
from ._decisions import MAX_STEPS, Planner, Step, moved, moved_error, reached
from ._models import OnMoved, Task, TaskPhase, TaskRef, TaskStateError, TaskStatus

if TYPE_CHECKING:
    from ._session import AnnofabSession

__all__ = ["Origins", "PhaseRequiredError", "TaskDriver"]

log = logging.getLogger("annoq")


class PhaseRequiredError(InvalidArgumentError):
    """A bare task id was given to an operation that needs the phase it was chosen in."""

    failure_code = "phase_required"


class Origins:
    """Where each bulk input was when it was chosen: a :class:`Task` or
    :class:`TaskRef` says so itself; a bare id takes ``expected`` (phase, stage), or,
    for an operation that does not need it (``needs_phase=None``), the task as read."""

    def __init__(
        self, expected: tuple[TaskPhase, int | None] | None, needs_phase: str | None
    ) -> None:
        self.expected = expected
        self.needs_phase = needs_phase

    def of_id(self, task_id: str) -> TaskRef | None:
        """The origin of a bare id (``None``: the task as read); raises
        :class:`PhaseRequiredError` when the operation needs one and none was given."""
        if self.expected is not None:
            return TaskRef(task_id, *self.expected)
        if self.needs_phase is not None:
            raise PhaseRequiredError(
                f"task {task_id!r}: {self.needs_phase!r} acts on the task's phase, so a bare "
                "id needs expected_phase= (the phase it was chosen in), or pass a TaskRef "
                "or the Task itself"
            )
        return None


def check_work(work: object) -> None:
    """Refuse what is not a task id, :class:`TaskRef` or :class:`Task`."""
    if isinstance(work, Task | TaskRef) or (isinstance(work, str) and work.strip()):
        return
    raise InvalidArgumentError(f"bulk input must be a task id, TaskRef or Task, got {work!r}")


class TaskDriver:
    """Carries one task to its goal with as few requests as the state allows.

    ``planner(task, origin)`` decides each step; ``put_back`` says whether a failure
    after starting the task should set it back to ``break``; a task that has moved from
    its origin before any write of ours is ``unchanged`` (``on_moved="fail"``: failed).
    """

    def __init__(
        self,
        session: AnnofabSession,
        project_id: str,
        planner: Planner,
        *,
        put_back: bool,
        origins: Origins,
        on_moved: OnMoved = "unchanged",
    ) -> None:
        self._session = session
        self._project_id = project_id
        self._planner = planner
        self._put_back = put_back
        self._origins = origins
        self._on_moved = on_moved

    async def read(self, task_id: str) -> Task:
        response = await self._session.send(proto.task_request(self._project_id, task_id))
        return proto.read_task(response.content)

    async def operate(self, task: Task, step: Step) -> Task:
        request = proto.operate_request(
            self._project_id,
            task.task_id,
            status=step.status,
            last_updated_datetime=task.updated_datetime,
            account_id=step.account_id,
            force=step.force,
        )
        try:
            response = await self._session.send(request)
        except BadRequestError as error:
            if isinstance(error, InvalidTransitionError):
                raise
            # Annofab answers 400 to an operation the task's state does not allow.
            raise InvalidTransitionError(
                error.status,
                error.reason,
                error_type=error.error_type,
                method=error.method,
                url=error.url,
                body=error.body,
                attempts=error.attempts,
            ) from None
        return proto.read_task(response.content)

    async def _resolve(self, work: str | TaskRef | Task) -> tuple[Task, TaskRef]:
        check_work(work)
        if isinstance(work, Task):
            if work.project_id != self._project_id:
                raise InvalidArgumentError(
                    f"task {work.task_id!r} belongs to project {work.project_id!r}"
                )
            return work, TaskRef.of(work)
        if isinstance(work, TaskRef):
            return await self.read(work.task_id), work
        origin = self._origins.of_id(work)
        task = await self.read(work)
        return task, origin or TaskRef.of(task)

    async def run(self, work: str | TaskRef | Task) -> Outcome:
        """Apply the goal to one task id, TaskRef or task; the bulk engine's ``apply``."""
        task, origin = await self._resolve(work)
        ours = False  # a request of ours took effect
        started = False
        conflicts = 0  # 409s in a row that were not ours: someone else's changes
        try:
            for _ in range(MAX_STEPS):
                if not ours and moved(task, origin):
                    if self._on_moved == "fail":
                        raise moved_error(task, origin)
                    return Outcome.UNCHANGED
                step = self._planner(task, origin)
                if step is None:
                    return Outcome.UPDATED if ours else Outcome.UNCHANGED
                started = started or step.status == "working"
                try:
                    if step.status == "working":
                        answer = await self._start_to_end(task, step)
                    else:
                        answer = await self.operate(task, step)
                except ConflictError as conflict:
                    before = task
                    if conflict.attempts > 1:
                        # An earlier attempt may have landed (its answer lost) or not (a
                        # 503 that applied nothing, then someone else's change): look.
                        task = await self.read(task.task_id)
                        if reached(step, before, task):
                            ours, conflicts = True, 0
                            continue
                    conflicts += 1
                    if conflicts > 1:
                        raise
                    if task is before:
                        task = await self.read(task.task_id)
                    continue
                task = answer
                ours, conflicts = True, 0
            raise TaskStateError(
                task.task_id, "no_progress", f"no settled state after {MAX_STEPS} steps"
            )
        except BaseException:
            # Also on cancellation (fail-fast, a timeout, Ctrl-C): shielded, bounded.
            if started and self._put_back:
                with anyio.move_on_after(_config.ANNOFAB_PUT_BACK_TIMEOUT, shield=True):
                    await self._break(task.task_id)
            raise

    async def _start_to_end(self, task: Task, step: Step) -> Task:
        """The start request, run to its end even if the run is cancelled meanwhile
        (within ``ANNOFAB_PUT_BACK_TIMEOUT``): a start that landed after the put-back had
        looked would leave the task ``working``."""
        with anyio.move_on_after(_config.ANNOFAB_PUT_BACK_TIMEOUT, shield=True):
            return await self.operate(task, step)
        raise TaskStateError(
            task.task_id,
            "timeout",
            f"starting the task took over {_config.ANNOFAB_PUT_BACK_TIMEOUT:g} s",
        )

    async def _break(self, task_id: str) -> None:
        """Best effort: set a task we started back to ``break``."""
        try:
            me = await self._session.account_id()
            task = await self.read(task_id)
            if task.status == TaskStatus.WORKING and task.account_id == me:
                await self.operate(task, Step("break", account_id=me))
        except AnnoqError as error:
            log.warning("could not put task %r back to break: %s", task_id, error)
