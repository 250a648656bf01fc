"""``annoq items``: stream a whole queue to a file or stdout, in constant memory."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..weave import ItemFilter
from ._errors import EXIT_OK
from ._io import FORMATS, item_writer, output_to
from ._options import (
    STATES,
    add_project_queue,
    common_options,
    connection_options,
    count,
    make_session,
)
from ._render import Output, Stopwatch, is_terminal, number, rate

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: Subcommands) -> None:
    """Add ``items``."""
    parser = commands.add_parser(
        "items",
        parents=[common_options(), connection_options()],
        help="stream a queue's items as JSONL or CSV",
        description="Stream every item of a queue (page by page, constant memory) to "
        "stdout or a file. Progress goes to stderr. A regular file is written whole or not at "
        "all (it keeps its mode; a symlink is followed); devices, pipes and /dev/stdout are "
        "written directly.",
    )
    add_project_queue(parser)
    parser.add_argument(
        "--state",
        action="append",
        choices=STATES,
        metavar="STATE",
        help=f"only items in this state (repeatable; one of {', '.join(STATES)})",
    )
    parser.add_argument("--op-name", metavar="NAME", help="only items of calls to this op")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="jsonl (default) or csv")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--limit", type=count, metavar="N", help="stop after N items")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="let the server filter by state (fewer bytes; exact only while no one "
        "changes states during the walk)",
    )
    parser.set_defaults(handler=items)


async def items(args: argparse.Namespace, out: Output) -> int:
    """Write the queue's items, in the queue's order."""
    states = args.state or None
    item_filter = ItemFilter(call_op_name=args.op_name) if args.op_name else None
    to_file = args.output not in (None, "-")
    clock = Stopwatch()
    written = 0
    async with make_session(args) as weave:
        queue = weave.queue(args.project, args.queue)
        await queue.read()  # a wrong queue id is an error, not an empty file
        show_bar = out.live() and (to_file or not is_terminal(out.stdout))
        total = None
        if show_bar and states is None and item_filter is None:
            total = (await queue.stats()).total_items  # for the bar only
            if args.limit is not None:
                total = min(total, args.limit)
        with (
            output_to(args.output, out.stdout) as stream,
            out.progress("Streaming items", total, enabled=show_bar) as bar,
        ):
            writer = item_writer(args.format, stream)
            walk = queue.pages(
                filter=item_filter,
                states=states,
                max_items=args.limit,
                mode="fast" if args.fast else "stable",
            )
            async with walk:
                async for page in walk:
                    writer.write(page.items)
                    written += len(page.items)
                    bar.update(written, detail=rate(written, clock.elapsed))
    where = args.output if to_file else "stdout"
    out.note(
        f"{number(written)} items written to {where} in {clock.elapsed:.1f} s "
        f"({rate(written, clock.elapsed)})"
    )
    return EXIT_OK
