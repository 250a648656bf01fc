"""Runs that stop early (Ctrl-C, SIGTERM, a failing walk) say what they did and save
what is left, so that feeding the failures file back resumes exactly."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from annoq.emulator import FaultRule

from ._support import annoq_process, finished, my_states, start_annoq, summary, until

SLOW_WRITES = FaultRule(kind="latency", latency=0.02, routes={"progress"})
"""Each update takes 20 ms, so a run of thousands lasts long enough to be interrupted."""


def read_jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def interrupt_mark_midway(emu, conn, tmp_path, sig: signal.Signals, n: int = 3000):
    """Mark ``n`` listed ids completed in a child, send ``sig`` once 300 writes landed."""
    queue_id = emu.weave.seed_queue(n)
    ids = emu.weave.item_ids(queue_id)
    todo = tmp_path / "todo.txt"
    todo.write_text("".join(f"{item_id}\n" for item_id in ids), encoding="utf-8")
    failures = tmp_path / "failed.jsonl"
    emu.faults.add(SLOW_WRITES)
    process = await start_annoq(
        "mark", *conn, emu.project, queue_id, "completed",
        "--ids-from", str(todo), "--failures", str(failures),
    )  # fmt: skip
    await until(lambda: emu.weave.applied_writes(user_id=emu.user_id) >= 300, "300 writes")
    process.send_signal(sig)
    ran = await finished(process)
    return queue_id, ids, failures, ran


async def test_ctrl_c_prints_the_counts_and_the_failures_file_resumes_exactly(emu, conn, tmp_path):
    queue_id, ids, failures, ran = await interrupt_mark_midway(emu, conn, tmp_path, signal.SIGINT)

    assert ran.code == 130, ran.err
    assert "Traceback" not in ran.err
    line = next(x for x in ran.err.splitlines() if "interrupted:" in x)
    done = int(re.search(r"([\d,]+) done", line)[1].replace(",", ""))
    in_flight = int(re.search(r"([\d,]+) in flight", line)[1].replace(",", ""))
    not_started = int(re.search(r"([\d,]+) not started", line)[1].replace(",", ""))
    assert done > 0
    assert done + in_flight + not_started == len(ids)
    assert f"--ids-from {failures} resumes exactly" in line
    assert summary(ran.out)["Items"] == f"{done:,}"  # the table of what was done
    records = read_jsonl(failures)
    reasons = [r["reason"] for r in records]
    assert reasons.count("abandoned") == in_flight
    assert reasons.count("not_started") == not_started
    left = [r["id"] for r in records]
    mine = my_states(emu, queue_id)
    finished_ids = {i for i in ids if i not in set(left)}
    assert len(finished_ids) == done
    assert all(mine[i] == "completed" for i in finished_ids)
    never_sent = [r["id"] for r in records if r["reason"] == "not_started"]
    assert never_sent == ids[len(ids) - not_started :]
    assert all(mine[i] is None for i in never_sent)

    emu.faults.clear()
    again = await annoq_process(
        "mark", *conn, "--json", emu.project, queue_id, "completed", "--ids-from", str(failures)
    )

    assert again.code == 0, again.err
    assert json.loads(again.out)["total"] == len(left)
    assert set(my_states(emu, queue_id).values()) == {"completed"}
    assert emu.weave.applied_writes(user_id=emu.user_id) == len(ids)  # each written once


async def test_sigterm_prints_the_counts_writes_the_failures_file_and_exits_143(
    emu, conn, tmp_path
):
    queue_id, ids, failures, ran = await interrupt_mark_midway(emu, conn, tmp_path, signal.SIGTERM)

    assert ran.code == 143, ran.err
    assert "annoq: terminated" in ran.err
    assert "mark completed interrupted:" in ran.err
    records = read_jsonl(failures)
    mine = my_states(emu, queue_id)
    left = {r["id"] for r in records}
    assert left, "nothing was left to do: the run was not interrupted"
    assert all(mine[i] == "completed" for i in ids if i not in left)
    assert all(mine[i] is None for i in left if next(
        r for r in records if r["id"] == i
    )["reason"] == "not_started")  # fmt: skip


async def test_ctrl_c_during_a_walk_run_saves_the_in_flight_ids_and_says_to_rerun(
    emu, conn, tmp_path
):
    queue_id = emu.weave.seed_queue(3000)
    failures = tmp_path / "failed.jsonl"
    emu.faults.add(SLOW_WRITES)
    process = await start_annoq(
        "mark", *conn, emu.project, queue_id, "skipped", "--where-state", "unstarted",
        "--failures", str(failures),
    )  # fmt: skip
    await until(lambda: emu.weave.applied_writes(user_id=emu.user_id) >= 200, "200 writes")
    process.send_signal(signal.SIGINT)
    ran = await finished(process)

    assert ran.code == 130, ran.err
    assert "run the same command again for the items the walk did not reach" in ran.err
    records = read_jsonl(failures)
    assert records
    assert {r["reason"] for r in records} == {"abandoned"}


async def test_a_walk_that_fails_midway_writes_the_failures_file_and_exits_1_with_one_line(
    emu, conn, tmp_path
):
    queue_id = emu.weave.seed_queue(3000)
    failures = tmp_path / "failed.jsonl"
    emu.faults.add(SLOW_WRITES)
    process = await start_annoq(
        "mark", *conn, "--max-retries", "0", emu.project, queue_id, "completed",
        "--where-state", "unstarted", "--failures", str(failures),
    )  # fmt: skip
    await until(lambda: emu.weave.applied_writes(user_id=emu.user_id) >= 100, "100 writes")
    emu.faults.add(FaultRule(kind="status", status=500, routes={"items_query"}))
    ran = await finished(process)

    assert ran.code == 1, ran.err
    ran.assert_one_error_line(
        "mark completed stopped: the input failed:", "500", f"--ids-from {failures}"
    )
    assert failures.exists()
    records = read_jsonl(failures)
    assert {r["reason"] for r in records} <= {"abandoned"}
    done = int(summary(ran.out)["Items"].replace(",", ""))
    assert done > 0
    assert sum(1 for s in my_states(emu, queue_id).values() if s == "completed") >= done
