"""``annoq export`` and ``annoq annotate`` against the emulator."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import orjson
import pytest

from annoq.emulator import Emulator, FaultRule

from ._support import annoq, summary

SPECS = {
    "quality": {"type": "integer", "minimum": 1, "maximum": 5},
    "ok": {"type": "boolean"},
    "label": {"type": "string", "enum": ["cat", "dog"]},
}


def _jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_export_writes_one_row_per_item_with_a_column_per_spec_and_annotator(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path, fmt: str
) -> None:
    queue_id, _ = emu.feedback.seed_annotated_queue(40, SPECS, annotators=("ann-1", "ann-2"))
    target = tmp_path / f"out.{fmt}"
    ran = await annoq("export", emu.project, queue_id, *conn, "-o", str(target), "--format", fmt)
    assert ran.code == 0, ran.err
    if fmt == "jsonl":
        rows = _jsonl(target)
    else:
        rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [r["id"] for r in rows] == emu.weave.item_ids(queue_id)
    columns = {f"{s}@{a}" for s in SPECS for a in ("ann-1", "ann-2")}
    assert columns <= set(rows[0])
    for row in rows:
        item = emu.weave.item(queue_id, row["id"])
        ref = f"weave:///{emu.project}/call/{item['call_id']}"
        for stored in emu.feedback.rows(weave_ref=ref):
            spec = stored["feedback_type"].removeprefix("wandb.annotation.")
            got = row[f"{spec}@{stored['wb_user_id']}"]
            want = stored["payload"]["value"]
            if fmt == "csv":
                want = str(want).lower() if isinstance(want, bool) else str(want)
            assert got == want
    assert sorted(os.listdir(tmp_path)) == [target.name]  # no temp file left


async def test_export_of_a_missing_queue_leaves_no_file(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    target = tmp_path / "out.jsonl"
    ran = await annoq("export", emu.project, "no-such-queue", *conn, "-o", str(target))
    assert ran.code != 0
    assert not target.exists()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_annotate_imports_another_annotators_export_and_completes_the_items(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path, fmt: str
) -> None:
    queue_id, _ = emu.feedback.seed_annotated_queue(
        120, SPECS, annotators=("model",), complete=False
    )  # more rows than are looked up one by one: the items come from one walk
    exported = tmp_path / f"labels.{fmt}"
    ran = await annoq("export", emu.project, queue_id, *conn, "-o", str(exported), "--format", fmt)
    assert ran.code == 0, ran.err
    queries_before = emu.faults.requests_seen("items_query")
    ran = await annoq(
        "annotate", emu.project, queue_id, *conn, "--from", str(exported), "--annotator", "model"
    )
    assert ran.code == 0, ran.err
    assert summary(ran.out)["Updated"] == "120"
    # One walk (its first page, prefetched ones, and the request that confirms a short
    # page is the end), no lookup per row (120 rows).
    assert emu.faults.requests_seen("items_query") - queries_before <= 4
    model = {
        (r["weave_ref"], r["feedback_type"]): r["payload"]["value"]
        for r in emu.feedback.rows(user_id="model")
    }
    mine = {
        (r["weave_ref"], r["feedback_type"]): r["payload"]["value"]
        for r in emu.feedback.rows(user_id=emu.user_id)
    }
    assert mine == model
    assert all(
        emu.weave.progress(i)[emu.user_id] == "completed" for i in emu.weave.item_ids(queue_id)
    )
    again = await annoq(
        "annotate", emu.project, queue_id, *conn, "--from", str(exported), "--annotator", "model",
        "--user-id", emu.user_id,
    )  # fmt: skip
    assert summary(again.out)["Unchanged"] == "120", again.out
    assert len(emu.feedback.rows(user_id=emu.user_id)) == len(mine)


async def test_annotate_checks_the_whole_file_first_and_names_the_line_item_and_spec(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    queue_id, _ = emu.feedback.seed_annotated_queue(5, SPECS, annotators=(), complete=False)
    ids = emu.weave.item_ids(queue_id)
    lines = [{"id": i, "quality": 3} for i in ids]
    lines[3] = {"id": ids[3], "quality": 7}
    source = tmp_path / "in.jsonl"
    source.write_text("".join(orjson.dumps(line).decode() + "\n" for line in lines))
    ran = await annoq("annotate", emu.project, queue_id, *conn, "--from", str(source))
    assert ran.code == 2
    ran.assert_one_error_line("line 4", repr(ids[3]), "'quality'", "nothing was sent")
    assert emu.feedback.rows() == []
    assert emu.faults.requests_seen("feedback_batch_create") == 0


async def test_annotate_failures_file_feeds_straight_back_in(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    queue_id, _ = emu.feedback.seed_annotated_queue(20, SPECS, annotators=(), complete=False)
    ids = emu.weave.item_ids(queue_id)
    source = tmp_path / "in.csv"
    source.write_text("id,quality,ok\n" + "".join(f"{i},4,true\n" for i in ids))
    emu.faults.add(
        FaultRule(kind="status", status=500, rate=1.0, routes={"feedback_batch_create"}, times=500)
    )
    failures = tmp_path / "failed.csv"
    ran = await annoq(
        "annotate", emu.project, queue_id, *conn, "--from", str(source),
        "--failures", str(failures), "--max-retries", "0", "--concurrency", "4",
    )  # fmt: skip
    assert ran.code == 1
    failed = list(csv.DictReader(io.StringIO(failures.read_text())))
    assert {r["id"] for r in failed} == set(ids)
    assert all(r["error"].startswith("retries_exhausted") for r in failed)
    emu.faults.clear()
    ran = await annoq("annotate", emu.project, queue_id, *conn, "--from", str(failures))
    assert ran.code == 0, ran.err
    assert summary(ran.out)["Updated"] == "20"
    values = {r["feedback_type"]: r["payload"]["value"] for r in emu.feedback.rows()}
    assert values == {"wandb.annotation.quality": 4, "wandb.annotation.ok": True}


async def test_export_draws_a_progress_bar_on_a_terminal_and_writes_the_file(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    queue_id, _ = emu.feedback.seed_annotated_queue(700, SPECS, annotators=("ann-1",))
    target = tmp_path / "out.jsonl"
    ran = await annoq("export", emu.project, queue_id, *conn, "-o", str(target), terminal=True)
    assert ran.code == 0, ran.err
    assert "Exporting annotations" in ran.err
    assert "700/700" in ran.err
    assert len(_jsonl(target)) == 700


async def test_annotate_without_complete_leaves_states_alone(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    queue_id, _ = emu.feedback.seed_annotated_queue(3, SPECS, annotators=(), complete=False)
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            orjson.dumps({"id": i, "ok": True}).decode() + "\n"
            for i in emu.weave.item_ids(queue_id)
        )
    )
    ran = await annoq(
        "annotate", emu.project, queue_id, *conn, "--from", str(source), "--no-complete", "--json"
    )
    assert ran.code == 0, ran.err
    assert orjson.loads(ran.out)["updated"] == 3
    assert all(emu.weave.progress(i) == {} for i in emu.weave.item_ids(queue_id))
    assert len(emu.feedback.rows(user_id=emu.user_id)) == 3


async def test_annotate_asks_whose_answers_to_import_when_the_file_has_several(
    emu: Emulator, conn: tuple[str, ...], tmp_path: Path
) -> None:
    queue_id, _ = emu.feedback.seed_annotated_queue(4, SPECS, annotators=("a1", "a2"))
    exported = tmp_path / "all.jsonl"
    assert (await annoq("export", emu.project, queue_id, *conn, "-o", str(exported))).code == 0
    ran = await annoq("annotate", emu.project, queue_id, *conn, "--from", str(exported))
    assert ran.code == 2
    ran.assert_one_error_line("answers by a1, a2", "--annotator", "nothing was sent")
    ran = await annoq(
        "annotate", emu.project, queue_id, *conn, "--from", str(exported), "--annotator", "zz"
    )
    ran.assert_one_error_line("no SPEC@zz columns")
    source = tmp_path / "bad.csv"
    source.write_text("id,colour\nx,red\n")
    ran = await annoq("annotate", emu.project, queue_id, *conn, "--from", str(source))
    ran.assert_one_error_line("column 'colour' names no spec", "nothing was sent")
    assert emu.feedback.rows(user_id=emu.user_id) == []
