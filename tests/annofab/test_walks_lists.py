"""Walks of Annofab's other paged lists against the emulator over a socket: input data,
annotations, projects; each item exactly once while items are added or changed."""

from __future__ import annotations

from collections import Counter

import pytest

from annoq import InvalidArgumentError
from annoq.annofab import AnnofabSession, CommentPut, OverLimitError, Project
from annoq.emulator import Emulator


async def test_input_data_walk_yields_each_once_while_items_change_and_are_added(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.data.seed_input_data(1000)
    seen: Counter[str] = Counter()
    changed = 0
    async for item in project.input_data(page_size=50, prefetch=0):
        seen[item.input_data_id] += 1
        if len(seen) % 40 == 0:
            # update an item not read yet: it jumps to the front (a page already read)
            target = ids[-1 - changed]
            now = await project.input_data_item(target)
            await project.put_input_data(
                target,
                "changed.jpg",
                now.input_data_path,
                last_updated_datetime=now.updated_datetime,
            )
            changed += 1
            emu.annofab.data.seed_input_data(ids=[f"new-{changed}"])
    assert changed > 10
    assert max(seen.values()) == 1
    assert set(ids) <= set(seen)


async def test_input_data_walk_without_changes_makes_one_cheap_catch_up(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.data.seed_input_data(120)
    walked = [i.input_data_id async for i in project.input_data(page_size=50)]
    assert sorted(walked) == sorted(ids)
    named = [i async for i in project.input_data(input_data_id="input-00001")]
    assert {i.input_data_id for i in named} == {f"input-{n:06d}" for n in range(10, 20)}


async def test_input_data_walk_over_the_cap_raises(emu: Emulator, project: Project) -> None:
    emu.annofab.data.seed_input_data(10_001)
    walk = project.input_data()
    with pytest.raises(OverLimitError):
        async for _ in walk:
            pass
    assert walk.total_count == 10_001


async def test_list_walks_refuse_bad_options_before_any_request(project: Project) -> None:
    with pytest.raises(InvalidArgumentError):
        project.input_data(page_size=0)
    with pytest.raises(InvalidArgumentError):
        project.annotations(page_size=201)
    with pytest.raises(InvalidArgumentError):
        project.annotations(query="label")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        project.input_data(on_over_limit="later")  # type: ignore[arg-type]


async def test_annotation_walk_yields_each_annotation_once_while_others_are_added(
    emu: Emulator, project: Project
) -> None:
    tasks = emu.annofab.seed_tasks(300)
    emu.annofab.data.seed_inputs_for_tasks()
    emu.annofab.data.seed_annotations(tasks[:250], per_input=2)
    seen: Counter[tuple[str, str, str]] = Counter()
    added = 0
    async for a in project.annotations(page_size=40, prefetch=1):
        seen[(a.task_id, a.input_data_id, a.detail.annotation_id)] += 1
        if len(seen) % 50 == 0 and added < 5:
            emu.annofab.data.seed_annotations([tasks[260 + added]], per_input=1)
            added += 1
    assert max(seen.values()) == 1
    assert len(seen) >= 500
    labelled = [a async for a in project.annotations(query={"task_id": tasks[0]})]
    assert len(labelled) == 2


async def test_project_walks_yield_every_project_once(
    emu: Emulator, af: AnnofabSession, project: Project
) -> None:
    for n in range(25):
        emu.annofab.create_project(f"p-{n:02d}")
        emu.annofab.data.set_project(f"p-{n:02d}", organization="other-org")
    mine = [p.project_id async for p in af.my_projects(page_size=7)]
    assert Counter(mine).most_common(1)[0][1] == 1
    assert set(mine) == {project.id, *(f"p-{n:02d}" for n in range(25))}
    theirs = [p.project_id async for p in af.organization_projects("other-org", page_size=4)]
    assert sorted(theirs) == [f"p-{n:02d}" for n in range(25)]
    with pytest.raises(InvalidArgumentError):
        af.my_projects(status="gone")


async def test_members_and_comments_are_walks_and_still_awaitable(
    emu: Emulator, af: AnnofabSession, project: Project
) -> None:
    emu.annofab.add_user("worker-1")
    emu.annofab.add_user("worker-2")
    before = emu.faults.requests_seen()
    members = project.members()
    walked = [m.user_id async for m in members]
    assert sorted(walked) == sorted([emu.annofab.user_id, "worker-1", "worker-2"])
    assert [m.user_id for m in await members] == walked  # the answer, reused
    assert emu.faults.requests_seen() - before == 1
    assert isinstance(await project.members(), list)

    (task_id,) = emu.annofab.seed_tasks(1)
    me = await af.account_id()
    puts = [CommentPut(account_id=me, comment=f"c{n}") for n in range(3)]
    await project.batch_update_comments(task_id, f"input-{task_id}", put=puts)
    async with project.comments(task_id, f"input-{task_id}") as comments:
        ids = [c.comment_id async for c in comments]
    assert sorted(ids) == sorted(p.comment_id for p in puts)


def test_comments_refuse_bad_ids_before_any_request(project: Project) -> None:
    with pytest.raises(InvalidArgumentError):
        project.comments("", "input-1")
    with pytest.raises(InvalidArgumentError):
        project.members(include_inactive="yes")  # type: ignore[arg-type]
