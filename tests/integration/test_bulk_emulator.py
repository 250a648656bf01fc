"""Bulk progress updates against the emulator: exactly-once effects under faults."""

from __future__ import annotations

import asyncio
import random

import pytest

from annoq import (
    BulkInputError,
    BulkProgress,
    InvalidArgumentError,
    InvalidTransitionError,
    ItemNotInQueueError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    TransportError,
    WeaveSession,
)
from annoq._config import DEFAULT_PREFETCH
from annoq.emulator import Emulator, FaultRule
from tests._support import FAST_RETRIES

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


# -- whose record is it? (identity learned only from a proven write of ours) ----------


def b_completed_everything_after_me(emu: Emulator, n: int, mine: slice) -> tuple[str, list[str]]:
    """A shared queue: I completed ``ids[mine]`` earlier, annotator B completed all later."""
    qid = emu.weave.seed_queue(n)
    ids = emu.weave.item_ids(qid)
    for item_id in ids[mine]:
        emu.weave.set_progress(qid, item_id, "completed", user_id=emu.user_id)
    for item_id in ids:
        emu.weave.set_progress(qid, item_id, "completed", user_id="annotator-b")
    return qid, ids


def assert_every_item_carries_my_record(emu: Emulator, ids: list[str], state: str) -> None:
    missing = [i for i in ids if emu.weave.progress(i).get(emu.user_id) != state]
    assert missing == [], f"{len(missing)} of {len(ids)} items lack my record"
    counts = emu.weave.applied_counts()
    assert all(counts.get((i, emu.user_id)) == 1 for i in ids)  # never written twice


async def test_mark_all_writes_my_record_even_when_another_annotator_completed_it_later(
    annoq_emulator,
):
    emu = annoq_emulator
    qid, ids = b_completed_everything_after_me(emu, 200, slice(None, None, 50))
    async with WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES) as w:
        result = await w.queue(emu.project, qid).mark_all("completed", concurrency=8)
        assert w.user_id == emu.user_id  # learned from a real write, not from B's display
    assert (result.updated, result.unchanged, result.failed) == (196, 4, 0)
    assert result.ok
    assert_every_item_carries_my_record(emu, ids, "completed")


async def test_bare_ids_write_my_record_even_when_another_annotator_completed_it_later(
    annoq_emulator,
):
    emu = annoq_emulator
    qid, ids = b_completed_everything_after_me(emu, 200, slice(None, None, 50))
    async with WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES) as w:
        result = await w.queue(emu.project, qid).bulk_update_progress(ids, "completed")
    assert (result.updated, result.unchanged, result.failed) == (196, 4, 0)
    assert_every_item_carries_my_record(emu, ids, "completed")


async def test_an_item_showing_the_target_by_someone_else_is_sent_not_skipped(annoq_emulator):
    """Even with my id known, "completed by B" says nothing about my own record."""
    emu = annoq_emulator
    qid, ids = b_completed_everything_after_me(emu, 30, slice(0, 0))
    async with WeaveSession(
        emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES, user_id=emu.user_id
    ) as w:
        result = await w.queue(emu.project, qid).mark_all("completed")
    assert (result.updated, result.unchanged, result.failed) == (30, 0, 0)
    assert_every_item_carries_my_record(emu, ids, "completed")


async def test_every_with_options_view_shares_one_learned_identity(annoq_emulator):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(20)
    async with WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES) as w:
        view = w.with_options(timeout=30.0)
        other = w.with_options(max_retries=1)
        await view.queue(emu.project, qid).mark_all("completed")
        assert (w.user_id, view.user_id, other.user_id) == (emu.user_id,) * 3


async def test_exact_counts_for_bare_ids_with_a_read_before_each_update(annoq_emulator, weave):
    """With my id known, a bare id whose item already shows "completed by me" reads as an
    update on the current server; ``exact=True`` reads first and counts it unchanged."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(30)
    ids = emu.weave.item_ids(qid)
    for item_id in ids[:10]:
        emu.weave.set_progress(qid, item_id, "completed", user_id=emu.user_id)
    queue = weave.queue(emu.project, qid)
    loose = await queue.bulk_update_progress(ids[:10], "completed")
    exact = await queue.bulk_update_progress(ids, "completed", exact=True)
    assert (loose.updated, loose.unchanged) == (10, 0)  # the documented over-count
    assert (exact.updated, exact.unchanged, exact.failed) == (20, 10, 0)
    assert_every_item_carries_my_record(emu, ids, "completed")


def session_without_user_id(emu: Emulator, **options) -> WeaveSession:
    return WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES, **options)


# -- refusals: a first-attempt 400 is the server refusing ---------------------------------


async def test_a_first_attempt_refusal_is_a_failure_even_after_another_annotator_moved_on(
    annoq_emulator,
):
    """I completed 3 items, B then set them in_progress: my in_progress is refused."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(3)
    ids = emu.weave.item_ids(qid)
    for item_id in ids:
        emu.weave.set_progress(qid, item_id, "completed", user_id=emu.user_id)
        emu.weave.set_progress(qid, item_id, "in_progress", user_id="annotator-b")
    async with session_without_user_id(emu) as w:
        result = await w.queue(emu.project, qid).bulk_update_progress(ids, "in_progress")
    assert (result.updated, result.unchanged, result.failed) == (0, 0, 3)
    assert {f.reason for f in result.failures} == {"invalid_transition"}
    assert all(emu.weave.progress(i)[emu.user_id] == "completed" for i in ids)


@pytest.mark.annoq_emulator(legacy_progress=True)
async def test_legacy_in_progress_refusal_on_a_first_attempt_is_a_failure(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(4)
    ids = emu.weave.item_ids(qid)
    for item_id in ids:
        emu.weave.set_progress(qid, item_id, "completed", user_id=emu.user_id)
    result = await weave.queue(emu.project, qid).bulk_update_progress(ids, "in_progress")
    assert (result.updated, result.unchanged, result.failed) == (0, 0, 4)
    assert {f.reason for f in result.failures} == {"invalid_transition"}


# -- typed errors out of bulk runs ----------------------------------------------------------


async def test_a_walk_that_fails_inside_mark_all_raises_one_bulk_input_error_with_the_result(
    annoq_emulator, weave
):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(600)

    def on_progress(event: BulkProgress) -> None:
        if event.done >= 100 and not emu.faults.rules:
            emu.faults.add(FaultRule(kind="status", status=503, routes={"items_query"}))

    with pytest.raises(BulkInputError) as caught:
        await weave.queue(emu.project, qid).mark_all(
            "completed", page_size=50, on_progress=on_progress, max_retries=2
        )
    result = caught.value.result
    assert isinstance(caught.value.__cause__, ServerError)
    assert caught.value.__cause__.attempts == 3  # the walk retried as the updates do
    assert not result.complete
    assert result.failed == 0
    assert result.updated + result.unchanged + result.failed == result.total
    assert 100 <= result.total < 600
    written = emu.weave.applied_writes(user_id=emu.user_id)
    assert written - len(result.abandoned) <= result.updated <= written


async def test_the_walk_feeding_mark_all_retries_as_persistently_as_the_updates(annoq_emulator):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(30)
    # Every attempt the session's own retries (1) allow fails, for each page in flight.
    fails = 2 * (DEFAULT_PREFETCH + 1)
    emu.faults.add(FaultRule(kind="status", status=503, routes={"items_query"}, times=fails))
    policy = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_cap=0.002)
    async with WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=policy) as w:
        result = await w.queue(emu.project, qid).mark_all("completed", max_retries=fails + 1)
    assert (result.updated, result.failed) == (30, 0)
    assert emu.faults.count(kind="status_503", route="items_query") == fails


# -- miscounts around retries -----------------------------------------------------------------


@pytest.mark.parametrize("given", ["item", "bare id"])
async def test_a_503_then_200_on_an_item_already_mine_counts_unchanged(
    annoq_emulator, weave, given
):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(5)
    ids = emu.weave.item_ids(qid)
    for item_id in ids:
        emu.weave.set_progress(qid, item_id, "completed", user_id=emu.user_id)
        emu.weave.set_progress(qid, item_id, "completed", user_id="annotator-b")
    queue = weave.queue(emu.project, qid)
    items = {item.id: item for item in (await queue.query_page()).items}
    for item_id in ids:  # one at a time: each item's first attempt meets the 503
        emu.faults.add(FaultRule(kind="status", status=503, routes={"progress"}, times=1))
        work = items[item_id] if given == "item" else item_id
        result = await queue.bulk_update_progress([work], "completed")
        assert (result.updated, result.unchanged, result.failed) == (0, 1, 0)
        assert result.retries >= 1
        emu.faults.clear()
    assert emu.weave.applied_writes(user_id=emu.user_id) == 5  # the seeded ones only


async def test_a_lost_write_then_exhausted_retries_counts_updated_not_failed(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(1)
    [item_id] = emu.weave.item_ids(qid)
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"progress"}, times=1))
    emu.faults.add(FaultRule(kind="status", status=503, routes={"progress"}))
    result = await weave.queue(emu.project, qid).bulk_update_progress(
        [item_id], "completed", max_retries=2
    )
    assert (result.updated, result.unchanged, result.failed) == (1, 0, 0)
    assert emu.weave.progress(item_id)[emu.user_id] == "completed"


async def test_failures_from_a_real_run_keep_no_traceback_frames(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(10)
    emu.faults.add(FaultRule(kind="drop", routes={"progress"}))
    emu.faults.add(FaultRule(kind="drop", routes={"items_query"}))
    streamed = []
    result = await weave.queue(emu.project, qid).bulk_update_progress(
        emu.weave.item_ids(qid), "completed", max_retries=1, on_failure=streamed.append
    )
    assert result.failed == 10
    assert sorted(f.key for f in streamed) == sorted(f.key for f in result.failures)
    for failure in result.failures:
        assert isinstance(failure.error, TransportError)
        assert failure.error.__traceback__ is None
        assert failure.error.__context__ is None
        assert failure.error.__cause__ is None


# -- single calls after a lost answer (the write applied, the response never came) -------------


async def test_create_queue_after_a_lost_answer_never_makes_a_second_queue(annoq_emulator, weave):
    emu = annoq_emulator
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"create_queue"}, times=1))
    with pytest.raises(TransportError):
        await weave.create_queue(emu.project, name="only-once")
    names = [q.name async for q in weave.queues(emu.project, name="only-once")]
    assert names == ["only-once"]


async def test_create_queue_still_retries_throttling(annoq_emulator, weave):
    emu = annoq_emulator
    emu.faults.add(
        FaultRule(kind="status", status=429, routes={"create_queue"}, times=2, retry_after="0")
    )
    qid = await weave.create_queue(emu.project, name="throttled")
    assert (await weave.queue(emu.project, qid).read()).name == "throttled"
    assert emu.faults.count(kind="status_429") == 2


async def test_add_calls_after_a_lost_answer_never_reports_its_own_calls_as_duplicates(
    annoq_emulator, weave
):
    emu = annoq_emulator
    qid = await weave.create_queue(emu.project, name="q")
    calls = emu.weave.create_calls(5)
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"add_calls"}, times=1))
    with pytest.raises(TransportError):
        await weave.queue(emu.project, qid).add_calls(calls)
    assert len(emu.weave.item_ids(qid)) == 5  # it did add them; it did not say 0 added


async def test_delete_after_a_lost_answer_is_not_reported_as_not_found(annoq_emulator, weave):
    emu = annoq_emulator
    qid = await weave.create_queue(emu.project, name="doomed")
    queue = weave.queue(emu.project, qid)
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"delete_queue"}, times=1))
    deleted = await queue.delete()  # not NotFoundError: it did delete
    assert (deleted.id, deleted.name) == (qid, "doomed")
    assert emu.faults.count(kind="apply_then_drop") == 1
    with pytest.raises(NotFoundError):
        await queue.read()
    with pytest.raises(NotFoundError):  # a second delete is still a NotFoundError
        await queue.delete()


@pytest.mark.annoq_emulator(legacy_progress=True)
@pytest.mark.parametrize("state", ["completed", "skipped", "in_progress"])
async def test_single_update_on_a_legacy_server_after_a_lost_answer_returns_the_item(
    annoq_emulator, weave, state
):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(1)
    [item_id] = emu.weave.item_ids(qid)
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"progress"}, times=1))
    item = await weave.queue(emu.project, qid).update_progress(item_id, state)
    assert (item.annotation_state, item.annotator_user_id) == (state, emu.user_id)
    assert emu.weave.applied_writes(user_id=emu.user_id) == 1


@pytest.mark.annoq_emulator(legacy_progress=True)
async def test_single_update_on_a_legacy_server_still_raises_a_real_refusal(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(1)
    [item_id] = emu.weave.item_ids(qid)
    emu.weave.set_progress(qid, item_id, "skipped", user_id=emu.user_id)
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"progress"}, times=1))
    with pytest.raises(InvalidTransitionError):
        await weave.queue(emu.project, qid).update_progress(item_id, "completed")


@pytest.mark.parametrize("bad", [123, "", "  "])
async def test_a_user_id_that_is_not_a_string_is_refused_naming_it(annoq_emulator, bad):
    with pytest.raises(InvalidArgumentError, match="user_id"):
        WeaveSession(annoq_emulator.api_key, base_url=annoq_emulator.base_url, user_id=bad)


async def test_exact_that_is_not_a_bool_is_refused_before_any_request(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(1)
    seen = emu.faults.requests_seen()
    with pytest.raises(InvalidArgumentError, match="exact"):
        await weave.queue(emu.project, qid).bulk_update_progress(["x"], "completed", exact="yes")
    assert emu.faults.requests_seen() == seen
