"""The paging engine on its own: ordering, prefetch, ends, cancellation, resume tokens."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annoq import InvalidArgumentError, PaginationError, _config
from annoq._walk import (
    PageData,
    SeenWindow,
    decode_resume_token,
    dedupe,
    encode_resume_token,
    walk_pages,
)


def make_list_fetcher(data: list[int], size: int, started: list[int] | None = None):
    async def fetch(index: int) -> PageData[int]:
        if started is not None:
            started.append(index)
        await asyncio.sleep(0)
        chunk = data[index * size : (index + 1) * size]
        return PageData(chunk, is_last=len(chunk) < size)

    return fetch


async def collect(fetch, prefetch=2):
    return [(i, list(p.items)) async for i, p in walk_pages(fetch, prefetch=prefetch)]


async def test_walk_yields_every_item_in_order_including_the_short_last_page():
    data = list(range(23))
    pages = await collect(make_list_fetcher(data, 5))
    assert [i for i, _ in pages] == [0, 1, 2, 3, 4]
    assert [x for _, items in pages for x in items] == data


async def test_walk_of_exact_multiple_ends_on_the_empty_page_without_yielding_it():
    data = list(range(10))
    pages = await collect(make_list_fetcher(data, 5))
    assert [items for _, items in pages] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


async def test_walk_of_empty_source_yields_nothing():
    assert await collect(make_list_fetcher([], 5)) == []


async def test_pages_arrive_in_order_when_later_requests_finish_first():
    gates = {i: asyncio.Event() for i in range(4)}

    async def fetch(index: int) -> PageData[int]:
        await gates[index].wait()
        return PageData([index], is_last=index == 3)

    async def release_backwards():
        for i in (3, 2, 1, 0):
            gates[i].set()
            await asyncio.sleep(0)

    releaser = asyncio.create_task(release_backwards())
    pages = await collect(fetch, prefetch=3)
    await releaser
    assert [p for _, p in pages] == [[0], [1], [2], [3]]


async def test_prefetch_keeps_at_most_depth_plus_one_requests_ahead():
    started: list[int] = []
    fetch = make_list_fetcher(list(range(100)), 10, started)
    seen = []
    async with aclosing(walk_pages(fetch, prefetch=2)) as pages:
        async for index, _ in pages:
            seen.append(index)
            # When page `index` is handed over, pages up to index+2 may have started
            # (index+1 and index+2 prefetched), never index+3.
            assert max(started) <= index + 2
            assert max(started) >= min(index + 2, 10)
    assert seen == list(range(10))  # every page was handed over (and checked)


async def test_prefetched_request_starts_before_a_consumer_that_never_awaits():
    """A consumer doing pure CPU work between items must not starve the prefetch."""
    started: list[int] = []
    fetch = make_list_fetcher(list(range(30)), 10, started)
    seen = []
    async with aclosing(walk_pages(fetch, prefetch=1)) as pages:
        async for index, _ in pages:
            seen.append(index)
            # No await in this body: the next page's request must already be running.
            if index < 2:
                assert index + 1 in started
    assert seen == [0, 1, 2]  # every page was handed over (and checked)


async def test_leaving_the_walk_early_cancels_requests_in_flight():
    cancelled: list[int] = []
    never = asyncio.Event()

    async def fetch(index: int) -> PageData[int]:
        if index == 0:
            return PageData([0], is_last=False)
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(index)
            raise
        raise AssertionError("unreachable")

    async with aclosing(walk_pages(fetch, prefetch=2)) as pages:
        async for _ in pages:
            break
    assert sorted(cancelled) == [1, 2]


async def test_error_in_a_prefetched_page_surfaces_at_that_page_and_cancels_the_rest():
    cancelled: list[int] = []

    async def fetch(index: int) -> PageData[int]:
        if index == 1:
            raise RuntimeError("page 1 broke")
        if index >= 2:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(index)
                raise
        return PageData([index], is_last=False)

    seen = []

    async def consume() -> None:
        async for index, _ in walk_pages(fetch, prefetch=2):
            seen.append(index)

    with pytest.raises(RuntimeError, match="page 1 broke"):
        await consume()
    assert seen == [0]
    assert cancelled == [2]  # page 3 was never requested: prefetch=2 keeps 1 and 2 ahead


async def test_server_ignoring_the_offset_is_a_pagination_error_not_an_endless_loop():
    async def fetch(index: int) -> PageData[int]:
        return PageData([1, 2, 3], is_last=False)

    with pytest.raises(PaginationError, match="repeats the previous page"):
        async for _ in dedupe(walk_pages(fetch, prefetch=1), lambda x: x, SeenWindow(None)):
            pass


async def test_dedupe_drops_items_already_seen_within_the_window():
    pages_data = [[1, 2, 3], [3, 4, 5], [5, 6]]

    async def fetch(index: int) -> PageData[int]:
        return PageData(pages_data[index], is_last=index == 2)

    fresh = [
        f async for _, _, f in dedupe(walk_pages(fetch, prefetch=1), lambda x: x, SeenWindow(6))
    ]
    assert fresh == [[1, 2, 3], [4, 5], [6]]


def test_seen_window_forgets_the_oldest_beyond_its_capacity():
    window = SeenWindow(2)
    assert window.add("a")
    assert window.add("b")
    assert window.add("c")
    assert not window.add("c")
    assert window.add("a")  # forgotten: only b, c were kept
    assert len(window) == 2


def test_resume_token_round_trips_and_is_not_a_raw_offset():
    query = {"filter": {"call_op_name": "predict"}, "mode": "stable"}
    token = encode_resume_token(1500, query)
    assert "1500" not in token
    assert decode_resume_token(token, query) == 1500


def test_resume_token_of_another_query_is_refused():
    token = encode_resume_token(10, {"mode": "stable"})
    with pytest.raises(InvalidArgumentError, match="different query"):
        decode_resume_token(token, {"mode": "fast"})


@pytest.mark.parametrize("token", ["", "not-a-token", "eyJ2IjoyfQ", "!!!!"])
def test_malformed_resume_token_is_refused(token):
    with pytest.raises(InvalidArgumentError, match="malformed"):
        decode_resume_token(token, {})


async def test_negative_prefetch_is_refused():
    with pytest.raises(InvalidArgumentError, match="prefetch"):
        async for _ in walk_pages(make_list_fetcher([], 1), prefetch=-1):
            pass


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([None, 1, 3, 8]),
    st.lists(st.lists(st.integers(min_value=0, max_value=15), max_size=8), max_size=6),
)
def test_seen_window_add_page_equals_adding_key_by_key(capacity, pages):
    batch, single = SeenWindow(capacity), SeenWindow(capacity)
    for keys in pages:
        fresh = list(batch.add_page(keys))
        assert fresh == [index for index, key in enumerate(keys) if single.add(key)]
        assert list(batch._seen) == list(single._seen)  # same ids, same recency order


def test_seen_window_add_page_gives_a_range_for_a_page_after_its_overlap():
    window = SeenWindow(6)
    assert window.add_page(["a", "b", "c"]) == range(3)
    fresh = window.add_page(["c", "d", "e", "f", "g"])
    assert fresh == range(1, 5)
    assert list(window._seen) == ["b", "c", "d", "e", "f", "g"]


def make_slow_fetcher(pages: int, turns: int, peak: list[int]):
    """Pages that take ``turns`` loop turns to arrive; ``peak[0]``: most at once."""
    running = 0

    async def fetch(index: int) -> PageData[int]:
        nonlocal running
        running += 1
        peak[0] = max(peak[0], running)
        for _ in range(turns):
            await asyncio.sleep(0)
        running -= 1
        return PageData([index], is_last=index == pages - 1)

    return fetch


async def test_without_max_prefetch_the_depth_is_fixed():
    peak = [0]
    walk = walk_pages(make_slow_fetcher(100, 20, peak), prefetch=2)
    assert [i async for i, _ in walk] == list(range(100))
    assert peak[0] == 3


async def test_adaptive_prefetch_stays_shallow_when_pages_are_there_in_time():
    started: list[int] = []
    peak = 0

    async def fetch(index: int) -> PageData[int]:
        nonlocal peak
        started.append(index)
        return PageData([index], is_last=index == 49)  # ready at once: nobody waits

    async for index, _ in walk_pages(fetch, prefetch=2, max_prefetch=8):
        peak = max(peak, len(started) - index)
    assert peak <= 3


async def test_prefetch_zero_stays_zero_even_with_a_ceiling():
    peak = [0]
    walk = walk_pages(make_slow_fetcher(20, 5, peak), prefetch=0, max_prefetch=8)
    assert [i async for i, _ in walk] == list(range(20))
    assert peak[0] == 1


def make_service(pages: int, seconds: float, peak: list[int], *, serial: bool = False):
    """Pages that take ``seconds`` each (a service's latency), answered all at once or,
    ``serial``, one after the other (a service that queues requests)."""
    running = 0
    lock = asyncio.Lock()

    async def fetch(index: int) -> PageData[int]:
        nonlocal running
        running += 1
        peak[0] = max(peak[0], running)
        if serial:
            async with lock:
                await asyncio.sleep(seconds)
        else:
            await asyncio.sleep(seconds)
        running -= 1
        return PageData([index], is_last=index == pages - 1)

    return fetch


async def test_prefetch_none_deepens_up_to_walk_max_prefetch_against_a_slow_service():
    peak = [0]
    walk = walk_pages(make_service(60, 0.01, peak), prefetch=None)
    assert [i async for i, _ in walk] == list(range(60))
    assert peak[0] == _config.WALK_MAX_PREFETCH + 1


async def test_prefetch_none_stays_shallow_when_the_service_queues_the_pages():
    """Pages that wait for each other (latency rising with depth): deeper would only
    hold more pages in memory."""
    peak = [0]
    walk = walk_pages(make_service(30, 0.005, peak, serial=True), prefetch=None)
    assert [i async for i, _ in walk] == list(range(30))
    assert peak[0] == _config.DEFAULT_PREFETCH + 1


async def test_waiting_for_the_first_page_does_not_deepen_the_prefetch():
    """A one-page walk (or one whose first page says stop) asks for the first page and
    the DEFAULT_PREFETCH pages ahead, no more, although the consumer waited."""
    started: list[int] = []

    async def fetch(index: int) -> PageData[int]:
        started.append(index)
        for _ in range(20):
            await asyncio.sleep(0)
        return PageData([index], is_last=True)

    assert [i async for i, _ in walk_pages(fetch, prefetch=None)] == [0]
    assert started == list(range(_config.DEFAULT_PREFETCH + 1))


async def test_adaptive_prefetch_deepens_while_the_consumer_waits_up_to_its_ceiling():
    peak = [0]
    walk = walk_pages(make_service(100, 0.005, peak), prefetch=2, max_prefetch=8)
    assert [i async for i, _ in walk] == list(range(100))
    assert peak[0] == 9  # the page waited for and 8 ahead: from 2 to its ceiling, no more


async def test_prefetch_none_stays_shallow_when_this_process_is_the_bottleneck():
    """Pages that come back at once but cost CPU to decode (here: busy loops): the
    consumer waits on this process, not on the service; deeper would only hold more
    pages in memory."""
    peak = [0]
    running = 0

    async def fetch(index: int) -> PageData[int]:
        nonlocal running
        running += 1
        peak[0] = max(peak[0], running)
        await asyncio.sleep(0)
        until = time.process_time() + 0.002
        while time.process_time() < until:
            pass
        running -= 1
        return PageData([index], is_last=index == 39)

    assert [i async for i, _ in walk_pages(fetch, prefetch=None)] == list(range(40))
    assert peak[0] <= _config.DEFAULT_PREFETCH + 1
