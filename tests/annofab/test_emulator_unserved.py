"""Every operation of the published Annofab API that the emulator does not serve answers
501 with a message naming it (not a 404 as if the path did not exist); served ones and
unknown paths answer as before."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from annoq import APIError
from annoq.annofab import AnnofabSession
from annoq.annofab._api import OPERATIONS, OPERATIONS_V2
from annoq.annofab._operations import Operation
from annoq.emulator import Emulator
from annoq.emulator.annofab._routes import SERVED_OPERATIONS

SERVED_BEFORE = {
    "login",
    "refreshToken",
    "getMyAccount",
    "getTasks",
    "getTask",
    "operateTask",
    *SERVED_OPERATIONS,
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _path(op: Operation) -> str:
    return op.base + re.sub(r"\{(\w+)\}", lambda m: f"x-{m.group(1)}", op.path)


async def test_every_operation_the_emulator_does_not_serve_answers_501_naming_it(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {emu.annofab.pat}"}
    unserved = []
    for op in (*OPERATIONS, *OPERATIONS_V2):
        async with http.request(
            op.method, emu.base_url + _path(op), headers=headers, json={} if op.body else None
        ) as response:
            body = await response.json(content_type=None)
        if op.operation_id in SERVED_BEFORE:
            assert response.status != 501, op.operation_id
        elif response.status == 501:
            error = body["errors"][0]
            assert error["error_code"] == "NOT_IMPLEMENTED"
            assert op.operation_id in error["message"]
            assert f"{op.method} {op.base}{op.path}" in error["message"]
            unserved.append(op.operation_id)
        else:  # served with real state: an answer, or an error about this made-up input
            assert response.status in (200, 201, 202, 400, 401, 403, 404, 409), op.operation_id
    assert "getWebhooks" in unserved
    assert not set(SERVED_OPERATIONS) & set(unserved)
    assert len(unserved) > 100  # most of the 149 operations are not served (yet)


async def test_an_unserved_operation_through_the_api_is_a_typed_error_not_retried(
    emu: Emulator, af: AnnofabSession
) -> None:
    with pytest.raises(APIError) as caught:
        await af.api.get_webhooks(emu.annofab.project_id)
    assert caught.value.status == 501
    assert caught.value.error_type == "NOT_IMPLEMENTED"
    assert "getWebhooks" in str(caught.value)
    assert caught.value.attempts == 1


async def test_a_path_that_is_no_operation_is_still_404(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(emu.base_url + "/api/v1/no-such-thing") as response:
        assert response.status == 404
