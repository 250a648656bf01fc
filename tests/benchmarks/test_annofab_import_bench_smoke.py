"""Smoke test of benchmarks/annofab_import.py so it cannot rot (it checks no speed).

The requests loop and annoq's rows always run; the official client's (``annofabapi``,
in the ``bench`` extra only) runs when it is installed and is otherwise reported
unavailable with a note.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "annofab_import.py"
ITEMS = 7
OFFICIAL = "official annofabapi, sequential"


def _run(tmp_path: Path, env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    out = tmp_path / "result.json"
    argv = [sys.executable, str(SCRIPT), "--items", str(ITEMS), "--latency", "0"]
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


def _has_annofabapi() -> bool:
    try:
        return importlib.util.find_spec("annofabapi") is not None
    except ValueError:
        return False


def _check_measured(row: dict[str, Any]) -> None:
    assert row["items"] == ITEMS
    assert isinstance(row["seconds"], float)
    assert row["seconds"] > 0
    assert row["items_per_s"] > 0
    # one read for the lock and one write per item, each write applied exactly once
    assert row["requests"] == 2 * ITEMS, row
    assert row["writes"] == ITEMS, row


def _rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["client"]: row for row in report["rows"]}


def _others_are_measured(rows: dict[str, dict[str, Any]], stdout: str) -> None:
    annoq = [name for name in rows if name.startswith("annoq")]
    assert annoq == ["annoq, concurrency 4", "annoq, concurrency 8"]
    for name in [*annoq, "requests loop (official's calls by hand)"]:
        _check_measured(rows[name])
    assert "items/s annoq, concurrency 4 / requests loop" in stdout


def test_the_import_benchmark_measures_every_client(tmp_path: Path) -> None:
    report, stdout = _run(tmp_path)
    rows = _rows(report)
    _others_are_measured(rows, stdout)
    ratio = f"items/s annoq, concurrency 8 / {OFFICIAL}"
    if _has_annofabapi():
        _check_measured(rows[OFFICIAL])
        assert isinstance(report["ratios"][ratio], float)
        assert f"{ratio}: " in stdout
    else:
        assert rows[OFFICIAL]["unavailable"] is True
        assert report["ratios"][ratio] is None
        assert "the official client's row is skipped" in stdout


def test_without_annofabapi_the_other_rows_still_run(tmp_path: Path) -> None:
    # an `annofabapi` that cannot be imported, first on the path of the script
    stub = tmp_path / "annofabapi"
    stub.mkdir()
    (stub / "__init__.py").write_text("raise ImportError('annofabapi blocked by the test')\n")
    path = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    report, stdout = _run(tmp_path, {**os.environ, "PYTHONPATH": os.pathsep.join(path)})
    rows = _rows(report)
    _others_are_measured(rows, stdout)
    assert rows[OFFICIAL]["unavailable"] is True
    assert "annofabapi blocked by the test" in stdout
