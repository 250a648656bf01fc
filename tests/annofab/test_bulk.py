"""Bulk operations against the emulator: the official CLI's per-task practice on the
shared bulk engine, exactly one outcome per task, each state change applied once, under
faults and concurrent changes."""

from __future__ import annotations

from collections import Counter

import pytest

from annoq import BulkProgress, InvalidArgumentError, TimeoutError
from annoq._config import ADAPTIVE_INITIAL_LIMIT, ANNOFAB_BULK_CONCURRENCY
from annoq.annofab import AnnofabSession, Project, TaskPhase, TaskRef, TaskStatus
from annoq.emulator import Emulator, FaultRule
from tests._support import FAST_RETRIES


async def test_bulk_complete_of_2000_tasks_held_by_others_under_faults_applies_each_change_once(
    emu: Emulator, project: Project
) -> None:
    af = emu.annofab
    others = [af.add_user(f"annotator-{n}") for n in range(3)]
    eligible: list[str] = []
    for n, who in enumerate(others):
        eligible += af.seed_tasks(650, assignee=who, status=["not_started", "break", "on_hold"][n])
    eligible += af.seed_tasks(50, assignee=af.user, status="working")
    accepted = af.seed_tasks(20, phase="acceptance", status="complete", assignee=others[0])
    missing = [f"no-such-task-{n}" for n in range(10)]
    assert len(eligible) == 2000
    operate_and_read = {"annofab_operate", "annofab_task"}
    for rule in (
        FaultRule(kind="status", status=503, rate=0.04, routes=operate_and_read),
        FaultRule(
            kind="status", status=429, rate=0.02, routes=operate_and_read, retry_after="0.01"
        ),
        FaultRule(kind="drop", rate=0.02, routes=operate_and_read),
        FaultRule(kind="apply_then_drop", rate=0.03, routes={"annofab_operate"}),
    ):
        emu.faults.add(rule)
    # someone else edits a task just before one of its operations arrives: a 409
    af.concurrent_edits(0.03, per_task=1)
    first_half = set(eligible[:1000])
    given = [t async for t in project.tasks() if t.task_id in first_half]
    assert len(given) == 1000  # half as Task objects, half as ids that are read first

    result = await project.bulk_operate(
        given + eligible[1000:] + accepted + missing,
        "complete",
        expected_phase="annotation",
        concurrency=8,
    )

    assert (result.total, result.updated, result.unchanged, result.failed) == (2030, 2000, 20, 10)
    assert {(f.key, f.reason) for f in result.failures} == {(m, "not_found") for m in missing}
    me = af.account_id
    for task_id in eligible:
        task = af.task(task_id)
        assert (task["phase"], task["status"]) == ("acceptance", "not_started"), task
        assert task["histories_by_phase"][-1] == {
            "phase": "annotation",
            "phase_stage": 1,
            "account_id": me,
            "worked": True,
        }
        assert af.applied(task_id, "complete") == 1
        assert af.applied(task_id, "working") == (0 if task_id in eligible[-50:] else 1)
        assert af.applied(task_id, "not_started") == (0 if task_id in eligible[-50:] else 1)
    assert af.applied() == 2000 + 2 * 1950
    assert all(af.task(t)["status"] == "complete" for t in accepted)
    # every kind of trouble really happened
    assert emu.faults.count(kind="status_503") > 0
    assert emu.faults.count(kind="status_429") > 0
    assert emu.faults.count(kind="drop") > 0
    assert emu.faults.count(kind="apply_then_drop") > 0
    assert af.store.edits > 0


async def test_given_tasks_are_used_as_read_and_done_ones_cost_no_request(
    emu: Emulator, project: Project
) -> None:
    mine = emu.annofab.seed_tasks(30, assignee=emu.annofab.user)
    done = emu.annofab.seed_tasks(20, assignee=emu.annofab.user, status="working")
    tasks = [t async for t in project.tasks()]
    result = await project.bulk_operate(tasks, "start")
    assert (result.updated, result.unchanged) == (30, 20)
    assert emu.faults.requests_seen("annofab_task") == 0
    assert emu.faults.requests_seen("annofab_operate") == 30
    assert all(emu.annofab.applied(t) == 0 for t in done)
    assert all(emu.annofab.task(t)["status"] == "working" for t in mine)


async def test_a_409_from_a_concurrent_change_rereads_once_and_decides_again(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(10, assignee=emu.annofab.user)
    emu.annofab.concurrent_edits(1.0, times=1)
    result = await project.bulk_operate(ids, "break", concurrency=1)
    assert (result.updated, result.failed) == (10, 0)
    assert emu.annofab.store.edits == 1
    assert emu.faults.requests_seen("annofab_task") == 11  # 10 reads, 1 re-read
    assert all(emu.annofab.applied(t, "break") == 1 for t in ids)


async def test_repeated_conflicts_fail_the_task_and_put_it_back_to_break(
    emu: Emulator, project: Project
) -> None:
    [task_id] = emu.annofab.seed_tasks(1, assignee=emu.annofab.user)
    emu.annofab.concurrent_edits(1.0, times=2, statuses={"complete"})
    result = await project.bulk_operate([task_id], "complete", expected_phase="annotation")
    [failure] = result.failures
    assert (failure.key, failure.reason) == (task_id, "conflict")
    task = emu.annofab.task(task_id)
    assert (task["phase"], task["status"]) == ("annotation", "break")
    assert emu.annofab.applied(task_id, "working") == 1
    assert emu.annofab.applied(task_id, "break") == 1
    assert emu.annofab.applied(task_id, "complete") == 0


async def test_a_lost_answer_is_resolved_against_the_server_and_counted_updated(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(5, assignee=emu.annofab.user)
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"annofab_operate"}, times=5))
    result = await project.bulk_operate(ids, "on_hold", concurrency=1)
    assert (result.updated, result.unchanged, result.failed) == (5, 0, 0)
    assert emu.faults.count(kind="apply_then_drop") == 5
    assert all(emu.annofab.applied(t, "working") == 1 for t in ids)
    assert all(emu.annofab.applied(t, "on_hold") == 1 for t in ids)


async def test_take_over_false_reports_tasks_held_by_others_and_leaves_them(
    emu: Emulator, project: Project
) -> None:
    other = emu.annofab.add_user("annotator")
    theirs = emu.annofab.seed_tasks(5, assignee=other)
    nobodys = emu.annofab.seed_tasks(5)
    result = await project.bulk_operate(
        theirs + nobodys, "complete", expected_phase="annotation", take_over=False
    )
    assert result.failed == 10
    assert Counter(f.reason for f in result.failures) == {"assigned_to_other": 10}
    assert emu.annofab.applied() == 0


async def test_a_worker_cannot_take_over_and_gets_permission_denied(emu: Emulator) -> None:
    worker = emu.annofab.add_user("worker", role="worker")
    other = emu.annofab.add_user("other")
    theirs = emu.annofab.seed_tasks(3, assignee=other)
    mine = emu.annofab.seed_tasks(2, assignee=worker)
    async with AnnofabSession(
        pat=worker.pat, endpoint=emu.base_url, retry_policy=FAST_RETRIES
    ) as af:
        result = await af.project(emu.annofab.project_id).bulk_operate(
            theirs + mine, "complete", expected_phase="annotation"
        )
    assert (result.updated, result.failed) == (2, 3)
    assert {f.reason for f in result.failures} == {"permission_denied"}
    assert all(emu.annofab.task(t)["account_id"] == other.account_id for t in theirs)


async def test_reject_sends_inspection_and_acceptance_tasks_back_and_refuses_annotation(
    emu: Emulator, project: Project
) -> None:
    annotator = emu.annofab.add_user("annotator")
    in_acceptance = emu.annofab.seed_tasks(4, assignee=annotator)
    for task_id in in_acceptance:
        emu.annofab.operate(task_id, "working", as_user=annotator)
        emu.annofab.operate(task_id, "complete", as_user=annotator)
    annotating = emu.annofab.seed_tasks(2, assignee=annotator)
    refs = [TaskRef(t, "acceptance") for t in in_acceptance]
    refs += [TaskRef(t, "annotation") for t in annotating]
    result = await project.bulk_operate(refs, "reject")
    assert (result.updated, result.failed) == (4, 2)
    assert {f.reason for f in result.failures} == {"wrong_phase"}
    for task_id in in_acceptance:
        task = emu.annofab.task(task_id)
        assert (task["phase"], task["status"]) == ("annotation", "not_started")
        assert (task["account_id"], task["number_of_rejections"]) == (annotator.account_id, 1)
    again = await project.bulk_operate(in_acceptance, "reject", expected_phase="acceptance")
    assert (again.unchanged, again.failed) == (4, 0)  # sent back already: a rerun is a no-op
    assert emu.annofab.applied(status="rejected") == 4


async def test_force_reject_as_owner_sends_back_from_any_state_without_starting(
    emu: Emulator, project: Project
) -> None:
    accepted = emu.annofab.seed_tasks(3, phase="acceptance", status="complete")
    fresh = emu.annofab.seed_tasks(2)
    refs = [TaskRef(t, "acceptance") for t in accepted] + [TaskRef(t, "annotation") for t in fresh]
    result = await project.bulk_operate(refs, "reject", force=True)
    assert (result.updated, result.unchanged) == (3, 2)
    assert emu.annofab.applied(status="working") == 0
    assert all(emu.annofab.task(t)["phase"] == "annotation" for t in accepted)


async def test_cancel_takes_back_ones_own_submissions(emu: Emulator, project: Project) -> None:
    ids = emu.annofab.seed_tasks(3, assignee=emu.annofab.user)
    await project.bulk_operate(ids, "complete", expected_phase="annotation")
    result = await project.bulk_operate(ids, "cancel", expected_phase="acceptance")
    assert result.updated == 3
    assert all(emu.annofab.task(t)["phase"] == "annotation" for t in ids)
    again = await project.bulk_operate(ids, "cancel", expected_phase="acceptance")
    assert (again.unchanged, again.failed) == (3, 0)  # taken back already
    assert emu.annofab.applied(status="cancelled") == 3
    annotating = await project.bulk_operate(ids, "cancel", expected_phase="annotation")
    assert {f.reason for f in annotating.failures} == {"wrong_phase"}


async def test_bulk_reassign_assigns_unassigns_and_skips_tasks_already_so(
    emu: Emulator, project: Project
) -> None:
    other = emu.annofab.add_user("annotator")
    ids = emu.annofab.seed_tasks(6)
    already = emu.annofab.seed_tasks(2, assignee=other)
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"annofab_operate"}, times=2))
    result = await project.bulk_reassign(ids + already, other.account_id)
    assert (result.updated, result.unchanged, result.failed) == (6, 2, 0)
    assert all(emu.annofab.task(t)["account_id"] == other.account_id for t in ids + already)
    assert all(emu.annofab.applied(t) == 1 for t in ids)
    cleared = await project.bulk_reassign(ids, None)
    assert cleared.updated == 6
    assert all("account_id" not in emu.annofab.task(t) for t in ids)


async def test_default_concurrency_starts_at_four_under_its_ceiling_and_progress_is_reported(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(40, assignee=emu.annofab.user)
    events: list[BulkProgress] = []
    result = await project.bulk_operate(ids, "start", on_progress=events.append)
    assert result.updated == 40
    assert events[-1].final
    assert events[-1].result == result
    assert events[0].concurrency == ADAPTIVE_INITIAL_LIMIT == 4
    assert all(1 <= e.concurrency <= ANNOFAB_BULK_CONCURRENCY for e in events)


async def test_bulk_arguments_are_checked_before_any_request(
    emu: Emulator, project: Project
) -> None:
    with pytest.raises(InvalidArgumentError):
        await project.bulk_operate(["t"], "submit")
    with pytest.raises(InvalidArgumentError):
        await project.bulk_operate(["t"], "complete", force=True)
    with pytest.raises(InvalidArgumentError):
        await project.bulk_operate("task-000001", "start")
    assert emu.faults.requests_seen() == 0


async def test_requests_always_have_a_time_limit(emu: Emulator) -> None:
    emu.annofab.seed_tasks(1)
    async with AnnofabSession(pat=emu.annofab.pat, endpoint=emu.base_url) as af:
        assert af.options.timeout.total is not None
        slow = af.with_options(timeout=0.05, max_retries=0)
        emu.faults.add(FaultRule(kind="latency", latency=0.5, routes={"annofab_task"}))
        with pytest.raises(TimeoutError):
            await slow.project(emu.annofab.project_id).task("task-000001")


async def test_phases_and_statuses_decode_to_their_enums(emu: Emulator, project: Project) -> None:
    emu.annofab.seed_tasks(1, phase="inspection", status="on_hold")
    [task] = [t async for t in project.tasks()]
    assert (task.phase, task.status) == (TaskPhase.INSPECTION, TaskStatus.ON_HOLD)
