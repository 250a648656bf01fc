"""The 429 storm of issue 11, finding 4: 60% of progress requests answered 429 with
``Retry-After: 0.05``, 3,000 ids at concurrency 16, default session settings.

    python benchmarks/throttle_storm.py [--ids 3000] [--rate 0.6] [--seed 1]

Prints the outcome counts, the wall time and the traffic. Not a test: the figure is
reported in the README (every item ends updated; about 20 s on a 2-core machine).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from annoq import WeaveSession
from annoq.emulator import FaultRule, run_emulator


async def storm(ids: int, rate: float, retry_after: str, concurrency: int, seed: int) -> None:
    async with run_emulator(seed=seed) as emu:
        queue_id = emu.weave.seed_queue(ids)
        item_ids = emu.weave.item_ids(queue_id)
        emu.faults.add(
            FaultRule(
                kind="status",
                status=429,
                rate=rate,
                routes={"weave.progress"},
                retry_after=retry_after,
            )
        )
        async with WeaveSession(emu.api_key, base_url=emu.base_url) as weave:
            started = time.monotonic()
            result = await weave.queue(emu.project, queue_id).bulk_update_progress(
                item_ids, "completed", concurrency=concurrency
            )
            elapsed = time.monotonic() - started
            stats = weave.stats
        print(
            f"updated {result.updated}, unchanged {result.unchanged}, failed {result.failed} "
            f"in {elapsed:.1f} s; {stats.requests} requests, {stats.rate_limited} answered 429"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=3_000)
    parser.add_argument("--rate", type=float, default=0.6)
    parser.add_argument("--retry-after", default="0.05")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(storm(args.ids, args.rate, args.retry_after, args.concurrency, args.seed))


if __name__ == "__main__":
    main()
