"""Queue rules of docs/semantics/weave.md ("Queues"), and add-calls, over HTTP."""

from __future__ import annotations

import itertools
from typing import Any

from annoq.emulator import Emulator

from ._support import Api


async def _create(api: Api, name: str, **extra: Any) -> str:
    body = {"project_id": api.project, "name": name, "scorer_refs": [], **extra}
    status, data = await api.call("POST", "/annotation_queues", body)
    assert status == 200, data
    queue_id: str = data["id"]
    return queue_id


async def _list(api: Api, **body: Any) -> list[dict[str, Any]]:
    body.setdefault("project_id", api.project)
    status, data = await api.call(
        "POST", "/annotation_queues/query", body, headers={"Accept": "application/x-ndjson"}
    )
    assert status == 200, data
    rows: list[dict[str, Any]] = data
    return rows


async def test_create_then_read_queue(api: Api, emu: Emulator) -> None:
    queue_id = await _create(
        api, "Triage", description="first pass", scorer_refs=["weave:///e/p/scorer/s:1"]
    )
    status, body = await api.call(
        "GET", f"/annotation_queues/{queue_id}", params={"project_id": api.project}
    )
    assert status == 200
    queue = body["queue"]
    assert queue["id"] == queue_id
    assert queue["name"] == "Triage"
    assert queue["description"] == "first pass"
    assert queue["scorer_refs"] == ["weave:///e/p/scorer/s:1"]
    assert queue["created_by"] == emu.user_id
    assert queue["deleted_at"] is None
    assert queue["created_at"] == queue["updated_at"]


async def test_create_queue_description_null_is_not_given(api: Api) -> None:
    queue_id = await _create(api, "No description", description=None)
    status, body = await api.call(
        "GET", f"/annotation_queues/{queue_id}", params={"project_id": api.project}
    )
    assert status == 200
    assert body["queue"]["description"] == ""


async def test_read_update_delete_of_missing_queue_is_404(api: Api) -> None:
    params = {"project_id": api.project}
    for method, body, query in (
        ("GET", None, params),
        ("PUT", {"project_id": api.project, "name": "x"}, None),
        ("DELETE", None, params),
    ):
        status, data = await api.call(method, "/annotation_queues/missing", body, params=query)
        assert status == 404
        assert data["reason"].startswith("Queue missing not found")
        assert data["error_type"] == "NotFoundError"


async def test_queue_of_another_project_is_404(api: Api) -> None:
    queue_id = await _create(api, "Mine")
    status, _ = await api.call(
        "GET", f"/annotation_queues/{queue_id}", params={"project_id": "entity/other"}
    )
    assert status == 404


async def test_update_with_all_fields_null_returns_queue_unchanged(api: Api) -> None:
    queue_id = await _create(api, "Keep", description="d", scorer_refs=["r"])
    _, before = await api.call(
        "GET", f"/annotation_queues/{queue_id}", params={"project_id": api.project}
    )
    status, after = await api.call(
        "PUT",
        f"/annotation_queues/{queue_id}",
        {"project_id": api.project, "name": None, "description": None, "scorer_refs": None},
    )
    assert status == 200
    assert after == before


async def test_update_empty_string_and_empty_list_are_real_values(api: Api, emu: Emulator) -> None:
    queue_id = await _create(api, "Change", description="d", scorer_refs=["r"])
    store = emu.weave.store
    later = store.now_ms() + 1000
    store.clock = lambda: later
    status, body = await api.call(
        "PUT",
        f"/annotation_queues/{queue_id}",
        {"project_id": api.project, "description": "", "scorer_refs": []},
    )
    assert status == 200
    queue = body["queue"]
    assert queue["name"] == "Change"
    assert queue["description"] == ""
    assert queue["scorer_refs"] == []
    assert queue["updated_at"] > queue["created_at"]


async def test_delete_is_soft_does_not_cascade_and_second_delete_is_404(
    api: Api, emu: Emulator
) -> None:
    queue_id = emu.weave.seed_queue(5)
    params = {"project_id": api.project}
    status, body = await api.call("DELETE", f"/annotation_queues/{queue_id}", params=params)
    assert status == 200
    assert body["queue"]["id"] == queue_id
    assert body["queue"]["deleted_at"] is not None
    assert (await api.call("DELETE", f"/annotation_queues/{queue_id}", params=params))[0] == 404
    assert (await api.call("GET", f"/annotation_queues/{queue_id}", params=params))[0] == 404
    assert (await api.call("PUT", f"/annotation_queues/{queue_id}", {"project_id": api.project}))[
        0
    ] == 404
    # No cascade: the items are still there and still writable.
    assert len(await api.items(queue_id)) == 5
    item_id = emu.weave.item_ids(queue_id)[0]
    assert (await api.progress(queue_id, item_id, "completed"))[0] == 200
    _, stats = await api.call(
        "POST", "/annotation_queues/stats", {"project_id": api.project, "queue_ids": [queue_id]}
    )
    assert stats["stats"] == [{"queue_id": queue_id, "total_items": 5, "completed_items": 1}]


async def test_list_queues_is_ndjson_stream_one_queue_per_line(api: Api) -> None:
    ids = [await _create(api, f"q{i}") for i in range(3)]
    async with api.http.post(
        api.emu.url("/annotation_queues/query"),
        json={"project_id": api.project},
        headers={"Accept": "application/x-ndjson"},
    ) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/x-ndjson"
        lines = [line async for line in resp.content]
    assert len(lines) == 3
    assert all(line.endswith(b"\n") for line in lines)
    assert {line.split(b'"id":"')[1].split(b'"')[0].decode() for line in lines} == set(ids)


async def test_list_queues_default_order_created_at_desc_then_id(api: Api, emu: Emulator) -> None:
    store = emu.weave.store
    now = store.now_ms() + 1000
    made = []
    for i in range(4):
        store.clock = itertools.repeat(now + (i // 2) * 10).__next__
        made.append(await _create(api, f"q{i}"))
    rows = await _list(api)
    expected = sorted(made[2:]) + sorted(made[:2])
    assert [q["id"] for q in rows] == expected


async def test_list_queues_excludes_deleted_and_other_projects(api: Api, emu: Emulator) -> None:
    keep = await _create(api, "keep")
    gone = await _create(api, "gone")
    emu.weave.create_queue(project="entity/other", name="elsewhere")
    await api.call("DELETE", f"/annotation_queues/{gone}", params={"project_id": api.project})
    assert [q["id"] for q in await _list(api)] == [keep]


async def test_list_queues_name_is_case_insensitive_substring(api: Api) -> None:
    a = await _create(api, "Triage Batch")
    b = await _create(api, "batch two")
    await _create(api, "other")
    assert {q["id"] for q in await _list(api, name="BATCH")} == {a, b}
    assert {q["id"] for q in await _list(api, name="age b")} == {a}
    assert len(await _list(api, name=None)) == 3


async def test_list_queues_sort_limit_offset(api: Api) -> None:
    names = ["delta", "alpha", "charlie", "bravo"]
    for name in names:
        await _create(api, name)
    rows = await _list(api, sort_by=[{"field": "name", "direction": "asc"}])
    assert [q["name"] for q in rows] == sorted(names)
    rows = await _list(api, sort_by=[{"field": "name", "direction": "desc"}], limit=2, offset=1)
    assert [q["name"] for q in rows] == ["charlie", "bravo"]
    rows = await _list(api, sort_by=[{"field": "description", "direction": "asc"}])
    assert [q["name"] for q in rows] == [q["name"] for q in await _list(api)]
    assert await _list(api, offset=10) == []


async def test_stats_one_row_per_id_in_request_order_unknown_ids_zero(
    api: Api, emu: Emulator
) -> None:
    q1 = emu.weave.seed_queue(4)
    q2 = emu.weave.seed_queue(3)
    ids = emu.weave.item_ids(q1)
    await api.progress(q1, ids[0], "completed")
    await api.progress(q1, ids[1], "skipped")
    await api.progress(q1, ids[2], "in_progress")
    emu.weave.set_progress(q1, ids[0], "completed", user_id="second")
    status, body = await api.call(
        "POST",
        "/annotation_queues/stats",
        {"project_id": api.project, "queue_ids": [q2, "unknown", q1]},
    )
    assert status == 200
    assert body == {
        "stats": [
            {"queue_id": q2, "total_items": 3, "completed_items": 0},
            {"queue_id": "unknown", "total_items": 0, "completed_items": 0},
            {"queue_id": q1, "total_items": 4, "completed_items": 2},
        ]
    }
    status, body = await api.call(
        "POST", "/annotation_queues/stats", {"project_id": api.project, "queue_ids": []}
    )
    assert (status, body) == (200, {"stats": []})


async def test_add_calls_counts_duplicates_and_drops_unknown_calls(api: Api, emu: Emulator) -> None:
    queue_id = await _create(api, "adds")
    calls = emu.weave.create_calls(5)
    path = f"/annotation_queues/{queue_id}/items"
    body = {"project_id": api.project, "call_ids": calls[:3], "display_fields": ["inputs.x"]}
    assert await api.call("POST", path, body) == (200, {"added_count": 3, "duplicates": 0})
    body["call_ids"] = [calls[2], calls[3], "not-a-call", calls[4], calls[0]]
    assert await api.call("POST", path, body) == (200, {"added_count": 2, "duplicates": 2})
    items = await api.items(queue_id)
    assert sorted(it["call_id"] for it in items) == sorted(calls)
    assert {tuple(it["display_fields"]) for it in items} == {("inputs.x",)}
    assert {it["added_by"] for it in items} == {emu.user_id}


async def test_add_calls_repeated_id_in_one_request_is_added_once(api: Api, emu: Emulator) -> None:
    queue_id = await _create(api, "repeats")
    call = emu.weave.create_calls(1)[0]
    body = {"project_id": api.project, "call_ids": [call, call], "display_fields": []}
    status, data = await api.call("POST", f"/annotation_queues/{queue_id}/items", body)
    assert (status, data) == (200, {"added_count": 1, "duplicates": 0})
    assert len(await api.items(queue_id)) == 1


async def test_add_calls_does_not_check_that_the_queue_exists(api: Api, emu: Emulator) -> None:
    calls = emu.weave.create_calls(2)
    body = {"project_id": api.project, "call_ids": calls, "display_fields": []}
    status, data = await api.call("POST", "/annotation_queues/ghost/items", body)
    assert (status, data) == (200, {"added_count": 2, "duplicates": 0})
    assert len(await api.items("ghost")) == 2


async def test_add_calls_only_sees_calls_of_the_request_project(api: Api, emu: Emulator) -> None:
    queue_id = await _create(api, "projects")
    foreign = emu.weave.create_calls(2, project="entity/other")
    body = {"project_id": api.project, "call_ids": foreign, "display_fields": []}
    status, data = await api.call("POST", f"/annotation_queues/{queue_id}/items", body)
    assert (status, data) == (200, {"added_count": 0, "duplicates": 0})
