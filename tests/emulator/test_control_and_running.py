"""Control routes, the ways to run the emulator (CLI, serve, build_app, fixture), speed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

import annoq.emulator as emulator_pkg
from annoq.emulator import Emulator, build_app, emulator_of, run_emulator, serve

from ._support import Api


async def test_control_info_users_and_seed(api: Api, emu: Emulator) -> None:
    status, info = await api.call("GET", "/_emulator/info", headers={"Authorization": ""})
    assert status == 200
    assert info["project"] == "entity/project"
    assert info["api_key"] == emu.api_key
    assert info["options"]["legacy_progress"] is False
    assert "weave.items_query" in info["routes"]
    status, user = await api.call(
        "POST", "/_emulator/users", {"user_id": "ann-3", "projects": ["entity/project"]}
    )
    assert status == 200
    assert user["user_id"] == "ann-3"
    assert user["api_key"]
    _, users = await api.call("GET", "/_emulator/users")
    assert {u["user_id"] for u in users["users"]} == {emu.user_id, "ann-3"}
    status, seeded = await api.call(
        "POST", "/_emulator/seed", {"n_items": 12, "name": "via http", "op_names": ["a", "b"]}
    )
    assert status == 200
    items = await api.items(seeded["queue_id"])
    assert len(items) == 12
    assert {it["call_op_name"] for it in items} == {"a", "b"}


async def test_control_calls_items_progress_applied_and_state_log(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.create_queue(name="control")
    _, calls = await api.call("POST", "/_emulator/calls", {"n": 3})
    status, added = await api.call(
        "POST", f"/_emulator/queues/{queue_id}/items", {"call_ids": calls["call_ids"]}
    )
    assert status == 200
    assert len(added["item_ids"]) == 3
    _, more = await api.call("POST", f"/_emulator/queues/{queue_id}/items", {"n": 2})
    item_id = added["item_ids"][0]
    path = f"/_emulator/queues/{queue_id}/items/{item_id}/progress"
    status, body = await api.call("POST", path, {"user_id": "other", "annotation_state": "skipped"})
    assert status == 200
    assert body["item"]["annotator_user_id"] == "other"
    status, body = await api.call(
        "POST", path, {"user_id": "other", "annotation_state": "completed"}
    )
    assert status == 400
    assert body["reason"].startswith("Invalid state transition")
    _, listed = await api.call("GET", f"/_emulator/queues/{queue_id}/items")
    assert len(listed["items"]) == 5
    progress = {it["id"]: it["progress"] for it in listed["items"]}
    assert progress[item_id] == {"other": "skipped"}
    assert [progress[i] for i in more["item_ids"]] == [{}, {}]
    _, applied = await api.call("GET", "/_emulator/applied", params={"item_id": item_id})
    assert applied == {
        "total": 1,
        "writes": [{"item_id": item_id, "user_id": "other", "count": 1}],
    }
    _, log = await api.call("GET", "/_emulator/state_log")
    assert log["next"] == 1
    assert [(c["item_id"], c["user_id"], c["state"]) for c in log["changes"]] == [
        (item_id, "other", "skipped")
    ]
    _, log = await api.call("GET", "/_emulator/state_log", params={"since": "1"})
    assert log["changes"] == []
    status, _ = await api.call(
        "POST", "/_emulator/calls", data=b"[1]", headers={"Content-Type": "application/json"}
    )
    assert status == 400


async def test_build_app_embeds_in_an_aiohttp_test_server() -> None:
    app = build_app(seed=2, legacy_progress=True)
    emu = emulator_of(app)
    assert emu.options.legacy_progress
    queue_id = emu.weave.seed_queue(3)
    async with TestClient(TestServer(app)) as client:
        resp = await client.post(
            f"/annotation_queues/{queue_id}/items/query",
            json={"project_id": emu.project},
            headers=emu.auth_headers(),
        )
        assert resp.status == 200
        assert len((await resp.json())["items"]) == 3
    with pytest.raises(RuntimeError, match="not being served"):
        _ = emu.base_url


async def test_run_emulator_binds_loopback_on_a_free_port() -> None:
    async with run_emulator() as first, run_emulator() as second:
        assert first.base_url.startswith("http://127.0.0.1:")
        assert first.base_url != second.base_url
    with pytest.raises(RuntimeError):
        _ = first.base_url


async def test_fixed_api_key_and_user() -> None:
    async with run_emulator(api_key="fixed", user_id="me") as emu:
        assert (emu.api_key, emu.user_id) == ("fixed", "me")
        assert emu.auth_headers() == {"Authorization": "Basic YXBpOmZpeGVk"}


async def test_serve_seeds_reports_and_stops_on_event() -> None:
    lines: list[str] = []
    ready = asyncio.Event()
    stop = asyncio.Event()

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("API key:"):
            ready.set()

    task = asyncio.create_task(
        serve(port=0, seed_items=7, project="team/demo", api_key="k", echo=echo, stop=stop)
    )
    await asyncio.wait_for(ready.wait(), 10)
    base_url = lines[0].rsplit(" ", 1)[1]
    queue_id = next(line for line in lines if line.startswith("Queue id:")).split()[2]
    assert "API key: k" in lines
    assert "Project: team/demo" in lines
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer k"}) as http,
        http.post(
            f"{base_url}/annotation_queues/{queue_id}/items/query",
            json={"project_id": "team/demo"},
        ) as resp,
    ):
        assert len((await resp.json())["items"]) == 7
    stop.set()
    await task


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_python_m_annoq_emulator_runs_until_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "annoq.emulator",
        "--port",
        "0",
        "--seed-items",
        "25",
        "--api-key",
        "cli-key",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith("API key:"):
            raw = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert raw, lines
            lines.append(raw.decode().strip())
        base_url = lines[0].rsplit(" ", 1)[1]
        assert base_url.startswith("http://127.0.0.1:")
        assert lines[-1] == "API key: cli-key"
        queue_id = next(line for line in lines if line.startswith("Queue id:")).split()[2]
        async with (
            aiohttp.ClientSession(headers={"Authorization": "Bearer cli-key"}) as http,
            http.post(
                f"{base_url}/annotation_queues/{queue_id}/items/query",
                json={"project_id": "entity/project", "limit": 5},
            ) as resp,
        ):
            assert resp.status == 200
            assert len((await resp.json())["items"]) == 5
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await proc.communicate()


async def test_pytest_plugin_fixture_gives_a_running_emulator(annoq_emulator: Emulator) -> None:
    queue_id = annoq_emulator.weave.seed_queue(4)
    async with (
        aiohttp.ClientSession(headers=annoq_emulator.auth_headers()) as http,
        http.post(
            annoq_emulator.url(f"/annotation_queues/{queue_id}/items/query"),
            json={"project_id": annoq_emulator.project},
        ) as resp,
    ):
        assert resp.status == 200
        assert len((await resp.json())["items"]) == 4


@pytest.mark.annoq_emulator(legacy_progress=True, project="team/x")
async def test_pytest_plugin_marker_passes_options(annoq_emulator: Emulator) -> None:
    assert annoq_emulator.options.legacy_progress
    assert annoq_emulator.project == "team/x"


async def test_seeding_100k_items_is_fast_and_deep_pages_are_right(api: Api, emu: Emulator) -> None:
    started = time.perf_counter()
    queue_id = emu.weave.seed_queue(100_000)
    assert time.perf_counter() - started < 5.0
    page = await api.items(queue_id, limit=1000, offset=99_000, include_position=True)
    assert [it["position_in_queue"] for it in page] == list(range(99_001, 100_001))
    assert [it["id"] for it in page] == emu.weave.item_ids(queue_id)[99_000:]


def test_public_names_are_exported_and_documented() -> None:
    exported: list[Any] = [getattr(emulator_pkg, name) for name in emulator_pkg.__all__]
    # The Weave emulator's public names (the Annofab emulator adds its own beside them).
    assert set(emulator_pkg.__all__) >= {
        "Actor",
        "ActorAction",
        "EMULATOR_KEY",
        "Emulator",
        "EmulatorError",
        "FaultInjector",
        "FaultKind",
        "FaultRule",
        "ROUTE_NAMES",
        "StateChange",
        "User",
        "WeaveOptions",
        "WeaveState",
        "build_app",
        "emulator_of",
        "run_emulator",
        "serve",
    }
    for obj in exported:
        if callable(obj):
            assert obj.__doc__, obj
            assert obj.__module__ == "annoq.emulator", obj


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_python_m_annoq_emulator_takes_fault_and_latency_flags() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "annoq.emulator", "--port", "0", "--api-key", "k",
        "--latency", "10", "--fault", "429:1:stats", "--retry-after", "0.5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith("API key:"):
            raw = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert raw, lines
            lines.append(raw.decode().strip())
        base_url = lines[0].rsplit(" ", 1)[1]
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer k"}) as http:
            body = {"project_id": "entity/project", "queue_ids": []}
            async with http.post(f"{base_url}/annotation_queues/stats", json=body) as resp:
                assert resp.status == 429
                assert resp.headers["Retry-After"] == "0.5"
            async with http.get(f"{base_url}/_emulator/faults") as resp:
                rules = (await resp.json())["rules"]
        assert [(r["kind"], r["latency"], r["routes"]) for r in rules] == [
            ("latency", 0.01, None),
            ("status", 0.0, ["stats"]),
        ]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await proc.communicate()


async def test_python_m_annoq_emulator_refuses_a_bad_fault_flag() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "annoq.emulator", "--port", "0", "--fault", "teapot:1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert out == b""
    assert "unknown fault kind 'teapot'" in err.decode()
