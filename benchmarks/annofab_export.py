"""Memory of reading tasks through the whole-project export (issue 15), walking N tasks
with ``on_over_limit="export"`` for 10,001 and 100,000 tasks (target: the larger within
1.25x of the smaller).

First table: the peak RSS of the client alone. The emulator runs in another process (on
127.0.0.1, seeded and with its export file built before the client starts), and each
walk runs in a fresh client process that reports its own peak RSS (VmHWM): before the
walk (interpreter and imports) and at its end.

Second table (``--tracemalloc``): the peak of Python allocations with the emulator in
this process; it counts the emulator sending bytes it already holds (asyncio's transport
likely copies an unsent body into its buffer, so that row grows with the file); its
second row is the client's parse alone.

    python benchmarks/annofab_export.py [--sizes 10001,100000] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from _harness import peak_rss_mb

from annoq.annofab import AnnofabSession
from annoq.annofab._exports import read_tasks_file
from annoq.emulator import run_emulator


async def measure_parse(n: int) -> tuple[int, float, float]:
    """The client's own part: parsing a downloaded export one Task at a time."""
    async with run_emulator(seed=1) as emu:
        emu.annofab.seed_tasks(n)
        async with AnnofabSession(pat=emu.annofab.pat, endpoint=emu.base_url) as af:
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "tasks.json")
                await af.project(emu.annofab.project_id).export_tasks(path)
                gc.collect()
                tracemalloc.start()
                started = time.perf_counter()
                count = sum(1 for _ in read_tasks_file(path))
                elapsed = time.perf_counter() - started
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
    return count, peak / 2**20, elapsed


async def measure(n: int) -> tuple[int, float, float]:
    async with run_emulator(seed=1) as emu:
        emu.annofab.seed_tasks(n)
        project_id = emu.annofab.project_id
        emu.annofab.data.export_token(project_id, "tasks")  # build the file up front
        async with AnnofabSession(pat=emu.annofab.pat, endpoint=emu.base_url) as af:
            project = af.project(project_id)
            gc.collect()
            tracemalloc.start()
            started = time.perf_counter()
            count = 0
            async for _ in project.tasks(on_over_limit="export"):
                count += 1
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    assert count == n, (count, n)
    return count, peak / 2**20, elapsed


# -- the client alone: emulator and client in processes of their own ----------------------


async def serve(n: int) -> None:
    """The emulator in this process with ``n`` tasks and the export file built; prints
    where it is as one JSON line, then serves until stdin closes."""
    async with run_emulator(seed=1) as emu:
        emu.annofab.seed_tasks(n)
        emu.annofab.data.export_token(emu.annofab.project_id, "tasks")
        where = {"url": emu.base_url, "pat": emu.annofab.pat, "project": emu.annofab.project_id}
        print(json.dumps(where), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def client(where: dict[str, str]) -> None:
    """Walk every task through the export; print the count, seconds and peak RSS."""
    async with AnnofabSession(pat=where["pat"], endpoint=where["url"]) as af:
        project = af.project(where["project"])
        gc.collect()
        base = peak_rss_mb()
        started = time.perf_counter()
        count = 0
        async for _ in project.tasks(on_over_limit="export"):
            count += 1
        elapsed = time.perf_counter() - started
    print(json.dumps({"n": count, "s": elapsed, "base_mb": base, "peak_mb": peak_rss_mb()}))


def _python(*args: str, **options: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(Path(__file__)), *args], text=True, **options)


def measure_rss(n: int) -> dict[str, Any]:
    """One fresh emulator process and one fresh client process; the client's figures."""
    server = _python("--serve", str(n), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        where = server.stdout.readline()
        if not where:
            raise RuntimeError("the emulator process did not start")
        walker = _python("--client", where.strip(), stdout=subprocess.PIPE)
        out, _ = walker.communicate(timeout=1800)
        if walker.returncode != 0:
            raise RuntimeError(f"the client failed ({walker.returncode})")
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=60)
    if result["n"] != n:
        raise RuntimeError(f"walked {result['n']} of {n} tasks")
    return result


def rss_table(sizes: list[int]) -> None:
    print("client peak RSS, emulator in another process (fresh client per row)")
    print(
        f"{'tasks':>8} {'seconds':>8} {'base MiB':>9} {'peak MiB':>9} {'walk MiB':>9} "
        f"{'peak x':>7} {'walk x':>7}"
    )
    first: dict[str, Any] | None = None
    for n in sizes:
        row = measure_rss(n)
        first = row if first is None else first
        walk = row["peak_mb"] - row["base_mb"]
        first_walk = max(first["peak_mb"] - first["base_mb"], 1e-9)
        print(
            f"{row['n']:>8} {row['s']:>8.2f} {row['base_mb']:>9.1f} {row['peak_mb']:>9.1f} "
            f"{walk:>9.1f} {row['peak_mb'] / first['peak_mb']:>7.2f} {walk / first_walk:>7.2f}"
        )
    print(
        "peak x: this row's peak RSS over the first row's (target <= 1.25); walk x: the same "
        "for the growth above the base"
    )


async def tracemalloc_table(sizes: list[int]) -> None:
    print(f"{'what':<28} {'tasks':>8} {'peak MiB':>9} {'seconds':>8} {'x smallest':>10}")
    for what, run in (
        ("walk (emulator in process)", measure),
        ("parse the downloaded file", measure_parse),
    ):
        first: float | None = None
        for n in sizes:
            count, peak, elapsed = await run(n)
            first = peak if first is None else first
            print(f"{what:<28} {count:>8} {peak:>9.2f} {elapsed:>8.2f} {peak / first:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10001,100000")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also the in-process tracemalloc table"
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve))
        return
    if args.client is not None:
        asyncio.run(client(json.loads(args.client)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average)")
    rss_table(sizes)
    if args.tracemalloc:
        asyncio.run(tracemalloc_table(sizes))


if __name__ == "__main__":
    main()
