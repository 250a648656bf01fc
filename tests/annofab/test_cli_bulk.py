"""``annoq annofab patch-metadata`` and ``import-annotations`` as subprocesses against the
emulator: effects, reruns, the whole-file check, failures files and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annoq.emulator import Emulator, FaultRule
from tests.cli._support import annoq, summary


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ANNOFAB_PAT", "ANNOFAB_USER_ID", "ANNOFAB_PASSWORD", "ANNOFAB_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-such-netrc"))


@pytest.fixture
def conn(emu: Emulator) -> tuple[str, ...]:
    return ("--endpoint", emu.base_url, "--pat", emu.annofab.pat)


def _jsonl(path: Path, records: list[dict[str, object]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def _box(n: int) -> dict[str, object]:
    data = {"_type": "BoundingBox", "left_top": {"x": n, "y": 0}, "right_bottom": {"x": 9, "y": 9}}
    return {"_type": "Inner", "data": data}


async def test_patch_metadata_from_a_file_then_rerun_is_unchanged(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    tasks = emu.annofab.seed_tasks(20, metadata={"priority": 1})
    source = _jsonl(
        tmp_path / "meta.jsonl", [{"task_id": t, "metadata": {"priority": 3}} for t in tasks]
    )
    ran = await annoq("annofab", "patch-metadata", *conn, emu.annofab.project_id, source)
    assert ran.code == 0, ran.err
    rows = summary(ran.out)
    assert (rows["Items"], rows["Updated"], rows["Failed"]) == ("20", "20", "0")
    assert {emu.annofab.task(t)["metadata"]["priority"] for t in tasks} == {3}
    again = await annoq(
        "annofab", "patch-metadata", *conn, "--json", emu.annofab.project_id, source
    )
    assert again.code == 0, again.err
    assert (json.loads(again.out)["unchanged"], json.loads(again.out)["updated"]) == (20, 0)


async def test_a_bad_line_is_named_and_nothing_is_sent(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    [task] = emu.annofab.seed_tasks(1, metadata={"priority": 1})
    path = tmp_path / "meta.jsonl"
    path.write_text(
        json.dumps({"task_id": task, "metadata": {"priority": 2}}) + "\n"
        + "{not json\n"
        + json.dumps({"task_id": task, "metadata": {"x": [1]}}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    ran = await annoq("annofab", "patch-metadata", *conn, emu.annofab.project_id, str(path))
    assert ran.code == 2
    assert "line 2: is not JSON (and 1 more bad lines)" in ran.err
    assert "nothing was sent" in ran.err
    assert emu.annofab.task(task)["metadata"] == {"priority": 1}


async def test_import_annotations_failures_file_is_an_input_for_the_rerun(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    tasks = emu.annofab.seed_tasks(6)
    records: list[dict[str, object]] = [
        {
            "task_id": t,
            "input_data_id": f"input-{t}",
            "details": [{"annotation_id": f"{t}-a", "label_id": "car", "body": _box(n)}],
        }
        for n, t in enumerate(tasks)
    ]
    source = _jsonl(tmp_path / "anns.jsonl", records)
    failures = tmp_path / "failed.jsonl"
    emu.faults.add(FaultRule(kind="status", status=503, routes={"annofab_put_annotation"}, times=3))
    first = await annoq(
        "annofab", "import-annotations", *conn, "--json", "--max-retries", "0",
        "--concurrency", "1", emu.annofab.project_id, source, "--failures", str(failures),
    )  # fmt: skip
    assert first.code == 1
    assert (json.loads(first.out)["updated"], json.loads(first.out)["failed"]) == (3, 3)
    lines = [json.loads(line) for line in failures.read_text().splitlines()]
    assert {line["reason"] for line in lines} == {"retries_exhausted"}
    assert all("details" in line for line in lines)
    again = await annoq(
        "annofab", "import-annotations", *conn, "--json", emu.annofab.project_id, str(failures)
    )
    assert again.code == 0, again.err
    assert json.loads(again.out)["updated"] == 3
    assert emu.annofab.store.bulk.count("annotation") == 6


async def test_import_annotations_needs_annotation_ids(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    record = {"task_id": "t", "input_data_id": "i", "details": [{"label_id": "car", "body": {}}]}
    source = _jsonl(tmp_path / "a.jsonl", [record])
    ran = await annoq("annofab", "import-annotations", *conn, emu.annofab.project_id, source)
    assert ran.code == 2
    assert 'line 1: details[0]."annotation_id" is required' in ran.err
