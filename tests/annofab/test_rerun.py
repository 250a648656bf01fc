"""Bulk operations that can be rerun, stopped and resumed: a task is acted on only where
it was chosen, a stopped run leaves no task ``working`` and lists what it abandoned, and
a 409 after a retry counts as ours only when the task shows our change."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest

from annoq import BulkAbortedError, BulkProgress, InvalidArgumentError
from annoq.annofab import Project, Task, TaskRef
from annoq.emulator import Emulator, FaultRule


def accepted(emu: Emulator, task_id: str) -> bool:
    task = emu.annofab.task(task_id)
    return bool(task["phase"] == "acceptance" and task["status"] == "complete")


async def test_a_rerun_of_complete_by_bare_ids_changes_nothing_the_first_run_did(
    emu: Emulator, project: Project
) -> None:
    other = emu.annofab.add_user("annotator")
    ids = emu.annofab.seed_tasks(30, assignee=other)
    first = await project.bulk_operate(ids, "complete", expected_phase="annotation")
    again = await project.bulk_operate(ids, "complete", expected_phase="annotation")
    assert (first.updated, first.unchanged, first.failed) == (30, 0, 0)
    assert (again.updated, again.unchanged, again.failed) == (0, 30, 0)
    for task_id in ids:
        task = emu.annofab.task(task_id)
        assert (task["phase"], task["status"]) == ("acceptance", "not_started")  # not accepted
        assert emu.annofab.applied(task_id, "complete") == 1


async def test_a_rerun_of_complete_from_a_listing_changes_nothing_the_first_run_did(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(10, assignee=emu.annofab.user)
    refs = [TaskRef.of(t) async for t in project.tasks()]
    listed = [t async for t in project.tasks()]
    assert (await project.bulk_operate(refs, "complete")).updated == 10
    assert (await project.bulk_operate(refs, "complete")).unchanged == 10
    assert (await project.bulk_operate(listed, "complete")).unchanged == 10  # stale Tasks
    assert all(emu.annofab.applied(t, "complete") == 1 for t in ids)
    assert not any(accepted(emu, t) for t in ids)


async def test_bare_ids_for_an_action_that_moves_the_phase_are_refused_before_any_request(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(3, assignee=emu.annofab.user)
    for action in ("complete", "reject", "cancel"):
        with pytest.raises(InvalidArgumentError, match="expected_phase"):
            await project.bulk_operate(ids, action)
    with pytest.raises(InvalidArgumentError, match="expected_phase"):
        await project.bulk_operate(ids, "start", expected_phase_stage=1)
    with pytest.raises(InvalidArgumentError, match="on_moved"):
        await project.bulk_operate(ids, "start", on_moved="skip")  # type: ignore[arg-type]
    assert emu.faults.requests_seen() == 0


async def test_bare_ids_from_a_lazy_input_fail_with_phase_required_and_send_nothing(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(3, assignee=emu.annofab.user)

    async def lazily() -> AsyncIterator[str]:
        for task_id in ids:
            yield task_id

    result = await project.bulk_operate(lazily(), "complete")
    assert {(f.key, f.reason) for f in result.failures} == {(t, "phase_required") for t in ids}
    assert emu.faults.requests_seen("annofab_task") == 0
    assert emu.annofab.applied() == 0


async def test_a_task_that_moved_on_is_unchanged_or_with_on_moved_fail_a_phase_changed_failure(
    emu: Emulator, project: Project
) -> None:
    [task_id] = emu.annofab.seed_tasks(1, phase="acceptance", assignee=emu.annofab.user)
    result = await project.bulk_operate([task_id], "start", expected_phase="annotation")
    assert (result.unchanged, result.failed) == (1, 0)
    result = await project.bulk_operate(
        [task_id], "start", expected_phase="annotation", on_moved="fail"
    )
    [failure] = result.failures
    assert failure.reason == "phase_changed"
    assert "acceptance" in str(failure.error)
    assert "annotation" in str(failure.error)
    assert emu.annofab.applied() == 0


async def test_a_task_sent_back_and_resubmitted_since_it_was_listed_is_not_submitted_again(
    emu: Emulator, project: Project
) -> None:
    annotator = emu.annofab.add_user("annotator")
    [task_id] = emu.annofab.seed_tasks(1, assignee=annotator)
    [ref] = [TaskRef.of(t) async for t in project.tasks()]
    assert (await project.bulk_operate([ref], "complete")).updated == 1
    me = emu.annofab.user
    emu.annofab.operate(task_id, "not_started", account_id=me)  # the accepter takes it,
    emu.annofab.operate(task_id, "working")
    emu.annofab.operate(task_id, "rejected")  # and sends it back to annotation
    emu.annofab.operate(task_id, "not_started", account_id=annotator)
    emu.annofab.operate(task_id, "working", as_user=annotator)
    again = await project.bulk_operate([ref], "complete")
    assert (again.unchanged, again.failed) == (1, 0)
    task = emu.annofab.task(task_id)
    assert (task["phase"], task["status"], task["account_id"]) == (
        "annotation",
        "working",
        annotator.account_id,
    )
    assert emu.annofab.applied(task_id, "complete") == 1


async def test_a_rerun_of_reject_and_cancel_changes_nothing_the_first_run_did(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(4, assignee=emu.annofab.user)
    await project.bulk_operate(ids, "complete", expected_phase="annotation")
    for _ in range(2):
        await project.bulk_operate(ids[:2], "cancel", expected_phase="acceptance")
        await project.bulk_operate(ids[2:], "reject", expected_phase="acceptance", force=True)
    assert all(emu.annofab.applied(t, "cancelled") == 1 for t in ids[:2])
    assert all(emu.annofab.applied(t, "rejected") == 1 for t in ids[2:])
    assert {emu.annofab.task(t)["phase"] for t in ids} == {"annotation"}


async def test_a_cancelled_run_puts_started_tasks_back_to_break_and_a_rerun_finishes_the_job(
    emu: Emulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Ctrl-C-then-rerun scenario: the run is cancelled half way, with tasks started
    # and their completion in flight; rerunning the same call completes each task once.
    ids = emu.annofab.seed_tasks(40, assignee=emu.annofab.user)
    emu.faults.add(FaultRule(kind="latency", latency=0.05, routes={"annofab_operate"}))
    events: list[BulkProgress] = []
    half_way = anyio.Event()
    working: list[str] = []
    decide = emu.faults.decide

    def deciding(route: str) -> Any:
        if not half_way.is_set() and emu.annofab.applied(status="complete") >= 18:
            working[:] = [t for t in ids if emu.annofab.task(t)["status"] == "working"]
            if working:
                half_way.set()
        return decide(route)

    monkeypatch.setattr(emu.faults, "decide", deciding)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:

            async def run() -> None:
                await project.bulk_operate(
                    ids,
                    "complete",
                    expected_phase="annotation",
                    on_progress=events.append,
                    concurrency=4,  # so that half the input is still unread half way
                )

            group.start_soon(run)
            await half_way.wait()
            scope.cancel()  # with tasks started and being completed
    assert scope.cancelled_caught
    assert not [t for t in ids if emu.annofab.task(t)["status"] == "working"]
    final = events[-1]
    assert final.final
    assert final.result is not None
    partial = final.result
    assert set(working) <= set(partial.abandoned)
    assert partial.total == partial.updated
    assert len(set(partial.abandoned)) == len(partial.abandoned)
    assert not partial.complete
    emu.faults.clear()

    rerun = await project.bulk_operate(ids, "complete", expected_phase="annotation")
    assert (rerun.total, rerun.failed) == (40, 0)
    # an abandoned completion may have landed or not: either way it is done once
    assert partial.updated <= rerun.unchanged <= partial.updated + len(partial.abandoned)
    for task_id in ids:
        assert emu.annofab.applied(task_id, "complete") == 1
        assert not accepted(emu, task_id)


def when_requests_see(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, condition: Callable[[str], bool]
) -> anyio.Event:
    """An event set as soon as a request reaching the emulator (its route given) finds
    ``condition`` true."""
    event = anyio.Event()
    decide = emu.faults.decide

    def deciding(route: str) -> Any:
        if condition(route):
            event.set()
        return decide(route)

    monkeypatch.setattr(emu.faults, "decide", deciding)
    return event


async def then_missing(given: list[Task], event: anyio.Event) -> AsyncIterator[Task | str]:
    """The given tasks, then (once ``event`` is set) a task id that does not exist."""
    for task in given:
        yield task
    await event.wait()
    yield "no-such-task"


async def test_fail_fast_puts_the_tasks_in_flight_back_to_break_and_lists_them_abandoned(
    emu: Emulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = emu.annofab.seed_tasks(3, assignee=emu.annofab.user)
    given = [t async for t in project.tasks()]  # no read: each starts at once
    # Once the three are started and their completions are on their way (slowed down),
    # the missing task's 404 stops the run.
    started = when_requests_see(
        emu, monkeypatch, lambda route: emu.annofab.applied(status="working") == 3
    )
    emu.faults.add(FaultRule(kind="latency", latency=0.5, routes={"annofab_operate"}))
    with pytest.raises(BulkAbortedError) as caught:
        await project.bulk_operate(
            then_missing(given, started),
            "complete",
            expected_phase="annotation",
            fail_fast=True,
        )
    result = caught.value.result
    assert caught.value.first_failure.reason == "not_found"
    assert (result.total, result.failed) == (1, 1)
    assert sorted(result.abandoned) == sorted(ids)
    assert emu.annofab.applied(status="working") == 3
    assert {emu.annofab.task(t)["status"] for t in ids} == {"break"}
    assert emu.annofab.applied(status="complete") == 0


async def test_a_409_after_a_503_that_applied_nothing_is_not_counted_as_ours(
    emu: Emulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = emu.annofab.add_user("owner-2", role="owner")
    annotator = emu.annofab.add_user("annotator")
    [task_id] = emu.annofab.seed_tasks(1)
    emu.faults.add(FaultRule(kind="status", status=503, routes={"annofab_operate"}, times=1))
    decide = emu.faults.decide

    def and_meanwhile(route: str) -> Any:
        decision = decide(route)
        if decision.rule is not None and route == "annofab.operate":
            # while our first attempt fails, another owner assigns the task to the
            # annotator, who starts it: our retry meets a 409
            emu.annofab.operate(task_id, "not_started", as_user=owner, account_id=annotator)
            emu.annofab.operate(task_id, "working", as_user=annotator)
        return decision

    monkeypatch.setattr(emu.faults, "decide", and_meanwhile)
    result = await project.bulk_reassign([task_id], annotator.account_id)
    assert (result.updated, result.unchanged, result.failed) == (0, 1, 0)
    assert emu.faults.count(kind="status_503") == 1
    mine = [op for op in emu.annofab.operations if op.account_id == emu.annofab.account_id]
    assert mine == []


async def test_a_start_in_flight_when_the_run_stops_is_seen_through_then_put_back_to_break(
    emu: Emulator, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cancelling a start request in flight would leave it unknown whether it lands
    # (on the real service it may, after the put-back has looked): it is seen through.
    ids = emu.annofab.seed_tasks(2, assignee=emu.annofab.user)
    given = [t async for t in project.tasks()]
    starts: list[str] = []

    def both_starts_sent(route: str) -> bool:
        starts.extend([route] if route == "annofab.operate" else [])
        return len(starts) == 2

    sent = when_requests_see(emu, monkeypatch, both_starts_sent)
    emu.faults.add(FaultRule(kind="latency", latency=0.5, routes={"annofab_operate"}))
    with pytest.raises(BulkAbortedError) as caught:
        await project.bulk_operate(
            then_missing(given, sent), "break", expected_phase="annotation", fail_fast=True
        )
    assert sorted(caught.value.result.abandoned) == sorted(ids)
    assert emu.annofab.applied(status="working") == 2
    assert {emu.annofab.task(t)["status"] for t in ids} == {"break"}
