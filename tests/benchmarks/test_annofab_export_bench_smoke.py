"""Smoke test of benchmarks/annofab_export.py (emulator and client in processes of their
own) so it cannot rot: every row measured with positive figures; no speed is checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_the_rss_table_measures_a_fresh_client_per_size() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "annofab_export.py"), "--sizes", "10001,10050"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if re.match(r"\s+100\d\d ", line)]
    assert [r[0] for r in rows] == ["10001", "10050"]
    for row in rows:
        seconds, base, peak = (float(x) for x in row[1:4])
        assert seconds > 0
        assert peak >= base > 0
