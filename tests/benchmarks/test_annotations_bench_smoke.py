"""Smoke test of benchmarks/annotations.py so it cannot rot (it checks no speed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "annotations.py"


def test_the_annotation_benchmark_measures_every_row(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--items", "30", "--concurrency", "4", "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    report = json.loads(out.read_text(encoding="utf-8"))
    rows = {row["run"]: row for row in report["rows"]}
    assert len(rows) == 6
    official = importlib.util.find_spec("weave") is not None
    for label, row in rows.items():
        if "official" in label and not official:
            assert row["unavailable"] is True
            continue
        assert row["items"] == 30
        assert row["seconds"] > 0
        assert row["items_per_s"] > 0
    assert rows["import annoq (4)"]["outcome"] == 30
    assert rows["export annoq"]["outcome"] == [30, 30 * 3 * 3]
