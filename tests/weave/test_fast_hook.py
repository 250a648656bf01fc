"""The hand-tuned QueueItem hook must agree with cattrs's generated one on every input:
same item for valid data (including unusual states and offsets), same error otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annoq import ResponseDecodeError
from annoq._convert import make_converter, structure
from annoq.weave import QueueItem
from annoq.weave._fast import FastItemHook, fast_item
from annoq.weave._protocol import converter as fast_converter

from ..core._strategies import damaged_items, queue_items

generated_converter = make_converter(datetimes_to_utc=True)  # no fast hook registered


def both(data: Any) -> tuple[Any, Any]:
    results = []
    for conv in (fast_converter, generated_converter):
        try:
            results.append(structure(conv, data, QueueItem))
        except ResponseDecodeError as exc:
            results.append(("error", exc.path, str(exc)))
    return results[0], results[1]


def test_the_fast_hook_is_the_one_registered_for_queue_items():
    hook = fast_converter.get_structure_hook(QueueItem)
    assert isinstance(hook, FastItemHook)
    assert hook(VALID, QueueItem) == fast_item(VALID)


@settings(max_examples=300)
@given(queue_items())
def test_valid_items_decode_identically(data):
    fast, generated = both(data)
    assert isinstance(fast, QueueItem)
    assert fast == generated


@settings(max_examples=300)
@given(queue_items())
def test_the_fast_path_itself_decodes_every_valid_item_in_a_known_state(data):
    # Called directly: a fast path that always gave up would pass the tests above.
    assert fast_item(data) == structure(generated_converter, data, QueueItem)


@settings(max_examples=500)
@given(damaged_items())
def test_damaged_items_decode_or_fail_identically(data):
    fast, generated = both(data)
    assert fast == generated


@given(queue_items(), st.sampled_from(["reviewing", "escalated"]))
def test_unknown_states_take_the_generated_path_and_still_decode(data, state):
    data["annotation_state"] = state
    fast, generated = both(data)
    assert fast == generated
    assert fast.annotation_state.value == state
    assert not fast.annotation_state.is_known


@pytest.mark.parametrize(
    ("field", "value"),
    [("created_at", "2026-11-24T21:00:00+09:00"), ("created_at", "2026-11-24T12:00:00")],
)
def test_offsets_and_naive_times_are_normalised_to_utc_on_both_paths(field, value):
    data = {
        "id": "i", "project_id": "p", "queue_id": "q", "call_id": "c",
        "call_started_at": "2026-11-24T12:00:00Z", "call_op_name": "op", "call_trace_id": "t",
        "display_fields": [], "annotation_state": "unstarted", "created_at": value,
        "created_by": "u", "updated_at": "2026-11-24T12:00:00.5Z",
    }  # fmt: skip
    fast, generated = both(data)
    assert fast == generated
    assert fast.created_at.isoformat() == "2026-11-24T12:00:00+00:00"


VALID = {
    "id": "i", "project_id": "p", "queue_id": "q", "call_id": "c",
    "call_started_at": "2026-11-24T12:00:00Z", "call_op_name": "op", "call_trace_id": "t",
    "display_fields": ["inputs.prompt"], "annotation_state": "unstarted",
    "created_at": "2026-11-24T12:00:00.123Z", "created_by": "u",
    "updated_at": "2026-11-24T12:00:00.123456Z", "added_by": "a", "annotator_user_id": "",
    "call_ended_at": "2026-11-24T12:00:01Z", "deleted_at": None, "position_in_queue": 3,
}  # fmt: skip
WRONG_VALUES = [None, True, 0, 1.5, "", "not a time", [], ["x", 1], {}, {"a": 1}]


@pytest.mark.parametrize("field", sorted(VALID))
@pytest.mark.parametrize("value", WRONG_VALUES, ids=repr)
def test_every_field_with_every_kind_of_wrong_value_agrees(field, value):
    data = {**VALID, field: value}
    fast, generated = both(data)
    assert fast == generated


@pytest.mark.parametrize("field", sorted(VALID))
def test_every_missing_field_agrees(field):
    data = {k: v for k, v in VALID.items() if k != field}
    fast, generated = both(data)
    assert fast == generated
