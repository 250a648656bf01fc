"""``annoq serve``: the Weave emulator as a long-running local server."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from ._errors import EXIT_OK, CliError
from ._options import common_options, count
from ._render import Output

if TYPE_CHECKING:
    from ..emulator import FaultRule

    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

_URL = re.compile(r"listening on (https?://\S+)")


def register(commands: Subcommands) -> None:
    """Add ``serve``."""
    parser = commands.add_parser(
        "serve",
        parents=[common_options()],
        help="run the Weave emulator as a local server",
        description="Serve the Weave annotation-queue emulator until Ctrl-C or SIGTERM. "
        "Prints the base URL, project, queue id and API key to use, e.g. "
        "WF_TRACE_SERVER_URL=... WANDB_API_KEY=... annoq items PROJECT QUEUE.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=count, default=8080, help="port (default 8080; 0 picks a free one)"
    )
    parser.add_argument(
        "--seed-items",
        type=count,
        default=1000,
        metavar="N",
        help="items in the seeded queue (default 1000)",
    )
    parser.add_argument("--project", default="entity/project", help="project of the queue")
    parser.add_argument("--api-key", help="API key of the default user (default: generated)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (ids, data, faults)")
    parser.add_argument(
        "--legacy-progress",
        action="store_true",
        help="behave like older servers: repeating a progress update answers 400",
    )
    parser.add_argument(
        "--annofab",
        action="store_true",
        help="also seed Annofab tasks and print how to reach the Annofab API (/api/v1)",
    )
    parser.add_argument(
        "--annofab-tasks",
        type=count,
        default=1000,
        metavar="N",
        help="tasks in the seeded Annofab project, with --annofab (default 1000)",
    )
    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="share of requests (0..1) that fail with --fault-status (default 0)",
    )
    faults.add_argument(
        "--fault-status", type=int, default=503, metavar="CODE", help="status (default 503)"
    )
    faults.add_argument(
        "--fault-route",
        action="append",
        metavar="ROUTE",
        help="only this route (repeatable; default all), e.g. progress, items_query, stats",
    )
    faults.add_argument(
        "--retry-after", metavar="SECONDS", help="Retry-After header sent with the faults"
    )
    parser.set_defaults(handler=serve_command)


def fault_rule(args: argparse.Namespace) -> FaultRule | None:
    """The rule the fault options describe (``None`` for no faults)."""
    from ..emulator import ANNOFAB_ROUTE_NAMES, ROUTE_NAMES, FaultRule

    routes = (*ROUTE_NAMES, *ANNOFAB_ROUTE_NAMES)
    unknown = sorted(set(args.fault_route or ()) - set(routes))
    if unknown:
        raise CliError(
            f"unknown --fault-route {', '.join(unknown)}; use one of {', '.join(routes)}"
        )
    if args.fault_rate == 0:
        return None
    try:
        return FaultRule(
            kind="status",
            status=args.fault_status,
            rate=args.fault_rate,
            routes=args.fault_route,
            retry_after=args.retry_after,
        )
    except ValueError as error:
        raise CliError(f"bad fault options: {error}") from None


async def serve_command(args: argparse.Namespace, out: Output) -> int:
    """Serve until stopped; faults are in place before the server is announced."""
    from ..emulator import serve

    rule = fault_rule(args)
    rules = [rule] if rule is not None else []

    def echo(line: str) -> None:
        _say(out, line)
        if rule is not None and line.startswith("Use:"):
            _say(
                out,
                f"Faults: {rule.rate * 100:g}% of requests to "
                f"{', '.join(sorted(rule.routes or ())) or 'every route'} answer {rule.status}",
            )

    await serve(
        host=args.host,
        port=args.port,
        seed_items=args.seed_items,
        project=args.project,
        seed=args.seed,
        legacy_progress=args.legacy_progress,
        api_key=args.api_key,
        annofab_tasks=args.annofab_tasks if args.annofab else None,
        faults=rules,
        echo=echo,
    )
    return EXIT_OK


def _say(out: Output, line: str) -> None:
    out.stdout.write(f"{line}\n")
    out.stdout.flush()
