"""Annotations out (export walk) and in (bulk import) against the emulator."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from annoq import BulkAbortedError, BulkProgress, InvalidArgumentError, WeaveSession
from annoq.emulator import Emulator, FaultRule
from tests._support import FAST_RETRIES

SPECS: dict[str, dict[str, Any]] = {
    "quality": {"type": "integer", "minimum": 1, "maximum": 5},
    "ok": {"type": "boolean"},
    "label": {"type": "string", "enum": ["cat", "dog", "bird"]},
}
ANNOTATORS = ("ann-1", "ann-2", "ann-3")

IMPORT_FAULTS = [
    FaultRule(kind="status", status=503, rate=0.20),
    FaultRule(kind="drop", rate=0.02),
    FaultRule(kind="apply_then_drop", rate=0.02),
]


def _value_for(index: int) -> dict[str, Any]:
    return {
        "quality": 1 + index % 5,
        "ok": index % 2 == 0,
        "label": ("cat", "dog", "bird")[index % 3],
    }


def _snapshot(emu: Emulator, queue_id: str) -> dict[str, set[tuple[str, str, str, Any]]]:
    """``{call ref: {(spec, annotator, feedback id, value)}}``, one per stored key, latest."""
    out: dict[str, set[tuple[str, str, str, Any]]] = {}
    for row in emu.feedback.rows(queue_id=queue_id, merged=True):
        spec = row["feedback_type"].removeprefix("wandb.annotation.")
        entry = (spec, row["wb_user_id"], row["id"], row["payload"]["value"])
        out.setdefault(row["weave_ref"], set()).add(entry)
    return out


async def test_export_yields_every_annotation_once_with_its_item_while_others_annotate_and_complete(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, refs = emu.feedback.seed_annotated_queue(
        5000, SPECS, annotators=ANNOTATORS, complete=False
    )
    # Some answers re-sent with the same id and a new value: both copies show until a
    # merge, and the export must report the latest once.
    items = emu.weave.items(queue_id)
    resent = {}
    for item in items[::50]:
        row = emu.feedback.rows(weave_ref=f"weave:///{emu.project}/call/{item['call_id']}")[0]
        spec = row["feedback_type"].removeprefix("wandb.annotation.")
        new_value = {"quality": 5, "ok": True, "label": "bird"}[spec]
        emu.feedback.add_annotation(
            queue_id, item["id"], refs[spec], new_value,
            user_id=row["wb_user_id"], feedback_id=row["id"],
        )  # fmt: skip
        resent[row["id"]] = new_value
    before = _snapshot(emu, queue_id)
    existing = {item["id"]: item["call_id"] for item in items}
    emu.faults.add(FaultRule(kind="status", status=503, rate=0.1, routes={"feedback_query"}))

    # Other annotators keep working: one completes items, another adds items, and a
    # late annotator keeps answering while the export walks.
    completer = emu.weave.start_actor(queue_id, user_id="ann-4", rate=400)
    producer = emu.weave.start_actor(
        queue_id, user_id="producer", rate=200, add_weight=1, complete_weight=0
    )
    late_rows = 0
    stop = asyncio.Event()

    async def late_annotator() -> None:
        nonlocal late_rows
        position = 0
        while not stop.is_set():
            item = items[(position * 37) % len(items)]
            emu.feedback.add_annotation(queue_id, item["id"], refs["quality"], 3, user_id="ann-5")
            late_rows += 1
            position += 1
            await asyncio.sleep(0.001)  # pacing of the background writer, not synchronisation

    writer = asyncio.create_task(late_annotator())
    seen_items: dict[str, int] = {}
    seen_rows: dict[tuple[str, str], int] = {}
    pages = 0
    try:
        async with weave.queue(emu.project, queue_id).annotations(page_size=500) as walk:
            async for entry in walk:
                seen_items[entry.item.id] = seen_items.get(entry.item.id, 0) + 1
                ref = f"weave:///{emu.project}/call/{entry.item.call_id}"
                got = {
                    (a.spec_name, a.annotator, a.feedback_id, a.value) for a in entry.annotations
                }
                assert len(got) == len(entry.annotations)
                expected = before.get(ref, set())
                assert expected <= got, entry.item.id  # every earlier answer, right item
                for extra in got - expected:
                    assert extra[1] == "ann-5"  # only the late annotator's new rows
                for a in entry.annotations:
                    key = (a.annotator, a.feedback_id)
                    seen_rows[key] = seen_rows.get(key, 0) + 1
                    if a.feedback_id in resent and a.annotator != "ann-5":
                        assert a.value == resent[a.feedback_id]
                pages += 1
    finally:
        stop.set()
        await writer
        await completer.stop()
        await producer.stop()

    assert completer.completed
    assert producer.added
    assert late_rows > 0
    assert all(n == 1 for n in seen_items.values())
    assert set(existing) <= set(seen_items)
    assert all(n == 1 for n in seen_rows.values())  # no annotation twice, anywhere
    assert sum(len(v) for v in before.values()) == 5000 * len(ANNOTATORS) * len(SPECS)
    # One feedback query per page of items read (the retried 503s aside), never one per
    # item. While items are appended at the end the walk reads some short pages there.
    page_count = math.ceil(len(seen_items) / 500)
    item_pages = emu.faults.requests_seen("items_query") - emu.faults.count(route="items_query")
    queries = emu.faults.requests_seen("feedback_query") - emu.faults.count(
        kind="status", route="feedback_query"
    )
    assert page_count <= queries <= item_pages
    assert queries < len(seen_items) / 50


async def test_export_keeps_only_the_asked_specs_and_states(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, refs = emu.feedback.seed_annotated_queue(
        60, SPECS, annotators=("ann-1",), fraction=0.5
    )
    queue = weave.queue(emu.project, queue_id)
    completed = {i["id"] for i in emu.weave.items(queue_id) if i["annotation_state"] == "completed"}
    assert 0 < len(completed) < 60
    seen = []
    async for entry in queue.annotations(states=["completed"], specs=["ok", refs["label"]]):
        seen.append(entry.item.id)
        assert {a.spec_name for a in entry.annotations} == {"ok", "label"}
    assert set(seen) == completed
    with pytest.raises(InvalidArgumentError, match="'nope' is not a spec"):
        async for _ in queue.annotations(specs=["nope"]):
            pass


async def test_annotation_specs_resolves_each_scorer_ref_to_its_schema(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    refs = emu.feedback.seed_specs(SPECS)
    queue_id = emu.weave.seed_queue(3, scorer_refs=list(refs.values()))
    specs = await weave.queue(emu.project, queue_id).annotation_specs()
    assert [(s.name, s.ref, s.field_schema) for s in specs] == [
        (name, refs[name], SPECS[name]) for name in SPECS
    ]
    assert specs[0].feedback_type == "wandb.annotation.quality"


def _mine(emu: Emulator, queue_id: str, user: str) -> dict[str, dict[str, list[Any]]]:
    """``{call ref: {spec: [values of distinct ids]}}`` of one annotator, after dedupe."""
    out: dict[str, dict[str, list[Any]]] = {}
    for row in emu.feedback.rows(queue_id=queue_id, user_id=user, merged=True):
        spec = row["feedback_type"].removeprefix("wandb.annotation.")
        out.setdefault(row["weave_ref"], {}).setdefault(spec, []).append(row["payload"]["value"])
    return out


async def test_import_under_faults_leaves_one_row_per_spec_with_the_values_given_and_completes(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(
        5000, SPECS, annotators=("ann-1",), fraction=0.3, complete=False
    )
    queue = weave.queue(emu.project, queue_id)
    items = [item async for item in queue.items()]
    rows = [(item, _value_for(i)) for i, item in enumerate(items)]
    for rule in IMPORT_FAULTS:
        emu.faults.add(rule)

    result = await queue.submit_annotations(rows, concurrency=32)

    assert (result.total, result.updated, result.unchanged, result.failed) == (5000, 5000, 0, 0)
    assert emu.faults.count(kind="apply_then_drop", route="feedback_batch_create") > 0
    assert emu.faults.count(kind="drop", route="feedback_batch_create") > 0
    mine = _mine(emu, queue_id, emu.user_id)
    for i, item in enumerate(items):
        ref = f"weave:///{emu.project}/call/{item.call_id}"
        assert mine[ref] == {k: [v] for k, v in _value_for(i).items()}, item.id
        assert emu.weave.progress(item.id)[emu.user_id] == "completed"
        assert emu.weave.applied_writes(item.id, emu.user_id) == 1
    stored = len(emu.feedback.rows(user_id=emu.user_id))

    # The same file again, still under faults: nothing changes, all unchanged.
    fresh = [item async for item in queue.items()]
    by_id = {item.id: item for item in fresh}
    again = await queue.submit_annotations(
        [(by_id[item.id], values) for item, values in rows], concurrency=32
    )
    assert (again.total, again.updated, again.unchanged, again.failed) == (5000, 0, 5000, 0)
    assert len(emu.feedback.rows(user_id=emu.user_id)) == stored  # not one row re-sent
    assert _mine(emu, queue_id, emu.user_id) == mine
    assert emu.feedback.merge() >= 0
    assert _mine(emu, queue_id, emu.user_id) == mine


async def test_rerun_with_new_values_replaces_each_row_instead_of_adding_one(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(50, SPECS, annotators=(), complete=False)
    queue = weave.queue(emu.project, queue_id)
    ids = emu.weave.item_ids(queue_id)
    first = await queue.submit_annotations([(i, {"quality": 2}) for i in ids], complete=False)
    assert first.updated == 50
    second = await queue.submit_annotations([(i, {"quality": 4}) for i in ids], complete=False)
    assert second.updated == 50
    emu.feedback.merge()
    values = [r["payload"]["value"] for r in emu.feedback.rows(user_id=emu.user_id)]
    assert values == [4] * 50
    assert all(emu.weave.progress(i) == {} for i in ids)  # --no-complete: no state set


async def test_rerun_without_a_known_user_id_writes_at_most_one_row_and_reports_all_unchanged(
    annoq_emulator: Emulator,
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(200, SPECS, annotators=(), complete=False)
    ids = emu.weave.item_ids(queue_id)
    rows = [(item_id, _value_for(i)) for i, item_id in enumerate(ids)]
    async with WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES) as weave:
        first = await weave.queue(emu.project, queue_id).submit_annotations(rows)
        assert first.updated == 200
    stored = len(emu.feedback.rows(user_id=emu.user_id))
    async with WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES) as weave:
        again = await weave.queue(emu.project, queue_id).submit_annotations(rows)
        assert weave.user_id == emu.user_id  # learned from the first create's answer
    assert (again.updated, again.unchanged) == (0, 200)
    # Until the caller is known one write goes out (the same ids and values: a replace).
    assert len(emu.feedback.rows(user_id=emu.user_id)) - stored <= len(SPECS)
    emu.feedback.merge()
    assert len(emu.feedback.rows(user_id=emu.user_id)) == 200 * len(SPECS)


async def test_another_annotators_rows_with_the_same_ids_are_not_taken_for_mine(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    other = emu.add_user("ann-other")
    queue_id, _ = emu.feedback.seed_annotated_queue(20, SPECS, annotators=(), complete=False)
    ids = emu.weave.item_ids(queue_id)
    rows = [(i, {"quality": 3}) for i in ids]
    async with WeaveSession(
        other.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES, user_id=other.user_id
    ) as theirs:
        await theirs.queue(emu.project, queue_id).submit_annotations(rows)
    result = await weave.queue(emu.project, queue_id).submit_annotations(rows)
    assert result.updated == 20
    assert len(emu.feedback.rows(user_id=emu.user_id)) == 20
    assert len(emu.feedback.rows(user_id=other.user_id)) == 20


@pytest.mark.parametrize(
    ("values", "spec", "words"),
    [
        ({"quality": "high"}, "quality", "not of type integer"),
        ({"quality": 9}, "quality", "greater than the maximum of 5"),
        ({"label": "fish"}, "label", "is not one of"),
        ({"colour": "red"}, "colour", "not a spec of this queue"),
        ({"note": "x" * 2000}, "note", "over the limit of 1024"),
    ],
)
async def test_invalid_values_are_refused_before_any_write_naming_item_and_spec(
    annoq_emulator: Emulator, weave: WeaveSession, values: dict[str, Any], spec: str, words: str
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(
        30, {**SPECS, "note": {"type": "string"}}, annotators=(), complete=False
    )
    ids = emu.weave.item_ids(queue_id)
    rows = [(i, {"quality": 3}) for i in ids]
    rows[17] = (ids[17], values)
    queue = weave.queue(emu.project, queue_id)
    with pytest.raises(InvalidArgumentError, match=words) as caught:
        await queue.submit_annotations(rows, max_payload_bytes=1024)
    assert repr(ids[17]) in str(caught.value)
    assert repr(spec) in str(caught.value)
    assert emu.faults.requests_seen("feedback_batch_create") == 0
    assert emu.faults.requests_seen("progress") == 0
    assert emu.feedback.rows(user_id=emu.user_id) == []


async def test_a_lazy_input_fails_only_its_bad_row_before_writing_it(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(10, SPECS, annotators=(), complete=False)
    ids = emu.weave.item_ids(queue_id)

    def rows() -> Any:
        for n, item_id in enumerate(ids):
            yield item_id, ({"quality": 0} if n == 4 else {"quality": 2})

    result = await weave.queue(emu.project, queue_id).submit_annotations(rows())
    assert (result.updated, result.failed) == (9, 1)
    [failure] = result.failures
    assert failure.key == ids[4]
    assert failure.reason == "invalid_value"
    assert "'quality'" in str(failure.error)
    assert len(emu.feedback.rows(user_id=emu.user_id)) == 9


async def test_an_item_not_in_the_queue_fails_with_not_in_queue(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(3, SPECS, annotators=(), complete=False)
    result = await weave.queue(emu.project, queue_id).submit_annotations(
        [("no-such-item", {"ok": True})]
    )
    assert result.failed == 1
    assert result.failures[0].reason == "not_in_queue"


async def test_concurrent_rows_share_feedback_queries_and_batch_creates(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(400, SPECS, annotators=(), complete=False)
    queue = weave.queue(emu.project, queue_id)
    items = [item async for item in queue.items()]
    result = await queue.submit_annotations(
        [(item, _value_for(i)) for i, item in enumerate(items)], concurrency=32
    )
    assert result.updated == 400
    assert len(emu.feedback.rows(user_id=emu.user_id)) == 400 * len(SPECS)
    # Batches grow with the load, so their number depends on timing; sharing at all (two
    # rows a request on average, where one request a row is what no coalescing gives) is
    # the claim, with room for a loaded machine (101-104 creates seen at load 3-5).
    assert emu.faults.requests_seen("feedback_batch_create") <= 400 / 2
    assert emu.faults.requests_seen("feedback_query") <= 400 / 2
    assert emu.faults.requests_seen("progress") == 400


async def test_a_row_the_server_refuses_fails_alone_when_its_batch_is_split(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(
        40, {"note": {"type": "string"}}, annotators=(), complete=False
    )
    emu.feedback.max_payload_bytes = 1024  # an older server; the client is not told
    queue = weave.queue(emu.project, queue_id)
    items = [item async for item in queue.items()]
    rows = [(item, {"note": "x" * (2000 if i == 7 else 10)}) for i, item in enumerate(items)]
    result = await queue.submit_annotations(rows, concurrency=40)
    assert (result.updated, result.failed) == (39, 1)
    [failure] = result.failures
    assert failure.key == items[7].id
    assert "too large" in str(failure.error)
    assert emu.weave.progress(items[7].id) == {}  # not completed without its answer
    assert len(emu.feedback.rows(user_id=emu.user_id)) == 39


async def test_fail_fast_stops_at_the_first_failed_row_with_the_partial_result(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(5, SPECS, annotators=(), complete=False)
    rows = [("no-such-item", {"ok": True})] + [
        (i, {"ok": True}) for i in emu.weave.item_ids(queue_id)
    ]
    with pytest.raises(BulkAbortedError) as caught:
        await weave.queue(emu.project, queue_id).submit_annotations(
            rows, concurrency=1, fail_fast=True
        )
    assert caught.value.first_failure.reason == "not_in_queue"
    assert caught.value.result.failed == 1
    assert emu.feedback.rows(user_id=emu.user_id) == []


async def test_progress_events_count_every_row_and_end_with_the_result(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(30, SPECS, annotators=(), complete=False)
    events: list[BulkProgress] = []
    result = await weave.queue(emu.project, queue_id).submit_annotations(
        [(i, {"ok": False}) for i in emu.weave.item_ids(queue_id)], on_progress=events.append
    )
    assert events[-1].final
    assert events[-1].result == result
    assert events[-1].done == 30
    assert events[-1].total == 30


@pytest.mark.annoq_emulator(legacy_progress=True)
async def test_import_against_the_older_server_completes_each_item_once_under_faults(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(300, SPECS, annotators=(), complete=False)
    queue = weave.queue(emu.project, queue_id)
    items = [item async for item in queue.items()]
    for rule in IMPORT_FAULTS:
        emu.faults.add(rule)
    result = await queue.submit_annotations(
        [(item, _value_for(i)) for i, item in enumerate(items)], concurrency=16
    )
    assert (result.updated, result.failed) == (300, 0), result.failures[:2]
    for item in items:
        assert emu.weave.applied_writes(item.id, emu.user_id) == 1
    assert len(_mine(emu, queue_id, emu.user_id)) == 300


async def test_export_with_more_rows_than_a_feedback_query_holds_still_yields_each_once(
    annoq_emulator: Emulator, weave: WeaveSession
) -> None:
    emu = annoq_emulator
    queue_id, _ = emu.feedback.seed_annotated_queue(40, SPECS, annotators=ANNOTATORS)
    before = _snapshot(emu, queue_id)
    got: dict[str, set[tuple[str, str, str, Any]]] = {}
    walk = weave.queue(emu.project, queue_id).annotations(page_size=20, feedback_page_size=4)
    async for entry in walk:
        ref = f"weave:///{emu.project}/call/{entry.item.call_id}"
        got[ref] = {(a.spec_name, a.annotator, a.feedback_id, a.value) for a in entry.annotations}
        assert len(got[ref]) == len(entry.annotations) == len(ANNOTATORS) * len(SPECS)
    assert got == before
