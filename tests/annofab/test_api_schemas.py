"""The bodies annoq itself builds validate against the spec's request schemas (login,
the MFA answer, refresh, logout, operate), and the emulator's answers to the login family
and the task reads validate against the response schemas (jsonschema, from
``tests/contract/annofab/``)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

from annoq.annofab import AnnofabSession
from annoq.annofab import _protocol as proto
from annoq.emulator import Emulator
from annoq.emulator.annofab._store import MFA_CODE
from tests._support import MockHTTP, calls, sent_json

from . import _spec

BASE = "https://annofab.example"
JST = timezone(timedelta(hours=9))
TOKEN = {"id_token": "id-1", "access_token": "access-1", "refresh_token": "refresh-1"}


def _url(path: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(BASE)}/api/v1{re.escape(path)}$")


async def test_the_login_family_bodies_annoq_sends_validate_against_the_spec() -> None:
    with MockHTTP() as http:
        http.post(_url("/login"), payload={"session": "challenge-1"})
        http.post(_url("/login-respond-to-auth-challenge"), payload={"token": TOKEN})
        http.get(_url("/my/account"), status=401, payload={"errors": []})
        http.post(_url("/refresh-token"), payload=TOKEN)
        http.get(_url("/my/account"), payload={"account_id": "a", "user_id": "u"})
        http.post(_url("/logout"), payload={"message": "ok"})
        async with AnnofabSession(
            user_id="alice", password="pw-1", mfa_code="654321", endpoint=BASE
        ) as af:
            await af.api.get_my_account()
            await af.logout()
        sent = {url.path: sent_json(call) for method, url, call in calls(http) if method == "POST"}
    schemas = {
        "/api/v1/login": "LoginRequest",
        "/api/v1/login-respond-to-auth-challenge": "LoginRespondToAuthChallengeRequest",
        "/api/v1/refresh-token": "RefreshTokenRequest",
        "/api/v1/logout": "Token",
    }
    assert set(sent) == set(schemas)
    for path, schema in schemas.items():
        _spec.validate(schema, sent[path])
    assert sent["/api/v1/login-respond-to-auth-challenge"]["mfa_code"] == "654321"


@pytest.mark.parametrize("status", sorted(proto.OPERATE_STATUSES))
def test_operate_bodies_validate_against_the_task_operation_schema(status: str) -> None:
    request = proto.operate_request(
        "prj-1",
        "task-1",
        status=status,
        last_updated_datetime=datetime(2026, 11, 24, 21, 5, 9, 123000, JST),
        account_id="acc-1",
        force=status == "rejected",
    )
    _spec.validate("TaskOperation", request.json)


def test_a_body_that_misses_a_required_field_does_not_validate() -> None:
    import jsonschema

    with pytest.raises(jsonschema.ValidationError, match="last_updated_datetime"):
        _spec.validate("TaskOperation", {"status": "working"})


async def test_emulator_answers_to_the_login_family_and_task_reads_fit_the_spec(
    emu: Emulator,
) -> None:
    ids = emu.annofab.seed_tasks(3)
    emu.annofab.add_user("mfa-user", password="mfa-pw", mfa=True)
    project = emu.annofab.project_id
    headers = {"Authorization": f"Bearer {emu.annofab.pat}"}
    api = emu.base_url + "/api/v1"
    answers: list[tuple[Any, Any]] = []
    async with aiohttp.ClientSession() as http:
        for path, schema in (
            (f"/projects/{project}/tasks", "TaskList"),
            (f"/projects/{project}/tasks/{ids[0]}", "Task"),
            (
                f"/projects/{project}/tasks/{ids[0]}/histories",
                {"type": "array", "items": {"$ref": "TaskHistory"}},
            ),
        ):
            async with http.get(api + path, headers=headers) as response:
                answers.append((schema, await response.json()))
        login = {"user_id": emu.annofab.user_id, "password": emu.annofab.password}
        async with http.post(api + "/login", json=login) as response:
            token = (await response.json())["token"]
            answers.append(("LoginResponse", {"token": token}))
        async with http.post(
            api + "/refresh-token", json={"refresh_token": token["refresh_token"]}
        ) as response:
            answers.append(("Token", await response.json()))
        async with http.post(
            api + "/login", json={"user_id": "mfa-user", "password": "mfa-pw"}
        ) as response:
            challenge = await response.json()
            answers.append(("LoginNeedChallengeResponse", challenge))
        body = {"user_id": "mfa-user", "mfa_code": MFA_CODE, "session": challenge["session"]}
        async with http.post(api + "/login-respond-to-auth-challenge", json=body) as response:
            answers.append(("LoginSucceedResponse", await response.json()))
        async with http.post(api + "/logout", json=token) as response:
            answers.append(("Message", await response.json()))
    for schema, answer in answers:
        _spec.validate(schema, answer)
