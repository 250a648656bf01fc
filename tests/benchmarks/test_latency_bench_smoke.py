"""Smoke test of benchmarks/latency.py --quick so it cannot rot (no speed is checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_quick_latency_run_prints_every_row_with_a_share() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "latency.py"), "--quick", "--latency", "5"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for row in ("weave walk", "weave bulk", "annofab operate"):
        line = next(line for line in proc.stdout.splitlines() if line.startswith(row))
        share = re.search(r"(\d+)%", line)
        assert share is not None, line
        assert int(share[1]) > 0, line
