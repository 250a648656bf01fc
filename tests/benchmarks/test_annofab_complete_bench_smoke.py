"""Smoke test of benchmarks/annofab_complete.py so it cannot rot (it checks no speed).

annoq's side always runs; the official client's (``annofabapi``, in the ``bench`` extra
only) runs when it is installed and is otherwise reported unavailable with a note.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "annofab_complete.py"
TASKS = 9


def _run(tmp_path: Path, env: dict[str, str] | None = None) -> tuple[dict[str, object], str]:
    out = tmp_path / "result.json"
    argv = [sys.executable, str(SCRIPT), "--tasks", str(TASKS), "--latency", "0"]
    proc = subprocess.run(
        [*argv, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), proc.stdout


def _check_measured(row: dict[str, object], *, reads: bool) -> None:
    assert row["tasks"] == TASKS
    assert isinstance(row["seconds"], float)
    assert row["seconds"] > 0
    assert isinstance(row["requests_per_task"], float)
    # take over, start, complete (+ retries), and a read of each task given by id
    assert row["requests_per_task"] >= (4 if reads else 3)


def _has_annofabapi() -> bool:
    try:
        return importlib.util.find_spec("annofabapi") is not None
    except ValueError:
        return False


def _annoq_rows_are_measured(rows: list[dict[str, object]]) -> None:
    ids, walk = (r for r in rows if str(r["client"]).startswith("annoq"))
    for row in (ids, walk):
        assert (row["completed"], row["failed"]) == (TASKS, 0), row
        assert row["applied_per_task"] == 3.0  # each change applied exactly once
    # annoq reads the tasks given by id in batches: no read a task is owed
    _check_measured(ids, reads=False)
    _check_measured(walk, reads=False)
    assert isinstance(walk["pages"], int)
    assert walk["pages"] >= 1


def _official_rows(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [r for r in rows if str(r["client"]).startswith("official")]


def test_the_complete_benchmark_measures_both_clients(tmp_path: Path) -> None:
    report, stdout = _run(tmp_path)
    rows = report["rows"]
    assert isinstance(rows, list)
    _annoq_rows_are_measured(rows)
    official = _official_rows(rows)
    if _has_annofabapi():
        single, rerun = official  # its failures run again: a second row, same tasks
        _check_measured(single, reads=True)
        assert 0 < single["completed"] <= rerun["completed"]  # type: ignore[operator]
        assert single["requests"] <= rerun["requests"]  # type: ignore[operator]
        assert "tasks/s  annoq bulk_operate(ids) / official" in stdout
    else:
        assert [r.get("unavailable") for r in official] == [True]
        assert "the official client's side is skipped" in stdout


def test_without_annofabapi_annoqs_side_still_runs(tmp_path: Path) -> None:
    # an `annofabapi` that cannot be imported, first on the path of the script
    stub = tmp_path / "annofabapi"
    stub.mkdir()
    (stub / "__init__.py").write_text("raise ImportError('annofabapi blocked by the test')\n")
    path = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    report, stdout = _run(tmp_path, {**os.environ, "PYTHONPATH": os.pathsep.join(path)})
    rows = report["rows"]
    assert isinstance(rows, list)
    _annoq_rows_are_measured(rows)
    assert [r.get("unavailable") for r in _official_rows(rows)] == [True]
    assert "annofabapi blocked by the test" in stdout
