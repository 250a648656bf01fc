"""``annoq serve`` as a real process: it announces what to use, serves, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import socket

from .conftest import annoq
from .test_demo import annoq_command


async def start_serve(
    *options: str, last: str = "Use"
) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """Start ``annoq serve --port 0 ...`` and read its announcement up to the ``last:`` line."""
    process = await asyncio.create_subprocess_exec(
        *annoq_command(), "serve", "--port", "0", *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    announced: dict[str, str] = {}
    while last not in announced:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        assert line, f"serve exited early: {(await process.communicate())[1].decode()}"
        if line.startswith("Weave emulator listening on "):
            announced["URL"] = line.rsplit(" ", 1)[1].strip()
        else:
            label, _, value = line.partition(": ")
            announced[label] = value.strip()
    return process, announced


async def stop(process: asyncio.subprocess.Process) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, err.decode()


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
