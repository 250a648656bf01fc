"""Walking a project's tasks against the emulator: the 10,000-result cap, splitting by
filters, order under concurrent changes, local versus server filters, reads by id."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest

from annoq import InvalidArgumentError, PaginationError
from annoq.annofab import (
    AnnofabSession,
    OverLimitError,
    OverLimitWarning,
    Project,
    Task,
    TaskStatus,
)
from annoq.emulator import Emulator


def seed_12000(emu: Emulator) -> list[str]:
    """12,000 tasks: 6,000 in annotation, 6,000 in acceptance (split by phase works)."""
    first = emu.annofab.seed_tasks(6000, prefix="a")
    second = emu.annofab.seed_tasks(6000, prefix="b", phase="acceptance")
    return first + second


async def test_walking_past_the_cap_raises_before_yielding_and_says_how_to_split(
    emu: Emulator, project: Project
) -> None:
    seed_12000(emu)
    seen: list[Task] = []
    walk = project.tasks()

    async def consume() -> None:
        async for task in walk:
            seen.append(task)

    with pytest.raises(OverLimitError) as caught:
        await consume()
    assert seen == []
    assert caught.value.total_count == 12_000
    message = str(caught.value)
    for part in ("12000", "10000", "Split it by filters", "on_over_limit='warn'"):
        assert part in message
    assert walk.over_limit is True
    # only the first pages were asked for (the first and the prefetched ones)
    assert emu.faults.requests_seen("annofab_tasks") <= 3


async def test_walking_past_the_cap_with_warn_warns_once_and_yields_the_first_10000(
    emu: Emulator, project: Project
) -> None:
    ids = seed_12000(emu)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        walked = [t.task_id async for t in project.tasks(on_over_limit="warn")]
    over = [w for w in caught if issubclass(w.category, OverLimitWarning)]
    assert len(over) == 1
    assert "12000" in str(over[0].message)
    assert walked == sorted(ids)[:10_000]


async def test_splitting_a_search_past_the_cap_by_filters_reaches_every_task(
    emu: Emulator, project: Project
) -> None:
    ids = seed_12000(emu)
    walked: list[str] = []
    for phase in ("annotation", "inspection", "acceptance"):
        walk = project.tasks(phase=phase, mode="fast")
        walked += [t.task_id async for t in walk]
        assert walk.over_limit in (False, None)
    assert sorted(walked) == sorted(ids)
    assert len(walked) == len(set(walked))


async def test_walking_sorted_by_task_id_while_tasks_change_yields_each_task_once(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(1000, assignee=emu.annofab.user)
    counts: Counter[str] = Counter()
    async for task in project.tasks(page_size=50):
        counts[task.task_id] += 1
        # meanwhile tasks ahead and behind change status (and so updated_datetime)
        n = len(counts)
        for other in (ids[(n * 7) % 1000], ids[(n * 13 + 500) % 1000]):
            if emu.annofab.task(other)["status"] == "not_started":
                emu.annofab.operate(other, "working")
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1
    assert emu.annofab.applied(status="working") > 500  # the changes really happened


async def test_walking_unsorted_while_tasks_change_is_not_stable_which_is_why_task_id(
    emu: Emulator, project: Project
) -> None:
    # The contrast to the test above: Annofab's default order moves as tasks change, so
    # the same walk without sort repeats some tasks and misses others.
    ids = emu.annofab.seed_tasks(1000, assignee=emu.annofab.user)
    counts: Counter[str] = Counter()
    try:
        async for task in project.tasks(page_size=50, sort=None, prefetch=0):
            counts[task.task_id] += 1
            n = len(counts)
            other = ids[(n * 7) % 1000]
            if emu.annofab.task(other)["status"] == "not_started":
                emu.annofab.operate(other, "working")
    except PaginationError:
        return  # a page came back identical to the one before: the order moved under it
    assert set(counts) != set(ids)


async def test_a_stable_walk_filtered_by_status_while_completing_yields_each_match_once(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(600, assignee=emu.annofab.user)
    emu.annofab.seed_tasks(200, status="break", assignee=emu.annofab.user)
    yielded: list[str] = []
    async for task in project.tasks(status="not_started", page_size=40):
        assert task.status == TaskStatus.NOT_STARTED
        yielded.append(task.task_id)
        emu.annofab.operate(task.task_id, "working")  # it leaves the filter at once
    assert yielded == ids


async def test_a_fast_walk_sends_the_filters_and_then_skips_tasks_that_leave_them(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(600, assignee=emu.annofab.user)
    yielded: list[str] = []
    walk = project.tasks(status="not_started", page_size=40, mode="fast", prefetch=0)
    async for task in walk:
        yielded.append(task.task_id)
        emu.annofab.operate(task.task_id, "working")
    assert walk.total_count is not None
    assert 0 < len(yielded) < len(ids)  # why stable is the default


async def test_server_filters_metadata_and_task_id_part_narrow_the_walk(
    emu: Emulator, project: Project
) -> None:
    emu.annofab.seed_tasks(300, metadata=lambda n: {"priority": n % 5, "hot": n % 2 == 0})
    walked = [t async for t in project.tasks(metadata="priority:>=3 hot:true", task_id="TASK-0001")]
    assert walked
    assert all(t.metadata["priority"] >= 3 and t.metadata["hot"] is True for t in walked)
    assert all("task-0001" in t.task_id for t in walked)


async def test_pages_carry_the_server_counts_and_the_kept_tasks(
    emu: Emulator, project: Project
) -> None:
    emu.annofab.seed_tasks(450)
    pages = [p async for p in project.task_pages(page_size=200)]
    assert [len(p) for p in pages] == [200, 200, 50]
    assert [p.page_no for p in pages] == [1, 2, 3]
    assert {(p.total_count, p.total_page_no, p.over_limit) for p in pages} == {(450, 3, False)}


async def test_leaving_a_walk_early_cancels_its_prefetched_requests(
    emu: Emulator, project: Project
) -> None:
    emu.annofab.seed_tasks(2000)
    async with project.tasks(page_size=100, prefetch=3) as walk:
        async for task in walk:
            if task.task_id.endswith("150"):
                break
    assert emu.faults.requests_seen("annofab_tasks") <= 6


async def test_walk_arguments_are_checked_before_any_request(
    emu: Emulator, project: Project
) -> None:
    for bad in (
        {"page_size": 201},
        {"page_size": 0},
        {"on_over_limit": "ignore"},
        {"mode": "quick"},
        {"status": "done"},
        {"sort": "created"},
        {"no_user": True, "account_id": "x"},
    ):
        with pytest.raises(InvalidArgumentError):
            project.tasks(**bad)  # type: ignore[arg-type]
    assert emu.faults.requests_seen() == 0


async def test_tasks_by_ids_reads_100_per_request_in_the_order_asked(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(250)
    asked = [*reversed(ids), "no-such-task"]
    found = await project.tasks_by_ids(asked)
    assert [t.task_id for t in found] == list(reversed(ids))
    assert emu.faults.requests_seen("annofab_tasks_in_bulk") == 3


async def test_task_histories_list_each_work_period(
    emu: Emulator, af: AnnofabSession, project: Project
) -> None:
    [task_id] = emu.annofab.seed_tasks(1, assignee=emu.annofab.user)
    for op in ("working", "break", "working", "complete"):
        emu.annofab.operate(task_id, op)
    histories = await project.task_histories(task_id)
    assert [h.account_id for h in histories] == [await af.account_id()] * 2
    assert all(h.ended_datetime is not None for h in histories)
    assert histories[0].started_datetime is not None
    assert histories[0].started_datetime.utcoffset() is not None


async def test_a_walk_with_a_custom_sort_while_tasks_change_never_yields_a_task_twice(
    emu: Emulator, project: Project
) -> None:
    # The documented caveat: with a sort key that operations change, tasks may be
    # missed (their key moves them to a page already read), but none is repeated.
    ids = emu.annofab.seed_tasks(600, assignee=emu.annofab.user)
    counts: Counter[str] = Counter()
    async for task in project.tasks(page_size=50, sort="-updated_datetime", prefetch=0):
        counts[task.task_id] += 1
        n = len(counts)
        other = ids[(n * 7) % 600]
        if emu.annofab.task(other)["status"] == "not_started":
            emu.annofab.operate(other, "working")  # its key changes: it jumps to the front
    assert max(counts.values()) == 1
    assert set(counts) <= set(ids)
    assert emu.annofab.applied(status="working") > 100  # the changes really happened
