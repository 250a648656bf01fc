"""Profile streaming typed items from the emulator (in another process), next to the floor.

    python benchmarks/profile_stream.py [--items 100000] [--page 1000] [--top 25] [--reps 3]

Prints CPU and wall per run for the floor and annoq (same process kind, same queue), then
the top cProfile entries (by own time) of one annoq walk.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time

import client_annoq
import client_floor
from _harness import EmulatorProcess, _cpu_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with EmulatorProcess() as emu:
        target = emu.target(emu.seed(args.items), page_size=args.page)
        asyncio.run(client_floor.stream(target))  # warm the emulator's encoding cache
        for _ in range(args.reps):
            for name, func in (("floor", client_floor.stream), ("annoq", client_annoq.stream)):
                cpu0, t0 = _cpu_s(), time.perf_counter()
                n = asyncio.run(func(target))
                wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
                print(f"{name:6} n={n} wall {wall:.3f}s  cpu {cpu / n * 1e6:.2f} us/item")
        profile = cProfile.Profile()
        profile.enable()
        asyncio.run(client_annoq.stream(target))
        profile.disable()
        stats = pstats.Stats(profile)
        print(f"total calls: {stats.total_calls}")  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
