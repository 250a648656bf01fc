"""Every operation the emulator serves beyond tasks answers what the spec's response
schema says (jsonschema, from ``tests/contract/annofab/``), for each status it gives in
a realistic session: input data, annotations, specs, comments, inspections, members,
projects, organizations, jobs and the rawdata exports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema
import pytest

from annoq.emulator import Emulator
from annoq.emulator.annofab._routes import SERVED_OPERATIONS

from . import _spec
from ._schemas import validate as _validate

_OPS = {op["operation_id"]: op for op in _spec.v1_operations()}


class Recorder:
    """Raw calls as the default user; each answer is kept with its operation."""

    def __init__(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.http = http
        self.answers: list[tuple[str, int, Any]] = []
        self.headers = {"Authorization": f"Bearer {emu.annofab.pat}"}

    async def call(
        self,
        operation_id: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        expect: int | None = None,
    ) -> Any:
        op = _OPS[operation_id]
        url = f"{self.emu.base_url}/api/v1{path}"
        kwargs: dict[str, Any] = {"params": params or {}, "headers": self.headers}
        if body is not None:
            kwargs["json"] = body
        async with self.http.request(op["method"], url, **kwargs) as response:
            raw = await response.read()
            status = response.status
        data = json.loads(raw) if raw else None
        if expect is not None:
            assert status == expect, (operation_id, status, data)
        self.answers.append((operation_id, status, data))
        return data


@pytest.fixture
async def rec(emu: Emulator) -> AsyncIterator[Recorder]:
    async with aiohttp.ClientSession() as http:
        yield Recorder(emu, http)


async def _session(emu: Emulator, rec: Recorder) -> None:
    """One pass over every served operation, successes and typical errors."""
    data = emu.annofab.data
    p = emu.annofab.project_id
    ids = emu.annofab.seed_tasks(3)
    data.seed_inputs_for_tasks()
    data.seed_input_data(2)
    data.seed_annotation_specs(
        labels={"car": {"ja-JP": "車"}, "person": {}},
        attributes={"occluded": "flag", "color": ("choice", ["red", "blue"])},
    )
    data.seed_annotations(ids[:2], label="car")
    worker = emu.annofab.add_user("worker-1")
    t0, i0 = ids[0], f"input-{ids[0]}"
    org = data.project_meta(p).organization.organization_name

    await rec.call("getMyAccount", "/my/account", expect=200)
    await rec.call("getProject", f"/projects/{p}", expect=200)
    await rec.call("getProject", "/projects/missing", expect=404)
    await rec.call("getMyProjects", "/my/projects", params={"limit": "10"}, expect=200)
    await rec.call("getMyProjects", "/my/projects", params={"status": "bogus"}, expect=400)
    await rec.call("getProjectsOfOrganization", f"/organizations/{org}/projects", expect=200)
    await rec.call("getProjectsOfOrganization", "/organizations/none/projects", expect=404)
    await rec.call("getOrganization", f"/organizations/{org}", expect=200)
    await rec.call("getOrganizationOfProject", f"/projects/{p}/organization", expect=200)
    await rec.call("getProjectMembers", f"/projects/{p}/members", expect=200)
    await rec.call("getProjectMember", f"/projects/{p}/members/{worker.user_id}", expect=200)
    await rec.call("getProjectMember", f"/projects/{p}/members/nobody", expect=404)
    await rec.call("getMyMemberInProject", f"/my/projects/{p}/member", expect=200)

    await rec.call("getInputDataList", f"/projects/{p}/inputs", params={"limit": "2"}, expect=200)
    await rec.call("getInputDataList", f"/projects/{p}/inputs", params={"task_id": t0}, expect=200)
    await rec.call("getInputDataList", f"/projects/{p}/inputs", params={"page": "0"}, expect=400)
    await rec.call("getInputData", f"/projects/{p}/inputs/{i0}", expect=200)
    await rec.call("getInputData", f"/projects/{p}/inputs/missing", expect=404)
    await rec.call(
        "getInputDataInBulk",
        f"/projects/{p}/input-data-in-bulk",
        params={"input_data_id": f"{i0},missing"},
        expect=200,
    )
    new = {"input_data_name": "a.jpg", "input_data_path": "s3://b/a.jpg", "metadata": {"k": "v"}}
    made = await rec.call("putInputData", f"/projects/{p}/inputs/new-1", body=new, expect=200)
    await rec.call("putInputData", f"/projects/{p}/inputs/new-1", body=new, expect=409)
    again = {**new, "last_updated_datetime": made["updated_datetime"]}
    await rec.call("putInputData", f"/projects/{p}/inputs/new-1", body=again, expect=200)
    await rec.call("putInputData", f"/projects/{p}/inputs/new-2", body={}, expect=400)
    zipped = {"input_data_name": "all.zip", "input_data_path": "s3://b/all.zip"}
    await rec.call("putInputData", f"/projects/{p}/inputs/z", body=zipped, expect=202)
    await rec.call("deleteInputData", f"/projects/{p}/inputs/new-1", expect=200)
    await rec.call("deleteInputData", f"/projects/{p}/inputs/new-1", expect=404)

    for v in ("1", "2"):
        await rec.call(
            "getAnnotationList", f"/projects/{p}/annotations", params={"v": v}, expect=200
        )
    query = json.dumps({"task_id": t0, "label_id": "label-car"})
    await rec.call(
        "getAnnotationList", f"/projects/{p}/annotations", params={"query": query}, expect=200
    )
    await rec.call(
        "getAnnotationList", f"/projects/{p}/annotations", params={"query": "{"}, expect=400
    )
    path = f"/projects/{p}/tasks/{t0}/inputs/{i0}/annotation"
    for v in ("1", "2"):
        await rec.call("getEditorAnnotation", path, params={"v": v}, expect=200)
    current = await rec.call("getEditorAnnotation", path, params={"v": "2"}, expect=200)
    detail = current["details"][0]
    body = {
        "project_id": p,
        "task_id": t0,
        "input_data_id": i0,
        "format_version": "2.0.0",
        "updated_datetime": current["updated_datetime"],
        "details": [
            {
                "_type": "Update",
                "annotation_id": detail["annotation_id"],
                "label_id": "label-person",
                "additional_data_list": [],
                "editor_props": {},
            }
        ],
    }
    await rec.call("putAnnotation", path, params={"v": "2"}, body=body, expect=200)
    await rec.call("putAnnotation", path, params={"v": "2"}, body=body, expect=409)
    await rec.call(
        "getEditorAnnotation", f"/projects/{p}/tasks/{t0}/inputs/x/annotation", expect=404
    )
    empty = f"/projects/{p}/tasks/{ids[2]}/inputs/input-{ids[2]}/annotation"
    await rec.call("getEditorAnnotation", empty, params={"v": "2"}, expect=200)

    specs = await rec.call(
        "getAnnotationSpecs", f"/projects/{p}/annotation-specs", params={"v": "3"}, expect=200
    )
    put = {
        k: specs[k]
        for k in ("labels", "additionals", "restrictions", "inspection_phrases", "format_version")
    }
    put["last_updated_datetime"] = specs["updated_datetime"]
    await rec.call(
        "putAnnotationSpecs",
        f"/projects/{p}/annotation-specs",
        params={"v": "3"},
        body=put,
        expect=200,
    )
    await rec.call(
        "putAnnotationSpecs",
        f"/projects/{p}/annotation-specs",
        params={"v": "3"},
        body=put,
        expect=409,
    )

    cpath = f"/projects/{p}/tasks/{t0}/inputs/{i0}/comments"
    item = {
        "_type": "Put",
        "comment_id": "c-1",
        "phase": "inspection",
        "phase_stage": 1,
        "account_id": emu.annofab.account_id,
        "comment_type": "inspection",
        "comment": "fix the box",
        "comment_node": {"_type": "Root", "status": "open"},
    }
    await rec.call("batchUpdateComments", cpath, body=[item], expect=200)
    await rec.call("getComments", cpath, expect=200)
    await rec.call(
        "batchUpdateComments", cpath, body=[{"_type": "Delete", "comment_id": "x"}], expect=404
    )
    await rec.call("batchUpdateComments", cpath, body=[{"_type": "Put"}], expect=400)
    data.add_inspection(t0, i0, "too small")
    await rec.call(
        "getInspections", f"/projects/{p}/tasks/{t0}/inputs/{i0}/inspections", expect=200
    )

    data.jobs.duration = 3600.0
    await rec.call("getProjectTasksUrl", f"/projects/{p}/rawdata/tasks", expect=201)
    await rec.call("getProjectInputsUrl", f"/projects/{p}/rawdata/inputs", expect=201)
    job = await rec.call("postProjectTasksUpdate", f"/projects/{p}/rawdata/tasks", expect=202)
    await rec.call("postProjectTasksUpdate", f"/projects/{p}/rawdata/tasks", expect=409)
    await rec.call("postProjectInputsUpdate", f"/projects/{p}/rawdata/inputs", expect=202)
    data.fail_jobs(1)
    await rec.call("postProjectTasksUpdate", f"/projects/{p}/rawdata/tasks", expect=409)
    data.finish_jobs()
    await rec.call("postProjectTasksUpdate", f"/projects/{p}/rawdata/tasks", expect=202)
    data.finish_jobs()
    archive = f"/projects/{p}/archive/simple"
    await rec.call("getAnnotationArchive", archive, expect=201)
    update = f"/projects/{p}/archive/update"
    await rec.call("postAnnotationArchiveUpdate", update, expect=202)
    await rec.call("postAnnotationArchiveUpdate", update, expect=409)
    await rec.call("getAnnotationArchive", archive, expect=409)  # while it is rebuilt
    data.finish_jobs()
    await rec.call("getProjectJob", f"/projects/{p}/jobs", params={"limit": "2"}, expect=200)
    await rec.call("getProjectJob", f"/projects/{p}/jobs", params={"type": "nope"}, expect=400)
    job_id = job["job"]["job_id"]
    await rec.call("deleteProjectJob", f"/projects/{p}/jobs/gen-tasks-list/{job_id}", expect=200)
    await rec.call("deleteProjectJob", f"/projects/{p}/jobs/gen-tasks-list/{job_id}", expect=404)


async def test_every_answer_of_the_served_data_operations_fits_the_spec(
    emu: Emulator, rec: Recorder
) -> None:
    await _session(emu, rec)
    exercised = {op for op, _, _ in rec.answers}
    assert exercised == {*SERVED_OPERATIONS, "getMyAccount"}
    for operation_id, status, answer in rec.answers:
        response = _OPS[operation_id]["responses"].get(str(status))
        assert response is not None, (operation_id, status)
        if "schema" not in response:
            assert answer is None, (operation_id, status)
            continue
        try:
            _validate(response["schema"], answer)
        except jsonschema.ValidationError as exc:
            pytest.fail(f"{operation_id} {status}: {exc.message} at {list(exc.absolute_path)}")


async def test_the_validator_rejects_an_answer_that_breaks_the_schema() -> None:
    with pytest.raises(jsonschema.ValidationError):
        _validate("InputData", {"input_data_id": "i"})
    with pytest.raises(jsonschema.ValidationError):  # a discriminated branch is checked
        _validate("SystemMetadata", {"_type": "Image", "original_resolution": {"width": "x"}})
    with pytest.raises(jsonschema.ValidationError):
        _validate("Errors", {"errors": []})
