"""Item-query rules of docs/semantics/weave.md ("Item queries"), over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from annoq.emulator import Emulator

from ._support import Api


def _by(field: str) -> Callable[[dict[str, Any]], Any]:
    def key(item: dict[str, Any]) -> Any:
        return item[field]

    return key


def _expected_order(items: list[dict[str, Any]], sorts: list[tuple[str, str]]) -> list[str]:
    rows = sorted(items, key=_by("id"))
    for field, direction in reversed(sorts):
        rows.sort(key=_by(field), reverse=direction == "desc")
    return [it["id"] for it in rows]


async def test_default_order_is_created_at_then_id_ascending(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.create_queue(name="batches")
    emu.weave.add_items(queue_id, 30)
    emu.weave.add_items(queue_id, 30)
    items = await api.items(queue_id)
    assert len(items) == 60
    keys = [(it["created_at"], it["id"]) for it in items]
    assert keys == sorted(keys)


async def test_unfiltered_list_is_append_only_progress_never_moves_items(
    api: Api, emu: Emulator
) -> None:
    queue_id = emu.weave.seed_queue(20)
    before = [it["id"] for it in await api.items(queue_id)]
    for item_id in before[::3]:
        assert (await api.progress(queue_id, item_id, "completed"))[0] == 200
    new_ids = emu.weave.add_items(queue_id, 5)
    after = [it["id"] for it in await api.items(queue_id)]
    assert after[:20] == before
    assert sorted(after[20:]) == sorted(new_ids)


async def test_items_added_in_the_same_millisecond_sort_by_id_among_the_tail(
    emu: Emulator,
) -> None:
    # Ids are not ordered within one millisecond: two batches in the same ms interleave.
    store = emu.weave.store
    frozen = store.now_ms() + 10_000
    store.clock = lambda: frozen
    queue_id = emu.weave.create_queue(name="same ms")
    first = emu.weave.add_items(queue_id, 20)
    second = emu.weave.add_items(queue_id, 20)
    ids = emu.weave.item_ids(queue_id)
    assert ids == sorted(first + second)
    assert ids != first + second


@pytest.mark.parametrize(
    "sorts",
    [
        [("call_started_at", "asc")],
        [("call_started_at", "desc")],
        [("call_op_name", "asc")],
        [("call_op_name", "desc"), ("call_started_at", "asc")],
        [("created_at", "desc")],
        [("updated_at", "asc")],
    ],
)
async def test_sort_by_allowed_fields_with_id_ascending_tie_breaker(
    api: Api, emu: Emulator, sorts: list[tuple[str, str]]
) -> None:
    queue_id = emu.weave.create_queue(name="sorts")
    emu.weave.add_items(queue_id, 25)
    emu.weave.add_items(queue_id, 25)
    everything = await api.items(queue_id)
    items = await api.items(queue_id, sort_by=[{"field": f, "direction": d} for f, d in sorts])
    assert [it["id"] for it in items] == _expected_order(everything, sorts)


async def test_sort_by_call_started_at_differs_from_default_order(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(40)
    default = [it["id"] for it in await api.items(queue_id)]
    by_start = await api.items(queue_id, sort_by=[{"field": "call_started_at", "direction": "asc"}])
    starts = [it["call_started_at"] for it in by_start]
    assert starts == sorted(starts)
    assert [it["id"] for it in by_start] != default


async def test_sort_by_unknown_fields_is_silently_ignored(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(30)
    default = [it["id"] for it in await api.items(queue_id)]
    ignored = await api.items(
        queue_id,
        sort_by=[
            {"field": "annotation_state", "direction": "desc"},
            {"field": "id", "direction": "desc"},
        ],
    )
    assert [it["id"] for it in ignored] == default
    mixed = await api.items(
        queue_id,
        sort_by=[
            {"field": "nope", "direction": "desc"},
            {"field": "call_op_name", "direction": "asc"},
        ],
    )
    assert [it["id"] for it in mixed] == _expected_order(
        await api.items(queue_id), [("call_op_name", "asc")]
    )


async def test_no_default_limit_and_offset_past_end_and_limit_zero_give_empty(
    api: Api, emu: Emulator
) -> None:
    queue_id = emu.weave.seed_queue(2500)
    assert len(await api.items(queue_id)) == 2500
    assert len(await api.items(queue_id, limit=None, offset=None)) == 2500
    assert await api.items(queue_id, offset=2500) == []
    assert await api.items(queue_id, offset=10_000, limit=5) == []
    assert await api.items(queue_id, limit=0) == []
    assert len(await api.items(queue_id, offset=2490)) == 10


async def test_limit_and_offset_slice_the_sorted_rows(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(50)
    everything = [it["id"] for it in await api.items(queue_id)]
    page = await api.items(queue_id, limit=7, offset=11)
    assert [it["id"] for it in page] == everything[11:18]


async def test_position_in_queue_only_with_include_position(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(10)
    assert {it["position_in_queue"] for it in await api.items(queue_id)} == {None}
    page = await api.items(queue_id, include_position=True, offset=3, limit=4)
    assert [it["position_in_queue"] for it in page] == [4, 5, 6, 7]


async def test_position_in_queue_counts_after_exact_filters_before_state_filter(
    api: Api, emu: Emulator
) -> None:
    queue_id = emu.weave.seed_queue(40)
    everything = await api.items(queue_id)
    predicts = [it["id"] for it in everything if it["call_op_name"] == "predict"]
    completed = set(predicts[::3])
    for item_id in completed:
        assert (await api.progress(queue_id, item_id, "completed"))[0] == 200
    page = await api.items(
        queue_id,
        include_position=True,
        filter={"call_op_name": "predict", "annotation_states": ["unstarted"]},
        offset=1,
        limit=3,
    )
    expected = [(i, item_id) for i, item_id in enumerate(predicts, 1) if item_id not in completed][
        1:4
    ]
    assert [(it["position_in_queue"], it["id"]) for it in page] == expected


async def test_position_in_queue_follows_the_sort_order(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(20)
    sort_by = [{"field": "call_started_at", "direction": "desc"}]
    page = await api.items(queue_id, include_position=True, sort_by=sort_by)
    assert [it["position_in_queue"] for it in page] == list(range(1, 21))
    starts = [it["call_started_at"] for it in page]
    assert starts == sorted(starts, reverse=True)


@pytest.mark.parametrize("field", ["id", "call_id", "call_op_name", "call_trace_id", "added_by"])
async def test_exact_match_filters(api: Api, emu: Emulator, field: str) -> None:
    queue_id = emu.weave.create_queue(name="filters")
    emu.weave.add_items(queue_id, 12)
    emu.weave.add_items(queue_id, 12, added_by="someone-else")
    everything = await api.items(queue_id)
    value = everything[13][field]
    got = await api.items(queue_id, filter={field: value})
    assert got == [it for it in everything if it[field] == value]
    assert got


async def test_exact_filters_are_anded_and_null_means_not_given(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(30)
    everything = await api.items(queue_id)
    target = everything[4]
    got = await api.items(
        queue_id,
        filter={
            "call_op_name": target["call_op_name"],
            "call_trace_id": target["call_trace_id"],
            "id": None,
            "annotation_states": None,
        },
    )
    assert got == [
        it
        for it in everything
        if it["call_op_name"] == target["call_op_name"]
        and it["call_trace_id"] == target["call_trace_id"]
    ]
    assert await api.items(queue_id, filter={"call_op_name": "predict", "id": "nope"}) == []
    assert await api.items(queue_id, filter=None, sort_by=None) == everything


async def test_annotation_states_filter_is_in_and_empty_list_means_no_filter(
    api: Api, emu: Emulator
) -> None:
    queue_id = emu.weave.seed_queue(12)
    ids = emu.weave.item_ids(queue_id)
    await api.progress(queue_id, ids[0], "completed")
    await api.progress(queue_id, ids[1], "skipped")
    await api.progress(queue_id, ids[2], "in_progress")
    done = await api.items(queue_id, filter={"annotation_states": ["completed", "skipped"]})
    assert [it["id"] for it in done] == ids[:2]
    assert len(await api.items(queue_id, filter={"annotation_states": ["unstarted"]})) == 9
    assert len(await api.items(queue_id, filter={"annotation_states": []})) == 12


async def test_state_filtered_limit_offset_walk_skips_items_while_marking(
    api: Api, emu: Emulator
) -> None:
    # The hazard the contract warns about: items leave the filtered list as they change.
    queue_id = emu.weave.seed_queue(30)
    seen: list[str] = []
    offset = 0
    while True:
        page = await api.items(
            queue_id, filter={"annotation_states": ["unstarted"]}, limit=5, offset=offset
        )
        if not page:
            break
        for item in page:
            seen.append(item["id"])
            assert (await api.progress(queue_id, item["id"], "completed"))[0] == 200
        offset += len(page)
    assert len(seen) < 30
    remaining = await api.items(queue_id, filter={"annotation_states": ["unstarted"]})
    assert len(remaining) == 30 - len(seen)


async def test_unknown_queue_gives_empty_items_not_an_error(api: Api, emu: Emulator) -> None:
    emu.weave.seed_queue(3)
    status, body = await api.query("no-such-queue")
    assert (status, body) == (200, {"items": []})
    status, body = await api.query("no-such-queue", include_position=True, limit=3)
    assert (status, body) == (200, {"items": []})


async def test_items_of_another_project_are_not_visible(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(3, project="entity/other")
    assert await api.items(queue_id) == []
    assert len(await api.items(queue_id, project_id="entity/other")) == 3


async def test_deleted_items_are_never_returned(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(6)
    ids = emu.weave.item_ids(queue_id)
    assert emu.weave.delete_items(queue_id, ids[1:3]) == 2
    got = await api.items(queue_id, include_position=True)
    assert [it["id"] for it in got] == [ids[0], *ids[3:]]
    assert [it["position_in_queue"] for it in got] == [1, 2, 3, 4]
    assert all(it["deleted_at"] is None for it in got)
    assert (await api.progress(queue_id, ids[1], "completed"))[0] == 400


async def test_items_carry_their_call_fields_and_millisecond_utc_timestamps(
    api: Api, emu: Emulator
) -> None:
    queue_id = emu.weave.seed_queue(60)
    items = await api.items(queue_id)
    store = emu.weave.store
    for item in items:
        call = store.calls[emu.project][item["call_id"]]
        assert item["call_op_name"] == call.op_name
        assert item["call_trace_id"] == call.trace_id
        assert item["queue_id"] == queue_id
        assert item["added_by"] == item["created_by"] == emu.user_id
        assert item["display_fields"] == ["inputs", "output"]
        for field in ("created_at", "updated_at", "call_started_at"):
            assert len(item[field]) == 24
            assert item[field].endswith("Z")
            assert item[field][19] == "."
    assert {it["call_op_name"] for it in items} == {"predict", "evaluate", "summarize", "classify"}
    assert any(it["call_ended_at"] is None for it in await api.items(emu.weave.seed_queue(500)))


async def test_ids_are_time_ordered_uuid7(emu: Emulator) -> None:
    first = emu.weave.seed_queue(1)
    store = emu.weave.store
    later = store.now_ms() + 5
    store.clock = lambda: later
    second = emu.weave.seed_queue(1)
    assert first < second
    for value in (first, second, *emu.weave.item_ids(first)):
        assert value[14] == "7"
        assert value[19] in "89ab"
        assert len(value) == 36
