"""Small hostile servers, started by each test on loopback: redirects that would carry
credentials elsewhere, endless or oversized bodies, streams that stall or send a line
without end. Every answer must be a typed annoq error, and nothing may reach a server
the caller did not name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import orjson
import pytest
from aiohttp import web

import annoq
from annoq import (
    APIError,
    InsecureTransportError,
    ResponseDecodeError,
    RetryPolicy,
    Timeout,
    WeaveSession,
)
from annoq.annofab import AnnofabSession

KEY = "hostile-test-key-0123456789abcdef012345"
PASSWORD = "pw-do-not-leak-0123"
PROJECT = "entity/project"
QID = "0193a1b2-0000-7000-8000-0000000000aa"
NO_RETRY = RetryPolicy(max_retries=0)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Recorder:
    """A server that records every request it receives (and answers 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.method, request.path, await request.read()))
        return web.json_response({})


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` for every path on a free loopback port; yields the base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def redirect_to(target: str, status: int = 307) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, headers={"Location": target + request.path_qs})

    return handler


# -- redirects --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_another_origin_never_gets_the_progress_body_or_the_key(status):
    other = Recorder()
    async with (
        serve(other.handle) as elsewhere,
        serve(redirect_to(elsewhere, status)) as base,
        WeaveSession(KEY, base_url=base, retry_policy=NO_RETRY) as weave,
    ):
        with pytest.raises(InsecureTransportError, match="another origin") as caught:
            await weave.queue(PROJECT, QID).update_progress("item-1", "completed")
    assert other.received == []
    assert KEY not in str(caught.value)


async def test_a_bulk_run_behind_a_redirect_fails_its_items_and_sends_nothing_elsewhere():
    other = Recorder()
    async with (
        serve(other.handle) as elsewhere,
        serve(redirect_to(elsewhere)) as base,
        WeaveSession(KEY, base_url=base) as weave,
    ):
        result = await weave.queue(PROJECT, QID).bulk_update_progress(
            ["item-1", "item-2", "item-3"], "completed"
        )
    assert result.failed == 3
    assert {type(f.error) for f in result.failures} == {InsecureTransportError}
    assert other.received == []


async def test_a_redirect_of_the_annofab_login_never_resends_the_password():
    other = Recorder()
    async with (
        serve(other.handle) as elsewhere,
        serve(redirect_to(elsewhere, 308)) as base,
        AnnofabSession(user_id="alice", password=PASSWORD, endpoint=base) as af,
    ):
        with pytest.raises(InsecureTransportError) as caught:
            await af.account_id()
    assert other.received == []
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value)


async def test_a_redirect_to_plain_http_off_this_machine_is_refused_as_plain_http():
    async with (
        serve(redirect_to("http://annoq-test.invalid:8080")) as base,
        WeaveSession(KEY, base_url=base, retry_policy=NO_RETRY) as weave,
    ):
        with pytest.raises(InsecureTransportError, match="plain http"):
            await weave.create_queue(PROJECT, name="x")


async def test_a_redirect_within_the_same_origin_is_not_followed_either():
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path == "/annotation_queues":
            return web.Response(status=307, headers={"Location": "/moved/annotation_queues"})
        return web.json_response({"id": "q-1"})

    async with serve(handler) as base, WeaveSession(KEY, base_url=base) as weave:
        with pytest.raises(APIError, match="not followed") as caught:
            await weave.create_queue(PROJECT, name="x")
    assert caught.value.status == 307
    assert hits == ["/annotation_queues"]  # sent once, never retried, never followed


# -- oversized bodies ---------------------------------------------------------------------


async def test_a_body_announced_larger_than_the_cap_is_refused_before_reading_it():
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 400 * 1024 * 1024  # announced, never sent
        await response.prepare(request)
        await response.write(b'{"id": "')
        await release.wait()
        return response

    async with serve(handler) as base:
        async with WeaveSession(KEY, base_url=base, max_response_bytes=1024) as weave:
            with anyio.fail_after(10):  # reading it would wait for bytes that never come
                with pytest.raises(ResponseDecodeError, match="max_response_bytes"):
                    await weave.create_queue(PROJECT, name="x")
        release.set()


async def test_an_endless_chunked_body_is_refused_once_it_passes_the_cap():
    sent = [0]

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"items": [')
        chunk = b'"x",' * 16_384
        while True:  # until the client goes away
            await response.write(chunk)
            sent[0] += len(chunk)

    async with (
        serve(handler) as base,
        WeaveSession(KEY, base_url=base, max_response_bytes=1024 * 1024) as weave,
    ):
        with anyio.fail_after(20), pytest.raises(ResponseDecodeError, match="max_response_bytes"):
            await weave.queue(PROJECT, QID).query_page(limit=10)
    assert sent[0] < 64 * 1024 * 1024  # the client stopped reading near its cap


def test_the_default_body_cap_is_64_mib_and_configurable_per_session():
    assert annoq._config.DEFAULT_MAX_RESPONSE_BYTES == 64 * 1024 * 1024
    weave = WeaveSession(KEY, base_url="http://127.0.0.1:9", max_response_bytes=10)
    assert weave._transport.max_response_bytes == 10
    af = AnnofabSession(pat="p", endpoint="http://127.0.0.1:9")
    assert af._transport.max_response_bytes == 64 * 1024 * 1024
    af = AnnofabSession(pat="p", endpoint="http://127.0.0.1:9", max_response_bytes=10)
    assert af._transport.max_response_bytes == 10


# -- streams ------------------------------------------------------------------------------


def queue_line(name: str) -> bytes:
    return orjson.dumps(
        {
            "id": QID,
            "project_id": PROJECT,
            "name": name,
            "created_at": "2026-11-25T08:00:00Z",
            "created_by": "u",
            "updated_at": "2026-11-25T08:00:00Z",
        }
    )


def stream_of(*parts: bytes, stall: asyncio.Event | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for part in parts:
            await response.write(part)
        if stall is not None:
            await stall.wait()
        await response.write_eof()
        return response

    return handler


async def collect_names(weave: WeaveSession, names: list[str]) -> None:
    async for queue in weave.queues(PROJECT):
        names.append(queue.name)


async def test_a_long_ndjson_line_within_the_cap_is_read_whole():
    """aiohttp's own line reader refuses lines past 512 KiB (LineTooLong, untyped)."""
    description = "d" * 3_000_000
    line = queue_line("long")[:-1] + b',"description":"' + description.encode() + b'"}\n'
    async with (
        serve(stream_of(queue_line("first") + b"\n", line)) as base,
        WeaveSession(KEY, base_url=base) as weave,
    ):
        queues = [q async for q in weave.queues(PROJECT)]
    assert [q.name for q in queues] == ["first", "long"]
    assert queues[1].description == description


async def test_an_ndjson_line_past_the_cap_is_a_decode_error():
    endless_line = b'{"id": "' + b"x" * 200_000
    async with (
        serve(stream_of(queue_line("first") + b"\n", endless_line)) as base,
        WeaveSession(KEY, base_url=base, max_response_bytes=100_000) as weave,
    ):
        names: list[str] = []
        with pytest.raises(ResponseDecodeError, match="max_response_bytes"):
            await collect_names(weave, names)
    assert names == ["first"]


@pytest.mark.parametrize(
    "limits",
    [Timeout(total=None, connect=5.0, read=0.3), Timeout(total=0.5, connect=5.0, read=None)],
    ids=["read", "total"],
)
async def test_a_stream_that_stalls_midway_raises_annoq_timeout_error(limits):
    stall = asyncio.Event()
    async with serve(stream_of(queue_line("first") + b"\n", stall=stall)) as base:
        async with WeaveSession(KEY, base_url=base, timeout=limits) as weave:
            names: list[str] = []
            with anyio.fail_after(10), pytest.raises(annoq.TimeoutError, match="while streaming"):
                await collect_names(weave, names)
        stall.set()
    assert names == ["first"]
