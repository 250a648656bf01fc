"""Throttling storms against the emulator, with the library's default retry settings:
waiting out a 429 spends no retry and no budget, and an empty budget slows a run down
instead of failing its items."""

from __future__ import annotations

from annoq import RetryBudget, WeaveSession
from annoq.emulator import FaultRule

STORM = FaultRule(kind="status", status=429, rate=0.6, routes={"progress"}, retry_after="0.01")


async def test_a_storm_of_429s_fails_no_item_with_default_settings(annoq_emulator):
    """60% of progress requests answered 429: every item ends updated, none failed."""
    emu = annoq_emulator
    qid = emu.weave.seed_queue(600)
    ids = emu.weave.item_ids(qid)
    emu.faults.add(STORM)
    async with WeaveSession(emu.api_key, base_url=emu.base_url, user_id=emu.user_id) as weave:
        result = await weave.queue(emu.project, qid).bulk_update_progress(
            ids, "completed", concurrency=16
        )
        throttled = weave.stats.rate_limited
    assert (result.updated, result.unchanged, result.failed) == (600, 0, 0), result.failures[:3]
    assert throttled == emu.faults.count(kind="status_429") > 600  # many waits, none fatal
    assert all(emu.weave.progress(i)[emu.user_id] == "completed" for i in ids)


async def test_waiting_out_429s_takes_no_token_from_the_retry_budget(annoq_emulator):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(100)
    emu.faults.add(STORM)
    budget = RetryBudget(initial=0, per_success=0)  # empty, and successes earn nothing
    async with WeaveSession(
        emu.api_key, base_url=emu.base_url, retry_budget=budget, user_id=emu.user_id
    ) as weave:
        result = await weave.queue(emu.project, qid).bulk_update_progress(
            emu.weave.item_ids(qid), "completed"
        )
    assert result.failed == 0
    assert emu.faults.count(kind="status_429") > 50
    assert budget.tokens >= 0  # no 429 wait took a token


async def test_an_empty_retry_budget_slows_a_bulk_run_instead_of_failing_items(annoq_emulator):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(200)
    emu.faults.add(FaultRule(kind="status", status=503, rate=0.3, routes={"progress"}))
    # Two tokens to start with, none earned by successes: almost every retry waits for a
    # token that time brings (200 a second here, so the test stays quick).
    budget = RetryBudget(initial=2, per_success=0, refill_per_second=200.0)
    async with WeaveSession(
        emu.api_key, base_url=emu.base_url, retry_budget=budget, user_id=emu.user_id
    ) as weave:
        result = await weave.queue(emu.project, qid).bulk_update_progress(
            emu.weave.item_ids(qid), "completed"
        )
        retries = weave.stats.retries
    assert result.failed == 0, result.failures[:3]
    assert result.updated == 200
    assert retries == emu.faults.count(kind="status_503") > 40
