"""``annoq serve`` as a real process: it announces what to use, serves, stops on SIGTERM."""

from __future__ import annotations

import json
import socket
from typing import Any

import aiohttp
import pytest

from ._support import annoq, start_serve, stop


async def test_serve_announces_a_working_server_with_faults_and_stops_cleanly(monkeypatch):
    process, announced = await start_serve(
        "--seed-items", "30", "--fault-rate", "1", "--fault-status", "503",
        "--fault-route", "stats", "--api-key", "secret-key", last="Faults",
    )  # fmt: skip
    try:
        assert announced["API key"] == "secret-key"
        assert (
            announced["Use"] == f"WF_TRACE_SERVER_URL={announced['URL']} WANDB_API_KEY=secret-key"
        )
        assert announced["Faults"] == "100% of requests to stats answer 503"
        queue_id = announced["Queue id"].split()[0]
        monkeypatch.setenv("WF_TRACE_SERVER_URL", announced["URL"])
        monkeypatch.setenv("WANDB_API_KEY", "secret-key")

        items = await annoq("items", announced["Project"], queue_id)
        stats = await annoq("stats", "--max-retries", "0", announced["Project"], queue_id)
    finally:
        code, err = await stop(process)

    assert items.code == 0, items.err
    assert len([json.loads(line) for line in items.out.splitlines()]) == 30
    assert stats.code == 1
    stats.assert_one_error_line("HTTP 503")
    assert code == 0, err
    assert "Traceback" not in err


async def test_bad_fault_options_are_refused_before_serving():
    ran = await annoq("serve", "--port", "0", "--fault-rate", "1.5")
    assert ran.code == 2
    ran.assert_one_error_line("bad fault options", "rate must be within [0, 1]")


async def test_an_unknown_fault_route_lists_the_known_ones():
    ran = await annoq("serve", "--port", "0", "--fault-rate", "0.1", "--fault-route", "nope")
    assert ran.code == 2
    ran.assert_one_error_line("unknown --fault-route nope", "items_query", "progress")


async def test_a_port_in_use_is_one_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ran = await annoq("serve", "--port", str(port), "--seed-items", "0")
    assert ran.code == 2
    ran.assert_one_error_line("address already in use")
    assert ran.out == ""


async def control_get(base_url: str, path: str, headers: dict[str, str] | None = None) -> Any:
    """A control-route GET over loopback: (status, JSON body)."""
    async with aiohttp.ClientSession() as http, http.get(base_url + path, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_serve_latency_and_fault_flags_are_in_place_before_the_announcement():
    process, announced = await start_serve(
        "--seed-items", "4", "--api-key", "k", "--latency", "20",
        "--fault", "503:1:stats", "--fault", "apply-then-drop:1:progress",
        "--fault", "429:0.5:list_queues", "--retry-after", "0", last="Faults",
    )  # fmt: skip
    url, project = announced["URL"], announced["Project"]
    queue_id = announced["Queue id"].split()[0]
    auth = {"Authorization": "Bearer k"}
    try:
        assert announced["Faults"] == (
            "100% of requests to every route wait 20 ms; "
            "100% of requests to stats answer 503; "
            "100% of requests to progress are applied, then dropped unanswered; "
            "50% of requests to list_queues answer 429"
        )
        status, faults = await control_get(url, "/_emulator/faults")
        assert status == 200
        assert [(r["kind"], r["rate"], r["routes"]) for r in faults["rules"]] == [
            ("latency", 1.0, None),
            ("status", 1.0, ["stats"]),
            ("apply_then_drop", 1.0, ["progress"]),
            ("status", 0.5, ["list_queues"]),
        ]
        assert faults["rules"][0]["latency"] == 0.02
        assert faults["rules"][3]["retry_after"] == "0"

        _, listed = await control_get(url, f"/_emulator/queues/{queue_id}/items")
        item_id = listed["items"][0]["id"]
        async with aiohttp.ClientSession(headers=auth) as http:
            body = {"project_id": project, "queue_ids": [queue_id]}
            async with http.post(f"{url}/annotation_queues/stats", json=body) as resp:
                assert resp.status == 503
            progress = f"{url}/annotation_queues/{queue_id}/items/{item_id}/progress"
            body = {"project_id": project, "annotation_state": "completed"}
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.post(progress, json=body)
        _, applied = await control_get(url, f"/_emulator/applied?item_id={item_id}")
        assert applied["total"] == 1  # applied, although its answer was dropped
        _, faults = await control_get(url, "/_emulator/faults")
        assert faults["counters"] == {
            "weave.progress": {"apply_then_drop": 1, "latency": 1},
            "weave.stats": {"latency": 1, "status_503": 1},
        }
    finally:
        code, err = await stop(process)
    assert code == 0, err


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--fault", "teapot:0.5"], ["bad --fault", "unknown fault kind", "apply-then-drop"]),
        (["--fault", "429:1.5"], ["bad --fault", "not within [0, 1]"]),
        (["--fault", "429"], ["bad --fault", "KIND:RATE[:ROUTE]"]),
        (["--fault", "200:1"], ["bad --fault", "400..599"]),
        (["--fault", "latency=0:1"], ["bad --fault", "ms > 0"]),
        (["--fault", "drop:1:nope"], ["bad --fault", "unknown route nope", "progress"]),
        (["--latency", "-5"], ["--latency", "must be >= 0 milliseconds"]),
        (["--latency", "soon"], ["--latency", "not a number of milliseconds"]),
    ],
)
async def test_a_bad_fault_or_latency_flag_is_one_error_before_serving(options, fragments):
    ran = await annoq("serve", "--port", "0", *options)
    assert ran.code == 2
    ran.assert_one_error_line(*fragments)
    assert ran.out == ""


async def test_serve_off_loopback_prints_a_token_a_warning_and_a_url_that_works(monkeypatch):
    process, announced = await start_serve(
        "--host", "0.0.0.0", "--seed-items", "3", last="Control token"
    )  # fmt: skip
    url, project = announced["URL"], announced["Project"]
    queue_id = announced["Queue id"].split()[0]
    token = announced["Control token"].split()[0]
    try:
        assert url.startswith("http://127.0.0.1:")
        assert "--allow-insecure-http" in announced["Plain http off loopback"]
        assert "allow_insecure_http=True" in announced["Plain http off loopback"]
        other = announced["From other machines"]
        assert other.startswith("http://")
        assert other.endswith(url.rsplit(":", 1)[1])
        assert "0.0.0.0" not in other

        monkeypatch.setenv("WF_TRACE_SERVER_URL", url)
        monkeypatch.setenv("WANDB_API_KEY", announced["API key"])
        items = await annoq("items", project, queue_id)
        assert items.code == 0, items.err
        assert len(items.out.splitlines()) == 3
        # The other machines' URL is plain http off loopback: refused before any request
        # unless the network is declared trusted, as the announcement says.
        refused = await annoq("stats", "--base-url", other, project, queue_id)
        assert refused.code == 2
        refused.assert_one_error_line("plain http", "--allow-insecure-http")

        for headers in (None, {"X-Annoq-Emulator-Token": "guess"}):
            status, body = await control_get(url, "/_emulator/info", headers)
            assert status == 401
            assert announced["API key"] not in str(body)
        status, body = await control_get(
            url, "/_emulator/info", {"X-Annoq-Emulator-Token": token, "Host": "evil.example"}
        )
        assert status == 403
        status, body = await control_get(url, "/_emulator/users", {"X-Annoq-Emulator-Token": token})
        assert status == 200
        assert [u["api_key"] for u in body["users"]] == [announced["API key"]]
    finally:
        code, err = await stop(process)
    assert code == 0, err
    assert "annoq: warning: listening on 0.0.0.0, off loopback" in err


async def test_serve_gives_different_keys_each_run_unless_seeded():
    keys = []
    for options in ([], [], ["--seed", "5"], ["--seed", "5"]):
        process, announced = await start_serve("--seed-items", "0", *options)
        await stop(process)
        keys.append(announced["API key"])
    assert keys[0] != keys[1]
    assert keys[2] == keys[3]
