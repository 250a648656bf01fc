"""The walks' default prefetch adapts: against a slow service it deepens past the fixed
depth (bounded by WALK_MAX_PREFETCH), and a number given as ``prefetch`` fixes it.

The emulator adds latency to the listing route; its peak in flight on that route is
how many pages the walk had requested at once.
"""

from __future__ import annotations

import pytest

from annoq import WeaveSession, _config
from annoq.annofab import AnnofabSession
from annoq.emulator import Emulator, FaultRule
from tests._support import FAST_RETRIES

LATENCY = 0.02
FIXED = _config.DEFAULT_PREFETCH + 1  # the page waited for and the fixed depth ahead
DEEPEST = _config.WALK_MAX_PREFETCH + 1


def expected_peak(prefetch: int | None) -> range:
    if prefetch is None:
        return range(FIXED + 1, DEEPEST + 1)  # deeper than fixed, never past the ceiling
    return range(1, prefetch + 2)


@pytest.mark.parametrize("prefetch", [None, 2])
async def test_a_weave_walk_deepens_its_prefetch_by_default_and_keeps_a_given_one(
    annoq_emulator: Emulator, weave: WeaveSession, prefetch: int | None
) -> None:
    emu = annoq_emulator
    qid = emu.weave.seed_queue(2_000)
    emu.faults.add(FaultRule(kind="latency", latency=LATENCY, routes={"items_query"}))
    walk = weave.queue(emu.project, qid).items(page_size=50, prefetch=prefetch)
    ids = [item.id async for item in walk]
    assert ids == emu.weave.item_ids(qid)
    assert emu.faults.peak_in_flight_of("items_query") in expected_peak(prefetch)


@pytest.mark.parametrize("prefetch", [None, 2])
async def test_an_annotation_export_deepens_its_feedback_queries_by_default(
    annoq_emulator: Emulator, weave: WeaveSession, prefetch: int | None
) -> None:
    emu = annoq_emulator
    specs = {"ok": {"type": "boolean"}}
    qid, _ = emu.feedback.seed_annotated_queue(1_000, specs, annotators=("model",))
    emu.faults.add(FaultRule(kind="latency", latency=LATENCY, routes={"feedback_query"}))
    walk = weave.queue(emu.project, qid).annotations(page_size=25, prefetch=prefetch)
    entries = [entry async for entry in walk]
    assert [e.item.id for e in entries] == emu.weave.item_ids(qid)
    assert all(len(e.annotations) == 1 for e in entries)
    assert emu.faults.peak_in_flight_of("feedback_query") in expected_peak(prefetch)


@pytest.mark.parametrize("prefetch", [None, 2])
async def test_an_annofab_task_walk_deepens_its_prefetch_by_default(
    annoq_emulator: Emulator, prefetch: int | None
) -> None:
    emu = annoq_emulator
    ids = emu.annofab.seed_tasks(1_000, assignee=emu.annofab.user)
    emu.faults.add(FaultRule(kind="latency", latency=LATENCY, routes={"annofab_tasks"}))
    async with AnnofabSession(
        pat=emu.annofab.pat, endpoint=emu.base_url, retry_policy=FAST_RETRIES
    ) as af:
        walk = af.project(emu.annofab.project_id).tasks(page_size=25, prefetch=prefetch)
        seen = [task.task_id async for task in walk]
    assert seen == sorted(ids)
    assert emu.faults.peak_in_flight_of("annofab_tasks") in expected_peak(prefetch)


@pytest.mark.parametrize("prefetch", [None, 2])
async def test_an_annofab_list_walk_deepens_its_prefetch_by_default(
    annoq_emulator: Emulator, prefetch: int | None
) -> None:
    emu = annoq_emulator
    ids = emu.annofab.data.seed_input_data(1_000)
    route = "annofab_get_input_data_list"
    emu.faults.add(FaultRule(kind="latency", latency=LATENCY, routes={route}))
    async with AnnofabSession(
        pat=emu.annofab.pat, endpoint=emu.base_url, retry_policy=FAST_RETRIES
    ) as af:
        walk = af.project(emu.annofab.project_id).input_data(page_size=25, prefetch=prefetch)
        seen = [item.input_data_id async for item in walk]
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(ids)
    assert emu.faults.peak_in_flight_of(route) in expected_peak(prefetch)


@pytest.mark.parametrize("prefetch", [None, 2, 0])
async def test_an_annofab_task_walk_asks_for_no_page_past_the_end(
    annoq_emulator: Emulator, prefetch: int | None
) -> None:
    """The answers say how many pages there are: however deep the prefetch, the walk
    requests exactly those pages."""
    emu = annoq_emulator
    ids = emu.annofab.seed_tasks(1_000, assignee=emu.annofab.user)
    emu.faults.add(FaultRule(kind="latency", latency=LATENCY, routes={"annofab_tasks"}))
    async with AnnofabSession(
        pat=emu.annofab.pat, endpoint=emu.base_url, retry_policy=FAST_RETRIES
    ) as af:
        walk = af.project(emu.annofab.project_id).tasks(page_size=25, prefetch=prefetch)
        seen = [task.task_id async for task in walk]
    assert seen == sorted(ids)
    assert emu.faults.requests_seen("annofab_tasks") == 1_000 // 25
