"""``annoq mark``: set a state on many items, with one outcome per item."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from .. import _config
from .._bulk import BulkResult
from ..weave import Queue, QueueStats
from ._errors import EXIT_OK
from ._io import read_ids
from ._options import (
    SETTABLE_STATES,
    STATES,
    add_project_queue,
    common_options,
    connection_options,
    json_option,
    make_session,
    positive,
)
from ._render import Output, number
from ._run import CountingFeed, Hooks, finish_bulk_command, run_bulk_command

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: Subcommands) -> None:
    """Add ``mark``."""
    parser = commands.add_parser(
        "mark",
        parents=[common_options(), connection_options(), json_option()],
        help="set a state on many items (bulk, exactly one outcome each)",
        description="Set STATE on the queue's items (all, those in --where-state, or the "
        "ids in --ids-from). Each item ends updated, unchanged (already so) or failed; "
        "exit status 1 when any failed. --failures writes the failed ids so that "
        "feeding the file back with --ids-from retries just those.",
    )
    add_project_queue(parser)
    parser.add_argument(
        "state", metavar="STATE", choices=SETTABLE_STATES, help=", ".join(SETTABLE_STATES)
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--where-state",
        action="append",
        choices=STATES,
        metavar="S",
        help="only items now in state S (repeatable; default: every item)",
    )
    which.add_argument(
        "--ids-from",
        metavar="FILE",
        help='only these item ids: one per line, or JSONL with an "id" (e.g. a '
        "--failures file or `annoq items` output); '-' reads stdin",
    )
    parser.add_argument(
        "--concurrency",
        type=positive,
        default=_config.DEFAULT_BULK_CONCURRENCY,
        metavar="N",
        help=f"updates in flight at most, adapting below it "
        f"(default {_config.DEFAULT_BULK_CONCURRENCY})",
    )
    parser.add_argument(
        "--user-id",
        metavar="ID",
        help="your W&B user id: items shown as already set to STATE by you are counted "
        "unchanged and sent no request (without it they are sent, a no-op, and the id is "
        "learned from your first real write). Walked items are counted exactly either "
        "way; with --ids-from, an id already shown as yours may count as updated",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be sent; change nothing"
    )
    parser.add_argument(
        "--failures",
        metavar="FILE",
        help="write failed items as JSONL {id, reason, message}, as they fail; a run that "
        "stops early (Ctrl-C, SIGTERM, an error) adds the ids it did not finish, so "
        "feeding the file back with --ids-from resumes it (empty when none failed)",
    )
    parser.set_defaults(handler=mark)


async def mark(args: argparse.Namespace, out: Output) -> int:
    """Run the bulk update and report it (also when it stops early)."""
    ids = read_ids(args.ids_from, out.stdin) if args.ids_from is not None else None
    async with make_session(args) as weave:
        queue = weave.queue(args.project, args.queue)
        await queue.read()  # a wrong queue id is an error, not "0 items"
        if args.dry_run:
            return await _dry_run(queue, args, ids, out)
        total = len(ids) if ids is not None else None
        if total is None and out.live():
            total = _known_total(await queue.stats(), args)  # for the bar only
        feed = CountingFeed(ids) if ids is not None else None

        def start(hooks: Hooks) -> Awaitable[BulkResult]:
            options: dict[str, Any] = {
                "concurrency": args.concurrency,
                "on_progress": hooks.on_progress,
                "on_failure": hooks.on_failure,
                "max_retries": args.max_retries,
            }
            if feed is None:
                return queue.mark_all(args.state, states=args.where_state, **options)
            return queue.bulk_update_progress(feed, args.state, **options)

        run = await run_bulk_command(
            out,
            start,
            description=f"Marking {args.state}",
            total=total,
            failures=args.failures,
            retries=lambda: weave.stats.retries,
            unread=feed.unread if feed is not None else None,
            concurrency=args.concurrency,
        )
    return finish_bulk_command(
        run,
        out,
        what=f"mark {args.state}",
        title=f"Marked {args.state} in queue {args.queue}",
        head={"state": args.state},
    )


def _known_total(stats: QueueStats, args: argparse.Namespace) -> int | None:
    """How many items the walk will yield, when the counts tell (for the progress bar)."""
    if args.where_state is None:
        return stats.total_items
    if set(args.where_state) == {"unstarted", "in_progress"}:
        return stats.total_items - stats.completed_items
    return None


async def _dry_run(
    queue: Queue, args: argparse.Namespace, ids: list[str] | None, out: Output
) -> int:
    """Walk the queue and count what a real run would send; change nothing."""
    if ids is None:
        matching = 0
        async with queue.pages(states=args.where_state) as walk:
            async for page in walk:
                matching += len(page)
        summary: dict[str, Any] = {"dry_run": True, "state": args.state, "matching": matching}
        text = f"would set {args.state} on {number(matching)} items"
    else:
        wanted = set(ids)
        found = 0
        async with queue.pages() as walk:
            async for page in walk:
                found += sum(1 for item in page.items if item.id in wanted)
        summary = {
            "dry_run": True,
            "state": args.state,
            "ids": len(wanted),
            "in_queue": found,
            "not_in_queue": len(wanted) - found,
        }
        text = (
            f"would set {args.state} on {number(found)} items; "
            f"{number(len(wanted) - found)} of the ids are not in the queue"
        )
    if out.json:
        out.emit_json(summary)
    elif not out.quiet:
        out.stdout.write(f"Dry run: {text} (nothing was changed)\n")
    return EXIT_OK
