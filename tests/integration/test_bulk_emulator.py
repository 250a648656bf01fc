"""Bulk progress updates against the emulator: exactly-once effects under faults."""

from __future__ import annotations

import asyncio
import random

import pytest

from annoq import BulkProgress, ItemNotInQueueError, WeaveSession
from annoq.emulator import Emulator, FaultRule

from .conftest import FAST_RETRIES

HEAVY_FAULTS = [
    FaultRule(kind="status", status=503, rate=0.20, routes={"progress"}),
    FaultRule(kind="status", status=429, rate=0.05, routes={"progress"}, retry_after="0"),
    FaultRule(kind="drop", rate=0.02, routes={"progress"}),
    FaultRule(kind="apply_then_drop", rate=0.02, routes={"progress"}),
]


def states(emu: Emulator, queue_id: str) -> dict[str, str]:
    return {i["id"]: i["annotation_state"] for i in emu.weave.items(queue_id)}


def assert_exactly_once(emu: Emulator, queue_id: str, state: str) -> None:
    counts = emu.weave.applied_counts()
    for item_id in emu.weave.item_ids(queue_id):
        assert counts.get((item_id, emu.user_id)) == 1, item_id
        assert emu.weave.progress(item_id)[emu.user_id] == state


async def run_under_faults(emu: Emulator, weave: WeaveSession, state: str, n: int) -> None:
    qid = emu.weave.seed_queue(n)
    for rule in HEAVY_FAULTS:
        emu.faults.add(rule)
    queue = weave.queue(emu.project, qid)
    result = await queue.mark_all(state, concurrency=32)
    assert result.total == n
    assert result.failed == 0, result.failures[:3]
    assert result.updated == n
    assert result.unchanged == 0
    assert result.updated + result.unchanged + result.failed == result.total
    assert result.retries > 0.2 * n
    assert emu.faults.count(kind="apply_then_drop") > 0.01 * n  # the ambiguous case happened
    assert emu.faults.count(kind="drop") > 0.01 * n
    assert_exactly_once(emu, qid, state)


@pytest.mark.parametrize("state", ["completed", "in_progress"])
async def test_mark_all_under_heavy_faults_applies_each_update_exactly_once(
    annoq_emulator, weave, state
):
    await run_under_faults(annoq_emulator, weave, state, 10_000)


@pytest.mark.annoq_emulator(legacy_progress=True)
@pytest.mark.parametrize("state", ["completed", "in_progress"])
async def test_legacy_server_refusals_after_lost_responses_count_as_updated_once(
    annoq_emulator, weave, state
):
    """On the older server a retry after apply-then-drop answers 400 although the first
    attempt succeeded; each must be resolved against the server as `updated`."""
    await run_under_faults(annoq_emulator, weave, state, 10_000)


@pytest.mark.annoq_emulator(legacy_progress=True)
async def test_legacy_refusal_of_a_state_already_set_is_unchanged_not_failed(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(40)
    ids = emu.weave.item_ids(qid)
    for item_id in ids[:10]:
        emu.weave.set_progress(qid, item_id, "completed", user_id=emu.user_id)
    for item_id in ids[10:20]:
        emu.weave.set_progress(qid, item_id, "in_progress", user_id=emu.user_id)
    queue = weave.queue(emu.project, qid)
    done = await queue.bulk_update_progress(ids, "completed")
    assert (done.updated, done.unchanged, done.failed) == (30, 10, 0)
    again = await queue.bulk_update_progress(ids[20:30], "in_progress")
    assert (again.updated, again.unchanged, again.failed) == (0, 0, 10)  # completed -> in_progress
    assert {f.reason for f in again.failures} == {"invalid_transition"}


async def test_invalid_transitions_fail_with_their_reason_and_the_rest_are_updated(
    annoq_emulator, weave
):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(200)
    ids = emu.weave.item_ids(qid)
    skipped = set(random.Random(1).sample(ids, 25))
    for item_id in skipped:
        emu.weave.set_progress(qid, item_id, "skipped", user_id=emu.user_id)
    result = await weave.queue(emu.project, qid).bulk_update_progress(ids, "completed")
    assert result.failed == 25
    assert result.updated == 175
    assert {f.key for f in result.failures} == skipped
    assert {f.reason for f in result.failures} == {"invalid_transition"}
    after = states(emu, qid)
    assert all(after[i] == ("skipped" if i in skipped else "completed") for i in ids)


async def test_already_in_state_for_this_annotator_is_unchanged_and_sends_nothing(
    annoq_emulator, weave
):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(50)
    queue = weave.queue(emu.project, qid)
    first = await queue.mark_all("completed")
    writes = emu.weave.applied_writes()
    second = await queue.mark_all("completed")
    assert (first.updated, second.unchanged, second.updated) == (50, 50, 0)
    assert emu.weave.applied_writes() == writes


async def test_other_annotators_progress_does_not_count_as_ours(annoq_emulator, weave):
    """Another annotator completed some items: ours is still to be written, per annotator."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(60)
    ids = emu.weave.item_ids(qid)
    for item_id in ids[:20]:
        emu.weave.set_progress(qid, item_id, "completed", user_id="annotator-b")
    result = await weave.queue(emu.project, qid).bulk_update_progress(ids, "completed")
    assert result.updated == 60
    assert all(emu.weave.progress(i)[emu.user_id] == "completed" for i in ids)


async def test_unknown_item_ids_fail_as_not_in_queue(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(5)
    ids = [*emu.weave.item_ids(qid), "not-an-item"]
    result = await weave.queue(emu.project, qid).bulk_update_progress(ids, "completed")
    assert result.updated == 5
    assert result.failed == 1
    [failure] = result.failures
    assert failure.key == "not-an-item"
    assert failure.reason == "not_in_queue"
    assert isinstance(failure.error, ItemNotInQueueError)


async def test_throttling_narrows_concurrency_and_every_item_still_lands(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(1_500)
    emu.faults.add(
        FaultRule(kind="status", status=429, rate=0.3, routes={"progress"}, retry_after="0")
    )
    seen: list[BulkProgress] = []
    result = await weave.queue(emu.project, qid).mark_all(
        "completed", concurrency=32, on_progress=seen.append
    )
    assert result.updated == 1_500
    assert result.failed == 0
    assert min(p.concurrency for p in seen) < 32
    assert max(p.concurrency for p in seen) <= 32


async def test_server_down_fails_items_with_retries_exhausted_and_a_count(annoq_emulator):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(20)
    emu.faults.add(FaultRule(kind="status", status=503, rate=1.0, routes={"progress"}))
    async with WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES) as w:
        result = await w.queue(emu.project, qid).bulk_update_progress(
            emu.weave.item_ids(qid), "completed", max_retries=2
        )
    assert result.failed == 20
    assert result.updated == 0
    assert {f.reason for f in result.failures} == {"retries_exhausted"}
    assert all(f.error.attempts == 3 for f in result.failures)  # type: ignore[attr-defined]


async def test_cancelling_a_bulk_run_reports_partial_progress(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(3_000)
    events: list[BulkProgress] = []
    some_done = asyncio.Event()

    def on_progress(event: BulkProgress) -> None:
        events.append(event)
        if event.done >= 200:
            some_done.set()

    task = asyncio.create_task(
        weave.queue(emu.project, qid).mark_all("completed", concurrency=4, on_progress=on_progress)
    )
    await some_done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    final = events[-1]
    assert final.final
    assert final.result is not None
    assert not final.result.complete
    assert final.result.updated >= 200
    # what it reports as updated is exactly what the server applied (no lost updates)
    assert emu.weave.applied_writes(user_id=emu.user_id) in range(
        final.result.updated, final.result.updated + 5
    )


async def test_without_a_user_id_walked_items_give_exact_counts_and_teach_the_id(annoq_emulator):
    """No user_id given: comparing each item before and after its write tells no-ops
    from real writes, so re-marking items already completed by us counts them unchanged."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(300)
    ids = emu.weave.item_ids(qid)
    for item_id in ids[:100]:
        emu.weave.set_progress(qid, item_id, "completed", user_id=emu.user_id)
    for item_id in ids[100:150]:
        emu.weave.set_progress(qid, item_id, "completed", user_id="annotator-b")
    async with WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES) as w:
        assert w.user_id is None
        result = await w.queue(emu.project, qid).mark_all("completed", concurrency=8)
        assert w.user_id == emu.user_id
    assert (result.updated, result.unchanged, result.failed) == (200, 100, 0)
    assert emu.weave.applied_writes(user_id=emu.user_id) == 100 + 200  # seeded + ours


async def test_bare_id_repeats_are_never_written_twice(annoq_emulator, weave):
    """With bare ids the current server's answer to a repeat is identical to a fresh
    write's, so the count says updated; what matters holds: no second write."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(50)
    ids = emu.weave.item_ids(qid)
    queue = weave.queue(emu.project, qid)
    first = await queue.bulk_update_progress(ids, "completed")
    second = await queue.bulk_update_progress(ids, "completed")
    assert first.updated == 50
    assert second.failed == 0
    assert second.updated + second.unchanged == 50
    assert emu.weave.applied_writes(user_id=emu.user_id) == 50
