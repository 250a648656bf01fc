"""Job walks and waits against the emulator over a loopback socket."""

from __future__ import annotations

import asyncio

import pytest

from annoq.annofab import Project
from annoq.annofab._jobs import JobFailedError, JobNotFoundError, JobTimeoutError
from annoq.emulator import Emulator


def _start(emu: Emulator, count: int) -> list[str]:
    data = emu.annofab.data
    pid = emu.annofab.project_id
    ids = []
    for _ in range(count):
        job = data.jobs.start(pid, "gen-inputs")
        data.jobs.settle(pid, force=True)
        ids.append(job.job_id)
    return ids


async def test_jobs_walk_follows_the_cursor_past_the_first_page(
    project: Project, emu: Emulator
) -> None:
    ids = _start(emu, 205)  # the page holds at most 200
    seen = [job.job_id async for job in project.jobs("gen-inputs")]
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 205


async def test_wait_job_returns_the_succeeded_job(project: Project, emu: Emulator) -> None:
    emu.annofab.data.jobs.duration = 0.0
    job = emu.annofab.data.jobs.start(emu.annofab.project_id, "gen-tasks-list")
    seen: list[str] = []
    done = await project.wait_job(
        "gen-tasks-list", poll=0.01, on_progress=lambda j: seen.append(j.job_status)
    )
    assert done.job_id == job.job_id
    assert done.job_status == "succeeded"
    assert seen[-1] == "succeeded"


async def test_failed_job_surfaces_its_errors(project: Project, emu: Emulator) -> None:
    emu.annofab.data.jobs.duration = 0.0
    emu.annofab.data.fail_jobs(1, message="disk on fire")
    emu.annofab.data.jobs.start(emu.annofab.project_id, "gen-tasks-list")
    with pytest.raises(JobFailedError, match="disk on fire") as info:
        await project.wait_job("gen-tasks-list", poll=0.01)
    assert info.value.errors


async def test_wait_times_out_and_missing_job_is_typed(project: Project, emu: Emulator) -> None:
    with pytest.raises(JobNotFoundError):
        await project.wait_job("gen-tasks-list", poll=0.01)
    emu.annofab.data.jobs.duration = 3600.0
    emu.annofab.data.jobs.start(emu.annofab.project_id, "gen-tasks-list")
    with pytest.raises(JobTimeoutError):
        await project.wait_job("gen-tasks-list", poll=0.01, timeout=0.05)


async def test_cancelling_a_wait_leaves_nothing_pending(project: Project, emu: Emulator) -> None:
    emu.annofab.data.jobs.duration = 3600.0
    emu.annofab.data.jobs.start(emu.annofab.project_id, "gen-tasks-list")
    polled = asyncio.Event()
    before = asyncio.all_tasks()
    waiter = asyncio.create_task(
        project.wait_job("gen-tasks-list", poll=0.01, on_progress=lambda j: polled.set())
    )
    await polled.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert waiter.cancelled()
    # the emulator's own keep-alive handlers aside, no client task is left running
    left = {
        t
        for t in asyncio.all_tasks() - before
        if not t.done() and "RequestHandler" not in t.get_coro().__qualname__  # type: ignore[union-attr]
    }
    assert not left
