"""Retry safety per operation: an operation that could apply twice when repeated is never
re-sent once the request may have reached the server (a drop after sending, a timeout, a
5xx), and the error says so; everything else retries as before.

Proven over real loopback sockets: the emulator applies an assignment and drops the
connection, and a bare server drops a PUT (which aiohttp would otherwise resend by itself,
once, before annoq's retry loop ever sees the error)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import annoq
from annoq import ServerError, TransportError
from annoq.annofab import AnnofabSession
from annoq.annofab._operations import build_request
from annoq.emulator import Emulator, FaultRule
from tests._support import FAST_RETRIES, MockHTTP, request_count

RANDOM = {"request_type": {"_type": "Random", "phase": "annotation", "task_count": 1}}
ZIP_INPUT = {"input_data_name": "batch.zip", "input_data_path": "s3://bucket/batch.zip"}
IMAGE_INPUT = {"input_data_name": "a.png", "input_data_path": "s3://bucket/a.png"}


def _notes(error: BaseException) -> str:
    return " ".join(getattr(error, "__notes__", []))


def _mine(emu: Emulator) -> int:
    return sum(t.get("account_id") == emu.annofab.account_id for t in emu.annofab.tasks())


async def test_a_random_assign_is_not_resent_after_the_server_applied_it_and_dropped_the_line(
    emu: Emulator, af: AnnofabSession
) -> None:
    emu.annofab.seed_tasks(5)
    emu.faults.add(FaultRule(kind="apply_then_drop", rate=1.0, routes={"annofab_assign"}))
    with pytest.raises(TransportError) as caught:
        await af.api.assign_tasks(emu.annofab.project_id, request_body=RANDOM)
    assert "not re-sent" in _notes(caught.value)
    assert "could apply twice" in _notes(caught.value)
    assert emu.faults.requests_seen("annofab_assign") == 1
    assert _mine(emu) == 1  # assigned once, as the one send asked


async def test_a_selection_assign_names_its_tasks_and_is_retried_after_a_drop(
    emu: Emulator, af: AnnofabSession
) -> None:
    ids = emu.annofab.seed_tasks(5)
    emu.faults.add(FaultRule(kind="apply_then_drop", rate=1.0, routes={"annofab_assign"}, times=1))
    body = {
        "request_type": {
            "_type": "Selection",
            "user_id": emu.annofab.user_id,
            "task_ids": ids[:2],
        }
    }
    assigned = await af.api.assign_tasks(emu.annofab.project_id, request_body=body)
    assert [t["task_id"] for t in assigned] == ids[:2]
    assert emu.faults.requests_seen("annofab_assign") == 2
    assert _mine(emu) == 2


@pytest.fixture
async def dropping_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback server that reads each request, then closes the connection unanswered;
    it records ``METHOD path`` of each request it read."""
    seen: list[str] = []

    async def drop(request: web.Request) -> web.StreamResponse:
        await request.read()
        seen.append(f"{request.method} {request.path}")
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=599)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", drop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_a_zip_put_input_data_is_sent_once_even_though_aiohttp_resends_puts_itself(
    dropping_server: tuple[str, list[str]],
) -> None:
    base, seen = dropping_server
    async with AnnofabSession(pat="pat-1", endpoint=base, retry_policy=FAST_RETRIES) as af:
        with pytest.raises(TransportError) as caught:
            await af.api.put_input_data("prj-1", "in-1", request_body=ZIP_INPUT)
        assert "not re-sent" in _notes(caught.value)
        assert seen == ["PUT /api/v1/projects/prj-1/inputs/in-1"]
        # aiohttp's own resend is back on for a safe PUT: sent twice with no annoq retry.
        with pytest.raises(TransportError):
            await af.with_options(max_retries=0).api.put_input_data(
                "prj-1", "in-2", request_body=IMAGE_INPUT
            )
    assert seen.count("PUT /api/v1/projects/prj-1/inputs/in-2") == 2


async def test_a_job_start_that_timed_out_is_not_resent() -> None:
    base = "https://annofab.example"
    url = re.compile(rf"^{re.escape(base)}/.*$")
    async with AnnofabSession(pat="pat-1", endpoint=base, retry_policy=FAST_RETRIES) as af:
        with MockHTTP() as mock:
            mock.post(url, exception=TimeoutError(), repeat=True)
            with pytest.raises(annoq.TimeoutError) as caught:
                await af.api.post_annotation_archive_update("prj-1")
            assert request_count(mock) == 1
    assert "not re-sent" in _notes(caught.value)


async def test_a_webhook_test_is_not_resent_after_a_5xx_but_is_after_a_429() -> None:
    base = "https://annofab.example"
    url = re.compile(rf"^{re.escape(base)}/.*$")
    policy = annoq.RetryPolicy(max_retries=3, backoff_base=0.001, backoff_cap=0.002)
    async with AnnofabSession(pat="pat-1", endpoint=base, retry_policy=policy) as af:
        body = {"placeholders": {}}
        with MockHTTP() as mock:
            mock.post(url, status=503, payload={"errors": []}, repeat=True)
            with pytest.raises(ServerError) as caught:
                await af.api.test_webhook("prj-1", "hook-1", request_body=body)
            assert request_count(mock) == 1
        assert caught.value.attempts == 1
        assert "not re-sent" in _notes(caught.value)
        with MockHTTP() as mock:
            mock.post(url, status=429, payload={"errors": []}, headers={"Retry-After": "0"})
            mock.post(url, payload={"result": "success"})
            answer = await af.api.test_webhook("prj-1", "hook-1", request_body=body)
            assert request_count(mock) == 2
        assert answer == {"result": "success"}


async def test_a_retry_unsafe_request_that_never_connected_is_retried() -> None:
    base = "https://annofab.example"
    url = re.compile(rf"^{re.escape(base)}/.*$")
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("annofab.example", 443, True, None, None, None, None),
        OSError(111, "Connection refused"),
    )
    async with AnnofabSession(pat="pat-1", endpoint=base, retry_policy=FAST_RETRIES) as af:
        with MockHTTP() as mock:
            mock.post(url, exception=refused)
            mock.post(url, status=202, payload={"job_id": "j-1"})
            job = await af.api.post_project_tasks_update("prj-1")
            assert request_count(mock) == 2
    assert job == {"job_id": "j-1"}


@pytest.mark.parametrize(
    ("method", "args", "body", "unsafe"),
    [
        ("assignTasks", ("p",), RANDOM, True),
        ("assignTasks", ("p",), {"request_type": {"_type": "TaskProperty", "phase": "x"}}, True),
        ("assignTasks", ("p",), {"request_type": {"_type": "Selection"}}, False),
        ("putInputData", ("p", "i"), ZIP_INPUT, True),
        ("putInputData", ("p", "i"), {**IMAGE_INPUT, "input_data_name": "A.ZIP"}, True),
        ("putInputData", ("p", "i"), IMAGE_INPUT, False),
        ("testWebhook", ("p", "w"), {"placeholders": {}}, True),
        ("initiateProjectCopy", ("p",), {"dest_project_id": "q"}, True),
        ("putTask", ("p", "t"), {"input_data_id_list": ["i"]}, False),
        ("operateTask", ("p", "t"), {"status": "working"}, False),
    ],
)
def test_the_request_of_each_operation_carries_its_retry_class(
    method: str, args: tuple[str, ...], body: Any, unsafe: bool
) -> None:
    from annoq.annofab import _api

    op = next(o for o in _api.OPERATIONS if o.operation_id == method)
    assert build_request(op, args, None, body).retry_unsafe is unsafe
