"""Everyday shell habits, with the real ``annoq`` process: pipes that close, special
output files, timeouts, unknown queues, hostile server strings, terminals."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import stat

from annoq.emulator import FaultRule

from ._support import annoq_on_terminal, annoq_process, finished, start_annoq


def jsonl_ids(text: str) -> list[str]:
    return [json.loads(line)["id"] for line in text.splitlines()]


# -- item 5: a closed pipe ---------------------------------------------------------------


async def test_items_into_a_pipe_closed_early_ends_quietly_with_exit_0(emu, conn):
    queue_id = emu.weave.seed_queue(5000)  # far more than a pipe buffer holds
    read_end, write_end = os.pipe()
    process = await start_annoq("items", *conn, emu.project, queue_id, stdout=write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:  # `| head -1`: one line, then gone
        first = await asyncio.to_thread(pipe.readline)
    ran = await finished(process)

    assert json.loads(first)["queue_id"] == queue_id
    assert ran.code == 0, ran.err
    assert ran.err == ""


# -- item 4 and finding 18: files that are not plain files, modes, symlinks --------------


async def test_items_to_a_named_pipe_write_into_the_pipe_and_leave_it_a_pipe(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(40)  # fits in the pipe's buffer: no reader thread
    fifo = tmp_path / "items.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer open it
    try:
        ran = await annoq_process("items", *conn, emu.project, queue_id, "-o", str(fifo))
        data = b""
        while chunk := os.read(reader, 1 << 16):
            data += chunk
    except BlockingIOError:
        pass
    finally:
        os.close(reader)

    assert ran.code == 0, ran.err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert jsonl_ids(data.decode()) == emu.weave.item_ids(queue_id)


async def test_items_to_a_descriptor_path_like_process_substitution_write_through_it(emu, conn):
    queue_id = emu.weave.seed_queue(40)
    read_end, write_end = os.pipe()  # what `-o >(cmd)` hands over: /dev/fd/N
    process = await start_annoq(
        "items", *conn, emu.project, queue_id, "-o", f"/dev/fd/{write_end}",
        pass_fds=(write_end,),
    )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = await asyncio.to_thread(pipe.read)
    ran = await finished(process)

    assert ran.code == 0, ran.err
    assert jsonl_ids(data.decode()) == emu.weave.item_ids(queue_id)


async def test_items_to_the_stdout_descriptor_appends_to_what_stdout_already_holds(
    emu, conn, tmp_path
):
    queue_id = emu.weave.seed_queue(20)
    log = tmp_path / "log.jsonl"
    log.write_text('{"id": "earlier line"}\n', encoding="utf-8")
    stdout = os.open(log, os.O_WRONLY | os.O_APPEND)  # `>> log.jsonl`, then `-o /dev/stdout`
    try:
        ran = await annoq_process(
            "items", *conn, emu.project, queue_id, "-o", "/proc/self/fd/1", stdout=stdout
        )
    finally:
        os.close(stdout)

    assert ran.code == 0, ran.err
    lines = jsonl_ids(log.read_text(encoding="utf-8"))
    assert lines == ["earlier line", *emu.weave.item_ids(queue_id)]


async def test_items_output_and_failures_files_keep_the_mode_of_the_file_they_replace(
    emu, conn, tmp_path
):
    queue_id = emu.weave.seed_queue(10)
    skipped = emu.weave.item_ids(queue_id)[0]
    emu.weave.set_progress(queue_id, skipped, "skipped", user_id=emu.user_id)
    output, failures = tmp_path / "items.jsonl", tmp_path / "failed.jsonl"
    for path in (output, failures):
        path.write_text("old\n", encoding="utf-8")
        path.chmod(0o600)

    items = await annoq_process("items", *conn, emu.project, queue_id, "-o", str(output))
    mark = await annoq_process(
        "mark", *conn, emu.project, queue_id, "completed", "--failures", str(failures)
    )

    assert items.code == 0, items.err
    assert mark.code == 1, mark.err
    assert len(jsonl_ids(output.read_text(encoding="utf-8"))) == 10
    assert jsonl_ids(failures.read_text(encoding="utf-8")) == [skipped]
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert stat.S_IMODE(failures.stat().st_mode) == 0o600


async def test_items_output_through_a_symlink_replaces_its_target_and_keeps_the_link(
    emu, conn, tmp_path
):
    queue_id = emu.weave.seed_queue(10)
    target = tmp_path / "real.jsonl"
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target.name)

    ran = await annoq_process("items", *conn, emu.project, queue_id, "-o", str(link))

    assert ran.code == 0, ran.err
    assert link.is_symlink()
    assert len(jsonl_ids(target.read_text(encoding="utf-8"))) == 10


# -- item 6: timeouts are the server's failure, not a usage error -------------------------


async def test_a_request_timeout_exits_1_with_one_line(emu, conn):
    emu.faults.add(FaultRule(kind="latency", latency=1.0))
    queue_id = emu.weave.seed_queue(3)

    ran = await annoq_process(
        "items", *conn, "--timeout", "0.1", "--max-retries", "0", emu.project, queue_id
    )

    assert ran.code == 1, ran.err
    ran.assert_one_error_line("did not answer in time")


async def test_a_refused_connection_exits_1_too(emu):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    ran = await annoq_process(
        "stats", "--base-url", f"http://127.0.0.1:{port}", "--api-key", emu.api_key,
        "--max-retries", "0", emu.project, "some-queue",
    )  # fmt: skip

    assert ran.code == 1, ran.err
    ran.assert_one_error_line("cannot reach the server")


# -- item 7: unknown queues -------------------------------------------------------------


async def test_stats_of_an_unknown_queue_exits_2_naming_it(emu, conn):
    queue_id = emu.weave.seed_queue(3)

    ran = await annoq_process("stats", *conn, emu.project, queue_id, "no-such-queue")

    assert ran.code == 2, ran.out
    ran.assert_one_error_line("'no-such-queue'", emu.project)
    assert ran.out == ""


async def test_items_and_mark_of_an_unknown_queue_exit_2_naming_it(emu, conn):
    for argv in (("items",), ("mark",)):
        extra = ("completed",) if argv == ("mark",) else ()
        ran = await annoq_process(*argv, *conn, emu.project, "no-such-queue", *extra)
        assert ran.code == 2, ran.out
        ran.assert_one_error_line("no-such-queue")
    assert emu.weave.applied_writes() == 0


# -- finding 12: server strings are text ---------------------------------------------------

HOSTILE_NAME = "[/] [link=https://example.invalid]click[/link] \x1b[31mred\x1b[0m \u202eevil"


async def test_queues_prints_hostile_names_as_text_with_control_characters_escaped(emu, conn):
    emu.weave.create_queue(name=HOSTILE_NAME, description="[bold]x[/bold]\x07")

    ran = await annoq_process("queues", *conn, emu.project)

    assert ran.code == 0, ran.err
    assert "[/] [link=https://example.invalid]click[/link]" in ran.out
    assert "\\x1b[31mred\\x1b[0m \\u202eevil" in ran.out
    assert "[bold]x[/bold]\\x07" in ran.out
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f\u202e]", ran.out)


async def test_queues_on_a_terminal_shows_markup_in_names_literally_and_never_links(emu, conn):
    emu.weave.create_queue(name=HOSTILE_NAME)

    ran = await annoq_on_terminal("queues", *conn, emu.project)

    assert ran.code == 0, ran.err
    assert "[/]" in ran.out
    assert "[link=https://example.invalid]click[/link]" in ran.out
    assert "\x1b]8;" not in ran.out  # no OSC 8 hyperlink
    assert "\\x1b[31mred" in ran.out


# -- items 8 and 9: progress and the summary on a terminal -------------------------------


async def test_progress_shows_the_time_left_and_the_parallelism_when_the_total_is_known(
    emu, conn, tmp_path
):
    queue_id = emu.weave.seed_queue(300)
    todo = tmp_path / "todo.txt"
    todo.write_text("\n".join(emu.weave.item_ids(queue_id)) + "\n", encoding="utf-8")

    ran = await annoq_on_terminal(
        "mark", *conn, emu.project, queue_id, "completed", "--ids-from", str(todo),
        "--concurrency", "8",
    )  # fmt: skip

    assert ran.code == 0, ran.err
    assert "300/300" in ran.err
    assert "ETA" in ran.err
    assert "8 at once" in ran.err


async def test_progress_of_a_walk_with_an_unknown_total_counts_without_a_total(emu, conn):
    queue_id = emu.weave.seed_queue(300)

    ran = await annoq_on_terminal(
        "mark", *conn, emu.project, queue_id, "completed", "--where-state", "unstarted"
    )

    assert ran.code == 0, ran.err
    assert "300 done" in ran.err
    assert "/?" not in ran.err
    assert "ETA" not in ran.err


async def test_asking_for_more_concurrency_than_the_connection_pool_says_so_once(emu, conn):
    queue_id = emu.weave.seed_queue(50)

    ran = await annoq_process(
        "mark", *conn, emu.project, queue_id, "completed", "--concurrency", "500"
    )

    assert ran.code == 0, ran.err
    assert ran.err.count("capped by the connection pool") == 1


async def test_the_summary_title_stays_on_one_line_on_a_wide_terminal(emu, conn):
    queue_id = emu.weave.seed_queue(20)

    ran = await annoq_on_terminal("mark", *conn, emu.project, queue_id, "completed")

    assert ran.code == 0, ran.err
    assert f"Marked completed in queue {queue_id}" in ran.out


async def test_the_retry_hint_names_only_the_failures_a_retry_can_fix(emu, conn, tmp_path):
    queue_id = emu.weave.seed_queue(10)
    ids = emu.weave.item_ids(queue_id)
    for item_id in ids[-3:]:  # skipped by me: completed is refused, whatever the retries
        emu.weave.set_progress(queue_id, item_id, "skipped", user_id=emu.user_id)
    emu.faults.add(FaultRule(kind="status", status=503, routes={"progress"}, times=2))
    failures = tmp_path / "failed.jsonl"

    ran = await annoq_process(
        "mark", *conn, "--max-retries", "0", "--concurrency", "1", emu.project, queue_id,
        "completed", "--failures", str(failures),
    )  # fmt: skip

    assert ran.code == 1, ran.err
    assert f"--ids-from {failures} can retry 2 (retries_exhausted 2)" in ran.err
    assert "3 will fail again as they are (invalid_transition 3" in ran.err
