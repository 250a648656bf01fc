"""Smoke test of the benchmark harness (benchmarks/run.py --quick) so it cannot rot.

Benchmarks are not tests: nothing here checks speed, only that every row is measured
with positive numbers (or, for the official client when ``weave`` is not installed,
reported as unavailable) and that the report has its parts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"

STREAM = ["stream.floor", "stream.official_async", "stream.official_sync", "stream.annoq"]
BULK = [
    "bulk.official_async.seq",
    "bulk.official_async.gather32",
    "bulk.floor.seq",
    "bulk.floor.gather32",
    "bulk.annoq.c1",
    "bulk.annoq.c8",
    "bulk.annoq.c32",
    "bulk.annoq.c64",
    "bulk.annoq.mark_all32",
]
SCALE = [
    "scale.stream.annoq.300",
    "scale.stream.annoq.600",
    "scale.stream.annoq.1200",
    "scale.bulk.annoq.gen50",
    "scale.bulk.annoq.gen200",
]
DECODE = [
    "decode.orjson",
    "decode.annoq",
    "decode.annoq_cattrs",
    "decode.official",
    "decode.official_strict",
]
STARTUP = ["startup.floor", "startup.official", "startup.annoq"]
TIMED = ("wall_s", "rate_per_s", "cpu_us_per_item", "peak_rss_mb", "base_rss_mb")


def _has_weave() -> bool:
    return _has("weave")


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:
        return False


def test_quick_run_reports_every_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())

    rows = report["rows"]
    assert sorted(rows) == sorted(STREAM + BULK + SCALE + DECODE + STARTUP)
    official_available = _has_weave()
    for row_id, row in rows.items():
        if "official" in row_id and not official_available:
            assert row["status"] == "unavailable", row
            continue
        assert row["status"] == "ok", row
        assert row["n"] > 0
        metrics = {
            "decode": ("us_per_page", "us_per_item", "rate_per_s"),
            "startup": ("import_s", "process_s"),
        }.get(row["section"], TIMED)
        for metric in metrics:
            assert row[metric] > 0, (row_id, metric, row)

    meta = report["meta"]
    assert meta["cores"] >= 1
    assert meta["versions"]["annoq"]
    assert meta["versions"]["aiohttp"]
    # 9 of the in-process sections, 3 latency rows (one latency in --quick), 4 Annofab
    assert len(report["targets"]) == 9 + 3 + 4
    scripts = report["scripts"]
    assert scripts["latency"]["status"] == "ok", scripts["latency"]
    assert [run["name"].split(" (")[0] for run in scripts["latency"]["runs"]] == [
        "weave walk",
        "weave bulk",
        "annofab operate",
    ]
    assert all(run["default"] > 0 and run["best"] > 0 for run in scripts["latency"]["runs"])
    assert scripts["annofab"]["status"] == "ok", scripts["annofab"]
    annoq_rows = [r for r in scripts["annofab"]["rows"] if r["client"].startswith("annoq")]
    assert [r["completed"] for r in annoq_rows] == [9, 9]
    for target in report["targets"]:
        official = (
            _has("annofabapi") if "annofab complete" in target["name"] else official_available
        )
        if "official" in target["name"] and not official:
            assert target["status"] == "N/A"
        elif "annofab complete 429s" in target["name"]:
            # N/A when the official client met no 429 at all (a 9-task run may not)
            assert target["status"] in ("PASS", "MISS", "N/A"), target
        else:
            assert target["status"] in ("PASS", "MISS"), target
    assert "targets (same run)" in proc.stdout


def test_official_rows_are_unavailable_without_weave(tmp_path: Path) -> None:
    # A `weave` that cannot be imported, first on the path of the client process.
    stub = tmp_path / "weave"
    stub.mkdir()
    (stub / "__init__.py").write_text("raise ImportError('weave blocked by the smoke test')\n")
    path = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    spec = {"kind": "decode", "module": "client_official", "func": "decode", "raw_file": "-"}
    proc = subprocess.run(
        [sys.executable, str(BENCH / "worker.py"), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "unavailable"
    assert "weave blocked" in result["reason"]
