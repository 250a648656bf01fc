"""Adaptive bulk concurrency against an emulator that admits only N requests at once."""

from __future__ import annotations

from annoq import BulkProgress
from annoq.emulator import FaultRule

N = 8


async def test_a_bulk_run_settles_near_the_servers_capacity_without_being_told(
    annoq_emulator, weave
):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(2_000)
    emu.faults.add(FaultRule(kind="max_concurrent", limit=N, routes={"progress"}, retry_after="0"))
    emu.faults.add(FaultRule(kind="latency", latency=0.005, routes={"progress"}))
    seen: list[BulkProgress] = []
    result = await weave.queue(emu.project, qid).mark_all(
        "completed", concurrency=64, on_progress=seen.append
    )
    refused = emu.faults.count(kind="max_concurrent")
    limits = [p.concurrency for p in seen]
    assert result.updated == 2_000
    assert result.failed == 0
    # The server was kept busy, never past N (the walk's page reads are in flight too, on
    # another route, so the total can be N + 1).
    assert emu.faults.peak_in_flight_of("progress") == N
    assert 4 <= limits[-1] <= 2 * N, limits
    late = limits[len(limits) // 2 :]
    assert 4 <= sum(late) / len(late) <= 2 * N, limits
    assert max(limits) < 64  # it never went to the ceiling
    # Fewer refusals than updates: a fixed 64 in flight against 8 draws several per update.
    # (How many fewer depends on the machine's load, so no tighter figure is asserted.)
    assert refused < 2_000, refused
