"""The ``annoq`` parser, :func:`run` (async, testable) and :func:`main` (the script)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Final, NoReturn, TextIO

from .._version import __version__
from . import _annofab, _demo, _items, _mark, _queues, _serve
from ._errors import EXIT_OK, CliError, describe, exit_code
from ._render import Output

EPILOG = """\
exit status: 0 done; 1 some items failed, or the server was unreachable, too slow
(--timeout) or kept failing; 2 usage or input error (an unknown queue too); 3 missing or
wrong credentials, or no permission; 130/143 interrupted by Ctrl-C/SIGTERM (a bulk run
first prints its counts and completes its --failures file, which resumes it).

environment: WANDB_API_KEY (else ~/.netrc, machine api.wandb.ai), WF_TRACE_SERVER_URL or
WEAVE_TRACE_BASE_URL (default https://trace.wandb.ai).
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
        return EXIT_OK  # the reader went away (`| head`): it has all it wanted, as with cat
    except Exception as error:
        if args.debug:
            traceback.print_exception(error, file=stderr)
        out.error(describe(error))
        return exit_code(error)
    return status


EXIT_INTERRUPTED: Final = 128 + signal.SIGINT
"""Stopped by Ctrl-C (SIGINT), as shells report it."""
EXIT_TERMINATED: Final = 128 + signal.SIGTERM
"""Stopped by SIGTERM."""


def main(argv: Sequence[str] | None = None) -> int:
    """The ``annoq`` console script: run a command in a new event loop.

    Ctrl-C and SIGTERM cancel the command, which reports what it had done (a bulk run
    prints its counts and writes its failures file) before the process exits with
    130 or 143. A second SIGTERM ends the process at once.
    """
    terminated = False

    async def command() -> int:
        nonlocal terminated
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_sigterm() -> None:
            nonlocal terminated
            terminated = True
            loop.remove_signal_handler(signal.SIGTERM)  # the next one kills
            task.cancel()

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        return await run(argv)

    try:
        status = asyncio.run(command())
    except KeyboardInterrupt:
        sys.stderr.write("annoq: interrupted\n")
        status = EXIT_INTERRUPTED
    except asyncio.CancelledError:
        if not terminated:
            raise
        sys.stderr.write("annoq: terminated\n")
        status = EXIT_TERMINATED
    if status == EXIT_OK:
        _quiet_closed_stdout()
    return status


def _quiet_closed_stdout() -> None:
    """Flush stdout now; if its reader is gone (``| head``), point it at the null
    device so that the interpreter's own flush at exit does not complain."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
