"""``annoq queues``, ``stats``, ``create-queue`` and ``add-calls``."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from .._convert import format_datetime
from .._errors import NotFoundError
from ..weave import Queue
from ._errors import EXIT_OK, CliError, printable
from ._io import read_ids, record
from ._options import (
    add_project_queue,
    common_options,
    connection_options,
    json_option,
    make_session,
)
from ._render import Output, number

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: Subcommands) -> None:
    """Add the four queue commands."""
    parents = [common_options(), connection_options(), json_option()]

    parser = commands.add_parser(
        "queues", parents=parents, help="list a project's queues", description="List queues."
    )
    parser.add_argument("project", metavar="PROJECT", help="entity/project")
    parser.add_argument("--name", help="only queues whose name contains this (any case)")
    parser.set_defaults(handler=queues)

    parser = commands.add_parser(
        "stats",
        parents=parents,
        help="item counts of queues",
        description="Total and done (completed or skipped) items of each queue.",
    )
    parser.add_argument("project", metavar="PROJECT", help="entity/project")
    parser.add_argument("queues", metavar="QUEUE", nargs="+", help="queue ids")
    parser.set_defaults(handler=stats)

    parser = commands.add_parser(
        "create-queue",
        parents=parents,
        help="create a queue and print its id",
        description="Create an annotation queue; prints the new queue id on stdout.",
    )
    parser.add_argument("project", metavar="PROJECT", help="entity/project")
    parser.add_argument("--name", required=True, help="the queue's name")
    parser.add_argument("--description", help="the queue's description")
    parser.add_argument(
        "--scorer-ref", action="append", default=[], metavar="REF", help="a scorer (repeatable)"
    )
    parser.set_defaults(handler=create_queue)

    parser = commands.add_parser(
        "add-calls",
        parents=parents,
        help="add calls to a queue as items",
        description="Add calls to a queue; calls already there count as duplicates, "
        "unknown call ids are dropped by the server.",
    )
    add_project_queue(parser)
    parser.add_argument("call_ids", metavar="CALL_ID", nargs="*", help="call ids")
    parser.add_argument(
        "--calls-from",
        metavar="FILE",
        help="also read call ids from FILE, one per line ('-' for stdin)",
    )
    parser.add_argument(
        "--display-field",
        action="append",
        default=[],
        metavar="FIELD",
        help="a field annotators see, e.g. inputs.prompt (repeatable)",
    )
    parser.set_defaults(handler=add_calls)


async def queues(args: argparse.Namespace, out: Output) -> int:
    """List the queues of a project."""
    async with make_session(args) as weave:
        found = [queue async for queue in weave.queues(args.project, name=args.name)]
    if out.json:
        out.emit_json([record(queue) for queue in found])
        return EXIT_OK
    if not found:
        out.note(f"no queues in {args.project}")
        return EXIT_OK
    rows = [
        [
            q.id,
            q.name,
            format_datetime(q.created_at)[:19].replace("T", " "),
            str(len(q.scorer_refs)),
            q.description or "",
        ]
        for q in found
    ]
    out.table(rows, header=("ID", "NAME", "CREATED (UTC)", "SCORERS", "DESCRIPTION"))
    return EXIT_OK


async def stats(args: argparse.Namespace, out: Output) -> int:
    """Show item counts of queues; an unknown queue id is an error (exit 2) naming it.

    The server counts an unknown queue as empty, so each queue is read first.
    """
    async with make_session(args) as weave:
        known = await asyncio.gather(
            *(_exists(weave.queue(args.project, queue_id)) for queue_id in args.queues)
        )
        unknown = [q for q, ok in zip(args.queues, known, strict=True) if not ok]
        if unknown:
            raise CliError(
                f"no queue {', '.join(map(repr, unknown))} in project {args.project!r} "
                "(nothing was counted)"
            )
        found = await weave.queue_stats(args.project, args.queues)
    if out.json:
        out.emit_json([record(s) for s in found])
        return EXIT_OK
    rows = [
        [
            s.queue_id,
            number(s.total_items),
            number(s.completed_items),
            number(s.total_items - s.completed_items),
            f"{100 * s.completed_items / s.total_items:.1f}%" if s.total_items else "-",
        ]
        for s in found
    ]
    out.table(rows, header=("QUEUE", "ITEMS", "DONE", "REMAINING", "DONE %"))
    return EXIT_OK


async def _exists(queue: Queue) -> bool:
    try:
        await queue.read()
    except NotFoundError:
        return False
    return True


async def create_queue(args: argparse.Namespace, out: Output) -> int:
    """Create a queue and print its id."""
    async with make_session(args) as weave:
        queue_id = await weave.create_queue(
            args.project,
            name=args.name,
            scorer_refs=args.scorer_ref,
            description=args.description,
        )
    if out.json:
        out.emit_json({"id": queue_id, "project_id": args.project, "name": args.name})
    else:
        out.stdout.write(f"{printable(queue_id)}\n")
    return EXIT_OK


async def add_calls(args: argparse.Namespace, out: Output) -> int:
    """Add calls to an existing queue."""
    call_ids = list(args.call_ids)
    if args.calls_from is not None:
        call_ids.extend(read_ids(args.calls_from, out.stdin))
    if not call_ids:
        raise CliError("no call ids: give CALL_ID arguments or --calls-from FILE")
    async with make_session(args) as weave:
        queue = weave.queue(args.project, args.queue)
        await queue.read()  # the server adds to any id without checking; refuse typos here
        result = await queue.add_calls(call_ids, display_fields=args.display_field)
    unknown = max(0, len(set(call_ids)) - result.added_count - result.duplicates)
    if out.json:
        out.emit_json(
            {"added": result.added_count, "duplicates": result.duplicates, "unknown": unknown}
        )
    elif not out.quiet:
        out.table(
            [
                ["Added", number(result.added_count)],
                ["Already in the queue", number(result.duplicates)],
                ["Unknown call ids (dropped)", number(unknown)],
            ]
        )
    return EXIT_OK
