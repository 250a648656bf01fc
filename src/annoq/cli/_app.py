"""The ``annoq`` parser, :func:`run` (async, testable) and :func:`main` (the script)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn, TextIO

from .._version import __version__
from . import _annofab, _demo, _items, _mark, _queues, _serve
from ._errors import EXIT_FAILED, CliError, describe, exit_code
from ._render import Output

EPILOG = """\
exit status: 0 done; 1 some items failed, or the server was unreachable or kept failing;
2 usage or input error; 3 missing or wrong credentials, or no permission.

environment: WANDB_API_KEY (else ~/.netrc, machine: the host of WANDB_BASE_URL, default
api.wandb.ai), WF_TRACE_SERVER_URL or WEAVE_TRACE_BASE_URL (else WANDB_BASE_URL/traces for a
W&B other than api.wandb.ai, else https://trace.wandb.ai).
Annofab ('annoq annofab ...'): ANNOFAB_PAT, else ANNOFAB_USER_ID and ANNOFAB_PASSWORD, else
~/.netrc for the endpoint's host; ANNOFAB_ENDPOINT_URL (default https://annofab.com).
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are raised (exit status 2), not printed and exited."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The full ``annoq`` command-line parser."""
    parser = _Parser(
        prog="annoq",
        description="Stream and bulk-update W&B Weave annotation queues; "
        "'annoq demo' shows it all on a local emulator.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"annoq {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only data and errors")
    parser.add_argument("--debug", action="store_true", help="tracebacks on errors")
    commands = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", required=True
    )
    for module in (_demo, _serve, _queues, _items, _mark, _annofab):
        module.register(commands)
    return parser


async def run(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one ``annoq`` command in the running event loop; returns the exit status.

    ``argv`` excludes the program name (default ``sys.argv[1:]``); the streams default to
    the process's. Every failure is reported as one line on ``stderr`` (a traceback too
    with ``--debug``); nothing is raised except cancellation.

        status = await run(["stats", "entity/project", queue_id], stdout=buffer)
    """
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    try:
        args = build_parser().parse_args(argv)
    except CliError as error:
        stderr.write(f"annoq: error: {describe(error)}\n")
        return error.code
    except SystemExit as done:  # --help and --version print, then "exit"
        return done.code if isinstance(done.code, int) else 0
    out = Output(
        stdout,
        stderr,
        stdin,
        quiet=args.quiet,
        json=getattr(args, "json", False),
        debug=args.debug,
    )
    try:
        status: int = await args.handler(args, out)
    except BrokenPipeError:
        return EXIT_FAILED  # the reader went away (e.g. `| head`): nothing left to say
    except Exception as error:
        if args.debug:
            traceback.print_exception(error, file=stderr)
        out.error(describe(error))
        return exit_code(error)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """The ``annoq`` console script: run a command in a new event loop."""
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        sys.stderr.write("annoq: interrupted\n")
        return 130
