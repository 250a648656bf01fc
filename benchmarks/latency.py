"""Defaults against hand-tuned settings when every request takes 50 ms (issue 17, item 3).

The emulator runs in another process and adds ``--latency`` ms to every request. For a
Weave walk (20,000 items), Weave bulk marking (5,000 items) and Annofab bulk operate
(1,000 tasks, ``start``) it measures annoq with its default settings (adaptive
concurrency and prefetch) and with a small sweep of fixed settings (the adaptive limit
replaced by a fixed one; a walk given ``prefetch=N``), then prints the defaults as a %
of the best fixed setting.

    python benchmarks/latency.py [--latency 50 150] [--quick] [--json out.json]

Not a test; ``--quick`` (small sizes, one latency) keeps it alive in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _harness import load_average, write_report

import annoq._bulk as bulk_engine
from annoq import WeaveSession
from annoq.annofab import AnnofabSession


class FixedLimit:
    """Stands in for AdaptiveLimit: always the caller's ceiling."""

    def __init__(self, ceiling: int, **_: object) -> None:
        self.limit = self.ceiling = ceiling

    def on_throttled(self) -> None:
        pass

    def on_sample(self, latency: float, now: float) -> None:
        pass


@contextlib.contextmanager
def fixed() -> Iterator[None]:
    # (a walk given a number as prefetch keeps that depth: no patch needed)
    adaptive = bulk_engine.AdaptiveLimit
    bulk_engine.AdaptiveLimit = FixedLimit  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        bulk_engine.AdaptiveLimit = adaptive  # type: ignore[misc]


# --------------------------------------------------------------------------- server


async def serve(latency_ms: float, walk_items: int, mark_items: int, tasks: int, runs: int) -> None:
    from annoq.emulator import FaultRule, run_emulator

    async with run_emulator(seed=1) as emu:
        walk_queue = emu.weave.seed_queue(walk_items)
        mark_queues = [emu.weave.seed_queue(mark_items) for _ in range(runs)]
        task_sets = [emu.annofab.seed_tasks(tasks, assignee=emu.annofab.user) for _ in range(runs)]
        emu.faults.add(FaultRule(kind="latency", latency=latency_ms / 1000))
        info = {
            "base_url": emu.base_url,
            "api_key": emu.api_key,
            "user_id": emu.user_id,
            "project": emu.project,
            "walk_queue": walk_queue,
            "mark_queues": mark_queues,
            "mark_ids": [emu.weave.item_ids(q) for q in mark_queues],
            "pat": emu.annofab.pat,
            "annofab_project": emu.annofab.project_id,
            "task_sets": task_sets,
        }
        print(json.dumps(info), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# --------------------------------------------------------------------------- client


async def walk(info: dict[str, Any], prefetch: int | None) -> float:
    async with WeaveSession(info["api_key"], base_url=info["base_url"]) as weave:
        queue = weave.queue(info["project"], info["walk_queue"])
        started = time.monotonic()
        n = 0
        kwargs = {} if prefetch is None else {"prefetch": prefetch}
        async for _ in queue.items(**kwargs):
            n += 1
        return n / (time.monotonic() - started)


LIMITS: list[int] = []  # the concurrency of the last run, as its progress events said


async def mark(info: dict[str, Any], run: int, concurrency: int | None) -> float:
    async with WeaveSession(info["api_key"], base_url=info["base_url"]) as weave:
        queue = weave.queue(info["project"], info["mark_queues"][run])
        kwargs = {} if concurrency is None else {"concurrency": concurrency}
        LIMITS.clear()
        result = await queue.bulk_update_progress(
            info["mark_ids"][run],
            "completed",
            on_progress=lambda p: LIMITS.append(p.concurrency),
            **kwargs,
        )
        assert result.ok, result.failures[:2]
        return result.rate


async def operate(info: dict[str, Any], run: int, concurrency: int | None) -> float:
    async with AnnofabSession(pat=info["pat"], endpoint=info["base_url"]) as af:
        project = af.project(info["annofab_project"])
        kwargs = {} if concurrency is None else {"concurrency": concurrency}
        LIMITS.clear()
        result = await project.bulk_operate(
            info["task_sets"][run],
            "start",
            on_progress=lambda p: LIMITS.append(p.concurrency),
            **kwargs,
        )
        assert result.ok, result.failures[:2]
        return result.rate


async def measure(info: dict[str, Any], quick: bool) -> list[tuple[str, float, float, str]]:
    prefetches = [2, 8, 16] if quick else [2, 4, 8, 16]
    weave_c = [16, 64] if quick else [16, 32, 64, 128]
    annofab_c = [8, 32] if quick else [4, 8, 16, 32]
    rows = []
    await walk(info, None)  # warm-up: the emulator's page cache, the first connections
    default = await walk(info, None)
    with fixed():
        swept = {p: await walk(info, p) for p in prefetches}
    rows.append(("weave walk (items/s)", default, *max_of(swept, "prefetch")))
    run = 0
    default = await mark(info, run, None)
    trace = limits_seen()
    swept = {}
    with fixed():
        for c in weave_c:
            run += 1
            swept[c] = await mark(info, run, c)
    best, sweep = max_of(swept, "concurrency")
    rows.append(("weave bulk (updates/s)", default, best, f"{sweep}; defaults' limit {trace}"))
    run = 0
    default = await operate(info, run, None)
    trace = limits_seen()
    swept = {}
    with fixed():
        for c in annofab_c:
            run += 1
            swept[c] = await operate(info, run, c)
    best, sweep = max_of(swept, "concurrency")
    rows.append(("annofab operate (tasks/s)", default, best, f"{sweep}; defaults' limit {trace}"))
    return rows


def limits_seen() -> str:
    if not LIMITS:
        return "-"
    tail = LIMITS[len(LIMITS) // 2 :]
    return f"max {max(LIMITS)}, 2nd half mean {sum(tail) / len(tail):.0f}"


def max_of(swept: dict[int, float], name: str) -> tuple[float, str]:
    best = max(swept, key=lambda k: swept[k])
    others = ", ".join(f"{k}: {v:,.0f}" for k, v in swept.items())
    return swept[best], f"{name} {best} ({others})"


def run_latency(latency_ms: float, quick: bool) -> list[tuple[str, float, float, str]]:
    sizes = (2_000, 500, 100) if quick else (20_000, 5_000, 1_000)
    runs = 5
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, __file__, "--serve", str(latency_ms), *map(str, sizes), str(runs)]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        assert proc.stdin is not None
        info = json.loads(proc.stdout.readline())
        try:
            return asyncio.run(measure(info, quick))
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        latency, walk_items, mark_items, tasks, runs = sys.argv[2:7]
        asyncio.run(serve(float(latency), int(walk_items), int(mark_items), int(tasks), int(runs)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, nargs="+", default=[50.0, 150.0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one latency")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    latencies = args.latency[:1] if args.quick else args.latency
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")
    report: dict[str, Any] = {"load_start": load_average(), "runs": []}
    for latency in latencies:
        print(f"\n{latency:g} ms per request")
        print(f"{'':28} {'defaults':>10} {'best fixed':>11} {'defaults %':>11}  sweep")
        for name, default, best, sweep in run_latency(latency, args.quick):
            share = 100 * default / best if best else 0.0
            print(f"{name:28} {default:10,.0f} {best:11,.0f} {share:10.0f}%  {sweep}")
            report["runs"].append(
                {"latency_ms": latency, "name": name, "default": default, "best": best,
                 "share": default / best if best else None, "sweep": sweep}
            )  # fmt: skip
    report["load_end"] = load_average()
    write_report(args.json, report)


if __name__ == "__main__":
    main()
