"""The emulated Annofab's HTTP surface, apart from the state machine: paging bounds and
the 10,000 cap, filters, sort, tasks-in-bulk, assign, auth answers, fault rules by name."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from annoq.emulator import ANNOFAB_ROUTE_NAMES, Emulator, FaultRule

from . import _spec
from ._support import Client, error_code


@pytest.fixture
async def owner(emu: Emulator) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as http:
        yield Client(emu, http, emu.annofab.user)


def tasks_path(emu: Emulator) -> str:
    return f"/projects/{emu.annofab.project_id}/tasks"


@pytest.mark.parametrize(
    "params",
    [{"page": "0"}, {"limit": "0"}, {"limit": "201"}, {"page": "x"}, {"status": "done"}],
)
async def test_page_and_limit_outside_their_bounds_answer_400(
    emu: Emulator, owner: Client, params: dict[str, str]
) -> None:
    status, body = await owner.get(tasks_path(emu), **params)
    assert status == 400
    assert error_code(body) == "INVALID_ARGUMENT"


async def test_limit_defaults_to_30_and_200_is_the_largest_page(
    emu: Emulator, owner: Client
) -> None:
    emu.annofab.seed_tasks(250)
    _, default = await owner.get(tasks_path(emu))
    _, largest = await owner.get(tasks_path(emu), limit="200", page="2")
    assert len(default["list"]) == 30
    assert (len(largest["list"]), largest["page_no"], largest["total_page_no"]) == (50, 2, 2)


async def test_past_10000_results_over_limit_is_set_and_nothing_further_is_reachable(
    emu: Emulator, owner: Client
) -> None:
    emu.annofab.seed_tasks(10_050)
    _, first = await owner.get(tasks_path(emu), limit="200", sort="task_id")
    _, last = await owner.get(tasks_path(emu), limit="200", page="50", sort="task_id")
    _, beyond = await owner.get(tasks_path(emu), limit="200", page="51", sort="task_id")
    assert (first["total_count"], first["over_limit"], first["total_page_no"]) == (10_050, True, 50)
    assert last["list"][-1]["task_id"] == "task-010000"
    assert beyond["list"] == []
    _, under = await owner.get(tasks_path(emu), limit="200", task_id="task-0100")
    assert under["over_limit"] is False


async def test_filters_combine_and_match_as_annofab_does(emu: Emulator, owner: Client) -> None:
    worker = emu.annofab.add_user("worker")
    plain = emu.annofab.seed_tasks(10, metadata=lambda n: {"priority": n, "hot": n % 2 == 0})
    emu.annofab.seed_tasks(5, assignee=worker, status="break", prefix="Mixed")
    [rejected] = emu.annofab.seed_tasks(1, phase="acceptance", assignee=emu.annofab.user)
    emu.annofab.operate(rejected, "working")
    emu.annofab.operate(rejected, "rejected")

    async def ids(**params: str) -> list[str]:
        status, body = await owner.get(tasks_path(emu), limit="200", sort="task_id", **params)
        assert status == 200, body
        return [t["task_id"] for t in body["list"]]

    assert await ids(task_id="mixed") == [f"Mixed-{n:06d}" for n in range(11, 16)]
    assert await ids(account_id=worker.account_id, status="break") == await ids(task_id="MIXED")
    # the rejected task went back to its last annotator: nobody, as seeded
    assert await ids(no_user="") == [*plain, rejected]
    assert await ids(metadata="priority:>=8 hot:true") == ["task-000008", "task-000010"]
    assert await ids(metadata="-hot:true priority:<4") == ["task-000001", "task-000003"]
    assert await ids(rejected_only="") == [rejected]
    assert await ids(previous_phase="acceptance") == [rejected]
    assert await ids(input_data_ids="input-task-000002,INPUT-task-000004") == [
        "task-000002",
        "task-000004",
    ]


async def test_sort_keys_combine_and_a_dash_descends(emu: Emulator, owner: Client) -> None:
    emu.annofab.seed_tasks(6, metadata=lambda n: {"priority": n % 3})
    _, body = await owner.get(tasks_path(emu), sort="-metadata.priority,task_id")
    assert [t["task_id"][-1] for t in body["list"]] == ["2", "5", "1", "4", "3", "6"]
    _, body = await owner.get(tasks_path(emu), sort="-task_id")
    assert body["list"][0]["task_id"] == "task-000006"
    status, _ = await owner.get(tasks_path(emu), sort="created")
    assert status == 400


async def test_tasks_in_bulk_answers_success_and_failure_lists_and_refuses_more_than_100(
    emu: Emulator, owner: Client
) -> None:
    ids = emu.annofab.seed_tasks(101)
    path = f"/projects/{emu.annofab.project_id}/tasks-in-bulk"
    status, body = await owner.get(path, task_id=",".join([ids[3], "nope", ids[1]]))
    assert status == 200
    assert set(body) == {"success", "failure"}  # GetTasksInBulkResponse, not a bare list
    assert [t["task_id"] for t in body["success"]] == [ids[3], ids[1]]
    assert body["failure"] == [{"project_id": emu.annofab.project_id, "task_id": "nope"}]
    _spec.validate("GetTasksInBulkResponse", body)
    status, body = await owner.get(path, task_id=",".join(ids))
    assert status == 400


async def test_assign_random_gives_the_caller_unassigned_tasks(
    emu: Emulator, owner: Client
) -> None:
    ids = emu.annofab.seed_tasks(5)
    url = owner.url(f"/projects/{emu.annofab.project_id}/assign-tasks")
    body = {"request_type": {"_type": "Random", "phase": "annotation", "task_count": 2}}
    async with owner.http.post(url, json=body, headers=owner.headers) as resp:
        assert resp.status == 200
        assigned = [t["task_id"] for t in await resp.json()]
    assert assigned == ids[:2]
    assert emu.annofab.task(ids[0])["account_id"] == emu.annofab.account_id


async def test_missing_or_unknown_credentials_answer_401_and_strangers_403(
    emu: Emulator, owner: Client
) -> None:
    async with owner.http.get(owner.url("/my/account")) as resp:
        assert resp.status == 401
        assert error_code(await resp.json()) == "UNAUTHORIZED"
    stranger = Client(emu, owner.http, emu.annofab.add_user("stranger", role=None))
    status, _ = await stranger.get(tasks_path(emu))
    assert status == 403
    status, body = await owner.get(f"/projects/{emu.annofab.project_id}/tasks/nope")
    assert (status, error_code(body)) == (404, "NOT_FOUND")


async def test_fault_rules_target_the_annofab_routes_by_name(emu: Emulator, owner: Client) -> None:
    emu.annofab.seed_tasks(1)
    emu.faults.add(FaultRule(kind="status", status=503, routes={"annofab_tasks"}, times=1))
    status, _ = await owner.get(tasks_path(emu))
    assert status == 503
    status, _ = await owner.get(tasks_path(emu))
    assert status == 200
    assert emu.faults.count(kind="status_503", route="annofab_tasks") == 1
    assert set(ANNOFAB_ROUTE_NAMES) <= {r.name for r in emu.app.router.routes() if r.name}


async def test_weave_routes_still_answer_beside_the_annofab_ones(emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(3)
    async with (
        aiohttp.ClientSession(headers=emu.auth_headers()) as http,
        http.post(
            f"{emu.base_url}/annotation_queues/{queue_id}/items/query",
            json={"project_id": emu.project},
        ) as resp,
    ):
        assert resp.status == 200
        assert len((await resp.json())["items"]) == 3
