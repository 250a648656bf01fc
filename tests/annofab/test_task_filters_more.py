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
