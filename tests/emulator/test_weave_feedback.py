"""The emulator's feedback and object routes, over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from annoq.emulator import Emulator, FaultRule

from ._support import Api

SPECS = {
    "quality": {"type": "integer", "minimum": 1, "maximum": 5},
    "label": {"type": "string", "enum": ["cat", "dog"]},
}


def _eq(field: str, value: Any) -> dict[str, Any]:
    return {"$eq": [{"$getField": field}, {"$literal": value}]}


@pytest.fixture
def seeded(emu: Emulator) -> tuple[str, dict[str, str], list[dict[str, Any]]]:
    queue_id, refs = emu.feedback.seed_annotated_queue(4, SPECS, annotators=(), complete=False)
    return queue_id, refs, emu.weave.items(queue_id)


def _create(emu: Emulator, item: dict[str, Any], ref: str, value: Any, **extra: Any) -> dict:
    name = ref.rpartition("/")[2].partition(":")[0]
    return {
        "project_id": emu.project,
        "weave_ref": f"weave:///{emu.project}/call/{item['call_id']}",
        "feedback_type": f"wandb.annotation.{name}",
        "annotation_ref": ref,
        "payload": {"value": value},
        **extra,
    }


async def test_create_sets_the_annotator_from_the_credentials_whatever_the_body_says(
    api: Api, emu: Emulator, seeded: Any
) -> None:
    queue_id, refs, items = seeded
    body = _create(emu, items[0], refs["quality"], 4, wb_user_id="someone-else", queue_id=queue_id)
    status, answer = await api.call("POST", "/feedback/create", body)
    assert status == 200, answer
    assert answer["wb_user_id"] == emu.user_id
    assert answer["payload"] == {"value": 4}
    [row] = emu.feedback.rows()
    assert row["queue_id"] == queue_id
    assert row["id"] == answer["id"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"payload": {"value": 9}}, "does not match the annotation spec"),
        ({"payload": {"value": "4"}}, "is not of type integer"),
        ({"payload": {"score": 4}}, 'must be {"value"'),
        ({"annotation_ref": None}, "annotation_ref is required"),
        ({"feedback_type": "wandb.annotation.label"}, "does not match annotation_ref"),
        ({"scorer_ratings": {"x": 0.5}}, "Scorer fields are not allowed"),
        ({"feedback_type": "wandb.reaction.1"}, "reserved"),
        ({"feedback_type": "note"}, "only allowed with"),
    ],
)
async def test_annotation_refusals_are_400_invalid_request_and_write_nothing(
    api: Api, emu: Emulator, seeded: Any, change: dict[str, Any], words: str
) -> None:
    _, refs, items = seeded
    body = {**_create(emu, items[0], refs["quality"], 4), **change}
    status, answer = await api.call("POST", "/feedback/create", body)
    assert status == 400
    assert answer["error_type"] == "InvalidRequest"
    assert words in answer["reason"]
    assert emu.feedback.rows() == []


async def test_a_batch_is_checked_whole_before_any_row_is_written(
    api: Api, emu: Emulator, seeded: Any
) -> None:
    _, refs, items = seeded
    batch = [_create(emu, items[0], refs["quality"], 3), _create(emu, items[1], refs["label"], "x")]
    status, answer = await api.call("POST", "/feedback/batch/create", {"batch": batch})
    assert status == 400, answer
    assert emu.feedback.rows() == []
    batch[1] = _create(emu, items[1], refs["label"], "dog")
    status, answer = await api.call("POST", "/feedback/batch/create", {"batch": batch})
    assert status == 200
    assert [r["wb_user_id"] for r in answer["res"]] == [emu.user_id] * 2


async def test_the_payload_limit_is_configurable_as_on_older_servers(
    api: Api, emu: Emulator
) -> None:
    ref = emu.feedback.seed_spec("note", {"type": "string"})
    queue_id = emu.weave.seed_queue(1, scorer_refs=[ref])
    item = emu.weave.items(queue_id)[0]
    body = _create(emu, item, ref, "é" * 200)  # 200 characters, 1,200 bytes as ASCII escapes
    emu.feedback.max_payload_bytes = 1024
    status, answer = await api.call("POST", "/feedback/create", body)
    assert status == 400
    assert "too large" in answer["reason"]
    emu.feedback.max_payload_bytes = 1 << 20
    status, _ = await api.call("POST", "/feedback/create", body)
    assert status == 200


async def test_a_resent_id_shows_twice_until_a_merge_then_the_latest_remains(
    api: Api, emu: Emulator, seeded: Any
) -> None:
    queue_id, refs, items = seeded
    for value in (2, 5):
        body = _create(emu, items[0], refs["quality"], value, id="my-id", queue_id=queue_id)
        status, _ = await api.call("POST", "/feedback/create", body)
        assert status == 200
    query = {"project_id": emu.project, "query": {"$expr": _eq("id", "my-id")}}
    _, answer = await api.call("POST", "/feedback/query", query)
    assert sorted(r["payload"]["value"] for r in answer["result"]) == [2, 5]
    assert emu.feedback.merge() == 1
    _, answer = await api.call("POST", "/feedback/query", query)
    assert [r["payload"]["value"] for r in answer["result"]] == [5]


async def test_without_the_duplicates_option_a_resent_id_replaces_at_once(
    api: Api, emu: Emulator, seeded: Any
) -> None:
    _, refs, items = seeded
    emu.feedback.keep_duplicates = False
    for value in (2, 5):
        await api.call(
            "POST", "/feedback/create", _create(emu, items[0], refs["quality"], value, id="x")
        )
    assert [r["payload"]["value"] for r in emu.feedback.rows()] == [5]


async def test_query_supports_eq_in_and_or_not_and_a_user_filter_never_matches(
    api: Api, emu: Emulator
) -> None:
    queue_id, _ = emu.feedback.seed_annotated_queue(6, SPECS, annotators=("a", "b"), complete=False)
    items = emu.weave.items(queue_id)
    refs = [f"weave:///{emu.project}/call/{i['call_id']}" for i in items[:2]]

    async def count(expr: dict[str, Any]) -> int:
        body = {"project_id": emu.project, "query": {"$expr": expr}}
        status, answer = await api.call("POST", "/feedback/query", body)
        assert status == 200, answer
        assert answer["total_count"] == len(answer["result"])
        return len(answer["result"])

    in_refs = {"$in": [{"$getField": "weave_ref"}, [{"$literal": r} for r in refs]]}
    assert await count(_eq("queue_id", queue_id)) == 6 * 2 * 2
    assert await count(in_refs) == 2 * 2 * 2
    assert await count({"$and": [in_refs, _eq("feedback_type", "wandb.annotation.label")]}) == 4
    assert await count({"$or": [_eq("weave_ref", refs[0]), _eq("weave_ref", refs[1])]}) == 8
    assert await count({"$not": [in_refs]}) == 16
    assert await count(_eq("wb_user_id", "a")) == 0  # ids are converted in results only
    gt = {"$gte": [{"$getField": "payload.value"}, {"$literal": 1}]}
    assert await count({"$and": [_eq("feedback_type", "wandb.annotation.quality"), gt]}) == 12


async def test_query_sorts_pages_and_selects_fields(api: Api, emu: Emulator) -> None:
    emu.feedback.seed_annotated_queue(5, SPECS, annotators=("a",), complete=False)
    body = {
        "project_id": emu.project,
        "sort_by": [
            {"field": "created_at", "direction": "asc"},
            {"field": "id", "direction": "asc"},
        ],
        "fields": ["id", "payload.value"],
    }
    _, whole = await api.call("POST", "/feedback/query", body)
    ids = [r["id"] for r in whole["result"]]
    assert len(ids) == 10
    assert all(isinstance(r["payload.value"], str) for r in whole["result"])  # as text
    _, page = await api.call("POST", "/feedback/query", {**body, "limit": 3, "offset": 4})
    assert [r["id"] for r in page["result"]] == ids[4:7]


async def test_specs_are_readable_by_ref_and_by_object_read(api: Api, emu: Emulator) -> None:
    refs = emu.feedback.seed_specs(SPECS)
    status, answer = await api.call("POST", "/refs/read_batch", {"refs": list(refs.values())})
    assert status == 200
    assert [v["field_schema"] for v in answer["vals"]] == list(SPECS.values())
    assert answer["vals"][0]["_class_name"] == "AnnotationSpec"
    digest = refs["label"].rpartition(":")[2]
    body = {"project_id": emu.project, "object_id": "label", "digest": digest}
    status, answer = await api.call("POST", "/obj/read", body)
    assert status == 200
    assert answer["obj"]["val"]["field_schema"] == SPECS["label"]
    status, _ = await api.call("POST", "/obj/read", {**body, "digest": "nope"})
    assert status == 404
    status, _ = await api.call("POST", "/refs/read_batch", {"refs": [refs["label"] + "x"]})
    assert status == 400


async def test_obj_create_makes_a_spec_that_annotations_are_checked_against(
    api: Api, emu: Emulator
) -> None:
    val = {"_type": "AnnotationSpec", "_class_name": "AnnotationSpec", "name": "stars",
           "field_schema": {"type": "number", "maximum": 3}}  # fmt: skip
    status, answer = await api.call(
        "POST",
        "/obj/create",
        {"obj": {"project_id": emu.project, "object_id": "stars", "val": val}},
    )
    assert status == 200
    ref = f"weave:///{emu.project}/object/stars:{answer['digest']}"
    queue_id = emu.weave.seed_queue(1, scorer_refs=[ref])
    item = emu.weave.items(queue_id)[0]
    status, _ = await api.call("POST", "/feedback/create", _create(emu, item, ref, 4))
    assert status == 400
    status, _ = await api.call("POST", "/feedback/create", _create(emu, item, ref, 2.5))
    assert status == 200


async def test_fault_rules_target_the_feedback_routes_by_name(
    api: Api, emu: Emulator, seeded: Any
) -> None:
    _, refs, items = seeded
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"feedback_batch_create"}, times=1))
    batch = {"batch": [_create(emu, items[0], refs["quality"], 3, id="f1")]}
    with pytest.raises(aiohttp.ClientError):
        await api.call("POST", "/feedback/batch/create", batch)
    assert len(emu.feedback.rows()) == 1  # applied, answer lost
    assert emu.faults.count(kind="apply_then_drop", route="feedback_batch_create") == 1
    emu.faults.add(FaultRule(kind="status", status=503, routes={"feedback_query"}, times=1))
    status, _ = await api.call("POST", "/feedback/query", {"project_id": emu.project})
    assert status == 503


async def test_feedback_routes_need_credentials_and_project_access(
    emu: Emulator, seeded: Any
) -> None:
    _, refs, items = seeded
    outsider = emu.add_user("outsider", projects=["other/project"])
    body = _create(emu, items[0], refs["quality"], 3)
    async with aiohttp.ClientSession() as http:
        async with http.post(emu.url("/feedback/create"), json=body) as resp:
            assert resp.status == 401
        async with http.post(
            emu.url("/feedback/create"), json=body, headers=emu.auth_headers(outsider.api_key)
        ) as resp:
            assert resp.status == 403
    assert emu.feedback.rows() == []
