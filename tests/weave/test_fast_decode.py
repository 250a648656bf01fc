"""``read_items`` (msgspec straight into ``QueueItem``) must equal the cattrs reader on
every body: the same items for valid pages, the same ``ResponseDecodeError`` (message
and field path) otherwise, whichever road the body took."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annoq import ResponseDecodeError
from annoq._convert import make_list_reader
from annoq.weave import QueueItem
from annoq.weave._protocol import read_items, read_items_cattrs

from ..core._strategies import damaged_items, queue_items


def outcome(reader: Any, body: bytes) -> Any:
    try:
        return reader(body)
    except ResponseDecodeError as exc:
        return ("error", exc.path, str(exc))


def agree(body: bytes) -> Any:
    fast, reference = outcome(read_items, body), outcome(read_items_cattrs, body)
    assert fast == reference
    if isinstance(fast, list):  # equal and of the same types, field by field
        for a, b in zip(fast, reference, strict=True):
            assert [type(v) for v in vars_of(a)] == [type(v) for v in vars_of(b)]
            assert [getattr(v, "tzinfo", None) for v in vars_of(a)] == [
                getattr(v, "tzinfo", None) for v in vars_of(b)
            ]
    return fast


def vars_of(item: QueueItem) -> list[Any]:
    return [getattr(item, name) for name in item.__slots__ if name != "__weakref__"]


def page(items: list[Any]) -> bytes:
    # The standard library writes integers of any size (orjson refuses beyond 64 bits).
    return json.dumps({"items": items}, ensure_ascii=False).encode()


def strict_reader() -> Any:
    """``read_items`` with a fallback that fails the test: proves msgspec did the work."""

    def no_fallback(content: bytes) -> list[QueueItem]:
        raise AssertionError("took the cattrs path")

    return make_list_reader("items", QueueItem, no_fallback)


# Timestamps around the edges of both readers' grammars.
_digits = st.text(alphabet="0123456789", min_size=1, max_size=9)
odd_timestamps = st.one_of(
    st.builds(
        "{}-{}-{}{}{}:{}:{}{}{}".format,
        st.sampled_from(["2026", "0001", "9999", "+2026", "26"]),
        st.sampled_from(["11", "1", "13", "00"]),
        st.sampled_from(["24", "31", "00", "4"]),
        st.sampled_from(["T", "t", " ", "_", ""]),
        st.sampled_from(["12", "24", "23", "1"]),
        st.sampled_from(["00", "59", "60", "5"]),
        st.sampled_from(["00", "59", "60", "7"]),
        st.one_of(st.just(""), _digits.map(".{}".format), _digits.map(",{}".format)),
        st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+09:00", "+0900", "+09", "-23:59"]),
    ),
    st.text(alphabet="0123456789-:T.tzZ+ ", max_size=30),
)


@settings(max_examples=300)
@given(st.lists(queue_items(), max_size=5))
def test_valid_pages_decode_identically(items):
    assert isinstance(agree(page(items)), list)


@settings(max_examples=500)
@given(st.lists(damaged_items(), min_size=1, max_size=3))
def test_damaged_pages_decode_or_fail_identically(items):
    agree(page(items))


@settings(max_examples=500)
@given(
    queue_items(),
    st.sampled_from(["call_started_at", "created_at", "updated_at", "call_ended_at"]),
    odd_timestamps,
)
def test_odd_timestamps_read_the_same_on_both_paths(item, field, text):
    agree(page([{**item, field: text}]))


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24t12:00:00Z",
        "2026-11-24T12:00:00z",
        "2026-11-24T12:00:00.1234567Z",
        "2026-11-24T12:00:00.9999999Z",
        "2026-11-24T12:00:00.123456789+09:00",
        "2026-11-24 12:00:00Z",
        "2026-11-24T12:00Z",
    ],
)
def test_timestamps_the_two_parsers_would_read_differently_read_the_same(text):
    # msgspec rounds a 7th fraction digit where Python truncates, and takes lowercase.
    agree(page([{**VALID, "created_at": text}]))


@settings(max_examples=200)
@given(queue_items(), st.sampled_from(["id", "created_at", "call_op_name"]), st.data())
def test_json_escapes_read_the_same_on_both_paths(item, field, data):
    # \\u escapes spell the same characters: both readers must see the same string.
    body = page([item])
    value = orjson.dumps(item[field])[1:-1]
    if not value:
        return
    at = data.draw(st.integers(0, len(value) - 1))
    char = value[at : at + 1]
    if char in b'\\"':
        return
    escaped = value[:at] + b"\\u%04x" % ord(char) + value[at + 1 :]
    agree(body.replace(b'"' + value + b'"', b'"' + escaped + b'"', 1))


@pytest.mark.parametrize(
    "position",
    [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30, -1, 0],
)
def test_integers_beyond_64_bits_are_refused_on_both_paths_alike(position):
    agree(page([{**VALID, "position_in_queue": position}]))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'{"items": null}',
        b'{"items": {}}',
        b'{"item": []}',
        b'{"items": [1]}',
        b'{"items": [], "items": [{}]}',
        b'{"items": []} x',
        b'{"items": [' * 600 + b"]" * 600 + b"}",
        b'{"items": [' * 1100 + b"]" * 1100 + b"}",
        b'{"items": ["\\ud800"]}',
        b'{"items": [], "extra": 18446744073709551616}',
    ],
    ids=repr,
)
def test_broken_bodies_fail_identically(body):
    agree(body)


VALID = {
    "id": "i", "project_id": "p", "queue_id": "q", "call_id": "c",
    "call_started_at": "2026-11-24T12:00:00Z", "call_op_name": "op", "call_trace_id": "t",
    "display_fields": ["inputs.prompt"], "annotation_state": "unstarted",
    "created_at": "2026-11-24T12:00:00.123Z", "created_by": "u",
    "updated_at": "2026-11-24T12:00:00.123456Z", "added_by": "a", "annotator_user_id": "",
    "call_ended_at": "2026-11-24T12:00:01Z", "deleted_at": None, "position_in_queue": 3,
}  # fmt: skip


@pytest.mark.parametrize("field", sorted(VALID))
@pytest.mark.parametrize("value", [None, True, 0, 1.5, "", "not a time", [], ["x", 1], {}])
def test_every_field_with_every_kind_of_wrong_value_agrees(field, value):
    agree(page([VALID, {**VALID, field: value}]))


@pytest.mark.parametrize("field", sorted(VALID))
def test_every_missing_field_agrees(field):
    agree(page([{k: v for k, v in VALID.items() if k != field}]))


def test_a_server_page_in_utc_takes_the_msgspec_path():
    items = [{**VALID, "id": f"i{n}", "position_in_queue": n} for n in range(50)]
    assert strict_reader()(page(items)) == read_items_cattrs(page(items))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("created_at", "2026-11-24T21:00:00+09:00"),  # an offset, moved to UTC
        ("created_at", "2026-11-24T12:00:00"),  # naive, taken as UTC
        ("created_at", "2026-11-24"),  # a date msgspec refuses and Python reads
        ("position_in_queue", 2**64),  # orjson reads a float: refused
    ],
)
def test_pages_msgspec_cannot_read_as_the_rules_do_take_the_cattrs_path(field, value):
    body = page([VALID, {**VALID, field: value}])
    with pytest.raises(AssertionError, match="took the cattrs path"):
        strict_reader()(body)
    items = agree(body)
    if field == "position_in_queue":
        assert items[0] == "error"
    else:
        assert items[1].created_at.tzinfo is not None


def test_a_state_the_server_added_later_decodes_on_the_msgspec_path_too():
    body = page([VALID, {**VALID, "annotation_state": "reviewing"}])
    items = strict_reader()(body)
    assert items == agree(body)
    assert items[1].annotation_state.value == "reviewing"
    assert not items[1].annotation_state.is_known


def test_the_one_known_difference_a_float_overflow_in_an_ignored_field():
    # Unknown fields are ignored; msgspec skips a number too large for a float there,
    # where orjson refuses the whole body. Pinned so a change is noticed.
    body = b'{"items": [], "extra": 1e999}'
    assert read_items(body) == []
    with pytest.raises(ResponseDecodeError, match="not JSON"):
        read_items_cattrs(body)


@pytest.mark.parametrize("field", ["call_ended_at", "deleted_at", "created_at"])
def test_the_same_instant_in_two_zones_on_one_page_still_takes_the_cattrs_path(field):
    # The column-wise check must look at every value's zone: equal instants in
    # different zones compare (and hash) equal, so a set of the values would hide one.
    utc, tokyo = "2026-11-24T12:00:00Z", "2026-11-24T21:00:00+09:00"
    body = page([{**VALID, "id": "a", field: utc}, {**VALID, "id": "b", field: tokyo}])
    with pytest.raises(AssertionError, match="took the cattrs path"):
        strict_reader()(body)
    items = agree(body)
    assert [getattr(item, field).tzinfo for item in items] == [UTC, UTC]


def test_only_a_large_integer_in_the_middle_of_a_page_takes_the_cattrs_path():
    items = [{**VALID, "id": f"i{n}", "position_in_queue": n} for n in range(1, 20)]
    items[9]["position_in_queue"] = 2**64 - 1  # within orjson's range: decoded alike
    assert strict_reader()(page(items)) == read_items_cattrs(page(items))
    items[9]["position_in_queue"] = -(2**63) - 1
    with pytest.raises(AssertionError, match="took the cattrs path"):
        strict_reader()(page(items))
    assert agree(page(items))[0] == "error"
