"""``annoq annofab tasks`` and ``annoq annofab operate``: the Annofab backend on the
command line, with the same output conventions and exit codes as the Weave commands."""

from __future__ import annotations

import argparse
import contextlib
import csv
import enum
import io
import warnings
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TextIO

import attrs
import orjson

from .. import _config
from .._errors import (
    AuthenticationError,
    MFARequiredError,
    MissingCredentialsError,
    PermissionDeniedError,
)
from ..annofab import (
    AnnofabSession,
    OperateAction,
    OverLimitError,
    OverLimitWarning,
    Project,
    Task,
    TaskPhase,
    TaskStatus,
)
from ..annofab._protocol import format_lock
from ._errors import EXIT_AUTH, EXIT_FAILED, EXIT_OK, CliError
from ._io import FORMATS, atomic_file, json_line, output_to, read_ids, write_failures
from ._options import common_options, count, json_option, positive, seconds
from ._render import (
    Output,
    Stopwatch,
    bulk_json,
    bulk_progress,
    bulk_rows,
    is_terminal,
    number,
    rate,
)

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

PHASES: Final = tuple(p.value for p in TaskPhase)
STATUSES: Final = tuple(s.value for s in TaskStatus)
ACTIONS: Final = tuple(a.value for a in OperateAction)
TASK_FIELDS: Final = tuple(field.name for field in attrs.fields(Task))
"""The columns of ``annoq annofab tasks --format csv``, in order."""


def register(commands: Subcommands) -> None:
    """Add ``annofab`` with its ``tasks`` and ``operate`` commands."""
    group = commands.add_parser(
        "annofab",
        help="walk and operate on Annofab tasks",
        description="Annofab tasks: 'tasks' streams a project's tasks, 'operate' applies "
        "an operation to many tasks. Credentials: --pat, else $ANNOFAB_PAT, else "
        "$ANNOFAB_USER_ID and $ANNOFAB_PASSWORD, else ~/.netrc for the endpoint's host.",
    )
    sub = group.add_subparsers(
        title="commands", dest="annofab_command", metavar="COMMAND", required=True
    )
    parents = [common_options(), _connection_options()]

    tasks = sub.add_parser(
        "tasks",
        parents=parents,
        help="stream a project's tasks as JSONL or CSV",
        description="Stream the project's tasks (sorted by task_id, page by page, constant "
        "memory) to stdout or a file. Annofab pages through 10,000 results at most: a "
        "search matching more stops with an error saying how to split it by filters "
        "(or use --on-over-limit warn for the first 10,000).",
    )
    tasks.add_argument("project", metavar="PROJECT", help="project id")
    _filter_options(tasks)
    tasks.add_argument("--format", choices=FORMATS, default="jsonl", help="jsonl (default) or csv")
    tasks.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    tasks.add_argument("--limit", type=count, metavar="N", help="stop after N tasks")
    tasks.add_argument(
        "--on-over-limit",
        choices=("raise", "warn"),
        default="raise",
        help="past 10,000 matches: stop with an error (default) or warn and take the first",
    )
    tasks.add_argument(
        "--fast",
        action="store_true",
        help="let the server apply phase/status/assignee filters (exact only while nobody "
        "changes those tasks during the walk)",
    )
    tasks.set_defaults(handler=tasks_command)

    operate = sub.add_parser(
        "operate",
        parents=[*parents, json_option()],
        help="apply an operation to many tasks (bulk, one outcome each)",
        description="Apply ACTION to the project's tasks (all, those in --where-status / "
        "--where-phase, or the ids in --ids-from) the way Annofab's own CLI does: take the "
        "task over if someone else holds it, start it, operate; a task already so is "
        "'unchanged'. Exit status 1 when any failed; --failures writes them for "
        "--ids-from.",
    )
    operate.add_argument("project", metavar="PROJECT", help="project id")
    operate.add_argument("action", metavar="ACTION", choices=ACTIONS, help=", ".join(ACTIONS))
    which = operate.add_mutually_exclusive_group()
    which.add_argument(
        "--ids-from",
        metavar="FILE",
        help='only these task ids: one per line, or JSONL with a "task_id" or "id" (e.g. '
        "`annoq annofab tasks` output or a --failures file); '-' reads stdin",
    )
    which.add_argument(
        "--where-status",
        action="append",
        choices=STATUSES,
        metavar="S",
        help="only tasks now in status S (repeatable; default: every task)",
    )
    operate.add_argument(
        "--where-phase", choices=PHASES, metavar="P", help="only tasks now in phase P"
    )
    operate.add_argument(
        "--force", action="store_true", help="with reject: send back any task (project owner)"
    )
    operate.add_argument(
        "--no-take-over",
        action="store_true",
        help="fail tasks held by someone else instead of reassigning them to you",
    )
    operate.add_argument(
        "--concurrency",
        type=positive,
        default=_config.ANNOFAB_BULK_CONCURRENCY,
        metavar="N",
        help=f"tasks in flight at once (default {_config.ANNOFAB_BULK_CONCURRENCY}, "
        "Annofab's practical limit)",
    )
    operate.add_argument(
        "--failures",
        metavar="FILE",
        help="write failed tasks as JSONL {id, reason, message} (for --ids-from)",
    )
    operate.set_defaults(handler=operate_command)


def _connection_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--pat",
        metavar="TOKEN",
        help="personal access token (default: $ANNOFAB_PAT, else $ANNOFAB_USER_ID and "
        "$ANNOFAB_PASSWORD, else ~/.netrc)",
    )
    group.add_argument(
        "--endpoint",
        metavar="URL",
        help=f"Annofab (default: $ANNOFAB_ENDPOINT_URL, else {_config.DEFAULT_ANNOFAB_ENDPOINT})",
    )
    group.add_argument(
        "--max-retries",
        type=count,
        metavar="N",
        help="retries per request after the first attempt (default: "
        f"{_config.DEFAULT_MAX_RETRIES}; {_config.DEFAULT_BULK_MAX_RETRIES} in bulk operations)",
    )
    group.add_argument(
        "--timeout", type=seconds, metavar="SECONDS", help="time limit of each request"
    )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow credentials over plain http to a host that is not this machine",
    )
    return parent


def _filter_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters")
    group.add_argument("--phase", choices=PHASES, metavar="P", help=", ".join(PHASES))
    group.add_argument("--phase-stage", type=positive, metavar="N", help="phase stage")
    group.add_argument("--status", choices=STATUSES, metavar="S", help=", ".join(STATUSES))
    group.add_argument("--account-id", metavar="ID", help="only tasks assigned to this account")
    group.add_argument("--no-user", action="store_true", help="only unassigned tasks")
    group.add_argument("--task-id", metavar="PART", help="task id contains PART (any case)")
    group.add_argument(
        "--metadata", metavar="EXPR", help="Annofab metadata search, e.g. 'priority:>=1'"
    )
    group.add_argument(
        "--sort", default="task_id", metavar="KEYS", help="Annofab sort keys (default task_id)"
    )


def _session(args: argparse.Namespace) -> AnnofabSession:
    return AnnofabSession(
        args.pat,
        endpoint=args.endpoint,
        max_retries=args.max_retries,
        timeout=args.timeout,
        allow_insecure_http=args.allow_insecure_http,
    )


@contextlib.asynccontextmanager
async def _annofab(args: argparse.Namespace) -> AsyncIterator[tuple[AnnofabSession, Project]]:
    """The session and project handle, with Annofab's own wording for credential
    problems."""
    try:
        async with _session(args) as af:
            yield af, af.project(args.project)
    except MissingCredentialsError:
        raise CliError(
            "no Annofab credentials: pass --pat, set ANNOFAB_PAT (or ANNOFAB_USER_ID and "
            "ANNOFAB_PASSWORD), or add 'machine annofab.com login USER password PASSWORD' "
            "to ~/.netrc",
            EXIT_AUTH,
        ) from None
    except MFARequiredError as error:
        raise CliError(f"authentication failed: {error.reason}", EXIT_AUTH) from None
    except AuthenticationError as error:
        raise CliError(
            f"authentication failed: {error.reason} (check --pat, ANNOFAB_PAT or "
            "ANNOFAB_USER_ID/ANNOFAB_PASSWORD)",
            EXIT_AUTH,
        ) from None
    except PermissionDeniedError as error:
        raise CliError(
            f"permission denied: {error.reason} (is this account a member of the project?)",
            EXIT_AUTH,
        ) from None
    except OverLimitError as error:
        raise CliError(str(error)) from None


# -- tasks ------------------------------------------------------------------------------


async def tasks_command(args: argparse.Namespace, out: Output) -> int:
    """Write the project's tasks in task_id order."""
    to_file = args.output not in (None, "-")
    clock = Stopwatch()
    written = 0
    async with _annofab(args) as (_, project):
        show_bar = out.live() and (to_file or not is_terminal(out.stdout))
        with (
            output_to(args.output, out.stdout) as stream,
            out.progress("Streaming tasks", None, enabled=show_bar) as bar,
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always", OverLimitWarning)
            writer = TaskWriter(args.format, stream)
            walk = project.task_pages(
                phase=args.phase,
                phase_stage=args.phase_stage,
                status=args.status,
                account_id=args.account_id,
                no_user=args.no_user,
                task_id=args.task_id,
                metadata=args.metadata,
                sort=args.sort,
                on_over_limit=args.on_over_limit,
                mode="fast" if args.fast else "stable",
            )
            async with walk:
                async for page in walk:
                    batch = list(page.tasks)
                    if args.limit is not None:
                        batch = batch[: args.limit - written]
                    writer.write(batch)
                    written += len(batch)
                    bar.update(written, detail=rate(written, clock.elapsed))
                    if args.limit is not None and written >= args.limit:
                        break
        for warning in caught:
            if issubclass(warning.category, OverLimitWarning):
                out.note(str(warning.message))
    where = args.output if to_file else "stdout"
    out.note(
        f"{number(written)} tasks written to {where} in {clock.elapsed:.1f} s "
        f"({rate(written, clock.elapsed)})"
    )
    return EXIT_OK


def task_record(task: Task) -> dict[str, Any]:
    """A task as a JSON-ready dict: Annofab's field names, timestamps with their offset."""
    return {name: _plain(value) for name, value in attrs.asdict(task, recurse=False).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_lock(value)
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return {n: _plain(v) for n, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


class TaskWriter:
    """Tasks as JSONL (one object per line) or CSV (a header of :data:`TASK_FIELDS`, then
    one row per task; lists and objects as JSON text, missing values empty)."""

    def __init__(self, fmt: str, stream: TextIO) -> None:
        self._stream = stream
        self._csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(TASK_FIELDS)

    def write(self, tasks: Iterable[Task]) -> None:
        """Write these tasks."""
        if self._csv is None:
            self._stream.writelines(json_line(task_record(t)) for t in tasks)
            return
        self._csv.writerows([_cell(v) for v in task_record(t).values()] for t in tasks)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return str(value)


# -- operate ----------------------------------------------------------------------------


def read_task_ids(source: str, stdin: TextIO) -> list[str]:
    """Task ids from a file or stdin: plain ids, or JSONL lines with ``task_id`` (as
    ``annoq annofab tasks`` writes) or ``id`` (as ``--failures`` writes); checked whole
    by the CLI's id reader before anything is sent."""
    if source == "-":
        lines: Iterator[str] = iter(stdin.read().splitlines(keepends=True))
    else:
        try:
            with open(source, encoding="utf-8") as file:
                lines = iter(file.read().splitlines(keepends=True))
        except (OSError, UnicodeDecodeError):
            return read_ids(source, stdin)  # reports the problem in the CLI's words
    return read_ids("-", io.StringIO("".join(_as_id_line(line) for line in lines)))


def _as_id_line(line: str) -> str:
    text = line.strip()
    if text.startswith("{"):
        with contextlib.suppress(orjson.JSONDecodeError):
            data = orjson.loads(text)
            if isinstance(data, dict) and "id" not in data and "task_id" in data:
                return json_line({"id": data["task_id"]})
    return line if line.endswith("\n") else line + "\n"


async def _where(project: Project, args: argparse.Namespace) -> AsyncIterator[Task]:
    """Tasks matching --where-status / --where-phase, from a walk that stays exact while
    the operation changes them."""
    statuses = set(args.where_status or STATUSES)
    async with project.tasks(phase=args.where_phase) as walk:
        async for task in walk:
            if task.status.value in statuses:
                yield task


async def operate_command(args: argparse.Namespace, out: Output) -> int:
    """Run the bulk operation and report it."""
    if args.force and args.action != "reject":
        raise CliError("--force goes with the reject action only")
    ids = read_task_ids(args.ids_from, out.stdin) if args.ids_from is not None else None
    total = len(ids) if ids is not None else None
    async with _annofab(args) as (af, project), contextlib.AsyncExitStack() as stack:
        sink: contextlib.AbstractContextManager[TextIO | None] = (
            atomic_file(args.failures) if args.failures else contextlib.nullcontext()
        )
        inputs: Any = ids
        if inputs is None:
            inputs = await stack.enter_async_context(contextlib.aclosing(_where(project, args)))
        with sink as failures, out.progress(f"Operating {args.action}", total) as bar:
            result = await project.bulk_operate(
                inputs,
                args.action,
                force=args.force,
                take_over=not args.no_take_over,
                concurrency=args.concurrency,
                on_progress=bulk_progress(bar, lambda: af.stats.retries, total),
                max_retries=args.max_retries,
            )
            if failures is not None:
                write_failures(failures, result.failures)
    if out.json:
        out.emit_json({"action": args.action, **bulk_json(result)})
    elif not out.quiet:
        out.table(bulk_rows(result), title=f"{args.action} in project {args.project}")
        if result.failed and args.failures:
            out.note(
                f"{number(result.failed)} failures written to {args.failures}; retry them "
                f"with --ids-from {args.failures}"
            )
        elif result.failed:
            first = result.failures[0]
            out.note(f"first failure: {first.key}: {first.error} (--failures FILE saves all)")
    return EXIT_OK if result.ok else EXIT_FAILED
