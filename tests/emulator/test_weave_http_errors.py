"""Authentication (401/403), malformed bodies (422) and error bodies, over HTTP."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from annoq.emulator import Emulator, run_emulator

from ._support import Api


def _basic(user: str, key: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


ENDPOINTS: list[tuple[str, str, Any]] = [
    (
        "POST",
        "/annotation_queues",
        {"project_id": "entity/project", "name": "n", "scorer_refs": []},
    ),
    ("POST", "/annotation_queues/query", {"project_id": "entity/project"}),
    ("GET", "/annotation_queues/q?project_id=entity/project", None),
    ("PUT", "/annotation_queues/q", {"project_id": "entity/project"}),
    ("DELETE", "/annotation_queues/q?project_id=entity/project", None),
    ("POST", "/annotation_queues/stats", {"project_id": "entity/project", "queue_ids": []}),
    (
        "POST",
        "/annotation_queues/q/items",
        {"project_id": "entity/project", "call_ids": [], "display_fields": []},
    ),
    ("POST", "/annotation_queues/q/items/query", {"project_id": "entity/project"}),
    (
        "POST",
        "/annotation_queues/q/items/i/progress",
        {"project_id": "entity/project", "annotation_state": "completed"},
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_every_endpoint_answers_401_without_or_with_unknown_key(
    emu: Emulator, method: str, path: str, body: Any
) -> None:
    async with aiohttp.ClientSession() as session:
        for headers in (
            {},
            _basic("api", "wrong-key"),
            {"Authorization": "Bearer wrong-key"},
            {"Authorization": "Basic !!!"},
            {"Authorization": "Token " + emu.api_key},
        ):
            async with session.request(method, emu.url(path), json=body, headers=headers) as r:
                assert r.status == 401, headers
                data = await r.json()
                assert "reason" in data


async def test_basic_api_key_and_bearer_token_both_authenticate(emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(2)
    async with aiohttp.ClientSession() as session:
        for headers in (
            _basic("api", emu.api_key),
            {"Authorization": f"Bearer {emu.api_key}"},
        ):
            async with session.post(
                emu.url(f"/annotation_queues/{queue_id}/items/query"),
                json={"project_id": emu.project},
                headers=headers,
            ) as r:
                assert r.status == 200
                assert len((await r.json())["items"]) == 2


async def test_the_acting_user_comes_from_the_credentials(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(1)
    other = emu.add_user("ann-2", api_key="key-2")
    item_id = emu.weave.item_ids(queue_id)[0]
    status, body = await api.progress(
        queue_id, item_id, "completed", headers=_basic("api", "key-2")
    )
    assert status == 200
    assert body["item"]["annotator_user_id"] == other.user_id == "ann-2"
    status, body = await api.call(
        "POST",
        "/annotation_queues",
        {"project_id": api.project, "name": "by ann-2", "scorer_refs": []},
        headers={"Authorization": "Bearer key-2"},
    )
    assert status == 200
    assert emu.weave.store.queues[body["id"]].created_by == "ann-2"


async def test_project_the_user_may_not_see_is_403(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(1)
    emu.add_user("limited", api_key="limited-key", projects=["entity/elsewhere"])
    headers = {"Authorization": "Bearer limited-key"}
    status, body = await api.call(
        "POST",
        f"/annotation_queues/{queue_id}/items/query",
        {"project_id": api.project},
        headers=headers,
    )
    assert status == 403
    assert body["reason"] == "Forbidden"
    status, _ = await api.call(
        "POST",
        f"/annotation_queues/{queue_id}/items/query",
        {"project_id": "entity/elsewhere"},
        headers=headers,
    )
    assert status == 200


def _detail(body: Any) -> list[dict[str, Any]]:
    assert set(body) == {"detail"}
    detail: list[dict[str, Any]] = body["detail"]
    assert detail
    for entry in detail:
        assert isinstance(entry["loc"], list)
        assert isinstance(entry["msg"], str)
        assert isinstance(entry["type"], str)
    return detail


@pytest.mark.parametrize(
    ("payload", "loc", "kind"),
    [
        (b"not json", ["body", 0], "json_invalid"),
        (b"{", ["body", 1], "json_invalid"),
        (b"", ["body"], "missing"),
        (b"[]", ["body"], "model_attributes_type"),
        (b"{}", ["body", "project_id"], "missing"),
        (b'{"project_id": null}', ["body", "project_id"], "string_type"),
        (b'{"project_id": 5}', ["body", "project_id"], "string_type"),
        (b'{"project_id": "e/p", "limit": "ten"}', ["body", "limit"], "int_parsing"),
        (b'{"project_id": "e/p", "offset": 1.5}', ["body", "offset"], "int_from_float"),
        (b'{"project_id": "e/p", "offset": []}', ["body", "offset"], "int_type"),
        (
            b'{"project_id": "e/p", "include_position": "maybe"}',
            ["body", "include_position"],
            "bool_parsing",
        ),
        (b'{"project_id": "e/p", "filter": "x"}', ["body", "filter"], "model_attributes_type"),
        (
            b'{"project_id": "e/p", "filter": {"call_id": 3}}',
            ["body", "filter", "call_id"],
            "string_type",
        ),
        (
            b'{"project_id": "e/p", "filter": {"annotation_states": ["done"]}}',
            ["body", "filter", "annotation_states", 0],
            "literal_error",
        ),
        (
            b'{"project_id": "e/p", "filter": {"annotation_states": "completed"}}',
            ["body", "filter", "annotation_states"],
            "list_type",
        ),
        (b'{"project_id": "e/p", "sort_by": {"field": "id"}}', ["body", "sort_by"], "list_type"),
        (
            b'{"project_id": "e/p", "sort_by": [{"field": "created_at", "direction": "up"}]}',
            ["body", "sort_by", 0, "direction"],
            "literal_error",
        ),
        (
            b'{"project_id": "e/p", "sort_by": [{"field": "created_at", "direction": "ASC"}]}',
            ["body", "sort_by", 0, "direction"],
            "literal_error",
        ),
        (
            b'{"project_id": "e/p", "sort_by": [{"direction": "asc"}]}',
            ["body", "sort_by", 0, "field"],
            "missing",
        ),
    ],
)
async def test_items_query_malformed_body_is_422_with_detail(
    api: Api, payload: bytes, loc: list[Any], kind: str
) -> None:
    status, body = await api.call(
        "POST",
        "/annotation_queues/q/items/query",
        data=payload,
        headers={"Content-Type": "application/json"},
    )
    assert status == 422
    detail = _detail(body)
    assert [(d["loc"], d["type"]) for d in detail] == [(loc, kind)]


async def test_lax_scalars_are_accepted_like_pydantic(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(5)
    items = await api.items(queue_id, limit="2", offset=1.0, include_position="true")
    assert [it["position_in_queue"] for it in items] == [2, 3]


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"project_id": "entity/project"}, ["body", "annotation_state"], "missing"),
        ({"annotation_state": "completed"}, ["body", "project_id"], "missing"),
        (
            {"project_id": "entity/project", "annotation_state": 1},
            ["body", "annotation_state"],
            "string_type",
        ),
        (
            {"project_id": "entity/project", "annotation_state": None},
            ["body", "annotation_state"],
            "string_type",
        ),
        (
            {"project_id": "entity/project", "annotation_state": ["completed"]},
            ["body", "annotation_state"],
            "string_type",
        ),
    ],
)
async def test_progress_malformed_body_is_422(
    api: Api, emu: Emulator, body: dict[str, Any], loc: list[Any], kind: str
) -> None:
    queue_id = emu.weave.seed_queue(1)
    item_id = emu.weave.item_ids(queue_id)[0]
    status, data = await api.call(
        "POST", f"/annotation_queues/{queue_id}/items/{item_id}/progress", body
    )
    assert status == 422
    assert [(d["loc"], d["type"]) for d in _detail(data)] == [(loc, kind)]
    assert emu.weave.applied_writes() == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        (
            "POST",
            "/annotation_queues",
            {"project_id": "entity/project", "scorer_refs": []},
            ["body", "name"],
        ),
        (
            "POST",
            "/annotation_queues",
            {"project_id": "entity/project", "name": "n"},
            ["body", "scorer_refs"],
        ),
        (
            "POST",
            "/annotation_queues",
            {"project_id": "entity/project", "name": "n", "scorer_refs": [1]},
            ["body", "scorer_refs", 0],
        ),
        (
            "POST",
            "/annotation_queues/stats",
            {"project_id": "entity/project"},
            ["body", "queue_ids"],
        ),
        (
            "POST",
            "/annotation_queues/q/items",
            {"project_id": "entity/project", "display_fields": []},
            ["body", "call_ids"],
        ),
        (
            "POST",
            "/annotation_queues/q/items",
            {"project_id": "entity/project", "call_ids": []},
            ["body", "display_fields"],
        ),
        (
            "PUT",
            "/annotation_queues/q",
            {"project_id": "entity/project", "name": 3},
            ["body", "name"],
        ),
        ("GET", "/annotation_queues/q", None, ["query", "project_id"]),
        ("DELETE", "/annotation_queues/q", None, ["query", "project_id"]),
        (
            "POST",
            "/annotation_queues/query",
            {"project_id": "entity/project", "limit": "x"},
            ["body", "limit"],
        ),
        (
            "POST",
            "/annotation_queues/query",
            {"project_id": "entity/project", "sort_by": [{"field": "name", "direction": "up"}]},
            ["body", "sort_by", 0, "direction"],
        ),
    ],
)
async def test_other_endpoints_malformed_input_is_422(
    api: Api, method: str, path: str, body: Any, loc: list[Any]
) -> None:
    status, data = await api.call(method, path, body)
    assert status == 422
    assert [d["loc"] for d in _detail(data)] == [loc]


async def test_all_errors_of_a_body_are_reported_together(api: Api) -> None:
    status, data = await api.call(
        "POST", "/annotation_queues/q/items/query", {"limit": "x", "offset": "y"}
    )
    assert status == 422
    assert [d["loc"] for d in _detail(data)] == [
        ["body", "project_id"],
        ["body", "limit"],
        ["body", "offset"],
    ]


async def test_unknown_body_fields_are_ignored_by_default(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(2)
    items = await api.items(queue_id, future_field=1, filter={"also_new": "x"})
    assert len(items) == 2


async def test_older_server_rejects_unknown_body_fields_with_422() -> None:
    async with run_emulator(reject_unknown_fields=True) as emu:
        queue_id = emu.weave.seed_queue(2)
        async with aiohttp.ClientSession(headers=emu.auth_headers()) as http:
            api = Api(emu, http)
            status, data = await api.query(
                queue_id,
                future_field=1,
                filter={"also_new": "x"},
                sort_by=[{"field": "id", "direction": "asc", "extra": 1}],
            )
            assert status == 422
            assert sorted(str(d["loc"]) for d in _detail(data)) == sorted(
                str(loc)
                for loc in (
                    ["body", "filter", "also_new"],
                    ["body", "sort_by", 0, "extra"],
                    ["body", "future_field"],
                )
            )
            assert {d["type"] for d in data["detail"]} == {"extra_forbidden"}
            assert len(await api.items(queue_id)) == 2


async def test_older_server_error_bodies_carry_only_reason() -> None:
    async with run_emulator(legacy_error_bodies=True) as emu:
        queue_id = emu.weave.seed_queue(1)
        async with aiohttp.ClientSession(headers=emu.auth_headers()) as http:
            api = Api(emu, http)
            status, body = await api.progress(queue_id, "missing", "completed")
            assert status == 400
            assert set(body) == {"reason"}
            status, body = await api.call(
                "GET", "/annotation_queues/x", params={"project_id": emu.project}
            )
            assert status == 404
            assert set(body) == {"reason"}


async def test_business_errors_carry_reason_and_error_type(api: Api) -> None:
    status, body = await api.call("GET", "/annotation_queues/x", params={"project_id": api.project})
    assert status == 404
    assert set(body) == {"reason", "error_type"}


async def test_negative_limit_or_offset_is_400(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(2)
    for body in ({"limit": -1}, {"offset": -5}):
        status, data = await api.query(queue_id, **body)
        assert status == 400
        assert "non-negative" in data["reason"]
