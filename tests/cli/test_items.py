"""``annoq items``: the output parses back to exactly the queue's items."""

from __future__ import annotations

import csv
import io
import json
import os
import random
from pathlib import Path

from annoq import QueueItem, WeaveSession
from annoq.cli._io import ITEM_FIELDS
from annoq.emulator import Emulator, FaultRule
from annoq.weave._protocol import converter

from ._support import annoq


async def library_items(emu: Emulator, queue_id: str) -> list[QueueItem]:
    async with WeaveSession(emu.api_key, base_url=emu.base_url) as weave:
        return [item async for item in weave.queue(emu.project, queue_id).items()]


async def test_jsonl_output_parses_back_to_the_same_items(emu, conn):
    queue_id = emu.weave.seed_queue(1_234)  # three pages of 500
    ids = emu.weave.item_ids(queue_id)
    emu.weave.set_progress(queue_id, ids[7], "completed", user_id=emu.user_id)

    ran = await annoq("items", *conn, emu.project, queue_id)

    assert ran.code == 0, ran.err
    parsed = [converter.structure(json.loads(line), QueueItem) for line in ran.out.splitlines()]
    assert parsed == await library_items(emu, queue_id)
    assert [item.id for item in parsed] == ids
    assert parsed[7].annotation_state == "completed"
    assert "1,234 items written to stdout" in ran.err


async def test_csv_output_has_one_row_per_item_with_the_jsonl_values(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(40)
    target = tmp_path / "items.csv"

    ran = await annoq("items", *conn, emu.project, queue_id, "--format", "csv", "-o", str(target))
    as_jsonl = await annoq("items", *conn, emu.project, queue_id)

    assert ran.code == 0, ran.err
    assert ran.out == ""  # the data went to the file
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    records = [json.loads(line) for line in as_jsonl.out.splitlines()]
    assert len(rows) == len(records) == 40
    assert list(rows[0]) == list(ITEM_FIELDS)
    for row, record in zip(rows, records, strict=True):
        assert json.loads(row["display_fields"]) == record["display_fields"]
        for field in ("id", "call_id", "annotation_state", "created_at", "call_op_name"):
            assert row[field] == record[field]
        assert row["position_in_queue"] == ""
        assert record["position_in_queue"] is None


async def test_state_and_op_name_filters_select_exactly_the_matching_items(emu, conn):
    queue_id = emu.weave.seed_queue(60, op_names=("predict", "score"))
    items = emu.weave.items(queue_id)
    done = {item["id"] for item in items[::4]}
    for item_id in done:
        emu.weave.set_progress(queue_id, item_id, "completed", user_id="someone-else")

    by_state = await annoq("items", *conn, emu.project, queue_id, "--state", "completed")
    by_op = await annoq("items", *conn, emu.project, queue_id, "--op-name", "score", "--fast")

    assert {json.loads(line)["id"] for line in by_state.out.splitlines()} == done
    scored = {item["id"] for item in items if item["call_op_name"] == "score"}
    assert scored
    assert {json.loads(line)["id"] for line in by_op.out.splitlines()} == scored


async def test_limit_stops_after_that_many_items(emu, conn):
    queue_id = emu.weave.seed_queue(30)
    ran = await annoq("items", *conn, emu.project, queue_id, "--limit", "7")
    assert [json.loads(line)["id"] for line in ran.out.splitlines()] == (
        emu.weave.item_ids(queue_id)[:7]
    )


async def test_unknown_format_is_a_usage_error_and_writes_nothing(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(5)
    target = tmp_path / "out.xml"

    ran = await annoq(
        "items", *conn, emu.project, queue_id, "--format", "xml", "--output", str(target)
    )

    assert ran.code == 2
    ran.assert_one_error_line("invalid choice: 'xml'", "--help")
    assert ran.out == ""
    assert os.listdir(tmp_path) == []


async def test_unknown_queue_is_an_error_not_an_empty_file(emu, conn, tmp_path):
    target = tmp_path / "out.jsonl"
    ran = await annoq("items", *conn, emu.project, "no-such-queue", "-o", str(target))
    assert ran.code == 2
    ran.assert_one_error_line("not found")
    assert not target.exists()


def seed_where_only_the_first_draw_passes(rate: float) -> int:
    """A fault seed whose first request passes and the next five fail."""
    for seed in range(10_000):
        draws = random.Random(seed)
        if draws.random() >= rate and all(draws.random() < rate for _ in range(5)):
            return seed
    raise AssertionError("no such seed")


async def test_a_failure_mid_walk_leaves_no_partial_output_file(emu, conn, tmp_path: Path):
    queue_id = emu.weave.seed_queue(1_500)
    target = tmp_path / "out.jsonl"
    target.write_text("the previous export\n", encoding="utf-8")
    emu.faults.add(FaultRule(kind="status", status=503, rate=0.5, routes={"items_query"}))
    emu.faults.reseed(seed_where_only_the_first_draw_passes(0.5))

    ran = await annoq(
        "items", *conn, "--max-retries", "0", emu.project, queue_id, "-o", str(target)
    )

    assert ran.code == 1
    ran.assert_one_error_line("503")
    assert emu.faults.count(kind="status_503") >= 1
    assert target.read_text(encoding="utf-8") == "the previous export\n"  # untouched
    assert sorted(os.listdir(tmp_path)) == ["out.jsonl"]  # no temp file left


async def test_on_a_terminal_a_progress_bar_shows_while_the_file_is_written(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(700)
    target = tmp_path / "items.jsonl"

    ran = await annoq("items", *conn, emu.project, queue_id, "-o", str(target), terminal=True)

    assert ran.code == 0, ran.err
    assert "Streaming items" in ran.err
    assert "700/700" in ran.err
    assert len(target.read_text(encoding="utf-8").splitlines()) == 700
