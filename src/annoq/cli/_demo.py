"""``annoq demo``: the whole story on an in-process emulator, with faults, in seconds."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Final

from .. import _config
from .._retry import RetryPolicy
from ._errors import EXIT_FAILED, EXIT_OK
from ._options import common_options, json_option, make_session, positive
from ._render import Output, Stopwatch, bulk_json, bulk_progress, bulk_rows, number, rate

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

DEFAULT_ITEMS: Final = _config.CLI_DEMO_ITEMS
FAULTS: Final = (
    {"kind": "status", "status": 503, "rate": 0.03, "routes": ("progress", "items_query")},
    {"kind": "status", "status": 429, "rate": 0.01, "routes": ("progress",), "retry_after": "0.05"},
)
"""Transient faults the demo's server injects, so that retries show (and are absorbed)."""
RETRIES: Final = RetryPolicy(max_retries=10, backoff_base=0.01, backoff_cap=0.5)
"""A short backoff: the emulator recovers at once, so waiting longer proves nothing."""


def register(commands: Subcommands) -> None:
    """Add ``demo``."""
    parser = commands.add_parser(
        "demo",
        parents=[common_options(), json_option()],
        help="stream and bulk-mark a queue on a local emulator (no account needed)",
        description="Start the Weave emulator in this process, seed a queue, stream it, "
        "mark every item completed while the server injects 503s and 429s, then check "
        "the server's counts. Needs no account and no network.",
    )
    parser.add_argument(
        "--items",
        type=positive,
        default=DEFAULT_ITEMS,
        metavar="N",
        help=f"items in the queue (default {DEFAULT_ITEMS:,})",
    )
    parser.add_argument(
        "--concurrency",
        type=positive,
        default=_config.DEFAULT_BULK_CONCURRENCY,
        metavar="N",
        help=f"updates in flight at most, adapting below it "
        f"(default {_config.DEFAULT_BULK_CONCURRENCY})",
    )
    parser.add_argument("--no-faults", action="store_true", help="inject no faults")
    parser.set_defaults(handler=demo)


async def demo(args: argparse.Namespace, out: Output) -> int:
    """Seed, stream, mark, verify, summarise."""
    from ..emulator import FaultRule, run_emulator  # only this command needs the server side

    clock = Stopwatch()
    async with run_emulator() as emu:
        queue_id = emu.weave.seed_queue(args.items, name="annoq demo")
        out.note(f"emulator at {emu.base_url}: queue {queue_id} with {number(args.items)} items")
        if not args.no_faults:
            for rule in FAULTS:
                emu.faults.add(FaultRule.from_json(rule))
        session = make_session(
            args,
            api_key=emu.api_key,
            base_url=emu.base_url,
            user_id=emu.user_id,
            retry_policy=RETRIES,
        )
        async with session as weave:
            queue = weave.queue(emu.project, queue_id)
            [before] = await weave.queue_stats(emu.project, [queue_id])
            stream_clock = Stopwatch()
            streamed = 0
            with out.progress("Streaming", before.total_items) as bar:
                async with queue.pages() as walk:
                    async for page in walk:
                        streamed += len(page)
                        bar.update(streamed, detail=rate(streamed, stream_clock.elapsed))
            stream_time = stream_clock.elapsed
            stream_retries = weave.stats.retries
            with out.progress("Marking completed", before.total_items) as bar:
                result = await queue.mark_all(
                    "completed",
                    states=["unstarted"],
                    concurrency=args.concurrency,
                    on_progress=bulk_progress(bar, lambda: weave.stats.retries, None),
                )
            [after] = await weave.queue_stats(emu.project, [queue_id])
            by_status = dict(weave.stats.by_status)
        faults = emu.faults.count()
    verified = after.total_items == after.completed_items == args.items
    ok = verified and result.ok and streamed == args.items
    summary: dict[str, Any] = {
        "items": args.items,
        "streamed": streamed,
        "stream_seconds": round(stream_time, 3),
        "stream_retries": stream_retries,
        "faults_injected": faults,
        "statuses": {str(k): v for k, v in sorted(by_status.items())},
        "verified": verified,
        "completed_on_server": after.completed_items,
        "seconds": round(clock.elapsed, 3),
        "mark": bulk_json(result),
    }
    if out.json:
        out.emit_json(summary)
    elif not out.quiet:
        _print_summary(out, summary, bulk_rows(result))
    return EXIT_OK if ok else EXIT_FAILED


def _print_summary(out: Output, summary: dict[str, Any], mark_rows: list[list[str]]) -> None:
    statuses = ", ".join(f"{code}: {number(n)}" for code, n in summary["statuses"].items())
    rows = [
        ["Items streamed", number(summary["streamed"])],
        ["Stream time", f"{summary['stream_seconds']:.1f} s"],
        ["Stream items/s", rate(summary["streamed"], summary["stream_seconds"])],
        ["Stream retries", number(summary["stream_retries"])],
        *[[f"Mark: {label.lower()}", value] for label, value in mark_rows],
        ["Faults injected", number(summary["faults_injected"])],
        ["Responses", statuses],
        [
            "Server says completed",
            f"{number(summary['completed_on_server'])} of {number(summary['items'])} "
            + ("(verified)" if summary["verified"] else "(MISMATCH)"),
        ],
        ["Total time", f"{summary['seconds']:.1f} s"],
    ]
    out.table(rows, title="annoq demo summary")
