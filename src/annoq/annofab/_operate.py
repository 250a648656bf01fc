"""Operating on one task the way Annofab's own CLI does, for the bulk engine.

Per task: read it (or use the task given), skip what is already done, take it over
(reassign to oneself) when someone else holds it, start it, then operate, each step
quoting the previous answer's ``updated_datetime``. On a 409 the task is read again and
the next step decided afresh; on a failure after starting, the task is put back to
``break`` so no work time accrues.

:func:`next_step` is the decision, a pure function of the task now and the task as first
seen; :class:`TaskDriver` carries the decisions out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from .._bulk import Outcome
from .._errors import (
    AnnoqError,
    BadRequestError,
    ConflictError,
    InvalidArgumentError,
    InvalidTransitionError,
)
from . import _protocol as proto
from ._models import OperateAction, Task, TaskPhase, TaskStateError, TaskStatus

if TYPE_CHECKING:
    from ._session import AnnofabSession

__all__ = ["Step", "TaskDriver", "next_reassign_step", "next_step"]

log = logging.getLogger("annoq")

#: Steps one task may take before the driver stops (a take-over, a start and the
#: operation, each possibly re-decided after a conflict): a guard against a server that
#: never settles, far above what any task needs.
MAX_STEPS = 12


@attrs.frozen
class Step:
    """One operate request: the wire ``status``, the ``account_id`` to send (``None``
    leaves it out) and ``force``."""

    status: str
    account_id: str | None = None
    force: bool = False


_TARGET = {
    OperateAction.BREAK: TaskStatus.BREAK,
    OperateAction.ON_HOLD: TaskStatus.ON_HOLD,
}
_WIRE = {
    OperateAction.COMPLETE: "complete",
    OperateAction.REJECT: "rejected",
    OperateAction.BREAK: "break",
    OperateAction.ON_HOLD: "on_hold",
}


def _refuse(task: Task, code: str, message: str) -> TaskStateError:
    return TaskStateError(task.task_id, code, message)


def _ready(task: Task, me: str, *, take_over: bool) -> Step | None:
    """The step that brings ``task`` to ``working`` for ``me``; ``None`` if it is."""
    if task.status == TaskStatus.COMPLETE:
        raise _refuse(task, "task_complete", "the task is complete (accepted)")
    if task.account_id != me:
        if not take_over:
            holder = task.account_id or "nobody"
            raise _refuse(
                task,
                "assigned_to_other",
                f"the task is assigned to {holder}, not to you (take_over=True reassigns it)",
            )
        return Step("not_started", account_id=me)
    if task.status == TaskStatus.WORKING:
        return None
    return Step("working", account_id=me)


def next_step(
    action: OperateAction,
    task: Task,
    origin: Task,
    me: str,
    *,
    force: bool = False,
    take_over: bool = True,
) -> Step | None:
    """The next request for ``action`` on ``task``, or ``None`` when the goal is reached.

    ``origin`` is the task as first seen: it tells a completion or a rejection that
    already happened (the task moved to another phase) from one still to do. Raises
    :class:`TaskStateError` when the task is in no state to get there.

        step = next_step(OperateAction.COMPLETE, task, task, me)
        # someone else's task: Step("not_started", account_id=me), take it over first
    """
    if action is OperateAction.START:
        if task.status == TaskStatus.WORKING and task.account_id == me:
            return None
        return _ready(task, me, take_over=take_over)
    if action is OperateAction.COMPLETE:
        if task.status == TaskStatus.COMPLETE or task.position > origin.position:
            return None  # accepted, or submitted: the task moved on to a later phase
        if task.position < origin.position:
            raise _refuse(task, "phase_changed", f"the task went back to {task.phase} meanwhile")
        return _ready(task, me, take_over=take_over) or Step("complete", account_id=me)
    if action is OperateAction.REJECT and force:
        if task.phase == TaskPhase.ANNOTATION and task.status == TaskStatus.NOT_STARTED:
            return None
        return Step("rejected", account_id=me, force=True)
    if action is OperateAction.REJECT:
        if (
            task.phase == TaskPhase.ANNOTATION
            and origin.phase != TaskPhase.ANNOTATION
            and task.number_of_rejections > origin.number_of_rejections
        ):
            return None
        if task.phase == TaskPhase.ANNOTATION:
            raise _refuse(
                task,
                "wrong_phase",
                "only tasks in inspection or acceptance can be rejected "
                "(force=True sends back any task, as a project owner)",
            )
        if task.status == TaskStatus.COMPLETE:
            raise _refuse(task, "task_complete", "the task is accepted; force=True rejects it")
        return _ready(task, me, take_over=take_over) or Step("rejected", account_id=me)
    if action is OperateAction.CANCEL:
        if task.position < origin.position:
            return None  # back in the phase it was submitted from
        if task.phase == TaskPhase.ANNOTATION:
            raise _refuse(task, "wrong_phase", "the task is in annotation: no submission to cancel")
        return Step("cancelled", account_id=me)
    target = _TARGET[action]
    if task.status == target:
        return None
    return _ready(task, me, take_over=take_over) or Step(_WIRE[action], account_id=me)


def next_reassign_step(task: Task, account_id: str | None) -> Step | None:
    """Assign ``task`` to ``account_id`` (``None``: unassign); ``None`` if it already is."""
    if task.account_id == account_id:
        return None
    if task.status == TaskStatus.COMPLETE:
        raise _refuse(
            task, "task_complete", "the task is accepted; reassigning it would cancel that"
        )
    return Step("not_started", account_id=account_id)


Planner = Callable[[Task, Task], Step | None]


class TaskDriver:
    """Carries one task to its goal with as few requests as the state allows.

    ``planner(task, origin)`` decides each step; ``put_back`` says whether a failure
    after starting the task should set it back to ``break``.
    """

    def __init__(
        self,
        session: AnnofabSession,
        project_id: str,
        planner: Planner,
        *,
        put_back: bool,
    ) -> None:
        self._session = session
        self._project_id = project_id
        self._planner = planner
        self._put_back = put_back

    async def read(self, task_id: str) -> Task:
        response = await self._session._send(proto.task_request(self._project_id, task_id))
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
            response = await self._session._send(request)
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

    async def run(self, work: str | Task) -> Outcome:
        """Apply the goal to one task id or task; the bulk engine's ``apply``."""
        if isinstance(work, Task):
            if work.project_id != self._project_id:
                raise InvalidArgumentError(
                    f"task {work.task_id!r} belongs to project {work.project_id!r}"
                )
            task = work
        elif isinstance(work, str) and work.strip():
            task = await self.read(work)
        else:
            raise InvalidArgumentError(f"bulk input must be a task id or Task, got {work!r}")
        origin = task
        ours = False  # a request of ours took effect (or, after a lost answer, may have)
        started = False
        conflicts = 0  # 409s in a row on a first attempt: someone else's changes
        try:
            for _ in range(MAX_STEPS):
                step = self._planner(task, origin)
                if step is None:
                    return Outcome.UPDATED if ours else Outcome.UNCHANGED
                started = started or step.status == "working"
                try:
                    task = await self.operate(task, step)
                except ConflictError as conflict:
                    if conflict.attempts > 1:
                        ours = True  # our first attempt landed; its answer was lost
                    else:
                        conflicts += 1
                        if conflicts > 1:
                            raise
                    task = await self.read(task.task_id)
                    continue
                ours = True
                conflicts = 0
            raise _refuse(task, "no_progress", f"no settled state after {MAX_STEPS} steps")
        except AnnoqError:
            if started and self._put_back:
                await self._break(task.task_id)
            raise

    async def _break(self, task_id: str) -> None:
        """Best effort: set a task we started back to ``break``."""
        me = await self._session.account_id()
        try:
            task = await self.read(task_id)
            if task.status == TaskStatus.WORKING and task.account_id == me:
                await self.operate(task, Step("break", account_id=me))
        except AnnoqError as error:
            log.warning("could not put task %r back to break: %s", task_id, error)
