"""``annoq serve``: the emulator (every registered service) as a long-running local server.

``python -m annoq.emulator`` runs this same command line.
"""

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
        help="run the emulator (Weave, Annofab) as a local server",
        description="Serve the emulated services (W&B Weave annotation queues, Annofab) "
        "until Ctrl-C or SIGTERM. Prints the base URL, project, queue id and API key to "
        "use, e.g. WF_TRACE_SERVER_URL=... WANDB_API_KEY=... annoq items PROJECT QUEUE.",
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
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed: ids, data, faults and keys repeat (default: random keys)",
    )
    parser.add_argument(
        "--legacy-progress",
        action="store_true",
        help="behave like older servers: repeating a progress update answers 400",
    )
    parser.add_argument(
        "--service",
        action="append",
        metavar="NAME",
        help="serve only this service (repeatable; default: every one: "
        "weave, annofab); a service named here is also seeded and announced",
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
    network = parser.add_argument_group("network")
    network.add_argument(
        "--control-token",
        metavar="TOKEN",
        help="token the /_emulator/ control routes require (header X-Annoq-Emulator-Token); "
        "default: none on loopback, generated and printed off loopback",
    )
    network.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another Host name the control routes accept (repeatable), e.g. a container "
        "name; loopback, this machine's name and the bound address always are",
    )
    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--latency",
        type=milliseconds,
        default=0.0,
        metavar="MS",
        help="every request to the service routes waits MS milliseconds (default 0)",
    )
    faults.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND:RATE[:ROUTE]",
        help="a fault rule (repeatable): KIND is a status code (429, 503, ...), drop, "
        "apply-then-drop (the write is applied, the answer lost), latency=MS or "
        "max-concurrent=N (429 above N requests in flight; RATE may be left out); RATE a "
        "share of requests in [0, 1]; ROUTE route names joined by commas (default: all), "
        "e.g. --fault 429:0.2:weave.progress --fault apply-then-drop:0.05:annofab.operate "
        "--fault max-concurrent=8",
    )
    faults.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="share of requests (0..1) that fail with --fault-status (default 0; "
        "the same as --fault CODE:P)",
    )
    faults.add_argument(
        "--fault-status", type=int, default=503, metavar="CODE", help="status (default 503)"
    )
    faults.add_argument(
        "--fault-route",
        action="append",
        metavar="ROUTE",
        help="only this route (repeatable; default all), e.g. weave.progress, "
        "weave.items_query, annofab.operate (the bare names of earlier releases still work)",
    )
    faults.add_argument(
        "--retry-after",
        metavar="SECONDS",
        help="Retry-After header sent with the status faults",
    )
    parser.set_defaults(handler=serve_command)


def milliseconds(text: str) -> float:
    """argparse type: a number of milliseconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0 milliseconds, got {text!r}")
    return value


def services(args: argparse.Namespace) -> list[str]:
    """The services to serve (``--service``; default every registered one)."""
    from ..emulator import SERVICES

    chosen = list(dict.fromkeys(args.service)) if args.service else list(SERVICES)
    if args.annofab and "annofab" not in chosen:
        chosen.append("annofab")
    unknown = [name for name in chosen if name not in SERVICES]
    if unknown:
        raise CliError(f"unknown --service {', '.join(unknown)}; use one of {', '.join(SERVICES)}")
    return chosen


def seed_counts(args: argparse.Namespace, served: list[str]) -> dict[str, int]:
    """What to seed and announce: Weave (when served), Annofab with --annofab or
    --service annofab, any other service named with --service."""
    counts: dict[str, int] = {}
    for name in served:
        if name == "weave":
            counts[name] = args.seed_items
        elif name == "annofab":
            if args.annofab or "annofab" in (args.service or ()):
                counts[name] = args.annofab_tasks
        elif name in (args.service or ()):
            counts[name] = args.seed_items
    return counts


def fault_rules(args: argparse.Namespace, served: list[str] | None = None) -> list[FaultRule]:
    """The rules the fault options describe, in order: latency, --fault-*, --fault."""
    from ..emulator import FaultRule
    from ..emulator._faults import parse_fault_spec

    known, accepted = _route_names(served)
    rules: list[FaultRule] = []
    if args.latency > 0:
        rules.append(FaultRule(kind="latency", latency=args.latency / 1000, rate=1.0))
    rule = fault_rule(args, served)
    if rule is not None:
        rules.append(rule)
    for spec in args.fault:
        try:
            parsed = parse_fault_spec(spec, retry_after=args.retry_after)
        except ValueError as error:
            raise CliError(f"bad --fault: {error}") from None
        unknown = sorted(set(parsed.routes or ()) - accepted)
        if unknown:
            raise CliError(
                f"bad --fault: unknown route {', '.join(unknown)} in {spec!r}; "
                f"use one of {', '.join(known)}"
            )
        rules.append(parsed)
    return rules


def _route_names(served: list[str] | None) -> tuple[tuple[str, ...], set[str]]:
    """The served services' route names, and those plus their older aliases."""
    from ..emulator import route_names

    known = route_names(served, aliases=False)
    return known, set(route_names(served))


def fault_rule(args: argparse.Namespace, served: list[str] | None = None) -> FaultRule | None:
    """The rule the ``--fault-rate/-status/-route`` options describe (``None``: none)."""
    from ..emulator import FaultRule

    known, accepted = _route_names(served)
    unknown = sorted(set(args.fault_route or ()) - accepted)
    if unknown:
        raise CliError(f"unknown --fault-route {', '.join(unknown)}; use one of {', '.join(known)}")
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
    from ..emulator import WeaveOptions, serve
    from ..emulator._faults import describe_rule

    served = services(args)
    rules = fault_rules(args, served)
    announced = False

    def echo(line: str) -> None:
        nonlocal announced
        _say(out, line)
        if rules and not announced and line.startswith("Use:"):
            announced = True
            _say(out, "Faults: " + "; ".join(describe_rule(rule) for rule in rules))

    def warn(line: str) -> None:
        out.stderr.write(f"annoq: {line}\n")
        out.stderr.flush()

    await serve(
        host=args.host,
        port=args.port,
        seed=args.seed,
        services=served,
        seed_counts=seed_counts(args, served),
        weave=WeaveOptions(
            project=args.project, api_key=args.api_key, legacy_progress=args.legacy_progress
        ),
        faults=rules,
        control_token=args.control_token,
        allowed_hosts=args.allow_host,
        echo=echo,
        warn=warn,
    )
    return EXIT_OK


def _say(out: Output, line: str) -> None:
    out.stdout.write(f"{line}\n")
    out.stdout.flush()
