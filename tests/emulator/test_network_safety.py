"""The emulator on a network: control routes check Host, a token off loopback and JSON
bodies; credentials are random unless seeded (issue 11, finding 9). Over real sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from annoq.emulator import Emulator, run_emulator, serve

TOKEN_HEADER = "X-Annoq-Emulator-Token"


async def control(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    json: Any = None,
) -> tuple[int, Any]:
    """One raw control request (no credentials unless in ``headers``): status, JSON."""
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, base_url + path, headers=headers, data=data, json=json) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def test_control_routes_refuse_a_host_that_is_not_this_machine() -> None:
    async with run_emulator() as emu:
        port = emu.base_url.rsplit(":", 1)[1]
        for host in ("attacker.example", f"rebind.attacker.example:{port}", "10.1.2.3"):
            status, body = await control(
                emu.base_url, "GET", "/_emulator/info", headers={"Host": host}
            )
            assert status == 403, (host, body)
            assert "api_key" not in body
            assert emu.api_key not in str(body)
            status, _ = await control(
                emu.base_url, "POST", "/_emulator/seed", json={"n_items": 3}, headers={"Host": host}
            )
            assert status == 403
        assert emu.weave.store.queues == {}
        for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
            status, body = await control(
                emu.base_url, "GET", "/_emulator/info", headers={"Host": host}
            )
            assert status == 200, (host, body)
            assert body["api_key"] == emu.api_key


async def test_control_routes_accept_an_allowed_host_name() -> None:
    async with run_emulator(allowed_hosts=["emulator.internal"]) as emu:
        status, _ = await control(
            emu.base_url, "GET", "/_emulator/users", headers={"Host": "emulator.internal:8080"}
        )
        assert status == 200
        status, _ = await control(
            emu.base_url, "GET", "/_emulator/users", headers={"Host": "other.internal:8080"}
        )
        assert status == 403


@pytest.mark.parametrize(
    ("headers", "data"),
    [
        ({"Content-Type": "text/plain"}, b'{"n_items": 3}'),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"n_items=3"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x--"),
        ({}, None),
    ],
    ids=["text-plain", "form", "multipart", "no-body"],
)
async def test_control_writes_refuse_bodies_a_web_page_could_send_cross_origin(
    headers: dict[str, str], data: bytes | None
) -> None:
    async with run_emulator() as emu:
        status, body = await control(
            emu.base_url, "POST", "/_emulator/seed", headers=headers, data=data
        )
        assert status == 415
        assert "application/json" in body["reason"]
        status, _ = await control(
            emu.base_url, "POST", "/_emulator/actor/stop", headers=headers, data=data
        )
        assert status == 415
        assert emu.weave.store.queues == {}
        status, body = await control(emu.base_url, "POST", "/_emulator/seed", json={"n_items": 3})
        assert status == 200
        assert len(emu.weave.item_ids(body["queue_id"])) == 3


async def test_bound_off_loopback_the_control_routes_need_the_generated_token() -> None:
    async with run_emulator(host="0.0.0.0") as emu:
        assert emu.control_token is not None
        assert len(emu.control_token) >= 24
        assert emu.base_url.startswith("http://127.0.0.1:")  # a URL that works here
        for path in ("/_emulator/info", "/_emulator/users", "/_emulator/faults"):
            for headers in ({}, {TOKEN_HEADER: "wrong"}, {TOKEN_HEADER: ""}):
                status, body = await control(emu.base_url, "GET", path, headers=headers)
                assert status == 401, (path, headers)
                assert emu.api_key not in str(body)
                assert emu.annofab.pat not in str(body)
                assert TOKEN_HEADER in body["reason"]
        status, _ = await control(emu.base_url, "POST", "/_emulator/seed", json={"n_items": 2})
        assert status == 401
        status, body = await control(
            emu.base_url, "GET", "/_emulator/info", headers={TOKEN_HEADER: emu.control_token}
        )
        assert status == 200
        assert body["api_key"] == emu.api_key
        status, body = await control(
            emu.base_url,
            "POST",
            "/_emulator/seed",
            json={"n_items": 2},
            headers=emu.control_headers(),
        )
        assert status == 200
        assert len(emu.weave.item_ids(body["queue_id"])) == 2
        # The service routes keep their own credentials and work as before.
        async with (
            aiohttp.ClientSession(headers=emu.auth_headers()) as http,
            http.post(
                emu.url(f"/annotation_queues/{body['queue_id']}/items/query"),
                json={"project_id": emu.project},
            ) as resp,
        ):
            assert resp.status == 200


async def test_two_emulators_off_loopback_get_different_tokens() -> None:
    async with run_emulator(host="0.0.0.0") as first, run_emulator(host="0.0.0.0") as second:
        assert first.control_token != second.control_token


async def test_a_given_control_token_is_required_even_on_loopback() -> None:
    async with run_emulator(control_token="tok-123") as emu:
        status, _ = await control(emu.base_url, "GET", "/_emulator/info")
        assert status == 401
        status, _ = await control(
            emu.base_url, "GET", "/_emulator/info", headers=emu.control_headers()
        )
        assert status == 200


async def test_on_loopback_the_control_routes_need_no_token() -> None:
    async with run_emulator() as emu:
        assert emu.control_token is None
        assert emu.control_headers() == {"Content-Type": "application/json"}
        status, body = await control(emu.base_url, "GET", "/_emulator/info")
        assert status == 200
        assert body["api_key"] == emu.api_key


def test_keys_pats_and_passwords_are_random_unless_a_seed_is_given() -> None:
    first, second = Emulator(), Emulator()
    assert first.api_key != second.api_key
    assert first.annofab.pat != second.annofab.pat
    assert first.annofab.password != second.annofab.password
    assert first.add_user("a").api_key != second.add_user("a").api_key
    assert first.annofab.add_user("b").pat != second.annofab.add_user("b").pat
    first_login = first.annofab.store.login(first.annofab.user_id, first.annofab.password)
    second_login = second.annofab.store.login(second.annofab.user_id, second.annofab.password)
    assert first_login != second_login

    seeded = [Emulator(seed=7), Emulator(seed=7)]
    assert seeded[0].api_key == seeded[1].api_key
    assert seeded[0].annofab.pat == seeded[1].annofab.pat
    assert seeded[0].add_user("a").api_key == seeded[1].add_user("a").api_key
    assert Emulator(seed=7).api_key != Emulator(seed=8).api_key


async def test_serve_off_loopback_warns_and_prints_a_token_and_urls() -> None:
    lines: list[str] = []
    warnings: list[str] = []
    ready = asyncio.Event()
    stop = asyncio.Event()

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("Control token:"):
            ready.set()

    task = asyncio.create_task(
        serve(host="0.0.0.0", port=0, seed_items=2, echo=echo, warn=warnings.append, stop=stop)
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        base_url = lines[0].rsplit(" ", 1)[1]
        assert base_url.startswith("http://127.0.0.1:")
        port = base_url.rsplit(":", 1)[1]
        other = next(line for line in lines if line.startswith("From other machines: "))
        assert other.endswith(f":{port}")
        assert "0.0.0.0" not in other
        assert any("allow_insecure_http=True" in line for line in lines)
        assert any("--allow-insecure-http" in line for line in lines)
        token = lines[-1].split()[2]
        assert any("off loopback" in w for w in warnings)
        status, body = await control(base_url, "GET", "/_emulator/info")
        assert status == 401
        status, body = await control(
            base_url, "GET", "/_emulator/info", headers={TOKEN_HEADER: token}
        )
        assert status == 200
        assert f"API key: {body['api_key']}" in lines
    finally:
        stop.set()
        await task


async def test_serve_on_loopback_prints_no_token_and_no_warning() -> None:
    lines: list[str] = []
    warnings: list[str] = []
    stop = asyncio.Event()
    ready = asyncio.Event()

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("Use:"):
            ready.set()

    task = asyncio.create_task(serve(port=0, echo=echo, warn=warnings.append, stop=stop))
    await asyncio.wait_for(ready.wait(), 10)
    stop.set()
    await task
    assert warnings == []
    assert not any(line.startswith(("Control token", "From other")) for line in lines)


def test_bound_to_one_outside_address_the_announcement_names_it_and_the_client_flag() -> None:
    from annoq.emulator._emulator import announcement

    emu = Emulator(control_token="t-1")
    emu.bound_host = "192.0.2.10"
    emu._base_url = "http://192.0.2.10:8080"
    lines, warnings = announcement(emu, seeded=True)
    assert lines[0] == "From other machines: http://192.0.2.10:8080"
    assert "--allow-insecure-http" in lines[1]
    assert "allow_insecure_http=True" in lines[1]
    assert lines[2] == "Control token: t-1 (send it as X-Annoq-Emulator-Token)"
    assert "off loopback" in warnings[0]
    assert "--seed" in warnings[1]
    emu.bound_host = "127.0.0.1"
    assert announcement(emu, seeded=True) == ([], [])
