"""Annofab requests pinned on the wire with aioresponses: method, path, query, headers and
body of login, refresh, the task search, tasks-in-bulk and operate; and what is decoded
from realistic answers (``+09:00`` kept, unknown fields ignored)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import annoq
from annoq import AuthenticationError, ConflictError, ResponseDecodeError
from annoq.annofab import AnnofabSession, TaskPhase, TaskStatus
from tests._support import MockHTTP, calls, only_call, sent_json

BASE = "https://annofab.example"
PROJECT = "prj-1"
PAT = "pat-0123456789abcdef"
JST = timezone(timedelta(hours=9))
FAST = annoq.RetryPolicy(max_retries=2, backoff_base=0.001, backoff_cap=0.002)


def task_json(task_id: str = "task-1", **overrides: Any) -> dict[str, Any]:
    """A task as Annofab sends it, with a field annoq does not know."""
    task: dict[str, Any] = {
        "project_id": PROJECT,
        "task_id": task_id,
        "phase": "annotation",
        "phase_stage": 1,
        "status": "not_started",
        "account_id": "acc-other",
        "input_data_id_list": ["input-1"],
        "histories_by_phase": [
            {"phase": "annotation", "phase_stage": 1, "account_id": "acc-other", "worked": False}
        ],
        "work_time_span": 0,
        "number_of_rejections": 0,
        "started_datetime": None,
        "updated_datetime": "2026-11-24T21:05:09.123+09:00",
        "operation_updated_datetime": "2026-11-24T21:05:09.123+09:00",
        "sampling": None,
        "metadata": {"priority": 3, "batch": "b1", "hot": True},
        "a_future_field": {"nested": 1},
    }
    task.update(overrides)
    return task


def token(n: int) -> dict[str, str]:
    return {"id_token": f"id-{n}", "access_token": f"access-{n}", "refresh_token": f"refresh-{n}"}


def assert_json_headers(call: Any) -> None:
    headers = call.kwargs["headers"]
    # Only requests with a JSON body say so; a GET carries no Content-Type.
    if call.kwargs.get("data") is not None:
        assert headers["Content-Type"] == "application/json"
    else:
        assert "Content-Type" not in headers
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("annoq/")


@pytest.fixture
def http() -> Iterator[MockHTTP]:
    with MockHTTP() as mock:
        yield mock


@pytest.fixture
async def af() -> AsyncIterator[AnnofabSession]:
    async with AnnofabSession(pat=PAT, endpoint=BASE, retry_policy=FAST) as session:
        yield session


async def test_login_posts_user_id_and_password_then_sends_the_raw_id_token(
    http: MockHTTP,
) -> None:
    http.post(f"{BASE}/api/v1/login", payload={"token": token(1)})
    http.get(f"{BASE}/api/v1/my/account", payload={"account_id": "acc-me", "user_id": "alice"})
    async with AnnofabSession(user_id="alice", password="pw-1", endpoint=BASE) as af:
        assert await af.account_id() == "acc-me"
    (login_method, login_url, login), (get_method, get_url, get) = calls(http)
    assert (login_method, login_url.raw_path, login_url.query_string) == (
        "POST",
        "/api/v1/login",
        "",
    )
    assert sent_json(login) == {"user_id": "alice", "password": "pw-1"}
    assert "Authorization" not in login.kwargs["headers"]
    assert_json_headers(login)
    assert (get_method, get_url.raw_path) == ("GET", "/api/v1/my/account")
    assert get.kwargs["headers"]["Authorization"] == "id-1"  # no "Bearer"
    assert get.kwargs["data"] is None


async def test_a_401_refreshes_with_the_refresh_token_once_and_resends(http: MockHTTP) -> None:
    http.post(f"{BASE}/api/v1/login", payload={"token": token(1)})
    http.get(f"{BASE}/api/v1/my/account", status=401, payload={"errors": []})
    http.post(f"{BASE}/api/v1/refresh-token", payload=token(2))
    http.get(f"{BASE}/api/v1/my/account", payload={"account_id": "acc-me", "user_id": "alice"})
    async with AnnofabSession(user_id="alice", password="pw-1", endpoint=BASE) as af:
        assert await af.account_id() == "acc-me"
    sent = calls(http)
    refresh = [c for m, u, c in sent if u.raw_path == "/api/v1/refresh-token"]
    gets = [c for m, u, c in sent if u.raw_path == "/api/v1/my/account"]
    assert len(refresh) == 1
    assert sent_json(refresh[0]) == {"refresh_token": "refresh-1"}
    assert "Authorization" not in refresh[0].kwargs["headers"]
    assert [g.kwargs["headers"]["Authorization"] for g in gets] == ["id-1", "id-2"]


async def test_a_token_refused_again_after_renewal_gives_up_instead_of_recursing(
    http: MockHTTP,
) -> None:
    unauthorized = {"errors": [{"error_code": "UNAUTHORIZED", "message": "expired"}]}
    http.post(f"{BASE}/api/v1/login", payload={"token": token(1)})
    http.get(f"{BASE}/api/v1/my/account", status=401, payload=unauthorized, repeat=True)
    http.post(f"{BASE}/api/v1/refresh-token", payload=token(2), repeat=True)
    async with AnnofabSession(user_id="alice", password="pw-1", endpoint=BASE) as af:
        with pytest.raises(AuthenticationError) as caught:
            await af.account_id()
    assert caught.value.error_type == "UNAUTHORIZED"
    paths = [u.raw_path for _, u, _ in calls(http)]
    assert paths.count("/api/v1/refresh-token") == 1
    assert paths.count("/api/v1/my/account") == 2
    assert paths.count("/api/v1/login") == 1


async def test_task_search_sends_page_limit_filters_and_sort_as_query(
    http: MockHTTP, af: AnnofabSession
) -> None:
    page = {
        "list": [task_json()],
        "page_no": 2,
        "total_page_no": 7,
        "total_count": 1234,
        "over_limit": False,
        "aggregations": [],
    }
    http.get(re.compile(rf"^{re.escape(BASE)}/api/v1/projects/prj%201/tasks\?.*$"), payload=page)
    got = await af.project("prj 1").task_page(
        page=2,
        page_size=150,
        phase="acceptance",
        status="not_started",
        no_user=True,
        metadata="priority:>=1 hot:true",
        sort="-updated_datetime,task_id",
    )
    method, sent_url, call = only_call(http)
    assert method == "GET"
    assert sent_url.raw_path == "/api/v1/projects/prj%201/tasks"
    assert dict(sent_url.query) == {
        "page": "2",
        "limit": "150",
        "phase": "acceptance",
        "status": "not_started",
        "no_user": "",
        "metadata": "priority:>=1 hot:true",
        "sort": "-updated_datetime,task_id",
    }
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {PAT}"
    assert_json_headers(call)
    assert call.kwargs["data"] is None
    assert (got.page_no, got.total_page_no, got.total_count, got.over_limit) == (2, 7, 1234, False)
    assert [t.task_id for t in got] == ["task-1"]


async def test_tasks_in_bulk_sends_comma_joined_ids_at_most_100_per_request(
    http: MockHTTP, af: AnnofabSession
) -> None:
    ids = [f"t{n:03d}" for n in range(230)]
    pattern = re.compile(rf"^{re.escape(BASE)}/api/v1/projects/{PROJECT}/tasks-in-bulk\?.*$")
    for start in range(0, 230, 100):
        chunk = ids[start : start + 100]
        found_json = [task_json(t) for t in reversed(chunk) if t != "t150"]
        failure = [{"project_id": PROJECT, "task_id": "t150"}] if "t150" in chunk else []
        http.get(pattern, payload={"success": found_json, "failure": failure})
    found = await af.project(PROJECT).tasks_by_ids(ids)
    sent = calls(http)
    assert [len(u.query["task_id"].split(",")) for _, u, _ in sent] == [100, 100, 30]
    assert sent[1][1].query["task_id"] == ",".join(ids[100:200])
    assert {m for m, _, _ in sent} == {"GET"}
    assert [t.task_id for t in found] == [t for t in ids if t != "t150"]  # order asked


@pytest.mark.parametrize(
    "payload",
    [
        [{"task_id": "t1"}],  # a bare list: the shape the service does not answer
        {"success": [], "failure": [{"project_id": PROJECT}]},
        {"success": []},
    ],
)
async def test_a_tasks_in_bulk_answer_not_shaped_success_and_failure_is_a_decode_error(
    http: MockHTTP, af: AnnofabSession, payload: Any
) -> None:
    pattern = re.compile(rf"^{re.escape(BASE)}/api/v1/projects/{PROJECT}/tasks-in-bulk\?.*$")
    http.get(pattern, payload=payload)
    with pytest.raises(ResponseDecodeError):
        await af.project(PROJECT).tasks_by_ids(["t1"])


async def test_operate_posts_status_the_quoted_lock_and_account_id(
    http: MockHTTP, af: AnnofabSession
) -> None:
    path = f"/api/v1/projects/{PROJECT}/tasks/task-1"
    http.get(f"{BASE}/api/v1/my/account", payload={"account_id": "acc-me", "user_id": "me"})
    http.get(f"{BASE}{path}", payload=task_json(account_id="acc-me"))
    http.post(
        f"{BASE}{path}/operate",
        payload=task_json(
            account_id="acc-me", status="working", updated_datetime="2026-11-24T21:06:00.5+09:00"
        ),
    )
    result = await af.project(PROJECT).bulk_operate(["task-1"], "start")
    assert (result.updated, result.failed) == (1, 0)
    [(method, sent_url, call)] = [c for c in calls(http) if c[1].raw_path.endswith("/operate")]
    assert (method, sent_url.raw_path, sent_url.query_string) == ("POST", f"{path}/operate", "")
    assert sent_json(call) == {
        "status": "working",
        "last_updated_datetime": "2026-11-24T21:05:09.123+09:00",
        "account_id": "acc-me",
    }
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {PAT}"
    assert_json_headers(call)


async def test_a_task_decodes_with_its_offset_kept_and_unknown_fields_ignored(
    http: MockHTTP, af: AnnofabSession
) -> None:
    http.get(f"{BASE}/api/v1/projects/{PROJECT}/tasks/task-1", payload=task_json())
    task = await af.project(PROJECT).task("task-1")
    assert task.updated_datetime == datetime(2026, 11, 24, 21, 5, 9, 123000, tzinfo=JST)
    assert task.updated_datetime.utcoffset() == timedelta(hours=9)
    assert (task.phase, task.status) == (TaskPhase.ANNOTATION, TaskStatus.NOT_STARTED)
    assert task.metadata == {"priority": 3, "batch": "b1", "hot": True}
    assert task.started_datetime is None
    assert task.histories_by_phase[0].account_id == "acc-other"


async def test_a_malformed_task_names_the_field_that_is_wrong(
    http: MockHTTP, af: AnnofabSession
) -> None:
    http.get(
        f"{BASE}/api/v1/projects/{PROJECT}/tasks/task-1",
        payload=task_json(histories_by_phase=[{"phase": "annotation", "phase_stage": "1"}]),
    )
    with pytest.raises(ResponseDecodeError) as caught:
        await af.project(PROJECT).task("task-1")
    assert caught.value.path == "$.histories_by_phase[0].phase_stage"


async def test_annofab_error_bodies_give_the_error_code_and_message(
    http: MockHTTP, af: AnnofabSession
) -> None:
    http.get(
        f"{BASE}/api/v1/projects/{PROJECT}/tasks/task-1",
        status=409,
        payload={"errors": [{"error_code": "CONFLICT", "message": "changed meanwhile"}]},
    )
    with pytest.raises(ConflictError) as caught:
        await af.project(PROJECT).task("task-1")
    assert (caught.value.error_type, caught.value.reason) == ("CONFLICT", "changed meanwhile")
