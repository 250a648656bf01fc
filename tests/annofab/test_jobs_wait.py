"""Jobs against the emulator over a socket: the cursor walk, waiting with growing polls
(tiny values here), failures with their errors, time limits and cancellation. The
emulator's jobs are finished on demand (``finish_jobs``), never by sleeping."""

from __future__ import annotations

import asyncio

import pytest

from annoq import InvalidArgumentError, JobFailedError, JobNotFoundError, JobTimeoutError
from annoq.annofab import Job, JobStatus, Project
from annoq.emulator import Emulator

FAST = {"poll": 0.001, "poll_factor": 1.5, "poll_cap": 0.004}


def _start(emu: Emulator, project: Project, kind: str = "tasks") -> str:
    return emu.annofab.data.start_export(project.id, kind, "owner").job_id


async def test_jobs_walks_every_page_of_the_cursor(emu: Emulator, project: Project) -> None:
    emu.annofab.data.jobs.duration = 0
    started = []
    for _ in range(7):
        started.append(_start(emu, project))
        emu.annofab.data.finish_jobs()
    _start(emu, project, "inputs")
    walked = [j.job_id async for j in project.jobs("gen-tasks-list", page_size=2)]
    assert walked == started[::-1]
    assert len([j async for j in project.jobs(page_size=3)]) == 8


async def test_wait_job_polls_until_the_job_succeeds(emu: Emulator, project: Project) -> None:
    emu.annofab.data.jobs.duration = 3600
    job_id = _start(emu, project)
    polls: list[Job] = []

    def progress(job: Job) -> None:
        polls.append(job)
        if len(polls) == 3:
            emu.annofab.data.finish_jobs()

    job = await project.wait_job("gen-tasks-list", on_progress=progress, **FAST)
    assert job.job_id == job_id
    assert job.job_status is JobStatus.SUCCEEDED
    assert [p.job_status for p in polls] == [JobStatus.PROGRESS] * 3 + [JobStatus.SUCCEEDED]


async def test_a_failed_job_raises_naming_it_and_its_errors(
    emu: Emulator, project: Project
) -> None:
    emu.annofab.data.jobs.duration = 3600
    emu.annofab.data.fail_jobs(1, message="disk full")
    job_id = _start(emu, project)
    emu.annofab.data.finish_jobs()
    with pytest.raises(JobFailedError) as caught:
        await project.wait_job("gen-tasks-list", job_id, **FAST)
    assert caught.value.job_id == job_id
    assert caught.value.job_type == "gen-tasks-list"
    assert [e.message for e in caught.value.errors] == ["disk full"]
    assert job_id in str(caught.value)
    assert "disk full" in str(caught.value)


async def test_wait_job_times_out_and_misses_are_typed(emu: Emulator, project: Project) -> None:
    emu.annofab.data.jobs.duration = 3600
    with pytest.raises(JobNotFoundError):
        await project.wait_job("gen-tasks-list", **FAST)
    job_id = _start(emu, project)
    with pytest.raises(JobNotFoundError):
        await project.wait_job("gen-tasks-list", "no-such-job", **FAST)
    with pytest.raises(JobTimeoutError) as caught:
        await project.wait_job("gen-tasks-list", timeout=0.01, **FAST)
    assert caught.value.job.job_id == job_id
    with pytest.raises(InvalidArgumentError):
        await project.wait_job("gen-tasks-list", poll=0)
    with pytest.raises(InvalidArgumentError):
        await project.wait_job("no-such-type")


async def test_cancelling_a_wait_leaves_nothing_pending(emu: Emulator, project: Project) -> None:
    emu.annofab.data.jobs.duration = 3600
    _start(emu, project)
    polled = asyncio.Event()

    def progress(job: Job) -> None:
        polled.set()

    waiter = asyncio.create_task(project.wait_job("gen-tasks-list", on_progress=progress))
    await polled.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    # the emulator's own connection handlers live in this loop too; nothing else may
    client_side = [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and "RequestHandler" not in repr(t)
    ]
    assert client_side == []


async def test_the_job_walk_skips_no_job_sharing_the_cursor_instant(
    emu: Emulator, project: Project
) -> None:
    data = emu.annofab.data
    older = data.seed_jobs(3)
    together = data.seed_jobs(5, same_instant=True)  # one created_datetime
    newer = data.seed_jobs(2)
    expected = (older + together + newer)[::-1]
    for size in (1, 2, 3, 4, 6):
        walked = [j.job_id async for j in project.jobs(page_size=size)]
        assert sorted(walked) == sorted(expected), size
        assert len(walked) == len(expected)


async def test_more_jobs_in_one_instant_than_a_page_are_read_with_a_wider_page(
    emu: Emulator, project: Project
) -> None:
    data = emu.annofab.data
    together = data.seed_jobs(12, same_instant=True)
    older = data.seed_jobs(1)  # created after: newest first, it comes first
    walked = [j.job_id async for j in project.jobs(page_size=5)]
    assert sorted(walked) == sorted(together + older)


async def test_past_the_largest_page_in_one_instant_the_walk_steps_on_and_ends(
    emu: Emulator, project: Project
) -> None:
    data = emu.annofab.data
    older = data.seed_jobs(2)
    data.seed_jobs(230, same_instant=True)  # beyond what any page can hold
    walked = [j.job_id async for j in project.jobs(page_size=50)]
    assert len(walked) == len(set(walked)) >= 200
    assert walked[-2:] == older[::-1]  # the older ones are still reached
