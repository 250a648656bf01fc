"""The task search filters added for issue 15: ``previous_phase_stage`` (applied by the
emulator over a socket), ``auto_accepted_only`` and ``annotation`` (sent as Annofab
spells them)."""

from __future__ import annotations

import orjson
import pytest

from annoq import InvalidArgumentError
from annoq.annofab import Project, TaskQuery
from annoq.annofab import _protocol as proto
from annoq.emulator import Emulator


async def test_previous_phase_stage_reaches_the_server(emu: Emulator, project: Project) -> None:
    emu.annofab.set_inspection_stages(2)
    second = emu.annofab.seed_tasks(3, prefix="i", phase="inspection", phase_stage=2)
    emu.annofab.seed_tasks(3, prefix="c", phase="acceptance")
    emu.annofab.seed_tasks(3, prefix="n")
    walked = [t.task_id async for t in project.tasks(previous_phase_stage=2)]
    assert walked == second
    page = await project.task_page(previous_phase="inspection", previous_phase_stage=2)
    assert [t.task_id for t in page.tasks] == second
    fast = [t.task_id async for t in project.tasks(previous_phase_stage=1, mode="fast")]
    assert len(fast) == 6


def test_auto_accepted_only_and_annotation_are_sent_as_annofab_spells_them() -> None:
    query = TaskQuery(auto_accepted_only=True, annotation={"label_id": "car"})
    params = proto.tasks_params(query, page=1, limit=10)
    assert params["auto_accepted_only"] == ""
    assert orjson.loads(params["annotation"]) == {"label_id": "car"}
    assert "auto_accepted_only" not in proto.tasks_params(TaskQuery(), page=1, limit=10)


def test_bad_new_filters_are_refused_before_any_request(project: Project) -> None:
    with pytest.raises(InvalidArgumentError):
        project.tasks(previous_phase_stage=0)
    with pytest.raises(InvalidArgumentError):
        project.tasks(auto_accepted_only="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        project.tasks(annotation="not json")


async def test_the_emulator_applies_auto_accepted_only(emu: Emulator, project: Project) -> None:
    emu.annofab.seed_tasks(4, prefix="a", phase="acceptance", status="complete")  # accepted by hand
    auto = emu.annofab.seed_tasks(3, prefix="b", phase="inspection", status="complete")
    emu.annofab.seed_tasks(2, prefix="c")
    emu.annofab.auto_accept(auto)
    walked = [t.task_id async for t in project.tasks(auto_accepted_only=True)]
    assert walked == auto
    page = await project.task_page(auto_accepted_only=True, status="complete")
    assert [t.task_id for t in page.tasks] == auto


async def test_the_emulator_applies_the_annotation_filter(emu: Emulator, project: Project) -> None:
    ids = emu.annofab.seed_tasks(6)
    emu.annofab.data.seed_annotations([ids[1], ids[4]], label="car")
    emu.annofab.data.seed_annotations([ids[2]], label="bus")
    cars = [t.task_id async for t in project.tasks(annotation={"label_id": "label-car"})]
    assert cars == [ids[1], ids[4]]
    one = project.tasks(
        annotation={"label_id": "label-car", "task_id": ids[4]}, status="not_started"
    )
    assert [t.task_id async for t in one] == [ids[4]]
    none = project.tasks(annotation={"label_id": "label-truck"})
    assert [t.task_id async for t in none] == []
