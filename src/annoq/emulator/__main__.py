"""``python -m annoq.emulator``: serve a seeded Weave emulator until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from ._emulator import DEFAULT_PROJECT, serve
from ._faults import FaultKind, FaultRule, parse_fault_spec
from .annofab._app import ANNOFAB_ROUTE_NAMES
from .weave._app import ROUTE_NAMES


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (reusable by ``annoq serve``)."""
    parser = argparse.ArgumentParser(
        prog="python -m annoq.emulator",
        description="Run a local W&B Weave annotation-queue emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    parser.add_argument(
        "--seed-items", type=int, default=0, help="items in the seeded queue (default 0)"
    )
    parser.add_argument("--project", default=DEFAULT_PROJECT, help="project of the queue")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed: ids, data, faults and keys repeat (default: random keys)",
    )
    parser.add_argument(
        "--legacy-progress",
        action="store_true",
        help="emulate the older server: a repeated progress update answers 400",
    )
    parser.add_argument("--api-key", default=None, help="API key of the default user")
    parser.add_argument(
        "--control-token",
        default=None,
        help="token the control routes require (default: none on loopback, else generated)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another Host name the control routes accept (repeatable)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="MS", help="latency of every request"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND:RATE[:ROUTE]",
        help="a fault rule (repeatable): KIND is a status code, drop, apply-then-drop, "
        "latency=MS or max-concurrent=N (429 above N in flight; RATE may be left out); "
        "RATE in [0, 1]; ROUTE route names joined by commas (default: all)",
    )
    parser.add_argument(
        "--retry-after", default=None, metavar="SECONDS", help="Retry-After of status faults"
    )
    return parser


def fault_rules(args: argparse.Namespace) -> list[FaultRule]:
    """The rules of ``--latency`` and ``--fault`` (``ValueError`` naming a bad one)."""
    if not 0 <= args.latency < float("inf"):
        raise ValueError(f"--latency must be >= 0 ms, got {args.latency}")
    rules = []
    if args.latency > 0:
        rules.append(FaultRule(kind=FaultKind.LATENCY, latency=args.latency / 1000))
    known = (*ROUTE_NAMES, *ANNOFAB_ROUTE_NAMES)
    for spec in args.fault:
        rules.append(parse_fault_spec(spec, known_routes=known, retry_after=args.retry_after))
    return rules


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.seed_items < 0:
        print("--seed-items must be >= 0", file=sys.stderr)
        return 2
    try:
        rules = fault_rules(args)
    except ValueError as error:
        print(f"bad fault option: {error}", file=sys.stderr)
        return 2

    def echo(line: str) -> None:
        print(line, flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                host=args.host,
                port=args.port,
                seed_items=args.seed_items,
                project=args.project,
                seed=args.seed,
                legacy_progress=args.legacy_progress,
                api_key=args.api_key,
                faults=rules,
                control_token=args.control_token,
                allowed_hosts=args.allow_host,
                echo=echo,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
