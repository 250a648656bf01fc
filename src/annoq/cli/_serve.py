"""``annoq serve``: the Weave emulator as a long-running local server."""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import TYPE_CHECKING

import aiohttp

from ._errors import EXIT_FAILED, EXIT_OK, CliError
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
    """Serve until stopped; the announcement is printed once faults are in place."""
    from ..emulator import serve

    rule = fault_rule(args)
    pending: list[str] = []
    reported = asyncio.Event()
    announced = asyncio.Event()

    def echo(line: str) -> None:
        if announced.is_set():
            _say(out, line)
        else:
            pending.append(line)
            reported.set()

    server = asyncio.create_task(
        serve(
            host=args.host,
            port=args.port,
            seed_items=args.seed_items,
            project=args.project,
            seed=args.seed,
            legacy_progress=args.legacy_progress,
            api_key=args.api_key,
            annofab_tasks=args.annofab_tasks if args.annofab else None,
            echo=echo,
        )
    )
    waiter = asyncio.create_task(reported.wait())  # serve() reports once it listens
    try:
        await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if server.done():
            server.result()
            return EXIT_OK
        if rule is not None:
            await _install(pending, rule)
            pending.append(
                f"Faults: {rule.rate * 100:g}% of requests to "
                f"{', '.join(sorted(rule.routes or ())) or 'every route'} answer {rule.status}"
            )
        for line in pending:
            _say(out, line)
        announced.set()
        await server
    finally:
        for task in (waiter, server):
            if not task.done():
                task.cancel()
        await asyncio.gather(waiter, server, return_exceptions=True)
    return EXIT_OK


def _say(out: Output, line: str) -> None:
    out.stdout.write(f"{line}\n")
    out.stdout.flush()


async def _install(lines: list[str], rule: FaultRule) -> None:
    """Add ``rule`` through the emulator's control route.

    ``serve()`` does not hand out its emulator, so the rule goes over HTTP before the
    server is announced; no client that waits for the announcement misses it.
    """
    found = next((m for m in map(_URL.search, lines) if m is not None), None)
    if found is None:
        raise CliError("the emulator did not report its URL", EXIT_FAILED)
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{found.group(1)}/_emulator/faults", json=rule.to_json()) as response,
    ):
        if response.status != 200:
            reason = await response.text()
            raise CliError(f"the emulator refused the fault rule: {reason}", EXIT_FAILED)
