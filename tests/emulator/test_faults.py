"""Fault injection: configured fractions and kinds, determinism, drops, apply-then-drop."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest

from annoq.emulator import Emulator, FaultKind, FaultRule, run_emulator
from annoq.emulator._faults import describe_rule, parse_fault_spec

from ._support import Api

N_REQUESTS = 400


async def _statuses(api: Api, queue_id: str, n: int) -> list[int]:
    out = []
    for _ in range(n):
        status, _ = await api.query(queue_id, limit=1)
        out.append(status)
    return out


async def test_status_faults_occur_at_the_configured_fraction(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(3)
    emu.faults.add(FaultRule(kind="status", status=503, rate=0.25, routes={"items_query"}))
    statuses = await _statuses(api, queue_id, N_REQUESTS)
    failed = statuses.count(503)
    assert set(statuses) == {200, 503}
    assert 0.19 * N_REQUESTS <= failed <= 0.31 * N_REQUESTS
    assert emu.faults.count(kind="status_503", route="items_query") == failed
    assert emu.faults.count(kind="status") == failed
    assert emu.faults.requests_seen("items_query") == N_REQUESTS


async def test_several_kinds_each_occur_at_their_fraction(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(3)
    for status in (429, 500, 502, 504):
        emu.faults.add(FaultRule(kind="status", status=status, rate=0.1, retry_after="0"))
    statuses = Counter(await _statuses(api, queue_id, N_REQUESTS))
    # Rules are tried in order, so later ones fire on the rest: 10%, 9%, 8.1%, 7.3%.
    for status, expected in ((429, 0.1), (500, 0.09), (502, 0.081), (504, 0.0729)):
        assert abs(statuses[status] - expected * N_REQUESTS) <= 0.05 * N_REQUESTS, statuses
        assert emu.faults.count(kind=f"status_{status}") == statuses[status]
    assert sum(statuses.values()) == N_REQUESTS


async def test_faults_are_deterministic_under_a_fixed_seed() -> None:
    runs = []
    for _ in range(2):
        async with run_emulator(seed=99) as emu:
            queue_id = emu.weave.seed_queue(2)
            emu.faults.add(FaultRule(kind="status", status=500, rate=0.3))
            emu.faults.add(FaultRule(kind="status", status=429, rate=0.2))
            async with aiohttp.ClientSession(headers=emu.auth_headers()) as http:
                runs.append(await _statuses(Api(emu, http), queue_id, 60))
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == 3


async def test_reseed_restarts_the_fault_sequence(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(2)
    emu.faults.set_rules([FaultRule(kind="status", status=500, rate=0.5)], seed=5)
    first = await _statuses(api, queue_id, 40)
    emu.faults.reseed(5)
    assert await _statuses(api, queue_id, 40) == first


async def test_status_fault_bodies_and_retry_after_headers(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(1)
    url = emu.url(f"/annotation_queues/{queue_id}/items/query")
    body = {"project_id": emu.project}
    expected = {
        429: {"reason": "Too many requests"},
        500: {"reason": "Internal server error"},
        502: {"reason": "Temporary backend error"},
        503: {"reason": "Service unavailable"},
    }
    for status, reason in expected.items():
        emu.faults.set_rules(
            [
                FaultRule(
                    kind="status", status=status, retry_after="0.01", retry_after_ms=10, times=1
                )
            ]
        )
        async with api.http.post(url, json=body) as resp:
            assert resp.status == status
            assert await resp.json() == reason
            assert resp.headers["Retry-After"] == "0.01"
            assert resp.headers["retry-after-ms"] == "10"
        async with api.http.post(url, json=body) as resp:
            assert resp.status == 200
    emu.faults.set_rules([FaultRule(kind="status", status=504, times=1)])
    async with api.http.post(url, json=body) as resp:
        assert resp.status == 504
        assert "Retry-After" not in resp.headers
        assert (await resp.json())["reason"].startswith("Query timeout exceeded")
    emu.faults.set_rules(
        [FaultRule(kind="status", status=502, body="<html>Bad Gateway</html>", times=1)]
    )
    async with api.http.post(url, json=body) as resp:
        assert resp.status == 502
        assert resp.content_type == "text/html"
        assert await resp.text() == "<html>Bad Gateway</html>"


async def test_status_fault_does_not_apply_the_write(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(1)
    item_id = emu.weave.item_ids(queue_id)[0]
    emu.faults.add(FaultRule(kind="status", status=500, routes={"progress"}, times=1))
    assert (await api.progress(queue_id, item_id, "completed"))[0] == 500
    assert emu.weave.applied_writes() == 0
    assert (await api.progress(queue_id, item_id, "completed"))[0] == 200
    assert emu.weave.applied_writes() == 1


async def test_rules_target_only_their_routes(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(5)
    emu.faults.add(FaultRule(kind="status", status=503, rate=1.0, routes={"progress"}))
    assert set(await _statuses(api, queue_id, 20)) == {200}
    item_id = emu.weave.item_ids(queue_id)[0]
    assert (await api.progress(queue_id, item_id, "completed"))[0] == 503
    assert emu.faults.counters() == {"weave.progress": {"status_503": 1}}


async def test_times_limits_how_often_a_rule_fires(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(1)
    emu.faults.add(FaultRule(kind="status", status=429, rate=1.0, times=3))
    assert await _statuses(api, queue_id, 6) == [429, 429, 429, 200, 200, 200]


async def test_drop_raises_a_client_disconnect_and_applies_nothing(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(2)
    item_id = emu.weave.item_ids(queue_id)[0]
    emu.faults.add(FaultRule(kind=FaultKind.DROP, routes="progress", times=1))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.progress(queue_id, item_id, "completed")
    assert emu.weave.applied_writes() == 0
    assert emu.weave.item(queue_id, item_id)["annotation_state"] == "unstarted"
    assert emu.faults.count(kind="drop", route="progress") == 1
    status, body = await api.progress(queue_id, item_id, "completed")
    assert status == 200
    assert body["item"]["annotation_state"] == "completed"


async def test_drop_on_a_read_raises_a_client_disconnect(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(2)
    emu.faults.add(FaultRule(kind="drop", routes={"items_query"}, times=1))
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await api.query(queue_id)
    assert (await api.query(queue_id))[0] == 200


async def test_apply_then_drop_commits_the_write_and_the_client_sees_a_disconnect(
    api: Api, emu: Emulator
) -> None:
    queue_id = emu.weave.seed_queue(2)
    item_id = emu.weave.item_ids(queue_id)[0]
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"progress"}, times=1))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.progress(queue_id, item_id, "completed")
    assert emu.weave.applied_writes(item_id, emu.user_id) == 1
    assert emu.weave.item(queue_id, item_id)["annotation_state"] == "completed"
    assert [(c.item_id, c.state) for c in emu.weave.state_log] == [(item_id, "completed")]
    # The retry of the lost response is a no-op on the current server ...
    status, body = await api.progress(queue_id, item_id, "completed")
    assert status == 200
    assert body["item"]["annotation_state"] == "completed"
    assert emu.weave.applied_writes(item_id) == 1


async def test_apply_then_drop_retry_on_the_legacy_server_answers_400(legacy_api: Api) -> None:
    emu = legacy_api.emu
    queue_id = emu.weave.seed_queue(1)
    item_id = emu.weave.item_ids(queue_id)[0]
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"progress"}, times=1))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await legacy_api.progress(queue_id, item_id, "completed")
    status, body = await legacy_api.progress(queue_id, item_id, "completed")
    assert status == 400
    assert "from 'completed' to 'completed'" in body["reason"]
    assert emu.weave.applied_writes(item_id) == 1


async def test_apply_then_drop_on_add_calls_adds_the_items(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.create_queue(name="adds")
    calls = emu.weave.create_calls(3)
    emu.faults.add(FaultRule(kind="apply_then_drop", routes={"add_calls"}, times=1))
    body = {"project_id": api.project, "call_ids": calls, "display_fields": []}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.call("POST", f"/annotation_queues/{queue_id}/items", body)
    assert await api.call("POST", f"/annotation_queues/{queue_id}/items", body) == (
        200,
        {"added_count": 0, "duplicates": 3},
    )


async def test_latency_is_added_before_the_answer(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(1)
    emu.faults.add(FaultRule(kind="latency", latency=0.05, routes={"items_query"}, times=2))
    started = time.perf_counter()
    assert (await api.query(queue_id))[0] == 200
    assert (await api.query(queue_id))[0] == 200
    assert time.perf_counter() - started >= 0.1
    assert emu.faults.count(kind="latency") == 2


async def test_control_routes_are_never_faulted(api: Api, emu: Emulator) -> None:
    emu.faults.add(FaultRule(kind="status", status=500, rate=1.0))
    async with api.http.get(emu.url("/_emulator/faults")) as resp:
        assert resp.status == 200
    assert emu.faults.count() == 0


async def test_faults_configured_through_the_control_route(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(1)
    rule = {
        "kind": "status",
        "status": 429,
        "rate": 1.0,
        "routes": ["items_query"],
        "retry_after": "0.01",
        "times": 2,
    }
    status, state = await api.call("PUT", "/_emulator/faults", {"rules": [rule], "seed": 3})
    assert status == 200
    assert state["rules"][0]["routes"] == ["items_query"]
    assert state["seed"] == 3
    assert await _statuses(api, queue_id, 3) == [429, 429, 200]
    status, state = await api.call("GET", "/_emulator/faults")
    assert state["counters"] == {"weave.items_query": {"status_429": 2}}
    status, state = await api.call("POST", "/_emulator/faults", {"kind": "drop", "times": 1})
    assert len(state["rules"]) == 2
    status, state = await api.call("DELETE", "/_emulator/faults", params={"reset_counters": "1"})
    assert (state["rules"], state["counters"]) == ([], {})
    status, state = await api.call("POST", "/_emulator/faults", {"kind": "bogus"})
    assert status == 400


def test_fault_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="rate"):
        FaultRule(kind="drop", rate=1.5)
    with pytest.raises(ValueError, match="status"):
        FaultRule(kind="status")
    with pytest.raises(ValueError, match="latency"):
        FaultRule(kind="latency")
    with pytest.raises(ValueError, match="not a valid"):
        FaultRule(kind="explode")


async def test_max_concurrent_answers_429_above_n_in_flight_set_by_the_control_route(
    api: Api, emu: Emulator
) -> None:
    queue_id = emu.weave.seed_queue(1)
    rules = [
        {"kind": "max_concurrent", "limit": 4, "routes": ["items_query"], "retry_after": "0"},
        # holds the admitted ones in flight while the others arrive
        {"kind": "latency", "latency": 0.3, "routes": ["items_query"]},
    ]
    status, state = await api.call("PUT", "/_emulator/faults", {"rules": rules})
    assert status == 200
    assert state["rules"][0]["limit"] == 4
    statuses = Counter(
        status for status, _ in await asyncio.gather(*(api.query(queue_id) for _ in range(12)))
    )
    assert statuses == {200: 4, 429: 8}
    assert emu.faults.peak_in_flight == 4
    assert emu.faults.count(kind="max_concurrent") == 8
    assert emu.faults.in_flight == 0
    assert (await api.query(queue_id))[0] == 200  # capacity is back once they are answered


def test_max_concurrent_fault_spec_and_validation() -> None:
    rule = parse_fault_spec("max-concurrent=8", retry_after="0")
    assert (rule.kind, rule.limit, rule.rate, rule.retry_after) == (
        FaultKind.MAX_CONCURRENT,
        8,
        1.0,
        "0",
    )
    assert parse_fault_spec("max-concurrent=2:1:progress").routes == {"progress"}
    assert "above 8 in flight answer 429" in describe_rule(rule)
    with pytest.raises(ValueError, match="max-concurrent"):
        parse_fault_spec("max-concurrent=0")
    with pytest.raises(ValueError, match="limit"):
        FaultRule(kind="max_concurrent")
