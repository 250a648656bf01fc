"""Invalid arguments are refused before any request, with a message naming the argument
and the allowed values. The mock has no URL registered: nothing may be sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from annoq import InvalidArgumentError, ItemFilter, SortBy, WeaveSession
from tests._support import PROJECT, MockHTTP, request_count

QID = "q-1"
Call = Callable[[WeaveSession], Awaitable[Any]]


async def first(iterator: Any) -> Any:
    """Start an async iterator (validation of generators happens on first use)."""
    return await anext(aiter(iterator), None)


async def refused(http: MockHTTP, weave: WeaveSession, call: Call) -> InvalidArgumentError:
    with pytest.raises(InvalidArgumentError) as caught:
        await call(weave)
    assert request_count(http) == 0
    return caught.value


# -- ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "call"),
    [
        ("project_id", lambda w: w.create_queue("", name="x")),
        ("name", lambda w: w.create_queue(PROJECT, name="")),
        ("name", lambda w: w.create_queue(PROJECT, name="  ")),
        ("scorer_refs", lambda w: w.create_queue(PROJECT, name="x", scorer_refs=[""])),
        ("scorer_refs", lambda w: w.create_queue(PROJECT, name="x", scorer_refs="ref")),
        ("project_id", lambda w: first(w.queues(""))),
        ("project_id", lambda w: w.queue_stats("", [QID])),
        ("queue_ids", lambda w: w.queue_stats(PROJECT, [QID, ""])),
        ("call_ids", lambda w: w.queue(PROJECT, QID).add_calls([""])),
        ("call_ids", lambda w: w.queue(PROJECT, QID).add_calls("call-1")),
        ("display_fields", lambda w: w.queue(PROJECT, QID).add_calls(["c"], display_fields=[""])),
        ("item_id", lambda w: w.queue(PROJECT, QID).update_progress("", "completed")),
        ("item_id", lambda w: w.queue(PROJECT, QID).update_progress(" ", "completed")),
        ("item_id", lambda w: w.queue(PROJECT, QID).get_item("")),
        ("name", lambda w: w.queue(PROJECT, QID).update(name="")),
    ],
)
async def test_empty_ids_are_refused_naming_the_argument(
    http: MockHTTP, weave: WeaveSession, argument: str, call: Call
) -> None:
    error = await refused(http, weave, call)
    assert argument in str(error)


@pytest.mark.parametrize(
    ("project_id", "queue_id", "argument"),
    [("", QID, "project_id"), (PROJECT, "", "queue_id"), (PROJECT, None, "queue_id")],
)
def test_queue_handle_refuses_empty_ids_without_io(
    http: MockHTTP, weave: WeaveSession, project_id: str, queue_id: Any, argument: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        weave.queue(project_id, queue_id)
    assert request_count(http) == 0


# -- states ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.queue(PROJECT, QID).update_progress("i-1", "done"),
        lambda w: w.queue(PROJECT, QID).update_progress("i-1", "COMPLETED"),
        lambda w: w.queue(PROJECT, QID).bulk_update_progress(["i-1"], "done"),
        lambda w: w.queue(PROJECT, QID).mark_all("done"),
    ],
)
async def test_unknown_state_name_is_refused_listing_the_allowed_states(
    http: MockHTTP, weave: WeaveSession, call: Call
) -> None:
    message = str(await refused(http, weave, call))
    assert "state=" in message
    for allowed in ("'in_progress'", "'completed'", "'skipped'"):
        assert allowed in message


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.queue(PROJECT, QID).update_progress("i-1", "unstarted"),
        lambda w: w.queue(PROJECT, QID).bulk_update_progress(["i-1"], "unstarted"),
        lambda w: w.queue(PROJECT, QID).mark_all("unstarted"),
    ],
)
async def test_unstarted_is_not_a_state_one_can_set(
    http: MockHTTP, weave: WeaveSession, call: Call
) -> None:
    message = str(await refused(http, weave, call))
    assert "'unstarted'" in message  # named as the refused value
    assert "use one of 'in_progress', 'completed', 'skipped'" in message


def test_unknown_state_in_a_filter_is_refused_listing_all_four_states() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        ItemFilter(annotation_states=["unstarted", "reviewing"])
    message = str(caught.value)
    assert "annotation_states" in message
    assert "'reviewing'" in message
    for allowed in ("'unstarted'", "'in_progress'", "'completed'", "'skipped'"):
        assert allowed in message


async def test_unknown_state_in_a_walk_is_refused_before_any_request(
    http: MockHTTP, weave: WeaveSession
) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^states='finished' is not allowed"):
        weave.queue(PROJECT, QID).items(states=["finished"])
    assert request_count(http) == 0


# -- sorting --------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["ASC", "up", "descending", ""])
def test_sort_direction_must_be_asc_or_desc(direction: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        SortBy("created_at", direction)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "direction" in message
    assert "'asc'" in message
    assert "'desc'" in message


@pytest.mark.parametrize("field", ["id", "annotation_state", "Created_At", ""])
def test_unknown_sort_field_is_refused_listing_sortable_fields(field: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        SortBy(field)
    message = str(caught.value)
    assert "field" in message
    for allowed in ("'call_started_at'", "'call_op_name'", "'created_at'", "'updated_at'"):
        assert allowed in message


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda w: first(w.queues(PROJECT, sort_by="size")), ["sort_by", "'name'"]),
        (
            lambda w: first(w.queues(PROJECT, sort_by="name", direction="up")),
            ["direction", "'asc'", "'desc'"],
        ),
        (
            lambda w: first(w.queues(PROJECT, direction="ascending")),
            ["direction", "'asc'", "'desc'"],
        ),
        (
            lambda w: w.queue(PROJECT, QID).query_page(sort_by=["created_at"]),
            ["sort_by", "SortBy"],
        ),
    ],
)
async def test_bad_sort_arguments_are_refused_before_any_request(
    http: MockHTTP, weave: WeaveSession, call: Call, words: list[str]
) -> None:
    message = str(await refused(http, weave, call))
    for word in words:
        assert word in message


# -- counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "call"),
    [
        ("limit", lambda w: w.queue(PROJECT, QID).query_page(limit=-1)),
        ("offset", lambda w: w.queue(PROJECT, QID).query_page(offset=-1)),
        ("limit", lambda w: w.queue(PROJECT, QID).query_page(limit=True)),
        ("offset", lambda w: w.queue(PROJECT, QID).query_page(offset=False)),
        ("limit", lambda w: w.queue(PROJECT, QID).query_page(limit=2.0)),
        ("limit", lambda w: w.queue(PROJECT, QID).query_page(limit="10")),
        ("limit", lambda w: first(w.queues(PROJECT, limit=-5))),
        ("offset", lambda w: first(w.queues(PROJECT, offset=-1))),
        ("limit", lambda w: first(w.queues(PROJECT, limit=True))),
        ("include_position", lambda w: w.queue(PROJECT, QID).query_page(include_position=1)),
        ("filter", lambda w: w.queue(PROJECT, QID).query_page(filter={"call_id": "c"})),
    ],
)
async def test_bad_limits_and_offsets_are_refused_naming_the_argument(
    http: MockHTTP, weave: WeaveSession, argument: str, call: Call
) -> None:
    message = str(await refused(http, weave, call))
    assert argument in message


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": -10}, "page_size"),
        ({"page_size": True}, "page_size"),
        ({"prefetch": -1}, "prefetch"),
        ({"max_items": -1}, "max_items"),
        ({"mode": "quick"}, "mode"),
    ],
)
async def test_bad_walk_options_are_refused_when_the_walk_is_made(
    http: MockHTTP, weave: WeaveSession, kwargs: dict[str, Any], argument: str
) -> None:
    queue = weave.queue(PROJECT, QID)
    for make in (queue.items, queue.pages):
        with pytest.raises(InvalidArgumentError, match=argument) as caught:
            make(**kwargs)
        assert ">= 1" in str(caught.value) or argument != "page_size"
    assert request_count(http) == 0


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "5"}, "timeout"),
    ],
)
def test_bad_session_options_are_refused(
    weave: WeaveSession, kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        weave.with_options(**kwargs)
