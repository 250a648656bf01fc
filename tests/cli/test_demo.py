"""``annoq demo``: the README's first command, end to end."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from annoq.cli import run

from ._support import Terminal, annoq, annoq_command, summary

README = Path(__file__).resolve().parents[2] / "README.md"
DEMO_SETUP = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[cli]' && annoq demo"
)
TEST_SETUP = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && pytest"


def test_readme_shows_the_two_setup_commands_verbatim():
    text = README.read_text(encoding="utf-8")
    assert DEMO_SETUP in text
    assert TEST_SETUP in text


def test_the_readme_demo_command_exits_0_and_prints_the_summary():
    done = subprocess.run(
        [*annoq_command(), "demo", "--items", "2000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    rows = summary(done.stdout)
    assert rows["Items streamed"] == "2,000"
    assert (rows["Mark: updated"], rows["Mark: failed"]) == ("2,000", "0")
    assert rows["Server says completed"] == "2,000 of 2,000 (verified)"
    assert int(rows["Faults injected"]) > 0
    assert "Traceback" not in done.stderr


async def test_demo_json_counts_every_item_once_and_absorbs_the_faults():
    ran = await annoq("demo", "--items", "600", "--json")

    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert report["streamed"] == 600
    assert report["verified"] is True
    mark = report["mark"]
    assert (mark["total"], mark["updated"], mark["unchanged"], mark["failed"]) == (600, 600, 0, 0)
    assert report["faults_injected"] > 0
    assert mark["retries"] + report["stream_retries"] >= report["faults_injected"]
    assert report["statuses"]["503"] > 0


async def test_demo_without_faults_needs_no_retries():
    ran = await annoq("demo", "--items", "200", "--no-faults", "--json")
    report = json.loads(ran.out)
    assert ran.code == 0, ran.err
    assert report["faults_injected"] == 0
    assert report["mark"]["retries"] == 0
    assert set(report["statuses"]) == {"200"}


async def test_on_a_terminal_rich_draws_progress_bars_and_the_table():
    out, err = Terminal(), Terminal()

    code = await run(["demo", "--items", "300"], stdout=out, stderr=err)

    assert code == 0
    assert "Marking completed" in err.getvalue()
    assert "Streaming" in err.getvalue()
    assert "300/300" in err.getvalue()
    table = out.getvalue()
    assert "annoq demo summary" in table
    assert "│" in table


async def test_quiet_demo_prints_nothing_but_still_exits_0():
    out, err = Terminal(), Terminal()
    code = await run(["demo", "--items", "100", "--quiet"], stdout=out, stderr=err)
    assert code == 0
    assert out.getvalue() == ""
    assert err.getvalue() == ""
