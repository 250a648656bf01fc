"""``annoq annofab input-data``, ``annotations``, ``export`` and ``jobs`` against the
emulator over a socket: records, filters, atomic files, past 10,000, exit codes."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from annoq.emulator import Emulator, FaultRule
from tests.cli._support import annoq


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ANNOFAB_PAT", "ANNOFAB_USER_ID", "ANNOFAB_PASSWORD", "ANNOFAB_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-such-netrc"))


@pytest.fixture
def conn(emu: Emulator) -> tuple[str, ...]:
    return ("--endpoint", emu.base_url, "--pat", emu.annofab.pat)


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


async def test_input_data_streams_jsonl_with_filters_and_a_closing_note(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    ids = emu.annofab.data.seed_input_data(250)
    ran = await annoq("annofab", "input-data", *conn, emu.annofab.project_id)
    assert ran.code == 0, ran.err
    records = lines(ran.out)
    assert sorted(str(r["input_data_id"]) for r in records) == ids
    assert str(records[0]["updated_datetime"]).endswith("+09:00")
    assert "250 input data written to stdout" in ran.err
    ran = await annoq(
        "annofab", "input-data", *conn, emu.annofab.project_id, "--input-data-name",
        "INPUT-00012", "--format", "csv", "--limit", "3",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    rows = ran.out.splitlines()
    assert rows[0].startswith("input_data_id,project_id,")
    assert len(rows) == 4
    assert all(",input-00012" in r or r.startswith("input-00012") for r in rows[1:])


async def test_input_data_past_the_cap_reads_the_export_into_an_atomic_file(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    ids = emu.annofab.data.seed_input_data(10_001)
    target = tmp_path / "inputs.jsonl"
    ran = await annoq("annofab", "input-data", *conn, emu.annofab.project_id, "-o", str(target))
    assert ran.code == 2
    ran.assert_one_error_line("10001")
    assert not target.exists()
    ran = await annoq(
        "annofab", "input-data", *conn, emu.annofab.project_id, "-o", str(target),
        "--on-over-limit", "export",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    written = [json.loads(line)["input_data_id"] for line in target.read_text().splitlines()]
    assert sorted(written) == ids


async def test_tasks_past_the_cap_with_export_writes_every_task(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    ids = emu.annofab.seed_tasks(10_001)
    ran = await annoq(
        "annofab", "tasks", *conn, emu.annofab.project_id, "--on-over-limit", "export"
    )
    assert ran.code == 0, ran.err
    assert [r["task_id"] for r in lines(ran.out)] == ids


async def test_annotations_streams_one_line_per_annotation_and_filters(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    ids = emu.annofab.seed_tasks(4)
    emu.annofab.data.seed_annotations(ids, per_input=2)
    ran = await annoq("annofab", "annotations", *conn, emu.annofab.project_id)
    assert ran.code == 0, ran.err
    assert len(lines(ran.out)) == 8
    ran = await annoq("annofab", "annotations", *conn, emu.annofab.project_id, "--task-id", ids[1])
    records = lines(ran.out)
    assert {r["task_id"] for r in records} == {ids[1]}
    assert [r["detail"]["annotation_id"] for r in records] == [  # type: ignore[index]
        f"{ids[1]}-input-{ids[1]}-0",
        f"{ids[1]}-input-{ids[1]}-1",
    ]
    ran = await annoq("annofab", "annotations", *conn, emu.annofab.project_id, "--query", "[1]")
    assert ran.code == 2
    ran.assert_one_error_line("--query")


async def test_export_writes_each_file_atomically_and_reports_in_json(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    emu.annofab.data.jobs.duration = 0
    ids = emu.annofab.seed_tasks(5)
    emu.annofab.data.seed_annotations(ids[:3])
    target = tmp_path / "tasks.json"
    ran = await annoq(
        "annofab", "export", "tasks", *conn, emu.annofab.project_id, "-o", str(target),
        "--refresh", "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert report["bytes"] == target.stat().st_size
    assert report["refreshed"] is True
    assert [t["task_id"] for t in json.loads(target.read_text())] == ids
    ran = await annoq("annofab", "export", "tasks", *conn, emu.annofab.project_id)
    assert [t["task_id"] for t in json.loads(ran.out)] == ids  # stdout: the JSON array
    archive = tmp_path / "annotations.zip"
    ran = await annoq(
        "annofab", "export", "annotations", *conn, emu.annofab.project_id, "-o", str(archive),
        "--refresh",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    with zipfile.ZipFile(archive) as zipped:
        assert len(zipped.namelist()) == 3
    ran = await annoq("annofab", "export", "annotations", *conn, emu.annofab.project_id)
    assert ran.code == 2
    ran.assert_one_error_line("-o FILE")


async def test_a_failed_export_download_exits_1_and_leaves_no_file(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    emu.annofab.seed_tasks(3)
    emu.faults.add(FaultRule(kind="drop", rate=1.0, routes={"annofab_export_file"}))
    target = tmp_path / "tasks.json"
    ran = await annoq(
        "annofab", "export", "tasks", *conn, emu.annofab.project_id, "-o", str(target)
    )
    assert ran.code == 1
    ran.assert_one_error_line("export download failed")
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240 (no partial file)


async def test_jobs_lists_and_waits_and_a_failed_job_exits_1_naming_its_errors(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    data = emu.annofab.data
    data.jobs.duration = 0
    first = data.start_export(emu.annofab.project_id, "tasks", "owner").job_id
    data.finish_jobs()
    second = data.start_export(emu.annofab.project_id, "inputs", "owner").job_id
    ran = await annoq("annofab", "jobs", *conn, emu.annofab.project_id)
    assert ran.code == 0, ran.err
    assert [r["job_id"] for r in lines(ran.out)] == [second, first]
    ran = await annoq(
        "annofab", "jobs", *conn, emu.annofab.project_id, "--job-type", "gen-inputs-list",
        "--wait",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert [(r["job_id"], r["job_status"]) for r in lines(ran.out)] == [(second, "succeeded")]
    data.fail_jobs(1, message="disk full")
    failing = data.start_export(emu.annofab.project_id, "tasks", "owner").job_id
    ran = await annoq(
        "annofab", "jobs", *conn, emu.annofab.project_id, "--job-type", "gen-tasks-list",
        "--wait",
    )  # fmt: skip
    assert ran.code == 1
    ran.assert_one_error_line(failing, "disk full")
    assert [r["job_status"] for r in lines(ran.out)] == ["failed"]


async def test_jobs_wait_without_a_type_exits_2_before_any_request(
    emu: Emulator, conn: tuple[str, ...]
) -> None:
    ran = await annoq("annofab", "jobs", *conn, emu.annofab.project_id, "--wait")
    assert ran.code == 2
    ran.assert_one_error_line("--job-type")
    ran = await annoq("annofab", "jobs", *conn, emu.annofab.project_id, "--job-id", "j")
    assert ran.code == 2
    assert emu.faults.requests_seen() == 0


async def test_on_a_terminal_export_and_wait_draw_progress_and_keep_the_data_clean(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    emu.annofab.data.jobs.duration = 0
    ids = emu.annofab.seed_tasks(40)
    target = tmp_path / "tasks.json"
    ran = await annoq(
        "annofab", "export", "tasks", *conn, emu.annofab.project_id, "-o", str(target),
        "--refresh", terminal=True,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert "Downloading the tasks export" in ran.err
    assert [t["task_id"] for t in json.loads(target.read_text())] == ids
    ran = await annoq(
        "annofab", "input-data", *conn, emu.annofab.project_id, "-o", str(tmp_path / "i"),
        terminal=True,
    )  # fmt: skip
    assert "Streaming input data" in ran.err
    ran = await annoq(
        "annofab", "jobs", *conn, emu.annofab.project_id, "--job-type", "gen-tasks-list",
        "--wait", terminal=True,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert "Waiting for gen-tasks-list" in ran.err
    assert [r["job_status"] for r in lines(ran.out)] == ["succeeded"]
