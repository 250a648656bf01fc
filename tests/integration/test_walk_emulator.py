"""Walking real queues on the emulator: correctness while states change, prefetch, ends."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from annoq import InvalidArgumentError, ItemFilter, SortBy, WeaveSession
from annoq.emulator import Emulator

OTHER = "annotator-b"


def unstarted_ids(emu: Emulator, queue_id: str) -> set[str]:
    return {i["id"] for i in emu.weave.items(queue_id) if i["annotation_state"] == "unstarted"}


async def test_walk_streams_every_item_once_in_default_order(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(2_345)
    queue = weave.queue(emu.project, qid)
    ids = [item.id async for item in queue.items(page_size=100)]
    assert ids == emu.weave.item_ids(qid)


async def test_pages_report_offsets_and_include_position_counts_from_one(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(250)
    pages = [
        p async for p in weave.queue(emu.project, qid).pages(page_size=100, include_position=True)
    ]
    assert [p.offset for p in pages] == [0, 100, 200]
    assert [len(p.items) for p in pages] == [100, 100, 50]
    positions = [item.position_in_queue for p in pages for item in p.items]
    assert positions == list(range(1, 251))


async def test_exact_match_filter_is_sent_to_the_server(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(300)
    expected = [i["id"] for i in emu.weave.items(qid) if i["call_op_name"] == "predict"]
    got = [
        item.id
        async for item in weave.queue(emu.project, qid).items(
            filter=ItemFilter(call_op_name="predict"), page_size=40
        )
    ]
    assert got == expected
    assert got


async def test_walk_yields_each_unstarted_item_once_while_another_annotator_completes(
    annoq_emulator, weave
):
    """The guarantee: while another annotator completes random items and new items are
    added, a stable walk of `unstarted` yields no item twice, skips no item that stayed
    unstarted throughout, and yields only items unstarted when their page was read."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(5_000)
    at_start = set(emu.weave.item_ids(qid))
    rng = random.Random(5)
    touched: set[str] = set()
    yielded: list[str] = []
    async for page in weave.queue(emu.project, qid).pages(states=["unstarted"], page_size=250):
        yielded.extend(item.id for item in page.items)
        assert all(item.annotation_state == "unstarted" for item in page.items)
        # Between pages, the other annotator completes 60 random unstarted items (before
        # and after the current position) and 20 new items arrive.
        for item_id in rng.sample(sorted(unstarted_ids(emu, qid)), 60):
            emu.weave.set_progress(qid, item_id, "completed", user_id=OTHER)
            touched.add(item_id)
        emu.weave.add_items(qid, 20)
    counts = Counter(yielded)
    assert max(counts.values()) == 1, "an item was yielded twice"
    untouched = at_start - touched
    assert untouched <= set(yielded), f"skipped {len(untouched - set(yielded))} items"
    assert len(touched) > 1000  # the scenario really changed a lot of states


async def test_fast_mode_skips_items_in_the_same_scenario(annoq_emulator, weave):
    """Proof the guarantee is real: pushing the state filter to the server while states
    change shifts later offsets, and the naive walk misses items that never changed."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(5_000)
    at_start = set(emu.weave.item_ids(qid))
    rng = random.Random(5)
    touched: set[str] = set()
    yielded: list[str] = []
    walk = weave.queue(emu.project, qid).pages(
        states=["unstarted"], page_size=250, mode="fast", prefetch=0
    )
    async for page in walk:
        yielded.extend(item.id for item in page.items)
        for item_id in rng.sample(sorted(unstarted_ids(emu, qid)), 60):
            emu.weave.set_progress(qid, item_id, "completed", user_id=OTHER)
            touched.add(item_id)
        emu.weave.add_items(qid, 20)
    missed = (at_start - touched) - set(yielded)
    assert len(missed) > 100


async def test_stable_walk_under_a_background_actor_yields_each_item_once(annoq_emulator, weave):
    """A real concurrent actor (its own task) completes items and adds new ones while
    the walk runs; the walk waits on the actor's own counter between pages."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(5_000)
    at_start = set(emu.weave.item_ids(qid))
    actor = emu.weave.start_actor(qid, user_id=OTHER, rate=5_000, complete_weight=3, add_weight=1)
    yielded: list[str] = []
    pages = 0
    async for page in weave.queue(emu.project, qid).pages(states=["unstarted"], page_size=500):
        yielded.extend(item.id for item in page.items)
        pages += 1
        await actor.wait_actions(pages * 40)
    await actor.stop()
    counts = Counter(yielded)
    assert max(counts.values()) == 1
    changed = set(actor.completed)
    assert len(changed) >= 300
    assert (at_start - changed) <= set(yielded)
    assert set(yielded) & changed  # items completed after their page was read were yielded


async def test_walk_in_custom_order_never_yields_an_item_twice_as_items_land_before_it(
    annoq_emulator, weave
):
    """Newest-first by call time: each batch of new calls lands at the front, before the
    current offset, pushing already-seen items onto later pages."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(1_000)
    yielded: list[str] = []
    order = SortBy("call_started_at", "desc")
    async for page in weave.queue(emu.project, qid).pages(sort_by=order, page_size=100):
        yielded.extend(item.id for item in page.items)
        emu.weave.add_items(qid, 30)
    counts = Counter(yielded)
    assert max(counts.values()) == 1
    assert len(yielded) >= 1_000 - 30  # seen: everything but what was pushed past the end


async def test_without_dedupe_the_custom_order_scenario_would_repeat_items(annoq_emulator, weave):
    """The control for the test above: raw pages of the same walk do overlap."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(300)
    queue = weave.queue(emu.project, qid)
    order = SortBy("call_started_at", "desc")
    first = await queue.query_page(sort_by=order, limit=100, offset=0)
    emu.weave.add_items(qid, 30)
    second = await queue.query_page(sort_by=order, limit=100, offset=100)
    assert {i.id for i in first.items} & {i.id for i in second.items}


async def test_resume_token_continues_after_the_last_full_page(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(1_000)
    queue = weave.queue(emu.project, qid)
    first: list[str] = []
    async with queue.pages(states=["unstarted"], page_size=100) as walk:
        async for page in walk:
            first.extend(i.id for i in page.items)
            if len(first) >= 300:
                break
        token = walk.resume_token
    assert token is not None
    rest = [i.id async for i in queue.items(states=["unstarted"], page_size=100, resume=token)]
    assert first + rest == emu.weave.item_ids(qid)
    with pytest.raises(InvalidArgumentError, match="different query"):
        queue.items(states=["completed"], page_size=100, resume=token)


async def test_max_items_stops_the_walk_exactly(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(1_000)
    got = [i.id async for i in weave.queue(emu.project, qid).items(page_size=64, max_items=150)]
    assert got == emu.weave.item_ids(qid)[:150]


async def test_walk_of_an_unknown_queue_is_empty(annoq_emulator, weave):
    assert [i async for i in weave.queue(annoq_emulator.project, "no-such-queue").items()] == []


async def test_breaking_out_cancels_prefetch_cleanly(annoq_emulator, weave: WeaveSession):
    """Leaving a walk with prefetched requests in flight leaves nothing pending: the test
    run turns 'Task was destroyed' and unclosed-resource warnings into errors."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(3_000)
    queue = weave.queue(emu.project, qid)
    async with queue.items(page_size=100, prefetch=4) as walk:
        async for _ in walk:
            break
    # the session still works afterwards, and the walk can be run again in full
    assert len([i async for i in queue.items(page_size=1000)]) == 3_000


async def test_a_timeout_around_a_walk_cancels_its_prefetch_cleanly(annoq_emulator, weave):
    """The server holds every page after the first for a long time; the caller's
    deadline fires mid-walk and nothing is left pending or unclosed."""
    import asyncio

    from annoq.emulator import FaultRule

    emu = annoq_emulator
    qid = emu.weave.seed_queue(500)
    queue = weave.queue(emu.project, qid)
    emu.faults.add(FaultRule(kind="latency", latency=3.0, rate=1.0, routes={"items_query"}))
    received = []

    async def consume() -> None:
        async with asyncio.timeout(0.5):
            async for item in queue.items(page_size=100, prefetch=3):
                received.append(item)

    with pytest.raises(TimeoutError):
        await consume()
    assert received == []  # every page was held by the server
    emu.faults.clear()
    assert len([i async for i in queue.items(page_size=250)]) == 500


async def test_per_call_timeout_raises_annoq_timeout_error(annoq_emulator, weave):
    from annoq import TimeoutError as AnnoqTimeout
    from annoq.emulator import FaultRule

    emu = annoq_emulator
    qid = emu.weave.seed_queue(10)
    emu.faults.add(FaultRule(kind="latency", latency=3.0, rate=1.0, routes={"read_queue"}))
    quick = weave.with_options(timeout=0.2, max_retries=0)
    with pytest.raises(AnnoqTimeout) as caught:
        await quick.queue(emu.project, qid).read()
    assert caught.value.attempts == 1
    assert emu.api_key not in str(caught.value)


async def test_breaking_out_without_closing_leaves_nothing_pending(annoq_emulator, weave):
    """A plain `break` (no `async with`): the generator is finalised by the loop."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(2_000)
    async for _ in weave.queue(emu.project, qid).items(page_size=100, prefetch=3):
        break
    assert len([i async for i in weave.queue(emu.project, qid).items(page_size=500)]) == 2_000


@pytest.mark.parametrize("states", [None, ["unstarted"]])
async def test_an_items_resume_token_taken_after_any_item_continues_exactly(
    annoq_emulator, weave, states
):
    """Positions are worked out lazily, from the page's range of positions or the kept
    list under a state filter: a token after any item, mid-page, on a page boundary,
    or after filtered-out items at a page's end, continues with the very next one."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(230)
    queue = weave.queue(emu.project, qid)
    every = emu.weave.item_ids(qid)
    done = every[45:50] + every[97:103]  # filtered out at a page's end and start
    assert (await queue.bulk_update_progress(done, "completed")).ok
    wanted = every if states is None else [i for i in every if i not in done]
    for cut in (1, 37, 45, 50, 94, 150, len(wanted) - 1, len(wanted)):
        first: list[str] = []
        async with queue.items(states=states, page_size=50) as walk:
            async for item in walk:
                first.append(item.id)
                if len(first) == cut:
                    break
            token = walk.resume_token
        assert token is not None
        rest = [i.id async for i in queue.items(states=states, page_size=50, resume=token)]
        assert first + rest == wanted, cut
