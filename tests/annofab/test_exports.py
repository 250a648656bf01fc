"""Reading past 10,000 through the whole-project export, against the emulator over a
socket: every task once, filters applied locally, atomic downloads, no credential sent
to the object store."""

from __future__ import annotations

import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from annoq import InvalidArgumentError, TransportError
from annoq.annofab import Job, Project, TaskStatus
from annoq.emulator import Emulator, FaultRule


def seed_12000(emu: Emulator) -> list[str]:
    return emu.annofab.seed_tasks(6000, prefix="a") + emu.annofab.seed_tasks(
        6000, prefix="b", phase="acceptance", status="complete"
    )


async def test_walking_12000_tasks_through_the_export_yields_each_once(
    emu: Emulator, project: Project
) -> None:
    ids = seed_12000(emu)
    walk = project.tasks(on_over_limit="export")
    seen = Counter([t.task_id async for t in walk])
    assert len(seen) == 12_000
    assert max(seen.values()) == 1
    assert set(seen) == set(ids)
    assert walk.over_limit is True
    done = [t async for t in project.tasks(status="complete", on_over_limit="export")]
    assert len(done) == 6000
    assert all(t.status is TaskStatus.COMPLETE for t in done)
    part = [t.task_id async for t in project.tasks(task_id="b-00600", on_over_limit="export")]
    assert part == [f"b-{n:06d}" for n in range(6001, 6010)]


async def test_under_the_cap_export_mode_walks_the_list_as_usual(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(50)
    walked = [t.task_id async for t in project.tasks(on_over_limit="export", page_size=20)]
    assert walked == ids


async def test_refresh_waits_for_the_job_and_reads_the_new_state(
    emu: Emulator, project: Project, tmp_path: Path
) -> None:
    emu.annofab.data.jobs.duration = 0
    emu.annofab.seed_tasks(3)
    target = tmp_path / "tasks.json"
    await project.export_tasks(target)
    assert len(orjson.loads(target.read_bytes())) == 3
    emu.annofab.seed_tasks(2)
    progress: list[int] = []
    size = await project.export_tasks(target, refresh=True, on_progress=progress.append)
    assert len(orjson.loads(target.read_bytes())) == 5
    assert progress[-1] == size == target.stat().st_size
    emu.annofab.data.seed_input_data(4)
    await project.export_input_data(tmp_path / "inputs.json", refresh=True)
    assert len(orjson.loads((tmp_path / "inputs.json").read_bytes())) == 4


async def test_a_failed_download_leaves_no_file_and_keeps_the_old_one(
    emu: Emulator, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.annofab.seed_tasks(3)
    target = tmp_path / "tasks.json"
    target.write_bytes(b"old")
    api = project._session.api
    real = type(api).get_project_tasks_url

    async def expired(self: object, project_id: str) -> object:
        answer = await real(api, project_id)
        emu.annofab.data.exports.expire_all()
        return answer

    monkeypatch.setattr(type(api), "get_project_tasks_url", expired)
    with pytest.raises(TransportError):
        await project.export_tasks(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.json"]  # noqa: ASYNC240
    assert target.read_bytes() == b"old"


@pytest.fixture
async def object_store() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A loopback stand-in for the object store that records the headers it gets."""
    seen: list[dict[str, str]] = []

    async def serve(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=b"[]", content_type="application/json")

    app = web.Application()
    app.router.add_get("/signed", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/signed?sig=x", seen
    finally:
        await runner.cleanup()


async def test_no_annofab_credential_goes_to_the_object_store(
    emu: Emulator,
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    object_store: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = object_store

    async def signed(self: object, project_id: str) -> object:
        return {"url": url}

    monkeypatch.setattr(type(project._session.api), "get_project_tasks_url", signed)
    await project.export_tasks(tmp_path / "t.json")
    assert len(seen) == 1
    sent = {k.lower(): v for k, v in seen[0].items()}
    assert "authorization" not in sent
    assert emu.annofab.pat not in " ".join(sent.values())


def test_export_mode_refuses_filters_it_cannot_apply_locally(project: Project) -> None:
    with pytest.raises(InvalidArgumentError, match="metadata"):
        project.tasks(metadata="a:1", on_over_limit="export")
    with pytest.raises(InvalidArgumentError):
        project.task_pages(on_over_limit="export")


async def test_input_data_past_the_cap_reads_the_export_with_filters_applied_locally(
    emu: Emulator, project: Project, tmp_path: Path
) -> None:
    emu.annofab.data.jobs.duration = 0
    ids = emu.annofab.data.seed_input_data(10_500)
    walk = project.input_data(on_over_limit="export")
    seen = Counter([i.input_data_id async for i in walk])
    assert len(seen) == 10_500
    assert max(seen.values()) == 1
    assert set(seen) == set(ids)
    assert (walk.over_limit, walk.total_count) == (True, 10_500)
    named = [
        i.input_data_id
        async for i in project.input_data(input_data_name="INPUT-01000", on_over_limit="export")
    ]
    assert named == [f"input-{n:06d}" for n in range(10_000, 10_010)]
    (task_id,) = emu.annofab.seed_tasks(1)
    emu.annofab.data.seed_inputs_for_tasks()
    await project.export_input_data(tmp_path / "inputs.json", refresh=True)
    walk = project.input_data(task_id=task_id, on_over_limit="export")
    assert [i.input_data_id async for i in walk] == [f"input-{task_id}"]


async def test_input_data_export_mode_under_the_cap_walks_the_list(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.data.seed_input_data(30)
    walk = project.input_data(on_over_limit="export", page_size=7)
    assert sorted([i.input_data_id async for i in walk]) == ids
    assert (walk.over_limit, walk.total_count) == (False, 30)


def _finish_on_first_poll(emu: Emulator, polls: list[Job]) -> Callable[[Job], None]:
    def on_job(job: Job) -> None:
        polls.append(job)
        emu.annofab.data.finish_jobs()

    return on_job


async def test_a_refresh_while_one_runs_waits_for_the_running_job(
    emu: Emulator, project: Project, tmp_path: Path
) -> None:
    emu.annofab.data.jobs.duration = 3600
    emu.annofab.seed_tasks(3)
    running = emu.annofab.data.start_export(project.id, "tasks", "owner")  # someone else's
    emu.annofab.seed_tasks(2)
    polls: list[Job] = []
    target = tmp_path / "tasks.json"
    await project.export_tasks(target, refresh=True, on_job=_finish_on_first_poll(emu, polls))
    assert [j.job_id for j in polls] == [running.job_id] * len(polls)
    assert len(orjson.loads(target.read_bytes())) == 5  # the running rebuild saw all five
    assert len(emu.annofab.data.jobs.by_project[project.id]) == 1  # no second job


async def test_an_export_read_answering_409_during_a_rebuild_waits_for_it(
    emu: Emulator, project: Project, tmp_path: Path
) -> None:
    emu.annofab.data.jobs.duration = 3600
    emu.annofab.data.export_busy_conflict = True
    emu.annofab.seed_tasks(4)
    running = emu.annofab.data.start_export(project.id, "tasks", "owner")
    polls: list[Job] = []
    target = tmp_path / "tasks.json"
    await project.export_tasks(target, on_job=_finish_on_first_poll(emu, polls))
    assert polls[0].job_id == running.job_id
    assert len(orjson.loads(target.read_bytes())) == 4


async def test_annotation_archive_downloads_a_zip_of_the_annotations(
    emu: Emulator, project: Project, tmp_path: Path
) -> None:
    emu.annofab.data.jobs.duration = 0
    ids = emu.annofab.seed_tasks(3)
    emu.annofab.data.seed_annotations(ids[:2], per_input=2)
    target = tmp_path / "annotations.zip"
    progress: list[int] = []
    size = await project.annotation_archive(target, refresh=True, on_progress=progress.append)
    assert size == target.stat().st_size == progress[-1]
    with zipfile.ZipFile(target) as archive:
        names = sorted(archive.namelist())
        first = orjson.loads(archive.read(names[0]))
    assert names == [f"{t}/input-{t}.json" for t in ids[:2]]
    assert first["task_id"] == ids[0]
    assert [d["annotation_id"] for d in first["details"]] == [
        f"{ids[0]}-input-{ids[0]}-0",
        f"{ids[0]}-input-{ids[0]}-1",
    ]


async def test_a_failed_archive_download_leaves_no_partial_file(
    emu: Emulator, project: Project, tmp_path: Path
) -> None:
    emu.annofab.seed_tasks(2)
    emu.faults.add(FaultRule(kind="drop", rate=1.0, routes={"annofab_export_file"}))
    with pytest.raises(TransportError):
        await project.annotation_archive(tmp_path / "a.zip")
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240


async def test_no_annofab_credential_goes_with_the_archive_download(
    emu: Emulator,
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    object_store: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = object_store

    async def signed(self: object, project_id: str) -> object:
        return {"url": url}

    monkeypatch.setattr(type(project._session.api), "get_annotation_archive", signed)
    await project.annotation_archive(tmp_path / "a.zip")
    assert len(seen) == 1
    assert "authorization" not in {k.lower() for k in seen[0]}


async def test_a_signed_url_expiring_once_is_asked_for_again(
    emu: Emulator, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.annofab.seed_tasks(3)
    api = project._session.api
    real = type(api).get_project_tasks_url
    answers = 0

    async def expires_once(self: object, project_id: str) -> object:
        nonlocal answers
        answers += 1
        answer = await real(api, project_id)
        if answers == 1:
            emu.annofab.data.exports.expire_all()
        return answer

    monkeypatch.setattr(type(api), "get_project_tasks_url", expires_once)
    target = tmp_path / "tasks.json"
    await project.export_tasks(target)
    assert answers == 2
    assert len(orjson.loads(target.read_bytes())) == 3


@pytest.mark.parametrize("kind", ["apply_then_drop", "drop"])
async def test_a_lost_answer_to_the_refresh_post_starts_exactly_one_job(
    emu: Emulator, project: Project, tmp_path: Path, kind: str
) -> None:
    emu.annofab.data.jobs.duration = 0
    emu.annofab.seed_tasks(2)
    emu.annofab.data.seed_jobs(1)  # an older job of the type, long finished
    route = "annofab_post_project_tasks_update"
    emu.faults.add(FaultRule(kind=kind, rate=1.0, routes={route}, times=1))
    target = tmp_path / "tasks.json"
    await project.export_tasks(target, refresh=True)
    jobs = emu.annofab.data.jobs.by_project[project.id]
    assert len(jobs) == 2  # the seeded one and exactly one rebuild
    assert emu.faults.requests_seen(route) == (1 if kind == "apply_then_drop" else 2)
    assert len(orjson.loads(target.read_bytes())) == 2
