"""``python -m annoq.emulator``: serve a seeded Weave emulator until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from ._emulator import DEFAULT_PROJECT, serve


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
    parser.add_argument("--seed", type=int, default=0, help="random seed (ids, data, faults)")
    parser.add_argument(
        "--legacy-progress",
        action="store_true",
        help="emulate the older server: a repeated progress update answers 400",
    )
    parser.add_argument("--api-key", default=None, help="API key of the default user")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.seed_items < 0:
        print("--seed-items must be >= 0", file=sys.stderr)
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
                echo=echo,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
