"""The per-task decisions of Annofab bulk operations, as pure functions.

Per task: skip what is already done, take it over (reassign to oneself) when someone
else holds it, start it, then operate; each decision is a function of the task now and
of where it was when it was chosen (its *origin*, a :class:`TaskRef`). A task that is no
longer where it was chosen is *moved*: the operation meant for it no longer applies, so
a rerun of the same operation changes nothing the first run did.

:func:`next_step` decides the next request, :func:`moved` whether a task left its
origin, :func:`reached` whether a request's effect shows on the task (after a lost
answer), :func:`plan` the requests a dry run would send. :mod:`._driver` does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from .. import _config
from ._models import (
    PHASE_ORDER,
    OperateAction,
    Task,
    TaskPhase,
    TaskRef,
    TaskStateError,
    TaskStatus,
)

__all__ = [
    "MAX_STEPS",
    "MOVED",
    "PHASE_DEPENDENT",
    "Planner",
    "Step",
    "describe_step",
    "moved",
    "moved_error",
    "next_reassign_step",
    "next_step",
    "plan",
    "reached",
]

#: Steps one task may take before the driver stops: a guard against a server that never
#: settles (the number lives in annoq._config).
MAX_STEPS = _config.ANNOFAB_MAX_TASK_STEPS

#: The failure code of a task that left the phase (or stage) it was chosen in.
MOVED = "phase_changed"

#: Operations whose effect depends on the phase the task is in (they move it to another
#: phase): a bare task id is not enough for them, the phase it was chosen in is needed.
PHASE_DEPENDENT = frozenset({OperateAction.COMPLETE, OperateAction.REJECT, OperateAction.CANCEL})


@attrs.frozen
class Step:
    """One operate request: the wire ``status``, the ``account_id`` to send (``None``
    leaves it out) and ``force``."""

    status: str
    account_id: str | None = None
    force: bool = False


#: ``planner(task, origin)``: the next step, ``None`` when done; raises TaskStateError.
Planner = Callable[[Task, TaskRef], Step | None]

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


def _compare(task: Task, origin: TaskRef) -> int:
    """-1, 0 or 1: the task is before, at or past its origin in the workflow."""
    now = PHASE_ORDER.get(task.phase.value, -1)
    then = PHASE_ORDER.get(origin.phase.value, -1)
    if now != then:
        return -1 if now < then else 1
    if origin.phase_stage is None or task.phase_stage == origin.phase_stage:
        return 0
    return -1 if task.phase_stage < origin.phase_stage else 1


def _came_round(task: Task, origin: TaskRef) -> bool:
    """The task was sent back since it was chosen (and may be where it was again)."""
    known = origin.number_of_rejections
    return known is not None and task.number_of_rejections > known


def moved(task: Task, origin: TaskRef) -> bool:
    """Whether ``task`` is no longer where it was chosen: another phase or stage, or it
    was sent back (rejected) meanwhile."""
    return _compare(task, origin) != 0 or _came_round(task, origin)


def _where(phase: TaskPhase, stage: int | None) -> str:
    return str(phase) if stage is None else f"{phase} stage {stage}"


def moved_error(task: Task, origin: TaskRef) -> TaskStateError:
    """The refusal of a moved task (``on_moved="fail"``), saying where it went."""
    then = _where(origin.phase, origin.phase_stage)
    if _compare(task, origin) == 0:
        detail = f"it was sent back since it was chosen in {then} ({task.number_of_rejections} "
        detail += f"rejections now, {origin.number_of_rejections} then)"
    else:
        detail = f"it is in {_where(task.phase, task.phase_stage)} now, not in {then} as chosen"
    return _refuse(task, MOVED, f"the task moved on: {detail}; left as it is")


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
    origin: TaskRef,
    me: str,
    *,
    force: bool = False,
    take_over: bool = True,
) -> Step | None:
    """The next request for ``action`` on ``task``, or ``None`` when the goal is reached.

    ``origin`` is where the task was when chosen: it tells a completion, rejection or
    cancellation that already happened (the task moved on to where the action sends it)
    from one still to do. Raises :class:`TaskStateError` when the task is in no state to
    get there (``MOVED`` when it left its origin the other way).

        step = next_step(OperateAction.COMPLETE, task, TaskRef.of(task), me)
        # someone else's task: Step("not_started", account_id=me), take it over first
    """
    where = _compare(task, origin)
    if action is OperateAction.COMPLETE:
        if where > 0:
            return None  # submitted: the task moved on to a later phase
        if where < 0 or _came_round(task, origin):
            raise moved_error(task, origin)
        if task.status == TaskStatus.COMPLETE:
            return None  # accepted
        return _ready(task, me, take_over=take_over) or Step("complete", account_id=me)
    if action is OperateAction.REJECT:
        sent_back = task.phase == TaskPhase.ANNOTATION and origin.phase != TaskPhase.ANNOTATION
        if sent_back or _came_round(task, origin):
            return None  # sent back to annotation
        if where != 0:
            raise moved_error(task, origin)
        if force:
            if task.phase == TaskPhase.ANNOTATION and task.status == TaskStatus.NOT_STARTED:
                return None
            return Step("rejected", account_id=me, force=True)
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
        if where < 0:
            return None  # back in the phase it was submitted from
        if where > 0 or _came_round(task, origin):
            raise moved_error(task, origin)
        if task.phase == TaskPhase.ANNOTATION:
            raise _refuse(task, "wrong_phase", "the task is in annotation: no submission to cancel")
        return Step("cancelled", account_id=me)
    # start, break, on_hold: within the phase the task was chosen in
    if moved(task, origin):
        raise moved_error(task, origin)
    if action is OperateAction.START:
        if task.status == TaskStatus.WORKING and task.account_id == me:
            return None
        return _ready(task, me, take_over=take_over)
    target = _TARGET[action]
    if task.status == target:
        return None
    return _ready(task, me, take_over=take_over) or Step(_WIRE[action], account_id=me)


def next_reassign_step(task: Task, origin: TaskRef, account_id: str | None) -> Step | None:
    """Assign ``task`` to ``account_id`` (``None``: unassign); ``None`` if it already is.

    Only in the phase it was chosen in: a task that moved on is refused with ``MOVED``.
    """
    if moved(task, origin):
        raise moved_error(task, origin)
    if task.account_id == account_id:
        return None
    if task.status == TaskStatus.COMPLETE:
        raise _refuse(
            task, "task_complete", "the task is accepted; reassigning it would cancel that"
        )
    return Step("not_started", account_id=account_id)


def reached(step: Step, before: Task, after: Task) -> bool:
    """Whether ``after`` shows the effect ``step`` asks for on ``before``.

    A request retried after a lost answer and then refused with 409 may have landed
    (its first attempt did it) or not (the first attempt failed, someone else changed
    the task); reading the task again and asking this tells which.
    """
    same_place = (after.phase, after.phase_stage) == (before.phase, before.phase_stage)
    status = step.status
    if status == "not_started":
        return (
            same_place
            and after.status == TaskStatus.NOT_STARTED
            and after.account_id == step.account_id
        )
    if status in ("working", "break", "on_hold"):
        holder = step.account_id or before.account_id
        return same_place and after.status == status and after.account_id == holder
    if status == "complete":
        return before.position < after.position or (
            same_place and after.status == TaskStatus.COMPLETE
        )
    if status == "rejected":
        back = after.phase == TaskPhase.ANNOTATION and after.status == TaskStatus.NOT_STARTED
        if step.force:  # a forced rejection need not count as one
            return back and (not same_place or before.status != TaskStatus.NOT_STARTED)
        return back and after.number_of_rejections > before.number_of_rejections
    if status == "cancelled":
        return after.position < before.position
    return False


def _predict(step: Step, task: Task) -> Task | None:
    """The task after a take-over or a start, for a dry run; ``None`` after the
    operation itself (the goal)."""
    if step.status == "not_started":
        return attrs.evolve(task, status=TaskStatus.NOT_STARTED, account_id=step.account_id)
    if step.status == "working":
        return attrs.evolve(task, status=TaskStatus.WORKING)
    return None


def plan(planner: Planner, task: Task, origin: TaskRef) -> tuple[Step, ...]:
    """The requests a run would send to ``task`` if nobody else changed it meanwhile;
    ``()`` when it is already done. Raises what the planner raises.

        steps = plan(planner, task, TaskRef.of(task))   # (take over, start, complete)
    """
    steps: list[Step] = []
    current: Task | None = task
    while current is not None and len(steps) < MAX_STEPS:
        step = planner(current, origin)
        if step is None:
            break
        steps.append(step)
        current = _predict(step, current)
    return tuple(steps)


def describe_step(step: Step, me: str) -> str:
    """A step in words: ``take over``, ``assign to ID``, ``unassign``, ``start``,
    ``complete``, ``reject``, ``force reject``, ``cancel``, ``break``, ``on_hold``.

    >>> describe_step(Step("working", "acc-me"), "acc-me")
    'start'
    """
    if step.status == "not_started":
        if step.account_id is None:
            return "unassign"
        return "take over" if step.account_id == me else f"assign to {step.account_id}"
    names = {"working": "start", "rejected": "reject", "cancelled": "cancel"}
    name = names.get(step.status, step.status)
    return f"force {name}" if step.force else name
