"""The emulated task state machine, row by row of the table in docs/semantics/annofab.md
("Operating on a task"): each row once allowed and once refused (wrong actor or wrong
state), over HTTP. A refused operation changes nothing and is not counted as applied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from annoq.emulator import AnnofabUser, Emulator

from ._support import Client, error_code


class Cast:
    """The project's people: the owner (default user), an accepter and two workers."""

    def __init__(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        af = emu.annofab
        self.emu = emu
        self.owner = Client(emu, http, af.user)
        self.accepter = Client(emu, http, af.add_user("accepter", role="accepter"))
        self.annotator = Client(emu, http, af.add_user("annotator", role="worker"))
        self.other = Client(emu, http, af.add_user("other", role="worker"))

    def task(self, *, who: AnnofabUser | None = None, **state: Any) -> str:
        [task_id] = self.emu.annofab.seed_tasks(1, assignee=who, **state)
        return task_id

    def submitted(self) -> str:
        """A task the annotator worked and submitted: acceptance, not started, unassigned."""
        task_id = self.task(who=self.annotator.user)
        self.emu.annofab.operate(task_id, "working", as_user=self.annotator.user)
        self.emu.annofab.operate(task_id, "complete", as_user=self.annotator.user)
        return task_id

    def in_acceptance_working(self) -> str:
        """A submitted task the accepter has started."""
        task_id = self.submitted()
        af = self.emu.annofab
        af.operate(task_id, "not_started", account_id=self.accepter.user)  # owner assigns
        af.operate(task_id, "working", as_user=self.accepter.user)
        return task_id


@pytest.fixture
async def cast(emu: Emulator) -> AsyncIterator[Cast]:
    async with aiohttp.ClientSession() as http:
        yield Cast(emu, http)


def state(emu: Emulator, task_id: str) -> tuple[str, str, str | None]:
    task = emu.annofab.task(task_id)
    return task["phase"], task["status"], task.get("account_id")


# -- start -------------------------------------------------------------------------------


@pytest.mark.parametrize("start_from", ["not_started", "break", "on_hold"])
async def test_start_is_allowed_to_the_assignee_from_not_started_break_and_on_hold(
    cast: Cast, start_from: str
) -> None:
    task_id = cast.task(who=cast.annotator.user, status=start_from)
    status, body = await cast.annotator.operate(task_id, "working")
    assert status == 200
    assert body["status"] == "working"
    assert body["account_id"] == cast.annotator.user.account_id
    assert cast.emu.annofab.applied(task_id, "working") == 1


async def test_start_is_refused_to_anyone_but_the_assignee(cast: Cast) -> None:
    task_id = cast.task(who=cast.annotator.user)
    status, body = await cast.other.operate(task_id, "working")
    assert status == 403
    assert error_code(body) == "NOT_ASSIGNED"
    assert state(cast.emu, task_id) == ("annotation", "not_started", cast.annotator.user.account_id)
    assert cast.emu.annofab.applied(task_id) == 0


@pytest.mark.parametrize("start_from", ["working", "complete"])
async def test_start_is_refused_from_working_and_complete(cast: Cast, start_from: str) -> None:
    phase = "acceptance" if start_from == "complete" else "annotation"
    task_id = cast.task(who=cast.annotator.user, status=start_from, phase=phase)
    status, body = await cast.annotator.operate(task_id, "working")
    assert status == 400
    assert error_code(body) == "INVALID_TASK_OPERATION"
    assert cast.emu.annofab.applied(task_id) == 0


# -- pause / hold ------------------------------------------------------------------------


@pytest.mark.parametrize("pause", ["break", "on_hold"])
async def test_break_and_on_hold_are_allowed_to_the_assignee_from_working(
    cast: Cast, pause: str
) -> None:
    task_id = cast.task(who=cast.annotator.user, status="working")
    status, body = await cast.annotator.operate(task_id, pause)
    assert status == 200
    assert body["status"] == pause


@pytest.mark.parametrize("pause", ["break", "on_hold"])
async def test_break_and_on_hold_are_refused_from_not_started_and_to_others(
    cast: Cast, pause: str
) -> None:
    idle = cast.task(who=cast.annotator.user)
    status, _ = await cast.annotator.operate(idle, pause)
    assert status == 400
    working = cast.task(who=cast.annotator.user, status="working")
    status, _ = await cast.other.operate(working, pause)
    assert status == 403
    assert state(cast.emu, working)[1] == "working"
    assert cast.emu.annofab.applied() == 0


# -- submit ------------------------------------------------------------------------------


async def test_complete_moves_a_working_annotation_task_to_acceptance_unassigned(
    cast: Cast,
) -> None:
    task_id = cast.task(who=cast.annotator.user, status="working")
    status, body = await cast.annotator.operate(task_id, "complete")
    assert status == 200
    assert (body["phase"], body["status"]) == ("acceptance", "not_started")
    assert "account_id" not in body
    assert body["histories_by_phase"][-1]["account_id"] == cast.annotator.user.account_id


async def test_complete_passes_through_each_inspection_stage_before_acceptance(
    cast: Cast,
) -> None:
    cast.emu.annofab.set_inspection_stages(2)
    task_id = cast.task(who=cast.annotator.user, status="working")
    _, body = await cast.annotator.operate(task_id, "complete")
    assert (body["phase"], body["phase_stage"]) == ("inspection", 1)
    for expected in [("inspection", 2), ("acceptance", 1)]:
        cast.emu.annofab.operate(task_id, "not_started", account_id=cast.accepter.user)
        await cast.accepter.operate(task_id, "working")
        _, body = await cast.accepter.operate(task_id, "complete")
        assert (body["phase"], body["phase_stage"]) == expected


async def test_complete_in_acceptance_makes_the_task_complete_and_keeps_its_assignee(
    cast: Cast,
) -> None:
    task_id = cast.in_acceptance_working()
    status, body = await cast.accepter.operate(task_id, "complete")
    assert status == 200
    assert (body["phase"], body["status"]) == ("acceptance", "complete")
    assert body["account_id"] == cast.accepter.user.account_id


async def test_complete_is_refused_unless_working_and_to_others(cast: Cast) -> None:
    paused = cast.task(who=cast.annotator.user, status="break")
    status, _ = await cast.annotator.operate(paused, "complete")
    assert status == 400
    working = cast.task(who=cast.annotator.user, status="working")
    status, _ = await cast.other.operate(working, "complete")
    assert status == 403
    assert state(cast.emu, working) == ("annotation", "working", cast.annotator.user.account_id)


# -- reject ------------------------------------------------------------------------------


async def test_reject_sends_a_working_acceptance_task_back_to_its_last_annotator(
    cast: Cast,
) -> None:
    task_id = cast.in_acceptance_working()
    status, body = await cast.accepter.operate(task_id, "rejected")
    assert status == 200
    assert (body["phase"], body["status"]) == ("annotation", "not_started")
    assert body["account_id"] == cast.annotator.user.account_id
    assert body["number_of_rejections"] == 1


async def test_reject_is_refused_in_annotation_and_when_not_working(cast: Cast) -> None:
    annotating = cast.task(who=cast.annotator.user, status="working")
    status, _ = await cast.annotator.operate(annotating, "rejected")
    assert status == 400
    waiting = cast.task(who=cast.accepter.user, phase="acceptance")
    status, _ = await cast.accepter.operate(waiting, "rejected")
    assert status == 400
    assert cast.emu.annofab.applied() == 0


# -- force reject ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "status"),
    [("acceptance", "complete"), ("inspection", "working"), ("annotation", "break")],
)
async def test_force_reject_is_allowed_to_the_owner_from_any_state_and_not_counted(
    cast: Cast, phase: str, status: str
) -> None:
    task_id = cast.task(who=cast.accepter.user, phase=phase, status=status)
    code, body = await cast.owner.operate(task_id, "rejected", force=True)
    assert code == 200
    assert (body["phase"], body["status"]) == ("annotation", "not_started")
    assert body["number_of_rejections"] == 0


async def test_force_reject_is_refused_to_an_accepter(cast: Cast) -> None:
    task_id = cast.task(who=cast.accepter.user, phase="acceptance", status="complete")
    status, body = await cast.accepter.operate(task_id, "rejected", force=True)
    assert status == 403
    assert error_code(body) == "FORBIDDEN"
    assert state(cast.emu, task_id) == ("acceptance", "complete", cast.accepter.user.account_id)


# -- cancel a submission -----------------------------------------------------------------


async def test_cancel_returns_an_untouched_submission_to_its_submitter(cast: Cast) -> None:
    task_id = cast.submitted()
    status, body = await cast.annotator.operate(task_id, "cancelled")
    assert status == 200
    assert (body["phase"], body["status"]) == ("annotation", "not_started")
    assert body["account_id"] == cast.annotator.user.account_id


async def test_cancel_is_refused_to_anyone_but_the_submitter(cast: Cast) -> None:
    task_id = cast.submitted()
    status, _ = await cast.other.operate(task_id, "cancelled")
    assert status == 403
    assert state(cast.emu, task_id) == ("acceptance", "not_started", None)


async def test_cancel_is_refused_once_someone_worked_on_the_submission(cast: Cast) -> None:
    task_id = cast.in_acceptance_working()
    cast.emu.annofab.operate(task_id, "break", as_user=cast.accepter.user)
    cast.emu.annofab.operate(task_id, "not_started", account_id=None)  # owner unassigns
    status, body = await cast.annotator.operate(task_id, "cancelled")
    assert status == 400
    assert "worked on" in body["errors"][0]["message"]
    assert state(cast.emu, task_id)[0] == "acceptance"


# -- reassign / unassign -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "accepter"])
async def test_owner_and_accepter_may_reassign_and_unassign(cast: Cast, who: str) -> None:
    actor: Client = getattr(cast, who)
    task_id = cast.task(who=cast.annotator.user, status="working")
    status, body = await actor.operate(
        task_id, "not_started", account_id=cast.other.user.account_id
    )
    assert status == 200
    assert (body["status"], body["account_id"]) == ("not_started", cast.other.user.account_id)
    status, body = await actor.operate(task_id, "not_started", omit_account=True)
    assert status == 200
    assert "account_id" not in body


async def test_a_worker_may_not_reassign_even_to_themself(cast: Cast) -> None:
    task_id = cast.task(who=cast.other.user)
    status, _ = await cast.annotator.operate(task_id, "not_started")
    assert status == 403
    assert state(cast.emu, task_id)[2] == cast.other.user.account_id


# -- cancel an acceptance ----------------------------------------------------------------


async def test_the_owner_may_cancel_an_acceptance_by_reassigning_a_complete_task(
    cast: Cast,
) -> None:
    task_id = cast.task(who=cast.accepter.user, phase="acceptance", status="complete")
    status, body = await cast.owner.operate(
        task_id, "not_started", account_id=cast.accepter.user.account_id
    )
    assert status == 200
    assert (body["phase"], body["status"]) == ("acceptance", "not_started")


async def test_an_accepter_may_not_cancel_an_acceptance(cast: Cast) -> None:
    task_id = cast.task(who=cast.accepter.user, phase="acceptance", status="complete")
    status, _ = await cast.accepter.operate(
        task_id, "not_started", account_id=cast.accepter.user.account_id
    )
    assert status == 403
    assert state(cast.emu, task_id)[1] == "complete"


# -- the optimistic lock -----------------------------------------------------------------


async def test_a_stale_last_updated_datetime_is_refused_with_409_before_any_rule(
    cast: Cast,
) -> None:
    task_id = cast.task(who=cast.annotator.user)
    stale = cast.emu.annofab.task(task_id)["updated_datetime"]
    cast.emu.annofab.touch(task_id)
    status, body = await cast.annotator.operate(task_id, "working", last_updated=stale)
    assert status == 409
    assert error_code(body) == "CONFLICT"
    assert state(cast.emu, task_id)[1] == "not_started"
    assert cast.emu.annofab.applied(task_id) == 0


async def test_every_applied_operation_gives_the_task_a_new_updated_datetime(
    cast: Cast,
) -> None:
    task_id = cast.task(who=cast.annotator.user)
    seen = {cast.emu.annofab.task(task_id)["updated_datetime"]}
    for op in ["working", "break", "working", "on_hold", "working", "complete"]:
        status, body = await cast.annotator.operate(task_id, op)
        assert status == 200, body
        assert body["updated_datetime"] not in seen
        assert body["updated_datetime"].endswith("+09:00")
        seen.add(body["updated_datetime"])
