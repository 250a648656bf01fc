"""Walks whose list moves under them: items deleted before the position, a server that
answers fewer items than a page asks for. Real emulator over loopback; the capping
server is a small proxy in front of it, started here."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
import orjson
import pytest
from aiohttp import web

from annoq import WeaveSession, _config
from annoq.emulator import Emulator
from tests._support import FAST_RETRIES


async def test_stable_walk_skips_no_item_when_earlier_items_are_deleted(annoq_emulator, weave):
    """After each page, three items already yielded (before the position) are deleted,
    which moves every later item three places left: each surviving item is still
    yielded exactly once."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(1_000)
    at_start = emu.weave.item_ids(qid)
    rng = random.Random(14)
    yielded: list[str] = []
    deleted: set[str] = set()
    async for page in weave.queue(emu.project, qid).pages(page_size=100):
        yielded.extend(item.id for item in page.items)
        gone = rng.sample([i for i in yielded if i not in deleted], 3)
        emu.weave.delete_items(qid, gone)
        deleted.update(gone)
    assert max(Counter(yielded).values()) == 1, "an item was yielded twice"
    assert set(at_start) - set(yielded) == set(), "items were skipped"
    assert len(deleted) >= 27


async def test_stable_walk_skips_no_item_when_the_last_item_read_is_deleted(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(500)
    at_start = emu.weave.item_ids(qid)
    yielded: list[str] = []
    async for page in weave.queue(emu.project, qid).pages(page_size=50, prefetch=0):
        yielded.extend(item.id for item in page.items)
        emu.weave.delete_items(qid, [page.items[-1].id, page.items[0].id])
    assert yielded == at_start


async def test_stable_walk_with_a_state_filter_skips_nothing_while_items_are_deleted(
    annoq_emulator, weave
):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(800)
    ids = emu.weave.item_ids(qid)
    for item_id in ids[::4]:
        emu.weave.set_progress(qid, item_id, "completed", user_id="annotator-b")
    unstarted = [i for i in ids if i not in set(ids[::4])]
    yielded: list[str] = []
    seen_before: list[str] = []
    async for item in weave.queue(emu.project, qid).items(states=["unstarted"], page_size=64):
        yielded.append(item.id)
        seen_before.append(item.id)
        if len(yielded) % 50 == 0:  # delete two items well before the position
            emu.weave.delete_items(qid, seen_before[-40:-38])
    assert yielded == unstarted


@asynccontextmanager
async def capping_proxy(emu: Emulator, cap: int) -> AsyncIterator[tuple[str, list[int]]]:
    """A server in front of the emulator that answers at most ``cap`` items per query,
    whatever ``limit`` asks (as some servers and gateways do); yields its base URL and
    the limits it was asked for."""
    asked: list[int] = []

    async def items_query(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        asked.append(body.get("limit", -1))
        if body.get("limit") is not None:
            body["limit"] = min(body["limit"], cap)
        async with (
            aiohttp.ClientSession(headers=emu.auth_headers()) as http,
            http.post(emu.url(request.path), json=body) as answer,
        ):
            return web.Response(
                status=answer.status, body=await answer.read(), content_type="application/json"
            )

    app = web.Application()
    app.router.add_post("/annotation_queues/{queue_id}/items/query", items_query)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", asked
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("prefetch", [None, 2])
async def test_a_server_capping_the_page_size_does_not_end_the_walk_early(
    annoq_emulator, caplog, prefetch
):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(1_234)
    caplog.set_level(logging.WARNING, logger="annoq")
    async with (
        capping_proxy(emu, cap=100) as (base, asked),
        WeaveSession(emu.api_key, base_url=base, retry_policy=FAST_RETRIES) as weave,
    ):
        walk = weave.queue(emu.project, qid).items(page_size=500, prefetch=prefetch)
        ids = [item.id async for item in walk]
    assert ids == emu.weave.item_ids(qid)
    assert asked[0] == 500
    # Besides the first page, the two fetched ahead and the request that found more,
    # every request asks for what the server gives; beyond the pages the items fill,
    # only what the walk fetches ahead (2 fixed; the default's adaptive depth, at most
    # WALK_MAX_PREFETCH).
    ahead = _config.WALK_MAX_PREFETCH if prefetch is None else 0
    assert sum(1 for limit in asked if limit > 100) <= 4
    assert len(asked) <= 4 + 1_234 // 99 + 1 + ahead
    assert "continuing with pages of 100" in caplog.text


async def test_a_short_last_page_ends_the_walk_after_one_more_request(annoq_emulator):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(250)
    async with (
        capping_proxy(emu, cap=10_000) as (base, asked),
        WeaveSession(emu.api_key, base_url=base, retry_policy=FAST_RETRIES) as weave,
    ):
        walk = weave.queue(emu.project, qid).pages(page_size=100, prefetch=0)
        pages = [p async for p in walk]
    assert [len(p.items) for p in pages] == [100, 100, 50]
    assert [p.offset for p in pages] == [0, 100, 200]
    # Three pages (each after the first re-reads one item) and the request that proves
    # the list ends after the short one.
    assert asked == [100, 101, 101, 101]


async def test_a_list_that_keeps_moving_under_the_walk_is_a_pagination_error_not_a_hang():
    """A server whose page at offset N never holds the item the page before ended with
    (each offset shows other ids): the walk backs up a bounded number of times, then
    says so, instead of walking forever."""
    from annoq import PaginationError
    from tests._support import item_json

    async def items_query(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        offset, limit = body.get("offset", 0), body.get("limit", 10)
        ids = [f"{offset}-{i}" for i in range(limit)]
        return web.json_response({"items": [item_json(id=i) for i in ids]})

    app = web.Application()
    app.router.add_post("/annotation_queues/{queue_id}/items/query", items_query)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with WeaveSession("k" * 40, base_url=f"http://{host}:{port}") as weave:
            walk = weave.queue("entity/project", "q-1").items(page_size=10, prefetch=0)
            with anyio.fail_after(30), pytest.raises(PaginationError, match="keeps moving"):
                await drain(walk)
    finally:
        await runner.cleanup()


async def drain(walk: AsyncIterator[object]) -> None:
    async for _ in walk:
        pass
