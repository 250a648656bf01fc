"""The per-task decision (pure): what the next request is, when a task is done, when it
is refused; nothing here touches a server."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from annoq import InvalidArgumentError
from annoq._bulk import failure_reason
from annoq.annofab import (
    OperateAction,
    OverLimitError,
    Task,
    TaskPhase,
    TaskRef,
    TaskStateError,
    TaskStatus,
)
from annoq.annofab._decisions import (
    Step,
    describe_step,
    moved,
    next_reassign_step,
    next_step,
    plan,
    reached,
)

ME, OTHER = "acc-me", "acc-other"
NOW = datetime(2026, 11, 24, 21, 0, tzinfo=timezone(timedelta(hours=9)))


def task(**fields: Any) -> Task:
    base: dict[str, Any] = {
        "project_id": "p",
        "task_id": "t",
        "phase": TaskPhase.ANNOTATION,
        "phase_stage": 1,
        "status": TaskStatus.NOT_STARTED,
        "updated_datetime": NOW,
        "account_id": ME,
    }
    base.update(fields)
    return Task(**base)


def step(action: str, now: Task, origin: Task | None = None, **kw: Any) -> Step | None:
    return next_step(OperateAction(action), now, TaskRef.of(origin or now), ME, **kw)


def refusal(action: str, now: Task, origin: Task | None = None, **kw: Any) -> str:
    with pytest.raises(TaskStateError) as caught:
        step(action, now, origin, **kw)
    return caught.value.failure_code


@pytest.mark.parametrize("action", ["start", "complete", "reject", "break", "on_hold"])
def test_someone_elses_task_is_taken_over_first(action: str) -> None:
    phase = TaskPhase.ACCEPTANCE if action == "reject" else TaskPhase.ANNOTATION
    assert step(action, task(account_id=OTHER, phase=phase)) == Step("not_started", ME)
    assert step(action, task(account_id=None, phase=phase)) == Step("not_started", ME)


@pytest.mark.parametrize("action", ["start", "complete", "break", "on_hold"])
def test_without_take_over_someone_elses_task_is_refused(action: str) -> None:
    assert refusal(action, task(account_id=OTHER), take_over=False) == "assigned_to_other"


@pytest.mark.parametrize("status", ["not_started", "break", "on_hold"])
def test_ones_own_idle_task_is_started_before_the_operation(status: str) -> None:
    assert step("complete", task(status=TaskStatus(status))) == Step("working", ME)


@pytest.mark.parametrize(
    ("action", "wire"), [("complete", "complete"), ("break", "break"), ("on_hold", "on_hold")]
)
def test_a_task_one_is_working_on_gets_the_operation(action: str, wire: str) -> None:
    assert step(action, task(status=TaskStatus.WORKING)) == Step(wire, ME)


def test_done_states_need_no_request() -> None:
    assert step("start", task(status=TaskStatus.WORKING)) is None
    assert step("break", task(status=TaskStatus.BREAK, account_id=OTHER)) is None
    assert step("on_hold", task(status=TaskStatus.ON_HOLD)) is None
    assert step("complete", task(status=TaskStatus.COMPLETE, phase=TaskPhase.ACCEPTANCE)) is None


def test_a_completion_is_recognised_by_the_task_moving_to_a_later_phase() -> None:
    origin = task(status=TaskStatus.WORKING)
    moved = task(phase=TaskPhase.ACCEPTANCE, account_id=None)
    assert step("complete", moved, origin) is None
    assert refusal("complete", origin, moved) == "phase_changed"  # went back meanwhile


def test_reject_needs_inspection_or_acceptance_unless_forced() -> None:
    assert refusal("reject", task(status=TaskStatus.WORKING)) == "wrong_phase"
    accepted = task(phase=TaskPhase.ACCEPTANCE, status=TaskStatus.COMPLETE)
    assert refusal("reject", accepted) == "task_complete"
    assert step("reject", accepted, force=True) == Step("rejected", ME, force=True)
    working = task(phase=TaskPhase.INSPECTION, status=TaskStatus.WORKING)
    assert step("reject", working) == Step("rejected", ME)


def test_a_rejection_is_recognised_by_the_count_and_the_return_to_annotation() -> None:
    origin = task(phase=TaskPhase.ACCEPTANCE, status=TaskStatus.WORKING)
    back = task(account_id=OTHER, number_of_rejections=1)
    assert step("reject", back, origin) is None
    assert step("reject", task(), force=True) is None  # annotation, not started: done


def test_cancel_is_done_once_back_in_an_earlier_phase_and_refused_in_annotation() -> None:
    origin = task(phase=TaskPhase.ACCEPTANCE, account_id=None)
    assert step("cancel", origin) == Step("cancelled", ME)
    assert step("cancel", task(), origin) is None
    assert refusal("cancel", task()) == "wrong_phase"


def test_a_complete_task_is_never_started_again() -> None:
    accepted = task(phase=TaskPhase.ACCEPTANCE, status=TaskStatus.COMPLETE)
    assert refusal("start", accepted) == "task_complete"
    assert refusal("break", accepted) == "task_complete"


def reassign(now: Task, account_id: str | None) -> Step | None:
    return next_reassign_step(now, TaskRef.of(now), account_id)


def test_reassign_skips_tasks_already_so_and_refuses_accepted_ones() -> None:
    assert reassign(task(account_id=OTHER), OTHER) is None
    assert reassign(task(account_id=None), None) is None
    assert reassign(task(), OTHER) == Step("not_started", OTHER)
    assert reassign(task(), None) == Step("not_started", None)
    with pytest.raises(TaskStateError):
        reassign(task(status=TaskStatus.COMPLETE), OTHER)


def test_a_refusal_reports_its_own_reason_and_survives_pickling() -> None:
    error = TaskStateError("t-1", "wrong_phase", "the task is in annotation")
    assert failure_reason(error) == "wrong_phase"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.task_id, copy.failure_code, str(copy)) == ("t-1", "wrong_phase", str(error))


def test_the_over_limit_error_survives_pickling_with_its_counts() -> None:
    error = OverLimitError(12_000, 10_000, local_filters=True)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.total_count, copy.cap, str(copy)) == (12_000, 10_000, str(error))
    assert "mode='fast'" in str(copy)


def test_tasks_are_frozen_and_hashable_despite_their_metadata() -> None:
    one = task(metadata={"priority": 1})
    assert hash(one) == hash(task(metadata={"priority": 2}))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        one.status = TaskStatus.WORKING  # type: ignore[misc]


def test_a_task_has_moved_when_its_phase_stage_or_rejection_count_differs_from_its_origin() -> None:
    listed = TaskRef("t", "annotation", 1, number_of_rejections=0)
    assert not moved(task(), listed)
    assert not moved(task(phase_stage=2), TaskRef("t", "annotation"))  # any stage
    assert moved(task(phase=TaskPhase.ACCEPTANCE), listed)
    assert moved(task(phase_stage=2), listed)
    assert moved(task(number_of_rejections=1), listed)  # sent back and round again
    assert not moved(task(number_of_rejections=1), TaskRef("t", "annotation", 1))


@pytest.mark.parametrize("action", ["start", "break", "on_hold"])
def test_actions_within_a_phase_refuse_a_task_that_moved_on(action: str) -> None:
    origin = task(phase=TaskPhase.INSPECTION)
    assert refusal(action, task(phase=TaskPhase.ACCEPTANCE), origin) == "phase_changed"


def test_a_task_resubmitted_since_it_was_listed_is_not_submitted_again() -> None:
    listed = task(status=TaskStatus.WORKING)
    again = task(status=TaskStatus.WORKING, number_of_rejections=1)
    assert refusal("complete", again, listed) == "phase_changed"
    assert step("reject", again, listed) is None  # it was sent back: done


def test_reached_tells_a_landed_request_from_someone_elses_change() -> None:
    working = task(status=TaskStatus.WORKING)
    assert reached(Step("break", ME), working, task(status=TaskStatus.BREAK))
    assert not reached(Step("break", ME), working, task(status=TaskStatus.ON_HOLD))
    assert reached(Step("not_started", OTHER), task(), task(account_id=OTHER))
    assert not reached(
        Step("not_started", OTHER), task(), task(account_id=OTHER, status=TaskStatus.WORKING)
    )
    assert reached(Step("complete", ME), working, task(phase=TaskPhase.ACCEPTANCE))
    assert not reached(Step("complete", ME), working, task(status=TaskStatus.WORKING))
    in_acceptance = task(phase=TaskPhase.ACCEPTANCE, status=TaskStatus.WORKING)
    assert reached(Step("rejected", ME), in_acceptance, task(number_of_rejections=1))
    assert not reached(Step("rejected", ME), in_acceptance, task())  # not counted: a forced one
    assert reached(Step("rejected", ME, force=True), in_acceptance, task())
    assert reached(Step("cancelled", ME), task(phase=TaskPhase.ACCEPTANCE), task())


def test_a_plan_lists_the_requests_a_run_would_send_in_words() -> None:
    def planner(now: Task, origin: TaskRef) -> Step | None:
        return next_step(OperateAction.COMPLETE, now, origin, ME)

    theirs = task(account_id=OTHER)
    steps = plan(planner, theirs, TaskRef.of(theirs))
    assert [describe_step(s, ME) for s in steps] == ["take over", "start", "complete"]
    done = task(phase=TaskPhase.ACCEPTANCE)
    assert plan(planner, done, TaskRef("t", "annotation")) == ()
    assert describe_step(Step("not_started", OTHER), ME) == f"assign to {OTHER}"
    assert describe_step(Step("not_started"), ME) == "unassign"
    assert describe_step(Step("rejected", ME, force=True), ME) == "force reject"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"task_id": "", "phase": "annotation"}, "task_id"),
        ({"task_id": "t", "phase": None}, "phase"),
        ({"task_id": "t", "phase": "review"}, "phase"),
        ({"task_id": "t", "phase": "annotation", "phase_stage": 0}, "phase_stage"),
        ({"task_id": "t", "phase": "annotation", "number_of_rejections": -1}, "rejections"),
    ],
)
def test_a_task_ref_checks_its_fields_and_names_the_wrong_one(
    fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=named):
        TaskRef(**fields)
