"""The converter: timestamps, forward compatibility, strictness, and decode errors that
name the field, never a bare KeyError or TypeError."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annoq import AnnotationState, ItemFilter, QueueItem, QueueStats, ResponseDecodeError
from annoq._convert import (
    decode_json,
    format_datetime,
    make_converter,
    parse_datetime,
    structure,
)
from annoq.weave import _protocol as proto
from tests._support import item_json, queue_json
from tests.core._strategies import damaged_items, json_values, queue_items

JST = timezone(timedelta(hours=9))


def items_body(*items: dict[str, Any]) -> bytes:
    return orjson.dumps({"items": list(items)})


# -- datetimes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T12:00:00Z", datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)),
        ("2026-11-24T12:00:00", datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)),
        ("2026-11-24T12:00:00.123Z", datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2026-11-24T12:00:00.123", datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=UTC)),
        ("2026-11-24T12:00:00.123456Z", datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-24T12:00:00.123456+00:00", datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-24T21:00:00.5+09:00", datetime(2026, 11, 24, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-24T06:30:00-05:30", datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)),
        ("2026-11-24 12:00:00Z", datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)),
    ],
)
def test_weave_timestamps_parse_to_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)

    assert parsed == expected
    assert parsed.tzinfo is UTC
    item = proto.read_item(orjson.dumps({"item": item_json(created_at=text)}))
    assert item.created_at == expected
    assert item.created_at.utcoffset() == timedelta(0)


def test_parse_datetime_can_keep_the_servers_offset() -> None:
    parsed = parse_datetime("2026-11-24T21:00:00+09:00", to_utc=False)
    assert parsed.utcoffset() == timedelta(hours=9)
    assert parsed == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_datetime("2026-11-24T21:00:00", to_utc=False).tzinfo is UTC


def test_format_datetime_writes_rfc3339_utc_with_z() -> None:
    assert format_datetime(datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)) == "2026-11-24T12:00:00Z"
    assert (
        format_datetime(datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=UTC))
        == "2026-11-24T12:00:00.123000Z"
    )
    assert format_datetime(datetime(2026, 11, 24, 21, 0, 0, tzinfo=JST)) == "2026-11-24T12:00:00Z"
    assert format_datetime(datetime(2026, 11, 24, 12, 0, 0)) == "2026-11-24T12:00:00Z"


@pytest.mark.parametrize("moment", ["2026-11-24T12:00:00.000001Z", "2026-11-24T21:00:00+09:00"])
def test_formatted_datetimes_parse_back_to_the_same_instant(moment: str) -> None:
    parsed = parse_datetime(moment)
    assert parse_datetime(format_datetime(parsed)) == parsed


@pytest.mark.parametrize("value", ["yesterday", "", "2026-13-01T00:00:00Z", 1700000000, None])
def test_a_bad_timestamp_names_its_field(value: object) -> None:
    with pytest.raises(ResponseDecodeError) as caught:
        proto.read_items(items_body(item_json(), item_json(updated_at=value)))
    assert caught.value.path == "$.items[1].updated_at"


# -- forward compatibility ------------------------------------------------------------------


def test_unknown_response_fields_are_ignored() -> None:
    item = item_json(score_summary={"mean": 0.5}, reviewers=["a"], new_flag=True)
    queue = queue_json(item_count=12, visibility="private")

    [decoded] = proto.read_items(items_body(item))
    assert decoded.id == item["id"]
    assert proto.read_queue(orjson.dumps({"queue": queue, "etag": "x"})).name == "triage"
    stats = proto.read_stats(
        orjson.dumps({"stats": [{"queue_id": "q", "total_items": 3, "completed_items": 1, "x": 0}]})
    )
    assert stats[0].total_items == 3


def test_an_unknown_future_state_decodes_without_failing_the_page() -> None:
    page = items_body(
        item_json(id="a", annotation_state="completed"),
        item_json(id="b", annotation_state="reviewing"),
        item_json(id="c", annotation_state="unstarted"),
    )

    a, b, c = proto.read_items(page)

    assert b.annotation_state == "reviewing"
    assert isinstance(b.annotation_state, AnnotationState)
    assert not b.annotation_state.is_known
    assert a.annotation_state is AnnotationState.COMPLETED
    assert a.annotation_state.is_known
    assert c.annotation_state is AnnotationState.UNSTARTED
    assert b.annotation_state not in {AnnotationState.UNSTARTED, AnnotationState.COMPLETED}


def test_optional_fields_may_be_absent_or_null() -> None:
    required_only = {
        k: v
        for k, v in item_json().items()
        if k not in ("added_by", "annotator_user_id", "call_ended_at", "deleted_at")
    }
    [absent] = proto.read_items(items_body(required_only))
    [null] = proto.read_items(
        items_body(item_json(added_by=None, annotator_user_id=None, position_in_queue=None))
    )

    assert absent.added_by is None
    assert absent.call_ended_at is None
    assert absent.position_in_queue is None
    assert null.annotator_user_id is None


# -- request bodies -------------------------------------------------------------------------


def test_request_bodies_omit_what_the_caller_did_not_set() -> None:
    assert proto.converter.unstructure(ItemFilter()) == {}
    assert proto.converter.unstructure(ItemFilter(call_id="c")) == {"call_id": "c"}
    assert proto.converter.unstructure(ItemFilter(added_by="", annotation_states=[])) == {
        "added_by": "",
        "annotation_states": [],
    }


def test_response_models_unstructure_every_field() -> None:
    [item] = proto.read_items(items_body(item_json()))
    dumped = proto.converter.unstructure(item)
    assert set(dumped) == {a.name for a in QueueItem.__attrs_attrs__}
    assert dumped["created_at"] == "2026-11-24T12:05:00.001000Z"
    assert dumped["annotation_state"] == "unstarted"
    assert dumped["display_fields"] == ["inputs.prompt", "output"]


# -- strictness and decode errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("call_id", 123, "$.items[0].call_id"),
        ("call_id", None, "$.items[0].call_id"),
        ("id", ["x"], "$.items[0].id"),
        ("annotation_state", 1, "$.items[0].annotation_state"),
        ("position_in_queue", "3", "$.items[0].position_in_queue"),
        ("position_in_queue", True, "$.items[0].position_in_queue"),
        ("position_in_queue", 1.5, "$.items[0].position_in_queue"),
        ("display_fields", "inputs.prompt", "$.items[0].display_fields"),
        ("display_fields", {"a": 1}, "$.items[0].display_fields"),
        ("display_fields", ["ok", 7], "$.items[0].display_fields[1]"),
        ("added_by", 5, "$.items[0].added_by"),
    ],
)
def test_wrong_types_are_refused_with_the_field_path(field: str, value: Any, path: str) -> None:
    with pytest.raises(ResponseDecodeError) as caught:
        proto.read_items(items_body(item_json(**{field: value})))
    assert caught.value.path == path
    assert path in str(caught.value)


@pytest.mark.parametrize("field", ["id", "call_id", "call_started_at", "display_fields"])
def test_a_missing_required_field_names_its_path(field: str) -> None:
    item = item_json()
    del item[field]

    with pytest.raises(ResponseDecodeError, match="missing") as caught:
        proto.read_items(items_body(item_json(), item_json(), item))

    assert caught.value.path == f"$.items[2].{field}"


def test_a_missing_field_of_a_single_item_names_its_path() -> None:
    item = item_json()
    del item["queue_id"]
    with pytest.raises(ResponseDecodeError) as caught:
        proto.read_item(orjson.dumps({"item": item}))
    assert caught.value.path == "$.item.queue_id"


def test_strict_scalars_refuse_bool_for_counts() -> None:
    body = orjson.dumps({"added_count": True, "duplicates": 0})
    with pytest.raises(ResponseDecodeError) as caught:
        proto.read_add_calls(body)
    assert caught.value.path == "$.added_count"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"<!DOCTYPE html><html><head><title>Sign in</title></head></html>",
        b'{"items": [',
        b"\xff\xfe\x00",
        b"[]",
        b'[{"items": []}]',
        b'"items"',
        b"null",
        b"42",
        b"{}",
        b'{"items": null}',
        b'{"items": {}}',
        b'{"items": "abc"}',
        b'{"items": [null]}',
        b'{"items": [[]]}',
        b'{"items": [1, 2]}',
    ],
)
def test_malformed_bodies_raise_response_decode_error_for_every_reader(body: bytes) -> None:
    readers = (
        proto.read_items,
        proto.read_item,
        proto.read_queue,
        proto.read_stats,
        proto.read_add_calls,
        proto.read_created_id,
    )
    for reader in readers:
        with pytest.raises(ResponseDecodeError):
            reader(body)


def test_a_json_array_instead_of_an_object_says_so() -> None:
    with pytest.raises(ResponseDecodeError, match="expected a JSON object, got list"):
        proto.read_items(b"[1, 2]")


def test_html_page_is_reported_with_a_snippet() -> None:
    with pytest.raises(ResponseDecodeError) as caught:
        decode_json(b"<html><title>Maintenance</title></html>")
    assert caught.value.path == "$"
    assert "Maintenance" in caught.value.snippet


def test_structure_wraps_cattrs_errors_for_any_model() -> None:
    converter = make_converter()
    with pytest.raises(ResponseDecodeError) as caught:
        structure(converter, {"queue_id": "q", "total_items": "1"}, QueueStats)
    assert caught.value.path in ("$.total_items", "$.completed_items")


# -- properties -----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(raw=queue_items())
def test_valid_items_round_trip_through_the_converter(raw: dict[str, Any]) -> None:
    item = proto.converter.structure(raw, QueueItem)
    dumped = proto.converter.unstructure(item)

    again = proto.converter.structure(orjson.loads(orjson.dumps(dumped)), QueueItem)

    assert again == item
    assert again.annotation_state.is_known
    for name in ("call_started_at", "created_at", "updated_at"):
        assert getattr(again, name).tzinfo is UTC
        assert dumped[name].endswith("Z")
    assert list(again.display_fields) == raw["display_fields"]
    assert again.id == raw["id"]


def _assert_reads_or_decode_error(body: bytes) -> None:
    """Any exception other than ResponseDecodeError escapes and fails the test."""
    for reader in (proto.read_items, proto.read_item):
        with contextlib.suppress(ResponseDecodeError):
            result = reader(body)
            assert isinstance(result, list | QueueItem)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200))
def test_random_bytes_either_decode_or_raise_response_decode_error(body: bytes) -> None:
    _assert_reads_or_decode_error(body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries({"items": json_values}),
        st.fixed_dictionaries({"item": json_values}),
        st.fixed_dictionaries({"items": st.lists(damaged_items() | json_values, max_size=3)}),
        st.fixed_dictionaries({"item": damaged_items()}),
    )
)
def test_random_json_either_decodes_or_raises_response_decode_error(body: Any) -> None:
    _assert_reads_or_decode_error(orjson.dumps(body))
