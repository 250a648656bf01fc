"""Memory of reading tasks through the whole-project export (issue 15): the peak of
Python allocations (tracemalloc) while walking N tasks with ``on_over_limit="export"``,
for 10,001 and 100,000 tasks (target: the larger within 1.25x of the smaller).

The emulator runs in this process; its export file is built before measuring so the
figure is the client's walk (download to a temporary file, ijson parse, one Task at a
time) plus the emulator sending bytes it already holds (asyncio's transport likely
copies an unsent body into its buffer, so that row grows with the file); the second
row is the client's parse alone.

    python benchmarks/annofab_export.py [--sizes 10001,100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
import tracemalloc

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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10001,100000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average)")
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


if __name__ == "__main__":
    asyncio.run(main())
