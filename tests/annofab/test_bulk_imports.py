"""Bulk imports against the emulator over a socket: metadata, editor annotations, task
deletion and input data (with uploads), each write applied exactly once under faults
and lost answers, one outcome per input, and a rerun all ``unchanged``."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from annoq import BulkAbortedError, BulkProgress, InvalidArgumentError, ResponseDecodeError
from annoq.annofab import (
    AnnotationImport,
    CommentImport,
    CommentPut,
    InputDataImport,
    NewAnnotation,
    Project,
)
from annoq.emulator import Emulator, FaultRule


def _faults(emu: Emulator, routes: set[str], applying: set[str]) -> None:
    """20% 503, 2% drops, 2% apply-then-drop (on the writes), and surely a few of those:
    the first writes not answered 503 are applied, then their answers lost."""
    emu.faults.add(FaultRule(kind="status", status=503, rate=0.2, routes=routes))
    for route in applying:
        emu.faults.add(FaultRule(kind="apply_then_drop", rate=1.0, routes={route}, times=2))
    emu.faults.add(FaultRule(kind="drop", rate=0.02, routes=routes))
    emu.faults.add(FaultRule(kind="apply_then_drop", rate=0.02, routes=applying))


def _box(n: int) -> dict[str, object]:
    corner = {"x": n, "y": n}
    far = {"x": n + 9, "y": n + 9}
    return {
        "_type": "Inner",
        "data": {"_type": "BoundingBox", "left_top": corner, "right_bottom": far},
    }


def _imports(task_ids: list[str], label: str = "car") -> Iterator[AnnotationImport]:
    for n, task_id in enumerate(task_ids):
        details = [
            NewAnnotation(annotation_id=f"{task_id}-a{k}", label_id=label, body=_box(n + k))
            for k in range(2)
        ]
        yield AnnotationImport(task_id, f"input-{task_id}", details)


async def test_metadata_import_under_faults_changes_each_task_once(
    emu: Emulator, project: Project
) -> None:
    af = emu.annofab
    tasks = af.seed_tasks(300, metadata={"priority": 1})
    wanted = {t: {"priority": 2, "batch": "b1", "ok": True} for t in tasks[:250]}
    wanted |= {t: {"priority": 1} for t in tasks[250:]}
    missing = {f"no-such-{n}": {"priority": 3} for n in range(5)}
    _faults(
        emu,
        {"annofab_task", "annofab_patch_tasks_metadata"},
        {"annofab_patch_tasks_metadata"},
    )

    result = await project.bulk_patch_metadata({**wanted, **missing}, concurrency=8)

    assert (result.total, result.updated, result.unchanged, result.failed) == (305, 250, 50, 5)
    assert {(f.key, f.reason) for f in result.failures} == {(m, "not_found") for m in missing}
    for task_id, metadata in wanted.items():
        assert af.task(task_id)["metadata"] == metadata
    changed = af.store.bulk.writes
    assert all(changed[("metadata", t)] == 1 for t in tasks[:250])
    assert emu.faults.count(kind="apply_then_drop") > 0
    assert emu.faults.count(kind="drop") > 0

    again = await project.bulk_patch_metadata(wanted, concurrency=8)
    assert (again.updated, again.unchanged, again.failed) == (0, 300, 0)
    assert all(changed[("metadata", t)] == 1 for t in tasks[:250])


async def test_metadata_merge_keeps_other_keys(emu: Emulator, project: Project) -> None:
    [task] = emu.annofab.seed_tasks(1, metadata={"priority": 1, "team": "a"})
    result = await project.bulk_patch_metadata([(task, {"priority": 5})], merge=True)
    assert result.updated == 1
    assert emu.annofab.task(task)["metadata"] == {"priority": 5, "team": "a"}


async def test_bad_metadata_is_refused_before_any_request(emu: Emulator, project: Project) -> None:
    [task] = emu.annofab.seed_tasks(1)
    before = emu.faults.requests_seen()
    with pytest.raises(InvalidArgumentError, match=r"metadata\['x'\]"):
        await project.bulk_patch_metadata({task: {"ok": 1}, "t-2": {"x": [1]}})
    with pytest.raises(InvalidArgumentError, match="pair"):
        await project.bulk_patch_metadata([task])
    assert emu.faults.requests_seen() == before


async def test_annotation_import_under_faults_applies_each_put_once(
    emu: Emulator, project: Project
) -> None:
    af = emu.annofab
    tasks = af.seed_tasks(200)
    missing = [AnnotationImport("no-such-task", "input-x", [])]
    _faults(
        emu,
        {"annofab_get_editor_annotation", "annofab_put_annotation"},
        {"annofab_put_annotation"},
    )
    items = list(_imports(tasks))

    result = await project.bulk_put_annotations(items + missing, concurrency=8)

    assert (result.total, result.updated, result.unchanged, result.failed) == (201, 200, 0, 1)
    assert [(f.key, f.reason) for f in result.failures] == [("no-such-task/input-x", "not_found")]
    writes = af.store.bulk.writes
    for item in items:
        assert writes[("annotation", item.task_id, item.input_data_id)] == 1
        saved = await project.editor_annotation(item.task_id, item.input_data_id)
        assert [(d.annotation_id, d.body) for d in saved.details] == [
            (d.annotation_id, d.body) for d in item.details
        ]
    assert emu.faults.count(kind="apply_then_drop") > 0
    assert emu.faults.count(kind="status_503") > 0

    again = await project.bulk_put_annotations(list(_imports(tasks)), concurrency=8)
    assert (again.updated, again.unchanged, again.failed) == (0, 200, 0)
    assert af.store.bulk.count("annotation") == 200


async def test_someone_elses_change_fails_conflict_unless_overwrite(
    emu: Emulator, project: Project
) -> None:
    tasks = emu.annofab.seed_tasks(3)
    first = list(_imports(tasks))
    assert (await project.bulk_put_annotations(first)).updated == 3
    read = [await project.editor_annotation(t, f"input-{t}") for t in tasks]
    # someone else saves tasks[0] and tasks[1] after we read them
    for t, cur in zip(tasks[:2], read[:2], strict=True):
        other = [NewAnnotation(annotation_id=f"{t}-theirs", label_id="dog", body=_box(50))]
        await project.put_editor_annotation(
            t, f"input-{t}", other, updated_datetime=cur.updated_datetime
        )
    ours = [
        AnnotationImport(i.task_id, i.input_data_id, i.details[:1], cur.updated_datetime)
        for i, cur in zip(first, read, strict=True)
    ]
    result = await project.bulk_put_annotations(ours[:2])
    assert (result.updated, result.failed) == (0, 2)
    assert {f.reason for f in result.failures} == {"conflict"}
    saved = await project.editor_annotation(tasks[0], f"input-{tasks[0]}")
    assert [d.label_id for d in saved.details] == ["dog"]

    forced = await project.bulk_put_annotations(ours, overwrite=True)
    assert (forced.updated, forced.failed) == (3, 0)
    saved = await project.editor_annotation(tasks[0], f"input-{tasks[0]}")
    assert [d.annotation_id for d in saved.details] == [f"{tasks[0]}-a0"]


async def test_already_equal_under_a_stale_lock_is_unchanged(
    emu: Emulator, project: Project
) -> None:
    [task] = emu.annofab.seed_tasks(1)
    [item] = list(_imports([task]))
    before = await project.editor_annotation(task, f"input-{task}")
    assert (await project.bulk_put_annotations([item])).updated == 1
    stale = AnnotationImport(task, item.input_data_id, item.details, before.updated_datetime)
    # the lock no longer holds (409 on the first attempt) but the content is ours already
    result = await project.bulk_put_annotations([stale])
    assert (result.updated, result.unchanged) == (0, 1)
    assert emu.annofab.store.bulk.count("annotation") == 1


async def test_hostile_answers_are_typed_failures(
    emu: Emulator, project: Project, tmp_path: Path
) -> None:
    tasks = emu.annofab.seed_tasks(2)
    emu.annofab.store.bulk.hostile = {"deleteTask", "createTempPath"}
    result = await project.bulk_delete_tasks(tasks)
    assert result.failed == 2
    assert all(isinstance(f.error, ResponseDecodeError) for f in result.failures)
    file = tmp_path / "a.jpg"
    file.write_bytes(b"jpeg")
    result = await project.bulk_put_input_data([InputDataImport("in-a", "a.jpg", upload=file)])
    assert isinstance(result.failures[0].error, ResponseDecodeError)
    emu.annofab.store.bulk.hostile = set()
    emu.annofab.store.bulk.upload_url = "http://203.0.113.9/upload?sig=x"
    result = await project.bulk_put_input_data([InputDataImport("in-a", "a.jpg", upload=file)])
    assert "plain http" in str(result.failures[0].error)
    assert emu.annofab.store.bulk.count("input_data") == 0


async def test_bad_annotation_items_are_refused_before_any_request(
    emu: Emulator, project: Project
) -> None:
    before = emu.faults.requests_seen()
    with pytest.raises(InvalidArgumentError, match=r"items\[1\]"):
        await project.bulk_put_annotations([("t-1", "in-1", []), ("t-2", "in-2", ["box"])])
    twice = [NewAnnotation(annotation_id="a", label_id="l", body=_box(1))] * 2
    with pytest.raises(InvalidArgumentError, match="repeat an annotation_id"):
        await project.bulk_put_annotations([("t-1", "in-1", twice)])
    assert emu.faults.requests_seen() == before


async def test_delete_tasks_under_lost_answers(emu: Emulator, project: Project) -> None:
    af = emu.annofab
    tasks = af.seed_tasks(150)
    missing = ["no-such-1", "no-such-2"]
    _faults(emu, {"annofab_delete_task"}, {"annofab_delete_task"})

    result = await project.bulk_delete_tasks(tasks + missing, concurrency=8)

    assert (result.total, result.updated, result.failed) == (152, 150, 2)
    assert {(f.key, f.reason) for f in result.failures} == {(m, "not_found") for m in missing}
    assert not af.store.project(af.project_id).tasks
    assert af.store.bulk.count("delete_task") == 150
    assert emu.faults.count(kind="apply_then_drop") > 0
    again = await project.bulk_delete_tasks(tasks[:10], missing_ok=True)
    assert (again.unchanged, again.failed) == (10, 0)


async def test_input_data_import_with_uploads_under_faults(
    emu: Emulator, project: Project, tmp_path: Path
) -> None:
    af = emu.annofab
    files = []
    for n in range(40):
        path = tmp_path / f"frame-{n}.jpg"
        path.write_bytes(f"jpeg bytes {n}".encode() * (n + 1))
        files.append(path)
    items = [
        InputDataImport(f"up-{n}", f.name, upload=f, metadata={"n": str(n)})
        for n, f in enumerate(files)
    ]
    items += [
        InputDataImport(f"url-{n}", f"remote-{n}.jpg", f"https://example.invalid/{n}.jpg")
        for n in range(60)
    ]
    _faults(
        emu,
        {
            "annofab_get_input_data",
            "annofab_put_input_data",
            "annofab_create_temp_path",
            "annofab_object_put",
        },
        {"annofab_put_input_data", "annofab_object_put"},
    )

    result = await project.bulk_put_input_data(items, concurrency=8)

    assert (result.total, result.updated, result.failed) == (100, 100, 0), result.failures
    state = af.store.bulk
    for n, f in enumerate(files):
        saved = await project.input_data_item(f"up-{n}")
        assert saved.input_data_name == f.name
        assert state.object_at(saved.input_data_path) == f.read_bytes()
        assert state.writes[("input_data", f"up-{n}")] == 1
    saved = await project.input_data_item("url-7")
    assert saved.input_data_path == "https://example.invalid/7.jpg"
    assert state.count("input_data") == 100
    assert emu.faults.count(kind="apply_then_drop") > 0

    again = await project.bulk_put_input_data(items, concurrency=8)
    assert (again.updated, again.unchanged, again.failed) == (0, 100, 0)
    assert state.count("input_data") == 100


async def test_a_damaged_upload_registers_nothing(
    emu: Emulator, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG....")
    emu.annofab.store.bulk.corrupt_uploads = 1
    result = await project.bulk_put_input_data([InputDataImport("in-a", "a.png", upload=path)])
    assert [f.reason for f in result.failures] == ["upload_mismatch"]
    assert emu.annofab.store.bulk.count("input_data") == 0
    assert hashlib.md5(path.read_bytes()).hexdigest() in str(result.failures[0].error)
    retry = await project.bulk_put_input_data([InputDataImport("in-a", "a.png", upload=path)])
    assert retry.updated == 1
    token = next(iter(emu.annofab.store.bulk.objects))
    assert emu.annofab.store.bulk.content_types[token] == "image/png"


async def test_input_data_items_are_checked_first(emu: Emulator, project: Project) -> None:
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        await project.bulk_put_input_data([InputDataImport("in-1", "a.jpg")])
    with pytest.raises(InvalidArgumentError, match="ZIP"):
        await project.bulk_put_input_data([InputDataImport("in-1", "a.zip", "s3://b/a.zip")])


async def test_comment_import_under_faults_puts_each_once_and_deletes(
    emu: Emulator, project: Project
) -> None:
    af = emu.annofab
    tasks = af.seed_tasks(80)
    me = af.account_id

    def items(text: str) -> list[CommentImport]:
        return [
            CommentImport(
                t,
                f"input-{t}",
                put=[
                    CommentPut(comment_id=f"{t}-c{k}", account_id=me, comment=text) for k in (1, 2)
                ],
            )
            for t in tasks
        ]

    assert (await project.bulk_update_comments(items("first"))).updated == 80
    _faults(
        emu,
        {"annofab_get_comments", "annofab_batch_update_comments"},
        {"annofab_batch_update_comments"},
    )
    changed = [
        CommentImport(i.task_id, i.input_data_id, put=i.put[:1], delete=[i.put[1].comment_id])
        for i in items("second")
    ]

    result = await project.bulk_update_comments(changed, concurrency=8)

    assert (result.total, result.updated, result.failed) == (80, 80, 0), result.failures
    writes = af.store.bulk.writes
    for t in tasks:
        [kept] = await project.comments(t, f"input-{t}")
        assert (kept.comment_id, kept.comment) == (f"{t}-c1", "second")
        assert writes[("comment", f"{t}-c1")] == 2  # "first", then "second": once each
        assert writes[("comment_delete", f"{t}-c2")] == 1
    assert emu.faults.count(kind="apply_then_drop") > 0
    again = await project.bulk_update_comments(changed, concurrency=8)
    assert (again.updated, again.unchanged) == (0, 80)


async def test_a_save_in_between_fails_conflict_or_is_overwritten(
    emu: Emulator, project: Project
) -> None:
    tasks = emu.annofab.seed_tasks(2)
    items = list(_imports(tasks))
    emu.annofab.store.bulk.interfere_annotations = 1
    result = await project.bulk_put_annotations(items, concurrency=1)
    assert (result.updated, result.failed) == (1, 1)
    assert [(f.key, f.reason) for f in result.failures] == [(items[0].key, "conflict")]
    saved = await project.editor_annotation(tasks[0], items[0].input_data_id)
    assert saved.details == ()
    emu.annofab.store.bulk.interfere_annotations = 1
    again = await project.bulk_put_annotations(items, overwrite=True)
    assert (again.updated, again.unchanged) == (1, 1)
    saved = await project.editor_annotation(tasks[0], items[0].input_data_id)
    assert [d.annotation_id for d in saved.details] == [d.annotation_id for d in items[0].details]
    assert emu.annofab.store.bulk.count("annotation") == 2


async def test_lazy_input_progress_failures_and_fail_fast(emu: Emulator, project: Project) -> None:
    tasks = emu.annofab.seed_tasks(30)
    events: list[BulkProgress] = []
    failed: list[str] = []

    async def lazy() -> AsyncIterator[tuple[str, dict[str, object]]]:
        for t in [*tasks[:20], "missing-1", *tasks[20:]]:
            yield (t, {"n": 1})
        yield ("bad", {"x": [1]})  # a bad lazy item fails alone, named

    result = await project.bulk_patch_metadata(
        lazy(), on_progress=events.append, on_failure=lambda f: failed.append(f.key)
    )
    assert (result.total, result.updated, result.failed) == (32, 30, 2)
    assert sorted(failed) == ["bad", "missing-1"]
    assert {f.reason for f in result.failures} == {"not_found", "invalid_item"}
    assert events[-1].final
    assert events[-1].done == 32
    with pytest.raises(BulkAbortedError) as stopped:
        await project.bulk_delete_tasks(["missing-2", *tasks], fail_fast=True, concurrency=1)
    assert stopped.value.result.failed == 1
    assert len(emu.annofab.store.project(emu.annofab.project_id).tasks) >= 29
