"""``annoq mark``: effects on the server, failures files that finish the job, bad input."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from annoq.emulator import FaultRule

from ._support import annoq, my_states, states, summary


def read_jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_mark_sets_the_state_on_every_item_and_prints_the_summary(emu, conn):
    queue_id = emu.weave.seed_queue(300)

    ran = await annoq("mark", *conn, emu.project, queue_id, "completed")

    assert ran.code == 0, ran.err
    assert set(my_states(emu, queue_id).values()) == {"completed"}
    assert emu.weave.applied_writes(user_id=emu.user_id) == 300
    rows = summary(ran.out)
    assert (rows["Items"], rows["Updated"], rows["Failed"]) == ("300", "300", "0")


async def test_marking_again_with_user_id_counts_every_item_unchanged(emu, conn):
    queue_id = emu.weave.seed_queue(40)
    args = ("mark", *conn, "--json", "--user-id", emu.user_id, emu.project, queue_id, "skipped")

    first = json.loads((await annoq(*args)).out)
    again = json.loads((await annoq(*args)).out)

    assert (first["updated"], first["unchanged"]) == (40, 0)
    assert (again["updated"], again["unchanged"], again["failed"]) == (0, 40, 0)
    assert emu.weave.applied_writes(user_id=emu.user_id) == 40


async def test_where_state_leaves_items_in_other_states_alone(emu, conn):
    queue_id = emu.weave.seed_queue(50)
    ids = emu.weave.item_ids(queue_id)
    for item_id in ids[:5]:
        emu.weave.set_progress(queue_id, item_id, "completed", user_id="other-annotator")

    ran = await annoq(
        "mark", *conn, "--json", emu.project, queue_id, "skipped", "--where-state", "unstarted"
    )

    summary = json.loads(ran.out)
    assert ran.code == 0, ran.err
    assert (summary["total"], summary["updated"], summary["failed"]) == (45, 45, 0)
    mine = my_states(emu, queue_id)
    assert all(mine[item_id] is None for item_id in ids[:5])
    assert all(mine[item_id] == "skipped" for item_id in ids[5:])


async def test_refused_transitions_are_reported_as_failures_with_exit_1(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(20)
    ids = emu.weave.item_ids(queue_id)
    for item_id in ids[:3]:  # skipped by this user: completed is now refused
        emu.weave.set_progress(queue_id, item_id, "skipped", user_id=emu.user_id)
    failures = tmp_path / "failures.jsonl"

    ran = await annoq(
        "mark", *conn, emu.project, queue_id, "completed", "--failures", str(failures)
    )

    assert ran.code == 1
    records = read_jsonl(failures)
    assert sorted(r["id"] for r in records) == sorted(ids[:3])
    assert {r["reason"] for r in records} == {"invalid_transition"}
    assert all("Invalid state transition" in r["message"] for r in records)
    assert summary(ran.out)["failed: invalid_transition"] == "3"
    assert "3 will fail again as they are (invalid_transition 3" in ran.err
    assert "--ids-from" not in ran.err  # a retry cannot fix these
    assert [my_states(emu, queue_id)[i] for i in ids[3:]] == ["completed"] * 17


async def test_feeding_the_failures_file_back_finishes_the_job(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(200)
    failures = tmp_path / "failures.jsonl"
    emu.faults.add(FaultRule(kind="status", status=503, rate=1.0, routes={"progress"}, times=6))
    args = ("mark", *conn, "--max-retries", "0", emu.project, queue_id, "completed")

    first = await annoq(*args, "--failures", str(failures))

    assert first.code == 1
    failed = read_jsonl(failures)
    assert len(failed) == 6
    assert {r["reason"] for r in failed} == {"retries_exhausted"}
    assert sum(state is None for state in my_states(emu, queue_id).values()) == 6

    second = await annoq(*args, "--ids-from", str(failures), "--failures", str(failures))

    assert second.code == 0, second.err
    assert failures.read_text(encoding="utf-8") == ""  # rewritten: nothing failed this time
    assert set(my_states(emu, queue_id).values()) == {"completed"}
    counts = emu.weave.applied_counts()
    assert all(counts[(i, emu.user_id)] == 1 for i in emu.weave.item_ids(queue_id))


async def test_ids_from_stdin_marks_only_those_items(emu, conn):
    queue_id = emu.weave.seed_queue(30)
    ids = emu.weave.item_ids(queue_id)
    chosen = ids[3:9]

    ran = await annoq(
        "mark", *conn, emu.project, queue_id, "in_progress", "--ids-from", "-",
        stdin="".join(f"{i}\n" for i in chosen),
    )  # fmt: skip

    assert ran.code == 0, ran.err
    mine = my_states(emu, queue_id)
    assert {i for i, s in mine.items() if s == "in_progress"} == set(chosen)
    assert sum(s is not None for s in mine.values()) == 6


async def test_items_output_can_be_fed_to_mark(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(40, op_names=("a", "b"))
    export = tmp_path / "b.jsonl"
    await annoq("items", *conn, emu.project, queue_id, "--op-name", "b", "-o", str(export))

    ran = await annoq("mark", *conn, emu.project, queue_id, "skipped", "--ids-from", str(export))

    assert ran.code == 0, ran.err
    expected = {i["id"] for i in emu.weave.items(queue_id) if i["call_op_name"] == "b"}
    assert {i for i, s in states(emu, queue_id).items() if s == "skipped"} == expected


async def test_dry_run_counts_and_changes_nothing(emu, conn):
    queue_id = emu.weave.seed_queue(25)
    emu.weave.set_progress(queue_id, emu.weave.item_ids(queue_id)[0], "completed", user_id="x")

    ran = await annoq(
        "mark", *conn, "--json", emu.project, queue_id, "completed",
        "--where-state", "unstarted", "--dry-run",
    )  # fmt: skip

    assert ran.code == 0, ran.err
    assert json.loads(ran.out) == {"dry_run": True, "state": "completed", "matching": 24}
    assert emu.weave.applied_writes(user_id=emu.user_id) == 0


async def test_bad_lines_in_an_ids_file_stop_everything_before_any_update(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(10)
    ids = emu.weave.item_ids(queue_id)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"{ids[0]}\n\n{ids[1]}\n{{not json\n{ids[2]} extra\n", encoding="utf-8")
    failures = tmp_path / "failures.jsonl"

    ran = await annoq(
        "mark", *conn, emu.project, queue_id, "completed",
        "--ids-from", str(ids_file), "--failures", str(failures),
    )  # fmt: skip

    assert ran.code == 2
    ran.assert_one_error_line("ids.txt: line 2 is blank", "2 more bad lines", "nothing was sent")
    assert emu.weave.applied_writes() == 0
    assert not failures.exists()


async def test_a_json_line_without_an_id_is_named(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(3)
    ids_file = tmp_path / "ids.jsonl"
    ids_file.write_text('{"id": "a"}\n{"item": "b"}\n', encoding="utf-8")

    ran = await annoq(
        "mark", *conn, emu.project, queue_id, "completed", "--ids-from", str(ids_file)
    )

    assert ran.code == 2
    ran.assert_one_error_line('line 2 has no string "id"')


async def test_a_missing_ids_file_is_a_usage_error(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(3)
    missing = tmp_path / "nope.txt"
    ran = await annoq("mark", *conn, emu.project, queue_id, "completed", "--ids-from", str(missing))
    assert ran.code == 2
    ran.assert_one_error_line("cannot read", "No such file")


async def test_unknown_state_is_a_usage_error(emu, conn):
    queue_id = emu.weave.seed_queue(3)
    ran = await annoq("mark", *conn, emu.project, queue_id, "done")
    assert ran.code == 2
    ran.assert_one_error_line("argument STATE: invalid choice: 'done'")
    assert emu.weave.applied_writes() == 0


async def test_unstarted_cannot_be_set_and_says_so(emu, conn):
    queue_id = emu.weave.seed_queue(3)
    ran = await annoq("mark", *conn, emu.project, queue_id, "unstarted")
    assert ran.code == 2
    ran.assert_one_error_line("invalid choice: 'unstarted'", "completed")


async def test_where_state_and_ids_from_together_are_refused(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(3)
    ran = await annoq(
        "mark", *conn, emu.project, queue_id, "completed",
        "--where-state", "unstarted", "--ids-from", "-",
    )  # fmt: skip
    assert ran.code == 2
    ran.assert_one_error_line("not allowed with argument")


async def test_on_a_terminal_mark_draws_a_bar_with_the_known_total(emu, conn):
    queue_id = emu.weave.seed_queue(120)

    ran = await annoq("mark", *conn, emu.project, queue_id, "completed", terminal=True)

    assert ran.code == 0, ran.err
    assert "Marking completed" in ran.err
    assert "120/120" in ran.err
    assert "│" in ran.out  # the summary as a rich table
    assert set(my_states(emu, queue_id).values()) == {"completed"}


async def test_mark_subprocess_writes_my_record_even_when_another_annotator_completed_later(
    emu, conn
):
    """The real command line, in its own process, against a shared queue: I completed a
    few items earlier, annotator B completed them all later."""
    queue_id = emu.weave.seed_queue(300)
    ids = emu.weave.item_ids(queue_id)
    for item_id in ids[::60]:
        emu.weave.set_progress(queue_id, item_id, "completed", user_id=emu.user_id)
    for item_id in ids:
        emu.weave.set_progress(queue_id, item_id, "completed", user_id="annotator-b")
    script = Path(sys.executable).with_name("annoq")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "annoq.cli"]

    process = await asyncio.create_subprocess_exec(
        *command, "mark", *conn, "--json", emu.project, queue_id, "completed",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)

    assert process.returncode == 0, err.decode()
    report = json.loads(out)
    assert (report["updated"], report["unchanged"], report["failed"]) == (295, 5, 0)
    assert set(my_states(emu, queue_id).values()) == {"completed"}
    assert emu.weave.applied_writes(user_id=emu.user_id) == 300


async def test_mark_user_id_skips_only_items_shown_as_mine_and_writes_the_rest(emu, conn):
    queue_id = emu.weave.seed_queue(40)
    ids = emu.weave.item_ids(queue_id)
    for item_id in ids[:10]:
        emu.weave.set_progress(queue_id, item_id, "completed", user_id="annotator-b")
    for item_id in ids[10:20]:
        emu.weave.set_progress(queue_id, item_id, "completed", user_id=emu.user_id)
    requests = emu.faults.requests_seen("progress")

    ran = await annoq(
        "mark", *conn, "--json", "--user-id", emu.user_id, emu.project, queue_id, "completed"
    )

    report = json.loads(ran.out)
    assert (report["updated"], report["unchanged"], report["failed"]) == (30, 10, 0)
    assert emu.faults.requests_seen("progress") - requests == 30  # mine: no request
    assert set(my_states(emu, queue_id).values()) == {"completed"}
