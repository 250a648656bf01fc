"""The typed calls beyond tasks, against the emulator over a loopback socket: each one
decodes the real answer into its model, missing things are typed 404s, the editor
annotation lock answers 409 to a stale ``updated_datetime``, bad arguments fail before
any request, and the request bodies the typed layer builds fit the spec's schemas."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from annoq import ConflictError, InvalidArgumentError, NotFoundError, ResponseDecodeError
from annoq.annofab import (
    AnnofabSession,
    AnnotationDetailV2,
    AnnotationSpecs,
    AttributeType,
    CommentPut,
    CommentType,
    EditorAnnotation,
    InputData,
    JobStatus,
    JobType,
    MemberRole,
    NewAnnotation,
    Project,
    ProjectStatus,
    TaskPhase,
)
from annoq.annofab import _protocol_data as pdata
from annoq.emulator import Emulator

from ._schemas import validate

BOX = {
    "_type": "Inner",
    "data": {
        "_type": "BoundingBox",
        "left_top": {"x": 1, "y": 2},
        "right_bottom": {"x": 30, "y": 40},
    },
}


def _seed_specs(emu: Emulator) -> None:
    emu.annofab.data.seed_annotation_specs(
        labels={"car": {"ja-JP": "車"}, "person": {"ja-JP": "人"}},
        attributes={"occluded": "flag", "color": ("choice", ["red", "blue"])},
    )


# -- input data ----------------------------------------------------------------------


async def test_input_data_item_decodes_the_emulators_answer(
    emu: Emulator, project: Project
) -> None:
    emu.annofab.data.seed_input_data(ids=["in-1"], metadata={"camera": "front"})

    item = await project.input_data_item("in-1")

    assert isinstance(item, InputData)
    assert (item.input_data_id, item.project_id) == ("in-1", project.id)
    assert item.input_data_name == "in-1.jpg"
    assert item.metadata == {"camera": "front"}
    assert item.updated_datetime.utcoffset() == timedelta(hours=9)
    assert item.system_metadata == {"_type": "Image"}


async def test_a_missing_input_data_is_a_not_found_error(project: Project) -> None:
    with pytest.raises(NotFoundError):
        await project.input_data_item("no-such-input")


async def test_input_data_page_filters_counts_and_caps_like_the_service(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(3)
    emu.annofab.data.seed_inputs_for_tasks()
    emu.annofab.data.seed_input_data(5, prefix="frame")

    everything = await project.input_data_page(page_size=4)
    of_task = await project.input_data_page(task_id=ids[1])
    frames = await project.input_data_page(input_data_name="FRAME-00000")

    assert (len(everything), everything.total_count, everything.total_page_no) == (4, 8, 2)
    assert not everything.over_limit
    assert [i.input_data_id for i in of_task] == [f"input-{ids[1]}"]
    assert frames.total_count == 5


async def test_input_data_list_over_10000_says_over_limit_and_stops_paging(
    emu: Emulator, project: Project
) -> None:
    emu.annofab.data.seed_input_data(10_001)

    last = await project.input_data_page(page=50, page_size=200)
    past = await project.input_data_page(page=51, page_size=200)

    assert last.over_limit
    assert last.total_count == 10_001
    assert len(last) == 200
    assert len(past) == 0


async def test_put_input_data_creates_then_needs_the_lock_to_update(
    emu: Emulator, project: Project
) -> None:
    made = await project.put_input_data("in-9", "a.jpg", "s3://bucket/a.jpg", metadata={"k": "v"})

    with pytest.raises(ConflictError):
        await project.put_input_data("in-9", "b.jpg", "s3://bucket/b.jpg")
    updated = await project.put_input_data(
        "in-9", "b.jpg", "s3://bucket/b.jpg", last_updated_datetime=made.updated_datetime
    )
    gone = await project.delete_input_data("in-9")

    assert made.metadata == {"k": "v"}
    assert updated.input_data_name == "b.jpg"
    assert updated.updated_datetime > made.updated_datetime
    assert gone.input_data_id == "in-9"
    with pytest.raises(NotFoundError):
        await project.input_data_item("in-9")


async def test_input_data_by_ids_keeps_the_order_asked_and_leaves_out_unknown_ids(
    emu: Emulator, project: Project
) -> None:
    emu.annofab.data.seed_input_data(3)

    found = await project.input_data_by_ids(["input-000003", "nope", "input-000001"])

    assert [i.input_data_id for i in found] == ["input-000003", "input-000001"]


# -- annotation specs ----------------------------------------------------------------


async def test_annotation_specs_look_labels_attributes_and_choices_up_by_name_and_id(
    emu: Emulator, project: Project
) -> None:
    _seed_specs(emu)

    specs = await project.annotation_specs()

    assert isinstance(specs, AnnotationSpecs)
    car = specs.label("car")
    assert car is specs.label("車") is specs.label("車", lang="ja-JP")
    assert specs.label_by_id("label-car") is car
    assert str(car.name) == "car"
    assert car.name.get("ja-JP") == "車"
    assert set(specs.languages) == {"en-US", "ja-JP"}
    occluded = specs.attribute("occluded", label=car)
    assert occluded.type is AttributeType.FLAG
    color = specs.attribute("color-ja", lang="ja-JP")
    assert color.choice("blue").choice_id == "choice-color-blue"
    assert color.choice_by_id("choice-color-red").name.default == "red"
    assert [a.id for a in specs.attributes_of("person")] == ["attr-occluded", "attr-color"]
    assert specs.attribute_by_id("attr-color") is color


async def test_a_name_that_matches_no_label_says_which_names_there_are(
    emu: Emulator, project: Project
) -> None:
    _seed_specs(emu)
    specs = await project.annotation_specs()

    with pytest.raises(InvalidArgumentError, match=r"'car'.*'person'"):
        specs.label("truck")
    with pytest.raises(InvalidArgumentError, match="no label is named 'car' in ja-JP"):
        specs.label("car", lang="ja-JP")
    with pytest.raises(InvalidArgumentError, match="label-car"):
        specs.label_by_id("label-truck")


def test_a_name_two_labels_share_is_refused_rather_than_guessed() -> None:
    data = _spec_answer(labels=[("l-1", "car", "車"), ("l-2", "auto", "car")])
    specs = pdata.read(data, AnnotationSpecs)

    with pytest.raises(InvalidArgumentError, match="2 labels are named 'car'"):
        specs.label("car")
    assert specs.label("car", lang="en-US").label_id == "l-1"


def _spec_answer(labels: list[tuple[str, str, str]]) -> dict[str, Any]:
    def message(en: str, ja: str) -> dict[str, Any]:
        return {
            "messages": [{"lang": "en-US", "message": en}, {"lang": "ja-JP", "message": ja}],
            "default_lang": "en-US",
        }

    return {
        "project_id": "p",
        "labels": [
            {
                "label_id": i,
                "label_name": message(en, ja),
                "annotation_type": "some_future_type",
                "keybind": [],
                "field_values": {},
                "additional_data_definitions": [],
                "color": {"red": 1, "green": 2, "blue": 3},
                "annotation_editor_feature": {},
            }
            for i, en, ja in labels
        ],
        "additionals": [
            {"additional_data_definition_id": "a", "name": message("x", "y"), "type": "new_kind"}
        ],
        "restrictions": [],
        "inspection_phrases": [],
        "format_version": "3.0.0",
        "metadata": {},
    }


def test_specs_tolerate_new_fields_and_new_attribute_types_but_not_wrong_types() -> None:
    data = _spec_answer(labels=[("l-1", "car", "車")])
    data["labels"][0]["brand_new_field"] = {"x": 1}

    specs = pdata.read(data, AnnotationSpecs)

    assert specs.labels[0].annotation_type == "some_future_type"
    assert not specs.additionals[0].type.is_known
    data["labels"][0]["color"]["red"] = "255"
    with pytest.raises(ResponseDecodeError) as caught:
        pdata.read(data, AnnotationSpecs)
    assert caught.value.path == "$.labels[0].color.red"


# -- annotations ---------------------------------------------------------------------


async def test_editor_annotation_round_trip_and_a_stale_lock_is_a_409(
    emu: Emulator, project: Project
) -> None:
    _seed_specs(emu)
    (task_id,) = emu.annofab.seed_tasks(1)
    input_id = f"input-{task_id}"
    specs = await project.annotation_specs()

    empty = await project.editor_annotation(task_id, input_id)
    assert isinstance(empty, EditorAnnotation)
    assert empty.details == ()
    assert empty.updated_datetime is None
    new = NewAnnotation(label_id=specs.label("car").label_id, body=BOX)
    saved = await project.put_editor_annotation(task_id, input_id, [new], updated_datetime=None)
    assert [d.annotation_id for d in saved.details] == [new.annotation_id]
    assert saved.updated_datetime is not None

    moved = NewAnnotation(label_id=specs.label("person").label_id, body=BOX)
    again = await project.put_editor_annotation(
        task_id, input_id, [*saved.details, moved], updated_datetime=saved.updated_datetime
    )
    assert [d.label_id for d in again.details] == ["label-car", "label-person"]
    assert again.details[0].created_datetime == saved.details[0].created_datetime

    with pytest.raises(ConflictError):  # someone saved after `saved` was read
        await project.put_editor_annotation(
            task_id, input_id, saved.details, updated_datetime=saved.updated_datetime
        )
    with pytest.raises(ConflictError):  # there is an annotation now: the lock is needed
        await project.put_editor_annotation(task_id, input_id, [], updated_datetime=None)
    assert (await project.editor_annotation(task_id, input_id)) == again


async def test_an_editor_annotation_of_a_missing_task_is_a_not_found_error(
    project: Project,
) -> None:
    with pytest.raises(NotFoundError):
        await project.editor_annotation("no-task", "no-input")


async def test_annotation_page_decodes_v2_details_and_filters_by_query(
    emu: Emulator, project: Project
) -> None:
    ids = emu.annofab.seed_tasks(4)
    emu.annofab.data.seed_annotations(ids[:3], label="car", per_input=2)

    page = await project.annotation_page(page_size=4)
    of_task = await project.annotation_page(query={"task_id": ids[1]})
    by_label = await project.annotation_page(query={"label_id": "label-person"})

    assert (len(page), page.total_count, page.total_page_no) == (4, 6, 2)
    assert all(isinstance(a.detail, AnnotationDetailV2) for a in page)
    assert page.items[0].detail.body["_type"] == "Inner"
    assert {a.task_id for a in of_task} == {ids[1]}
    assert len(of_task) == 2
    assert by_label.total_count == 0


# -- comments, inspections -----------------------------------------------------------


async def test_comments_put_read_and_delete_in_batches(
    emu: Emulator, af: AnnofabSession, project: Project
) -> None:
    (task_id,) = emu.annofab.seed_tasks(1)
    input_id = f"input-{task_id}"
    me = await af.account_id()
    root = CommentPut(account_id=me, comment="box too small")
    reply = CommentPut(account_id=me, comment="fixed", root_comment_id=root.comment_id)

    put = await project.batch_update_comments(task_id, input_id, put=[root, reply])
    listed = await project.comments(task_id, input_id)
    await project.batch_update_comments(task_id, input_id, delete=[reply.comment_id])
    after = await project.comments(task_id, input_id)

    assert [c.comment_id for c in put] == [root.comment_id, reply.comment_id]
    assert {c.comment_id for c in listed} == {root.comment_id, reply.comment_id}
    first = next(c for c in listed if c.comment_id == root.comment_id)
    assert first.comment_type is CommentType.INSPECTION
    assert first.phase is TaskPhase.INSPECTION
    assert first.status == "open"
    assert not first.is_reply
    assert [c.comment_id for c in after] == [root.comment_id]
    with pytest.raises(NotFoundError):
        await project.batch_update_comments(task_id, input_id, delete=["no-such-comment"])


async def test_inspections_decode(emu: Emulator, project: Project) -> None:
    (task_id,) = emu.annofab.seed_tasks(1)
    emu.annofab.data.add_inspection(task_id, f"input-{task_id}", "too small")

    (inspection,) = await project.inspections(task_id, f"input-{task_id}")

    assert inspection.comment == "too small"
    assert inspection.data == {"x": 1, "y": 1, "_type": "Point"}


# -- members, project, organization, account -----------------------------------------


async def test_members_and_one_member_decode_with_roles(emu: Emulator, project: Project) -> None:
    worker = emu.annofab.add_user("worker-1")

    members = await project.members()
    one = await project.member("worker-1")

    assert {(m.user_id, m.member_role) for m in members} == {
        (emu.annofab.user_id, MemberRole.OWNER),
        ("worker-1", MemberRole.WORKER),
    }
    assert one.account_id == worker.account_id
    with pytest.raises(NotFoundError):
        await project.member("nobody")


async def test_project_info_my_projects_and_the_organization_decode(
    emu: Emulator, af: AnnofabSession, project: Project
) -> None:
    emu.annofab.create_project("second")
    emu.annofab.data.set_project("second", title="Second one", organization="other-org")

    info = await project.info()
    mine = await af.my_projects_page()
    titled = await af.my_projects_page(title="second")
    org = await af.organization(
        emu.annofab.data.project_meta(project.id).organization.organization_name
    )
    others = await af.organization_projects_page("other-org")

    assert info.project_id == project.id
    assert info.project_status is ProjectStatus.ACTIVE
    assert info.configuration.number_of_inspections == 0
    assert {p.project_id for p in mine} == {project.id, "second"}
    assert [p.title for p in titled] == ["Second one"]
    assert org.organization_id == info.organization_id
    assert [p.project_id for p in others] == ["second"]
    with pytest.raises(NotFoundError):
        await af.organization("no-such-org")


async def test_my_account_has_every_field_of_the_spec(emu: Emulator, af: AnnofabSession) -> None:
    me = await af.my_account()

    assert me.account_id == emu.annofab.account_id
    assert (me.keylayout, me.authority, me.account_type) == ("ja-JP", "user", "annofab")
    assert isinstance(me.updated_datetime, datetime)
    assert me.errors == ()


# -- jobs and exports ----------------------------------------------------------------


async def test_job_list_pages_with_the_cursor_and_a_job_finishes(
    emu: Emulator, af: AnnofabSession, project: Project
) -> None:
    emu.annofab.data.jobs.duration = 3600.0
    for _ in range(3):
        await af.api.post_project_inputs_update(project.id)
        emu.annofab.data.finish_jobs()
    await af.api.post_project_tasks_update(project.id)

    first = await project.job_list(limit=2)
    rest = await project.job_list(limit=2, before=first.jobs[-1].created_datetime)
    tasks_jobs = await project.job_list(JobType.GEN_TASKS_LIST)

    assert first.has_next
    assert not rest.has_next
    assert len(first) + len(rest) == 4
    assert len({j.job_id for j in (*first, *rest)}) == 4
    (running,) = tasks_jobs.jobs
    assert running.job_status is JobStatus.PROGRESS
    assert not running.finished
    emu.annofab.data.finish_jobs()
    (done,) = (await project.job_list("gen-tasks-list")).jobs
    assert done.job_status is JobStatus.SUCCEEDED
    assert done.finished
    await project.delete_job("gen-tasks-list", done.job_id)
    assert len(await project.job_list("gen-tasks-list")) == 0


async def test_a_failed_job_carries_its_errors(
    emu: Emulator, af: AnnofabSession, project: Project
) -> None:
    emu.annofab.data.fail_jobs(1, "disk full")
    await af.api.post_project_tasks_update(project.id)
    emu.annofab.data.finish_jobs()

    (job,) = (await project.job_list("gen-tasks-list")).jobs

    assert job.job_status is JobStatus.FAILED
    assert [e.message for e in job.errors] == ["disk full"]


async def test_the_tasks_export_is_a_signed_url_served_without_auth_and_rebuilt_by_a_job(
    emu: Emulator, af: AnnofabSession, project: Project
) -> None:
    import aiohttp

    emu.annofab.data.jobs.duration = 3600.0
    emu.annofab.seed_tasks(2)
    url = (await af.api.get_project_tasks_url(project.id))["url"]
    emu.annofab.seed_tasks(1)
    await af.api.post_project_tasks_update(project.id)
    stale = (await af.api.get_project_tasks_url(project.id))["url"]
    emu.annofab.data.finish_jobs()
    fresh = (await af.api.get_project_tasks_url(project.id))["url"]

    async with aiohttp.ClientSession() as http:  # no Authorization header at all
        async with http.get(stale) as response:
            before = await response.json()
        async with http.get(fresh) as response:
            after = await response.json()
        async with http.get(url) as response:
            replaced_status = response.status
    assert stale == url
    assert fresh != url
    assert len(before) == 2
    assert len(after) == 3
    assert replaced_status == 403


# -- bad arguments, request bodies ---------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: p.input_data_item(""), "input_data_id"),
        (lambda p: p.input_data_page(page=0), "page"),
        (lambda p: p.input_data_page(page_size=201), "page_size"),
        (lambda p: p.input_data_page(from_=datetime(2026, 1, 1)), "from_"),
        (lambda p: p.job_list("not-a-job"), "job_type"),
        (lambda p: p.put_input_data("i", "a.zip", "s3://b/a.zip"), "ZIP"),
        (lambda p: p.batch_update_comments("t", "i"), "at least one"),
        (lambda p: p.annotation_page(query="task_id=1"), "query"),
        (
            lambda p: p.batch_update_comments(
                "t", "i", put=[CommentPut(account_id="a", comment="c", phase="nope")]
            ),
            "phase",
        ),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    emu: Emulator, project: Project, call: Any, match: str
) -> None:
    await project.info()  # a request the counter sees, so it is shown to count
    before = emu.faults.requests_seen()
    assert before >= 1
    with pytest.raises(InvalidArgumentError, match=match):
        await call(project)
    assert emu.faults.requests_seen() == before


def test_request_bodies_the_typed_layer_builds_fit_the_spec() -> None:
    lock = datetime.fromisoformat("2026-11-24T21:05:09.123+09:00")
    from annoq.annofab import AdditionalDataV2, EditorAnnotationDetail

    kept = EditorAnnotationDetail(
        annotation_id="a-1",
        account_id="acc",
        label_id="label-car",
        created_datetime=lock,
        updated_datetime=lock,
        body=BOX,
        additional_data_list=(AdditionalDataV2("attr-x", {"_type": "Flag", "value": True}),),
    )
    new = NewAnnotation(
        label_id="label-car",
        body=BOX,
        additional_data_list=({"definition_id": "attr-y", "value": None},),
    )
    annotation = pdata.editor_annotation_body("p", "t", "i", [kept, new], lock)
    validate("AnnotationV2Input", annotation)
    assert [d["_type"] for d in annotation["details"]] == ["Update", "Create"]

    validate(
        "InputDataRequest",
        pdata.input_data_body(
            "a.jpg",
            "s3://b/a.jpg",
            metadata={"k": "v"},
            sign_required=True,
            last_updated_datetime=lock,
        ),
    )
    for item in (
        CommentPut(account_id="acc", comment="c").to_body(),
        CommentPut(
            account_id="acc", comment="c", root_comment_id="r", comment_type="onhold"
        ).to_body(),
        {"_type": "Delete", "comment_id": "c-1"},
    ):
        validate(
            "BatchCommentRequestItemPut"
            if item["_type"] == "Put"
            else "BatchCommentRequestItemDelete",
            item,
        )


def test_a_wrong_type_in_an_answer_is_a_decode_error_naming_the_field() -> None:
    answer = {
        "input_data_id": "i",
        "project_id": "p",
        "input_data_name": "n",
        "input_data_path": "s3://x",
        "updated_datetime": "2026-11-24T21:00:00.000+09:00",
        "metadata": {"k": 1},
    }
    with pytest.raises(ResponseDecodeError) as caught:
        pdata.read(answer, InputData)
    assert caught.value.path == "$.metadata['k']"


def test_task_and_list_pages_keep_their_aggregations() -> None:
    import orjson

    from annoq.annofab import _protocol as proto

    aggregation = {
        "_type": "CountResult",
        "name": "by_status",
        "field": "status",
        "doc_count": 3,
        "items": [
            {"key": "complete", "count": 2, "aggregations": []},
            {"key": "working", "count": 1},
        ],
    }
    body = {
        "list": [],
        "page_no": 1,
        "total_page_no": 1,
        "total_count": 3,
        "over_limit": False,
        "aggregations": [aggregation],
    }

    tasks = proto.read_task_page(orjson.dumps(body))
    inputs = pdata.read_page(body, InputData)

    for page in (tasks, inputs):
        (counted,) = page.aggregations
        assert (counted.name, counted.field, counted.doc_count) == ("by_status", "status", 3)
        assert [(c.key, c.count) for c in counted.items] == [("complete", 2), ("working", 1)]
    body["aggregations"][0]["items"][0]["count"] = "2"
    with pytest.raises(ResponseDecodeError) as caught:
        pdata.read_page(body, InputData)
    assert caught.value.path == "$.aggregations[0].items[0].count"


async def test_an_export_can_be_set_to_answer_409_while_it_is_rebuilt(
    emu: Emulator, af: AnnofabSession, project: Project
) -> None:
    emu.annofab.data.jobs.duration = 3600.0
    emu.annofab.data.export_busy_conflict = True
    await af.api.post_project_tasks_update(project.id)

    with pytest.raises(ConflictError):
        await af.api.get_project_tasks_url(project.id)
    emu.annofab.data.finish_jobs()
    assert "url" in await af.api.get_project_tasks_url(project.id)


async def test_fault_rules_reach_the_new_routes_and_typed_reads_are_retried(
    emu: Emulator, project: Project
) -> None:
    from annoq.emulator import FaultRule

    emu.annofab.data.seed_input_data(ids=["in-1"])
    emu.faults.add(FaultRule(kind="status", status=503, routes={"annofab_get_input_data"}, times=2))

    item = await project.input_data_item("in-1")

    assert item.input_data_id == "in-1"
    assert emu.faults.count(route="annofab_get_input_data") == 2
    assert emu.faults.requests_seen("annofab_get_input_data") == 3
