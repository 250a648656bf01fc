"""Answers of the two contract endpoints validate against tests/contract/*.yaml."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from annoq.emulator import Emulator

from ._support import Api

Validators = dict[str, jsonschema.Draft202012Validator]

QUERY_BODIES: list[dict[str, Any]] = [
    {},
    {"include_position": True, "limit": 7, "offset": 3},
    {"filter": {"annotation_states": ["completed", "unstarted"]}, "include_position": True},
    {"filter": {"call_op_name": "predict", "id": None}, "sort_by": None, "limit": None},
    {"sort_by": [{"field": "call_started_at", "direction": "desc"}], "limit": 5},
    {"limit": 0},
]


def _validate(validator: jsonschema.Draft202012Validator, instance: Any) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.mark.parametrize("body", QUERY_BODIES)
async def test_items_query_answers_match_the_contract_schema(
    api: Api, emu: Emulator, contract_validators: Validators, body: dict[str, Any]
) -> None:
    queue_id = emu.weave.seed_queue(120)
    ids = emu.weave.item_ids(queue_id)
    emu.weave.set_progress(queue_id, ids[0], "completed", user_id="other")
    emu.weave.set_progress(queue_id, ids[1], "in_progress", user_id="other")
    request = {"project_id": api.project, **body}
    _validate(contract_validators["AnnotationQueueItemsQueryBody"], request)
    status, data = await api.query(queue_id, **body)
    assert status == 200
    _validate(contract_validators["AnnotationQueueItemsQueryRes"], data)
    if body.get("limit") != 0:
        assert data["items"]


@pytest.mark.parametrize("state", ["in_progress", "completed", "skipped"])
async def test_progress_answers_match_the_contract_schema(
    api: Api, emu: Emulator, contract_validators: Validators, state: str
) -> None:
    queue_id = emu.weave.seed_queue(1)
    item_id = emu.weave.item_ids(queue_id)[0]
    _validate(
        contract_validators["AnnotationQueueItemProgressUpdateBody"],
        {"project_id": api.project, "annotation_state": state},
    )
    for _ in range(2):  # the write, then the same-state no-op
        status, data = await api.progress(queue_id, item_id, state)
        assert status == 200
        _validate(contract_validators["AnnotatorQueueItemsProgressUpdateRes"], data)


@pytest.mark.parametrize(
    "payload",
    [b"{oops", b"{}", b'{"project_id": "e/p", "sort_by": [{"field": "id", "direction": "x"}]}'],
)
async def test_422_answers_match_the_contract_schema(
    api: Api, contract_validators: Validators, payload: bytes
) -> None:
    status, data = await api.call(
        "POST",
        "/annotation_queues/q/items/query",
        data=payload,
        headers={"Content-Type": "application/json"},
    )
    assert status == 422
    _validate(contract_validators["HTTPValidationError"], data)


def test_schema_date_time_check_is_effective(contract_validators: Validators) -> None:
    item = {
        "id": "i",
        "project_id": "p",
        "queue_id": "q",
        "call_id": "c",
        "call_started_at": "yesterday",
        "call_op_name": "o",
        "call_trace_id": "t",
        "display_fields": [],
        "annotation_state": "unstarted",
        "created_at": "2026-11-24T12:00:00.123Z",
        "created_by": "u",
        "updated_at": "2026-11-24T12:00:00.123Z",
    }
    errors = list(
        contract_validators["AnnotationQueueItemsQueryRes"].iter_errors({"items": [item]})
    )
    assert [list(e.path) for e in errors] == [["items", 0, "call_started_at"]]
