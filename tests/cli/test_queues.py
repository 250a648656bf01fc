"""``annoq queues``, ``stats``, ``create-queue`` and ``add-calls`` against the emulator."""

from __future__ import annotations

import json

from annoq.cli import _render

from ._support import annoq, summary


async def test_create_queue_prints_an_id_that_queues_then_lists(emu, conn):
    created = await annoq(
        "create-queue", *conn, emu.project, "--name", "triage", "--description", "first pass",
        "--scorer-ref", "weave:///entity/project/object/s1:v0",
    )  # fmt: skip

    assert created.code == 0, created.err
    queue_id = created.out.strip()
    listed = await annoq("queues", *conn, emu.project, "--json")
    [queue] = [q for q in json.loads(listed.out) if q["id"] == queue_id]
    assert queue["name"] == "triage"
    assert queue["description"] == "first pass"
    assert queue["scorer_refs"] == ["weave:///entity/project/object/s1:v0"]


async def test_queues_table_lists_each_queue_and_filters_by_name(emu, conn):
    first = emu.weave.create_queue(name="Alpha review")
    second = emu.weave.create_queue(name="beta")

    everything = await annoq("queues", *conn, emu.project)
    only_alpha = await annoq("queues", *conn, emu.project, "--name", "alpha")

    assert everything.code == 0, everything.err
    assert everything.out.splitlines()[0].split()[:2] == ["ID", "NAME"]
    assert first in everything.out
    assert second in everything.out
    assert first in only_alpha.out
    assert second not in only_alpha.out


async def test_queues_of_an_empty_project_says_so(emu, conn):
    ran = await annoq("queues", *conn, "entity/empty")
    assert ran.code == 0
    assert ran.out == ""
    assert "no queues in entity/empty" in ran.err


async def test_stats_shows_counts_of_each_queue_in_order(emu, conn):
    busy = emu.weave.seed_queue(10)
    idle = emu.weave.seed_queue(4)
    for item_id in emu.weave.item_ids(busy)[:3]:
        emu.weave.set_progress(busy, item_id, "skipped", user_id="someone")

    table = await annoq("stats", *conn, emu.project, busy, idle)
    as_json = await annoq("stats", *conn, "--json", emu.project, busy, idle)

    assert table.code == 0, table.err
    rows = [line.split() for line in table.out.splitlines()]
    assert rows[1] == [busy, "10", "3", "7", "30.0%"]
    assert rows[2] == [idle, "4", "0", "4", "0.0%"]
    assert json.loads(as_json.out) == [
        {"queue_id": busy, "total_items": 10, "completed_items": 3},
        {"queue_id": idle, "total_items": 4, "completed_items": 0},
    ]


async def test_add_calls_adds_new_calls_and_counts_duplicates_and_unknown_ids(emu, conn, tmp_path):
    queue_id = emu.weave.create_queue(name="q")
    calls = emu.weave.create_calls(5)
    more = tmp_path / "calls.txt"
    more.write_text(f"{calls[3]}\n{calls[4]}\n", encoding="utf-8")

    first = await annoq(
        "add-calls", *conn, "--json", emu.project, queue_id, calls[0], calls[1],
        "--display-field", "inputs.prompt",
    )  # fmt: skip
    second = await annoq(
        "add-calls", *conn, emu.project, queue_id, calls[1], calls[2], "no-such-call",
        "--calls-from", str(more),
    )  # fmt: skip

    assert first.code == 0, first.err
    assert json.loads(first.out) == {"added": 2, "duplicates": 0, "unknown": 0}
    assert summary(second.out) == {
        "Added": "3",
        "Already in the queue": "1",
        "Unknown call ids (dropped)": "1",
    }
    items = emu.weave.items(queue_id)
    assert sorted(i["call_id"] for i in items) == sorted(calls)
    assert items[0]["display_fields"] == ["inputs.prompt"]


async def test_add_calls_to_an_unknown_queue_is_refused(emu, conn):
    [call] = emu.weave.create_calls(1)
    ran = await annoq("add-calls", *conn, emu.project, "no-such-queue", call)
    assert ran.code == 2
    ran.assert_one_error_line("not found")


async def test_add_calls_without_any_call_id_is_a_usage_error(emu, conn):
    queue_id = emu.weave.create_queue(name="q")
    ran = await annoq("add-calls", *conn, emu.project, queue_id)
    assert ran.code == 2
    ran.assert_one_error_line("no call ids")


async def test_without_rich_a_terminal_gets_the_plain_table(emu, conn, monkeypatch):
    monkeypatch.setattr(_render, "_rich_available", lambda: False)
    queue_id = emu.weave.seed_queue(2)

    ran = await annoq("stats", *conn, emu.project, queue_id, terminal=True)

    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[1].split() == [queue_id, "2", "0", "2", "0.0%"]
    assert "│" not in ran.out
