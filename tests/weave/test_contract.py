"""Every body annoq builds for the two contract endpoints (item query, progress update),
and every response it accepts, validated against the published OpenAPI fragments."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from annoq import AnnotationState, ItemFilter, QueueItem, SortBy, WeaveSession
from annoq.weave import _protocol as proto
from tests._support import PROJECT, MockHTTP, calls, item_json, only_call, sent_json, url
from tests.core._strategies import queue_items

CONTRACT = Path(__file__).resolve().parents[1] / "contract"
QUERY_URI = "urn:annoq:weave-items-query"
PROGRESS_URI = "urn:annoq:weave-items-progress"
QID = "q-1"


def _registry() -> Registry:
    registry: Registry = Registry()
    for uri, name in (
        (QUERY_URI, "weave-items-query.openapi.yaml"),
        (PROGRESS_URI, "weave-items-progress.openapi.yaml"),
    ):
        document = yaml.safe_load((CONTRACT / name).read_text(encoding="utf-8"))
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        registry = registry.with_resource(uri, resource)
    return registry


REGISTRY = _registry()


# jsonschema checks "date-time" only with an optional extra installed; check RFC 3339 here.
FORMATS = jsonschema.FormatChecker()
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


@FORMATS.checks("date-time")
def _is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or _RFC3339.fullmatch(value) is not None


def validator(uri: str, schema: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"{uri}#/components/schemas/{schema}"}, registry=REGISTRY, format_checker=FORMATS
    )


QUERY_BODY = validator(QUERY_URI, "AnnotationQueueItemsQueryBody")
QUERY_RES = validator(QUERY_URI, "AnnotationQueueItemsQueryRes")
PROGRESS_BODY = validator(PROGRESS_URI, "AnnotationQueueItemProgressUpdateBody")
PROGRESS_RES = validator(PROGRESS_URI, "AnnotatorQueueItemsProgressUpdateRes")
ITEM = validator(QUERY_URI, "AnnotationQueueItemSchema")
STATE_NAMES = [s.value for s in AnnotationState]


def assert_valid(v: jsonschema.Draft202012Validator, instance: Any) -> None:
    errors = sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


# -- the validators themselves can fail -----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"annotation_state": "completed"},  # no project_id
        {"project_id": PROJECT, "annotation_state": "completed", "annotator": "me"},  # extra
        {"project_id": PROJECT, "annotation_state": 3},
    ],
)
def test_progress_body_schema_rejects_a_wrong_body(body: dict[str, Any]) -> None:
    assert not PROGRESS_BODY.is_valid(body)


@pytest.mark.parametrize(
    "body",
    [
        {"project_id": PROJECT, "sort_by": [{"field": "created_at", "direction": "up"}]},
        {"project_id": PROJECT, "filter": {"annotation_states": ["reviewing"]}},
        {"project_id": PROJECT, "limit": "10"},
        {"project_id": PROJECT, "include_position": 1},
        {"project_id": PROJECT, "page": 2},
        {"limit": 1},
    ],
)
def test_query_body_schema_rejects_a_wrong_body(body: dict[str, Any]) -> None:
    assert not QUERY_BODY.is_valid(body)


def test_item_schema_rejects_a_timestamp_without_offset_and_an_unknown_state() -> None:
    assert ITEM.is_valid(item_json())
    assert not ITEM.is_valid(item_json(created_at="2026-11-24T12:00:00"))
    assert not ITEM.is_valid(item_json(annotation_state="reviewing"))


def test_item_schema_rejects_an_item_missing_a_required_field() -> None:
    item = item_json()
    del item["call_trace_id"]
    assert not ITEM.is_valid(item)
    assert not QUERY_RES.is_valid({"items": [item]})
    assert not PROGRESS_RES.is_valid({"item": item})


# -- request bodies: item query -------------------------------------------------------------

FILTERS: list[ItemFilter | None] = [
    None,
    ItemFilter(),
    ItemFilter(id="i-1"),
    ItemFilter(call_id="c-1"),
    ItemFilter(call_op_name="predict"),
    ItemFilter(call_trace_id="t-1"),
    ItemFilter(added_by="user-1"),
    ItemFilter(annotation_states=["unstarted"]),
    ItemFilter(annotation_states=STATE_NAMES),
    ItemFilter(annotation_states=[]),
    ItemFilter(
        id="i-1",
        call_id="c-1",
        call_op_name="predict",
        call_trace_id="t-1",
        added_by="user-1",
        annotation_states=[AnnotationState.IN_PROGRESS, "skipped"],
    ),
]
SORTABLE = ("call_started_at", "call_op_name", "created_at", "updated_at")
SORTS: list[SortBy | list[SortBy] | None] = [
    None,
    [],
    SortBy("created_at"),
    [SortBy("call_started_at", "desc"), SortBy("call_op_name", "asc")],
    [SortBy(field, direction) for field in SORTABLE for direction in ("asc", "desc")],
]
LIMITS = [None, 0, 1, 500]
OFFSETS = [None, 0, 37]


@pytest.mark.parametrize("include_position", [False, True])
@pytest.mark.parametrize("filter_", FILTERS, ids=repr)
def test_every_item_query_body_matches_the_contract(
    filter_: ItemFilter | None, include_position: bool
) -> None:
    count = 0
    for sort, limit, offset in itertools.product(SORTS, LIMITS, OFFSETS):
        body = proto.items_query_body(
            PROJECT,
            filter=filter_,
            sort_by=sort,
            limit=limit,
            offset=offset,
            include_position=include_position,
        )
        assert_valid(QUERY_BODY, orjson.loads(orjson.dumps(body)))
        assert body["include_position"] is include_position
        assert ("limit" in body) is (limit is not None)
        assert ("offset" in body) is (offset is not None)
        count += 1
    assert count == len(SORTS) * len(LIMITS) * len(OFFSETS)


async def test_bodies_sent_by_query_page_and_walks_match_the_contract(http: MockHTTP) -> None:
    http.post(url(f"/annotation_queues/{QID}/items/query"), payload={"items": []}, repeat=True)
    async with WeaveSession("k", base_url="https://trace.example") as weave:
        queue = weave.queue(PROJECT, QID)
        await queue.query_page()
        await queue.query_page(
            filter=ItemFilter(call_id="c", annotation_states=["completed"]),
            sort_by=SortBy("updated_at", "desc"),
            limit=10,
            offset=5,
            include_position=True,
        )
        assert await queue.get_item("i-1") is None
        assert [i async for i in queue.items(states=["unstarted"], page_size=50)] == []
        assert [i async for i in queue.items(states=["unstarted"], mode="fast")] == []
        assert [p async for p in queue.pages(sort_by=[SortBy("created_at")])] == []

    bodies = [sent_json(call) for _, _, call in calls(http)]
    assert len(bodies) >= 6  # walks may prefetch pages past the end
    for body in bodies:
        assert_valid(QUERY_BODY, body)


# -- request bodies: progress update --------------------------------------------------------


@pytest.mark.parametrize("state", ["in_progress", "completed", "skipped"])
def test_progress_body_for_each_settable_state_matches_the_contract(state: str) -> None:
    for given_as in (state, AnnotationState(state)):
        body = proto.update_progress_request(PROJECT, QID, "item-1", given_as).json
        assert body == {"project_id": PROJECT, "annotation_state": state}
        assert_valid(PROGRESS_BODY, orjson.loads(orjson.dumps(body)))


@pytest.mark.parametrize("state", ["in_progress", "completed", "skipped"])
async def test_progress_body_sent_on_the_wire_matches_the_contract(
    http: MockHTTP, state: str
) -> None:
    response = {"item": item_json(queue_id=QID, annotation_state=state, annotator_user_id="me")}
    assert_valid(PROGRESS_RES, response)
    http.post(url(f"/annotation_queues/{QID}/items/i-1/progress"), payload=response)
    async with WeaveSession("k", base_url="https://trace.example") as weave:
        item = await weave.queue(PROJECT, QID).update_progress("i-1", state)

    assert item.annotation_state == state
    _, _, call = only_call(http)
    assert_valid(PROGRESS_BODY, sent_json(call))


# -- responses ------------------------------------------------------------------------------

RESPONSE_ITEMS = [
    item_json(),
    item_json(position_in_queue=1, annotation_state="in_progress", annotator_user_id="u"),
    item_json(added_by=None, annotator_user_id=None, call_ended_at=None, display_fields=[]),
    {k: v for k, v in item_json().items() if k not in ("added_by", "call_ended_at", "deleted_at")},
    item_json(call_started_at="2026-11-24T21:00:00.5+09:00", created_at="2026-11-24T12:00:00Z"),
    item_json(deleted_at="2026-11-25T00:00:00.000001Z", annotation_state="skipped"),
    item_json(extra_future_field={"nested": True}),
]


@pytest.mark.parametrize("item", RESPONSE_ITEMS)
def test_each_accepted_item_response_is_a_contract_response(item: dict[str, Any]) -> None:
    page = {"items": [item]}
    assert_valid(QUERY_RES, page)
    assert_valid(PROGRESS_RES, {"item": item})
    [decoded] = proto.read_items(orjson.dumps(page))
    assert proto.read_item(orjson.dumps({"item": item})) == decoded
    # What annoq makes of it writes back as a contract item too.
    assert_valid(ITEM, proto.converter.unstructure(decoded))


def test_empty_item_page_is_accepted_and_valid() -> None:
    assert_valid(QUERY_RES, {"items": []})
    assert proto.read_items(b'{"items": []}') == []


@settings(max_examples=60, deadline=None)
@given(items=st.lists(queue_items(), max_size=4))
def test_generated_item_pages_are_contract_valid_and_accepted(items: list[dict[str, Any]]) -> None:
    page = {"items": items}
    assert_valid(QUERY_RES, page)
    decoded = proto.read_items(orjson.dumps(page))
    assert [i.id for i in decoded] == [i["id"] for i in items]
    for item in decoded:
        assert isinstance(item, QueueItem)
        assert_valid(ITEM, proto.converter.unstructure(item))
