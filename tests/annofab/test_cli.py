"""``annoq annofab tasks`` and ``annoq annofab operate`` against the emulator: output
formats, effects, failures files, exit codes, and the over-limit advice."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from annoq.emulator import Emulator, FaultRule
from tests.cli.conftest import annoq, summary
from tests.cli.test_serve import start_serve, stop


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
