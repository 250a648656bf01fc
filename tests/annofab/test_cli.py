"""``annoq annofab tasks`` and ``annoq annofab operate`` against the emulator: output
formats, effects, failures files, exit codes, and the over-limit advice."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from annoq.emulator import Emulator, FaultRule
from tests.cli._support import (
    annoq,
    annoq_command,
    finished,
    start_annoq,
    start_serve,
    stop,
    summary,
    until,
)


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ANNOFAB_PAT", "ANNOFAB_USER_ID", "ANNOFAB_PASSWORD", "ANNOFAB_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-such-netrc"))


@pytest.fixture
def conn(emu: Emulator) -> tuple[str, ...]:
    return ("--endpoint", emu.base_url, "--pat", emu.annofab.pat)


async def test_tasks_streams_jsonl_with_offsets_kept(emu: Emulator, conn: tuple[str, ...]) -> None:
    ids = emu.annofab.seed_tasks(450, metadata={"batch": "b1"})
    ran = await annoq("annofab", "tasks", *conn, emu.annofab.project_id)
    assert ran.code == 0, ran.err
    records = [json.loads(line) for line in ran.out.splitlines()]
    assert [r["task_id"] for r in records] == ids
    assert records[0]["updated_datetime"].endswith("+09:00")
    assert records[0]["metadata"] == {"batch": "b1"}
    assert "450 tasks written to stdout" in ran.err


async def test_tasks_writes_csv_with_filters_to_a_file(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    emu.annofab.seed_tasks(20)
    breaks = emu.annofab.seed_tasks(5, status="break", assignee=emu.annofab.user)
    target = tmp_path / "tasks.csv"
    ran = await annoq(
        "annofab", "tasks", *conn, emu.annofab.project_id, "--status", "break",
        "--format", "csv", "-o", str(target),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["task_id"] for r in rows] == breaks
    assert {r["status"] for r in rows} == {"break"}
    assert json.loads(rows[0]["input_data_id_list"]) == [f"input-{breaks[0]}"]


async def test_tasks_past_the_cap_fails_with_usage_status_and_the_split_advice(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    emu.annofab.seed_tasks(10_001)
    ran = await annoq("annofab", "tasks", *conn, emu.annofab.project_id)
    assert ran.code == 2
    ran.assert_one_error_line("10001", "Split it by filters", "on_over_limit='warn'")
    assert ran.out == ""


async def test_operate_completes_tasks_from_a_tasks_listing_and_reports(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    other = emu.annofab.add_user("annotator")
    ids = emu.annofab.seed_tasks(30, assignee=other)
    listing = (await annoq("annofab", "tasks", *conn, emu.annofab.project_id)).out
    ran = await annoq(
        "annofab", "operate", *conn, emu.annofab.project_id, "complete", "--ids-from", "-",
        stdin=listing,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    rows = summary(ran.out)
    assert (rows["Items"], rows["Updated"], rows["Failed"]) == ("30", "30", "0")
    assert {emu.annofab.task(t)["phase"] for t in ids} == {"acceptance"}
    assert all(emu.annofab.applied(t, "complete") == 1 for t in ids)


async def test_operate_where_status_touches_only_those_tasks(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    idle = emu.annofab.seed_tasks(10, assignee=emu.annofab.user)
    paused = emu.annofab.seed_tasks(10, status="break", assignee=emu.annofab.user)
    ran = await annoq(
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, "start",
        "--where-status", "break", "--concurrency", "2",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["updated"] == 10
    assert {emu.annofab.task(t)["status"] for t in paused} == {"working"}
    assert {emu.annofab.task(t)["status"] for t in idle} == {"not_started"}


async def test_operate_failures_exit_1_and_the_failures_file_finishes_the_job(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    ids = emu.annofab.seed_tasks(8, assignee=emu.annofab.user)
    emu.faults.add(FaultRule(kind="status", status=503, routes={"annofab_operate"}, times=4))
    failures = tmp_path / "failed.jsonl"
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n", encoding="utf-8")
    first = await annoq(
        "annofab", "operate", *conn, "--json", "--max-retries", "0", "--concurrency", "1",
        emu.annofab.project_id, "on_hold", "--ids-from", str(ids_file),
        "--failures", str(failures),
    )  # fmt: skip
    assert first.code == 1
    report = json.loads(first.out)
    assert (report["updated"], report["failed"]) == (4, 4)
    failed_ids = [json.loads(line)["id"] for line in failures.read_text().splitlines()]
    assert len(failed_ids) == 4
    again = await annoq(
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, "on_hold",
        "--ids-from", str(failures),
    )  # fmt: skip
    assert again.code == 0, again.err
    assert json.loads(again.out)["updated"] == 4
    assert {emu.annofab.task(t)["status"] for t in ids} == {"on_hold"}


async def test_missing_or_wrong_credentials_exit_3_with_annofab_advice(
    emu: Emulator,
) -> None:
    ran = await annoq("annofab", "tasks", "--endpoint", emu.base_url, emu.annofab.project_id)
    assert ran.code == 3
    ran.assert_one_error_line("ANNOFAB_PAT", "--pat")
    ran = await annoq(
        "annofab", "tasks", "--endpoint", emu.base_url, "--pat", "wrong", emu.annofab.project_id
    )
    assert ran.code == 3
    ran.assert_one_error_line("authentication failed", "ANNOFAB_PAT")


async def test_bad_arguments_exit_2_before_any_request(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    ran = await annoq("annofab", "operate", *conn, emu.annofab.project_id, "submit")
    assert ran.code == 2
    ran = await annoq("annofab", "operate", *conn, emu.annofab.project_id, "start", "--force")
    assert ran.code == 2
    ran.assert_one_error_line("--force")
    assert emu.faults.requests_seen() == 0


async def test_serve_annofab_announces_a_working_annofab_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process, announced = await start_serve(
        "--seed-items", "0", "--annofab", "--annofab-tasks", "25", last="Annofab PAT"
    )
    try:
        endpoint = announced["Annofab emulator"].removesuffix("/api/v1")
        project = announced["Annofab project"].split()[0]
        monkeypatch.setenv("ANNOFAB_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("ANNOFAB_PAT", announced["Annofab PAT"])
        listed = await annoq("annofab", "tasks", project)
    finally:
        code, err = await stop(process)
    assert listed.code == 0, listed.err
    assert len(listed.out.splitlines()) == 25
    assert code == 0, err


# -- rerunning, dry runs, reassigning ---------------------------------------------------


async def subprocess_annoq(*argv: str, stdin: bytes = b"") -> tuple[int, str, str]:
    """``annoq ARGV`` as a real subprocess (the emulator keeps serving in this loop)."""
    process = await asyncio.create_subprocess_exec(
        *annoq_command(), *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def when_requests_see(emu: Emulator, condition: Callable[[], bool]) -> asyncio.Event:
    """An event set as soon as a request reaching the emulator finds ``condition`` true."""
    event = asyncio.Event()
    decide = emu.faults.decide

    def deciding(route: str) -> Any:
        if condition():
            event.set()
        return decide(route)

    emu.faults.decide = deciding  # type: ignore[method-assign]
    return event


def completed_once_and_not_accepted(emu: Emulator, ids: list[str]) -> bool:
    return all(
        emu.annofab.applied(t, "complete") == 1
        and (emu.annofab.task(t)["phase"], emu.annofab.task(t)["status"])
        == ("acceptance", "not_started")
        for t in ids
    )


async def test_rerunning_operate_complete_from_a_listing_changes_nothing_the_first_run_did(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    other = emu.annofab.add_user("annotator")
    ids = emu.annofab.seed_tasks(30, assignee=other)
    todo = tmp_path / "todo.jsonl"
    listed = await annoq("annofab", "tasks", *conn, emu.annofab.project_id, "-o", str(todo))
    assert listed.code == 0, listed.err
    command = (
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, "complete",
        "--ids-from", str(todo),
    )  # fmt: skip
    code, out, err = await subprocess_annoq(*command)
    assert code == 0, err
    assert (json.loads(out)["updated"], json.loads(out)["unchanged"]) == (30, 0)
    code, out, err = await subprocess_annoq(*command)
    assert code == 0, err
    assert (json.loads(out)["updated"], json.loads(out)["unchanged"]) == (0, 30)
    assert completed_once_and_not_accepted(emu, ids)


async def test_interrupting_operate_and_rerunning_it_completes_each_task_once(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    ids = emu.annofab.seed_tasks(60, assignee=emu.annofab.user)
    todo = tmp_path / "todo.jsonl"
    listed = await annoq("annofab", "tasks", *conn, emu.annofab.project_id, "-o", str(todo))
    assert listed.code == 0, listed.err
    emu.faults.add(FaultRule(kind="latency", latency=0.02, routes={"annofab_operate"}))
    command = (
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, "complete",
        "--ids-from", str(todo),
    )  # fmt: skip
    half_way = when_requests_see(emu, lambda: emu.annofab.applied(status="complete") >= 20)
    process = await asyncio.create_subprocess_exec(
        *annoq_command(), *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.wait_for(half_way.wait(), timeout=60)
    process.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode != 0, err.decode()
    assert not [t for t in ids if emu.annofab.task(t)["status"] == "working"]
    assert emu.annofab.applied(status="complete") < 60  # it really stopped half way
    emu.faults.clear()
    code, out, err_text = await subprocess_annoq(*command)
    assert code == 0, err_text
    report = json.loads(out)
    assert (report["total"], report["failed"]) == (60, 0)
    assert completed_once_and_not_accepted(emu, ids)


async def test_operate_complete_with_bare_ids_needs_the_phase_and_exits_2_without_it(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    ids = emu.annofab.seed_tasks(3, assignee=emu.annofab.user)
    for action in ("complete", "reject", "cancel"):
        ran = await annoq(
            "annofab", "operate", *conn, emu.annofab.project_id, action, "--ids-from", "-",
            stdin="\n".join(ids) + "\n",
        )  # fmt: skip
        assert ran.code == 2
        ran.assert_one_error_line("without their phase", "--phase")
    assert emu.faults.requests_seen() == 0


async def test_operate_with_bare_ids_and_phase_leaves_tasks_that_moved_on(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    annotating = emu.annofab.seed_tasks(5, assignee=emu.annofab.user)
    submitted = emu.annofab.seed_tasks(5, phase="acceptance", assignee=emu.annofab.user)
    ran = await annoq(
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, "complete",
        "--ids-from", "-", "--phase", "annotation", stdin="\n".join(annotating + submitted),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert (json.loads(ran.out)["updated"], json.loads(ran.out)["unchanged"]) == (5, 5)
    assert {emu.annofab.task(t)["phase"] for t in annotating} == {"acceptance"}
    assert {emu.annofab.task(t)["status"] for t in submitted} == {"not_started"}  # not accepted
    assert all(emu.annofab.applied(t) == 0 for t in submitted)


async def test_where_phase_with_ids_from_exits_2_before_any_request(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    ids = emu.annofab.seed_tasks(3, phase="acceptance", assignee=emu.annofab.user)
    ran = await annoq(
        "annofab", "operate", *conn, emu.annofab.project_id, "start", "--ids-from", "-",
        "--where-phase", "annotation", stdin="\n".join(ids),
    )  # fmt: skip
    assert ran.code == 2
    ran.assert_one_error_line("--where-phase", "--ids-from", "--phase")
    for bad in (("--phase", "annotation"), ("--to", "acc"), ("--unassign",)):
        ran = await annoq("annofab", "operate", *conn, emu.annofab.project_id, "start", *bad)
        assert ran.code == 2, bad
    ran = await annoq("annofab", "operate", *conn, emu.annofab.project_id, "reassign")
    assert ran.code == 2
    ran.assert_one_error_line("--to")
    assert emu.faults.requests_seen() == 0


async def test_on_moved_fail_reports_moved_tasks_and_the_failures_file_keeps_their_phase(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    ids = emu.annofab.seed_tasks(4, assignee=emu.annofab.user)
    listing = (await annoq("annofab", "tasks", *conn, emu.annofab.project_id)).out
    for task_id in ids[:2]:
        emu.annofab.operate(task_id, "working")
        emu.annofab.operate(task_id, "complete")
    failures = tmp_path / "failed.jsonl"
    ran = await annoq(
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, "start",
        "--ids-from", "-", "--on-moved", "fail", "--failures", str(failures), stdin=listing,
    )  # fmt: skip
    assert ran.code == 1
    assert (json.loads(ran.out)["updated"], json.loads(ran.out)["failed"]) == (2, 2)
    lines = [json.loads(line) for line in failures.read_text().splitlines()]
    assert {(r["id"], r["phase"], r["phase_stage"], r["reason"]) for r in lines} == {
        (t, "annotation", 1, "phase_changed") for t in ids[:2]
    }
    assert all(emu.annofab.task(t)["status"] == "not_started" for t in ids[:2])
    # fed back, the failures file keeps the phase: the moved tasks are still left alone
    again = await annoq(
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, "start",
        "--ids-from", str(failures),
    )  # fmt: skip
    assert again.code == 0, again.err
    assert json.loads(again.out)["unchanged"] == 2
    assert all(emu.annofab.task(t)["phase"] == "acceptance" for t in ids[:2])


async def test_dry_run_shows_what_would_be_done_to_each_task_and_changes_nothing(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    other = emu.annofab.add_user("annotator")
    theirs = emu.annofab.seed_tasks(2, assignee=other)
    mine = emu.annofab.seed_tasks(2, assignee=emu.annofab.user, status="working")
    done = emu.annofab.seed_tasks(1, phase="acceptance")
    stdin = "\n".join([*theirs, *mine, *done, "no-such-task"])
    args = ("--ids-from", "-", "--phase", "annotation", "--dry-run")
    ran = await annoq(
        "annofab", "operate", *conn, emu.annofab.project_id, "complete", *args, stdin=stdin
    )
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert f"{theirs[0]}: would take over, start, complete" in lines
    assert f"{mine[0]}: would complete" in lines
    assert any(line.startswith(f"{done[0]}: unchanged") for line in lines)
    assert any(line.startswith("no-such-task: would fail (not_found)") for line in lines)
    assert (
        lines[-1] == "Dry run: 4 would be updated, 1 unchanged, 1 would fail (nothing was changed)"
    )
    ran = await annoq(
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, "complete", *args,
        stdin=stdin,
    )  # fmt: skip
    report = json.loads(ran.out)
    assert (report["would_update"], report["unchanged"], report["would_fail"]) == (4, 1, 1)
    assert report["tasks"][0] == {
        "id": theirs[0],
        "outcome": "update",
        "steps": ["take over", "start", "complete"],
    }
    assert emu.faults.requests_seen("annofab_operate") == 0
    assert emu.faults.requests_seen("annofab_task") == 0  # read 100 per request instead
    assert emu.annofab.applied() == 0


async def test_reassign_assigns_the_listed_tasks_and_a_rerun_is_unchanged(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    other = emu.annofab.add_user("annotator")
    ids = emu.annofab.seed_tasks(6)
    listing = (await annoq("annofab", "tasks", *conn, emu.annofab.project_id)).out
    command = (
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, "reassign",
        "--ids-from", "-", "--to", other.account_id,
    )  # fmt: skip
    first = await annoq(*command, stdin=listing)
    assert first.code == 0, first.err
    assert json.loads(first.out)["updated"] == 6
    again = await annoq(*command, stdin=listing)
    assert json.loads(again.out)["unchanged"] == 6
    assert all(emu.annofab.task(t)["account_id"] == other.account_id for t in ids)
    assert all(emu.annofab.applied(t) == 1 for t in ids)
    cleared = await annoq(
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, "reassign",
        "--where-status", "not_started", "--unassign",
    )  # fmt: skip
    assert json.loads(cleared.out)["updated"] == 6
    assert all("account_id" not in emu.annofab.task(t) for t in ids)


# -- interrupted and stopped runs -------------------------------------------------------

SLOW_OPERATIONS = FaultRule(kind="latency", latency=0.02, routes={"annofab_operate"})
"""Each operation takes 20 ms, so a run of hundreds lasts long enough to be interrupted."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def stop_counts(err: str, marker: str) -> dict[str, int]:
    """The counts of the stop line (the stderr line holding ``marker``)."""
    lines = [x for x in err.splitlines() if marker in x]
    assert len(lines) == 1, err
    found = re.findall(r"([\d,]+) (done|updated|unchanged|failed|in flight|not started)", lines[0])
    return {name: int(value.replace(",", "")) for value, name in found}


async def resume(
    emu: Emulator, conn: tuple[str, ...], action: str, failures: Path
) -> dict[str, Any]:
    """Without the faults, run ``action`` again on the failures file; its JSON report."""
    emu.faults.clear()
    again = await annoq(
        "annofab", "operate", *conn, "--json", emu.annofab.project_id, action,
        "--ids-from", str(failures),
    )  # fmt: skip
    assert again.code == 0, again.err
    report: dict[str, Any] = json.loads(again.out)
    return report


async def interrupt_operate_midway(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path, sig: signal.Signals, n: int = 400
) -> tuple[list[str], Path, Path, Any]:
    """Complete ``n`` listed tasks in a child; send ``sig`` once 20 completes landed."""
    ids = emu.annofab.seed_tasks(n, assignee=emu.annofab.user)
    todo = tmp_path / "todo.jsonl"
    listed = await annoq("annofab", "tasks", *conn, emu.annofab.project_id, "-o", str(todo))
    assert listed.code == 0, listed.err
    failures = tmp_path / "failed.jsonl"
    emu.faults.add(SLOW_OPERATIONS)
    process = await start_annoq(
        "annofab", "operate", *conn, emu.annofab.project_id, "complete",
        "--ids-from", str(todo), "--failures", str(failures),
    )  # fmt: skip
    await until(lambda: emu.annofab.applied(status="complete") >= 20, "20 completes")
    process.send_signal(sig)
    return ids, todo, failures, await finished(process)


async def test_ctrl_c_mid_operate_prints_the_counts_and_the_failures_file_completes_each_task_once(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    ids, _, failures, ran = await interrupt_operate_midway(emu, conn, tmp_path, signal.SIGINT)

    assert ran.code == 130, ran.err
    assert "Traceback" not in ran.err
    counts = stop_counts(ran.err, "operate complete interrupted:")
    assert counts["done"] > 0
    assert counts["done"] + counts["in flight"] + counts["not started"] == len(ids)
    assert f"--ids-from {failures} resumes exactly" in ran.err
    assert summary(ran.out)["Items"] == f"{counts['done']:,}"
    assert not [t for t in ids if emu.annofab.task(t)["status"] == "working"]  # put back
    records = read_jsonl(failures)
    reasons = [r["reason"] for r in records]
    assert reasons.count("abandoned") == counts["in flight"]
    assert reasons.count("not_started") == counts["not started"]
    assert all(
        (r["phase"], r["phase_stage"], r["number_of_rejections"]) == ("annotation", 1, 0)
        for r in records
    )  # where each was listed: a rerun acts on it only there
    left = [r["id"] for r in records]
    never_sent = [r["id"] for r in records if r["reason"] == "not_started"]
    assert never_sent == ids[len(ids) - counts["not started"] :]
    assert all(emu.annofab.applied(t) == 0 for t in never_sent)
    finished_ids = [t for t in ids if t not in set(left)]
    assert len(finished_ids) == counts["done"]
    assert all(emu.annofab.applied(t, "complete") == 1 for t in finished_ids)

    report = await resume(emu, conn, "complete", failures)

    assert (report["total"], report["failed"]) == (len(left), 0)
    assert all(emu.annofab.applied(t, "complete") == 1 for t in ids)  # each exactly once
    assert emu.annofab.applied(status="complete") == len(ids)
    assert {(emu.annofab.task(t)["phase"], emu.annofab.task(t)["status"]) for t in ids} == {
        ("acceptance", "not_started")
    }  # none accepted by a second complete


async def test_sigterm_mid_operate_exits_143_with_the_counts_and_writes_the_failures_file(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    ids, _, failures, ran = await interrupt_operate_midway(emu, conn, tmp_path, signal.SIGTERM)

    assert ran.code == 143, ran.err
    assert "annoq: terminated" in ran.err
    assert "Traceback" not in ran.err
    counts = stop_counts(ran.err, "operate complete interrupted:")
    assert counts["done"] + counts["in flight"] + counts["not started"] == len(ids)
    assert counts["done"] == counts["updated"] > 0
    records = read_jsonl(failures)
    assert len(records) == counts["in flight"] + counts["not started"] > 0
    assert {r["phase"] for r in records} == {"annotation"}
    assert not [t for t in ids if emu.annofab.task(t)["status"] == "working"]
    left = {r["id"] for r in records}
    assert all(emu.annofab.applied(t, "complete") == 1 for t in ids if t not in left)


async def test_operate_whose_task_walk_fails_midway_writes_the_failures_file_and_exits_1(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    emu.annofab.seed_tasks(2000, assignee=emu.annofab.user)
    failures = tmp_path / "failed.jsonl"
    emu.faults.add(SLOW_OPERATIONS)
    process = await start_annoq(
        "annofab", "operate", *conn, "--max-retries", "0", emu.annofab.project_id, "start",
        "--where-status", "not_started", "--failures", str(failures),
    )  # fmt: skip
    await until(lambda: emu.annofab.applied(status="working") >= 50, "50 starts")
    emu.faults.add(FaultRule(kind="status", status=500, routes={"annofab_tasks"}))
    ran = await finished(process)

    assert ran.code == 1, ran.err
    ran.assert_one_error_line(
        "operate start stopped: the input failed:", "500", f"--ids-from {failures}"
    )
    records = read_jsonl(failures)
    assert {r["reason"] for r in records} <= {"abandoned"}
    assert {r["phase"] for r in records} <= {"annotation"}
    done = int(summary(ran.out)["Items"].replace(",", ""))
    assert 0 < done < 2000
    started = emu.annofab.applied(status="working")  # an abandoned start may have landed
    assert done <= started <= done + len(records)

    report = await resume(emu, conn, "start", failures)

    assert (report["total"], report["failed"]) == (len(records), 0)
    assert all(emu.annofab.task(r["id"])["status"] == "working" for r in records)
    assert all(emu.annofab.applied(r["id"], "working") == 1 for r in records)
