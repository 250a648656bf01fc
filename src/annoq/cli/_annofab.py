"""``annoq annofab tasks`` and ``annoq annofab operate``: the Annofab backend on the
command line, with the same output conventions and exit codes as the Weave commands."""

from __future__ import annotations

import argparse
import contextlib
import enum
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TextIO

import attrs
import orjson

from .. import _config
from .._bulk import BulkResult
from .._errors import (
    AuthenticationError,
    MFARequiredError,
    MissingCredentialsError,
    PermissionDeniedError,
)
from ..annofab import (
    AnnofabSession,
    OperateAction,
    OperatePlan,
    OverLimitError,
    Project,
    Task,
    TaskPhase,
    TaskRef,
    TaskStatus,
)
from ..annofab._protocol import format_lock
from . import _annofab_bulk, _annofab_lists
from ._errors import EXIT_AUTH, EXIT_OK, CliError
from ._io import read_checked_lines
from ._options import common_options, count, json_option, positive, seconds
from ._render import Output, number
from ._run import CountingFeed, Hooks, finish_bulk_command, run_bulk_command

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

PHASES: Final = tuple(p.value for p in TaskPhase)
STATUSES: Final = tuple(s.value for s in TaskStatus)
ACTIONS: Final = tuple(a.value for a in OperateAction)
CLI_ACTIONS: Final = (*ACTIONS, "reassign")
"""What ``annoq annofab operate`` does: the operations, and reassigning."""
TASK_FIELDS: Final = tuple(field.name for field in attrs.fields(Task))
"""The columns of ``annoq annofab tasks --format csv``, in order."""


def register(commands: Subcommands) -> None:
    """Add ``annofab`` with its ``tasks`` and ``operate`` commands."""
    group = commands.add_parser(
        "annofab",
        help="walk, export, import and operate on Annofab projects",
        description="Annofab projects: stream tasks, input data and annotations, download "
        "exports, list and wait for jobs, operate on many tasks and import in bulk. "
        "Credentials: --pat, else $ANNOFAB_PAT, else "
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
    _annofab_lists.add_output_options(tasks)
    _annofab_lists.add_over_limit_option(tasks, export=True)
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
        "'unchanged'. Safe to rerun: each task is acted on only in the phase (and stage) "
        "it was listed in, so a task that has moved on since is 'unchanged' (--on-moved "
        "fail reports it instead). complete, reject and cancel act on the task's phase: "
        "with --ids-from, each line needs it (as `annoq annofab tasks` and --failures "
        "write it) or --phase gives it. reassign assigns the tasks --to an account (or "
        "--unassign). Exit status 1 when any failed; --failures writes them for "
        "--ids-from.",
    )
    operate.add_argument("project", metavar="PROJECT", help="project id")
    operate.add_argument(
        "action", metavar="ACTION", choices=CLI_ACTIONS, help=", ".join(CLI_ACTIONS)
    )
    which = operate.add_mutually_exclusive_group()
    which.add_argument(
        "--ids-from",
        metavar="FILE",
        help='only these tasks: one id per line, or JSONL with a "task_id" or "id" and the '
        '"phase" (and "phase_stage", "number_of_rejections") it was listed in, as '
        "`annoq annofab tasks` and --failures write; '-' reads stdin",
    )
    which.add_argument(
        "--where-status",
        action="append",
        choices=STATUSES,
        metavar="S",
        help="only tasks now in status S (repeatable; default: every task)",
    )
    operate.add_argument(
        "--where-phase",
        choices=PHASES,
        metavar="P",
        help="only tasks now in phase P (not with --ids-from: use --phase there)",
    )
    operate.add_argument(
        "--phase",
        choices=PHASES,
        metavar="P",
        help="with --ids-from: the phase the listed tasks were in, for lines that do not "
        "say (needed by complete, reject and cancel)",
    )
    operate.add_argument(
        "--phase-stage",
        type=positive,
        metavar="N",
        help="with --phase: the phase stage the listed tasks were in (default: any)",
    )
    operate.add_argument(
        "--on-moved",
        choices=("unchanged", "fail"),
        default="unchanged",
        help="a task that has moved on from where it was listed: count it unchanged "
        "(default) or as failed (reason phase_changed)",
    )
    operate.add_argument(
        "--force", action="store_true", help="with reject: send back any task (project owner)"
    )
    operate.add_argument(
        "--no-take-over",
        action="store_true",
        help="fail tasks held by someone else instead of reassigning them to you",
    )
    target = operate.add_mutually_exclusive_group()
    target.add_argument(
        "--to", metavar="ACCOUNT_ID", help="with reassign: the account to assign the tasks to"
    )
    target.add_argument(
        "--unassign", action="store_true", help="with reassign: leave the tasks unassigned"
    )
    operate.add_argument(
        "--dry-run",
        action="store_true",
        help="read the tasks and show what would be done to each; change nothing",
    )
    operate.add_argument(
        "--concurrency",
        type=positive,
        default=_config.ANNOFAB_BULK_CONCURRENCY,
        metavar="N",
        help="tasks in flight at most, adapting below it and backing off on 429 "
        f"(default {_config.ANNOFAB_BULK_CONCURRENCY})",
    )
    operate.add_argument(
        "--failures",
        metavar="FILE",
        help="write failed tasks as JSONL {id, phase, phase_stage, number_of_rejections, "
        "reason, message}, as they fail; a run that stops early (Ctrl-C, SIGTERM, an "
        "error) adds the tasks it did not finish, so feeding the file back with "
        "--ids-from resumes it, each task acted on only where it was listed (empty when "
        "none failed)",
    )
    operate.set_defaults(handler=operate_command)
    _annofab_bulk.register(sub, parents)
    _annofab_lists.register(sub, parents)


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
    options: dict[str, Any] = {
        "phase": args.phase,
        "phase_stage": args.phase_stage,
        "status": args.status,
        "account_id": args.account_id,
        "no_user": args.no_user,
        "task_id": args.task_id,
        "metadata": args.metadata,
        "sort": args.sort,
        "on_over_limit": args.on_over_limit,
        "mode": "fast" if args.fast else "stable",
    }
    async with _annofab(args) as (_, project):

        async def batches() -> AsyncGenerator[Sequence[Task], None]:
            if args.on_over_limit == "export":  # one at a time from the file
                async with project.tasks(**options) as tasks:
                    async for batch in _annofab_lists.batched(tasks):
                        yield batch
                return
            async with project.task_pages(**options) as walk:
                async for page in walk:
                    yield page.tasks

        return await _annofab_lists.write_listing(
            args, out, "tasks", TASK_FIELDS, batches, task_record
        )


def model_record(obj: Any) -> dict[str, Any]:
    """A model as a JSON-ready dict: Annofab's field names, timestamps with their
    offset, enums as their values."""
    return {name: _plain(value) for name, value in attrs.asdict(obj, recurse=False).items()}


task_record = model_record
"""A task as a JSON-ready dict (see :func:`model_record`)."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_lock(value)
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return {n: _plain(v) for n, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class TaskWriter(_annofab_lists.RecordWriter):
    """Tasks as JSONL (one object per line) or CSV (a header of :data:`TASK_FIELDS`, then
    one row per task; lists and objects as JSON text, missing values empty)."""

    def __init__(self, fmt: str, stream: TextIO) -> None:
        super().__init__(fmt, stream, TASK_FIELDS)

    def write(self, tasks: Iterable[Any]) -> None:
        """Write these tasks."""
        super().write(task_record(t) for t in tasks)


# -- operate ----------------------------------------------------------------------------


def read_task_inputs(
    source: str, stdin: TextIO, *, phase: str | None = None, phase_stage: int | None = None
) -> list[str | TaskRef]:
    """The tasks listed in a file or stdin, checked whole before anything is sent.

    Each line is a plain task id, or a JSON object with a ``task_id`` (as
    ``annoq annofab tasks`` writes) or an ``id`` (as ``--failures`` writes), and the
    ``phase``, ``phase_stage`` and ``number_of_rejections`` it was listed with: such a
    line becomes a :class:`TaskRef`, so the task is acted on only while it is still
    there. A line that gives no phase takes ``phase`` / ``phase_stage`` when given, else
    stays a bare id.
    """
    return read_checked_lines(
        source,
        stdin,
        lambda line: _task_line(line, phase, phase_stage),
        expected='each line must be a task id or a JSON object with a "task_id" or "id" '
        '(and optionally "phase", "phase_stage", "number_of_rejections"); nothing was sent',
    )


def _task_line(
    line: str, phase: str | None, stage: int | None
) -> tuple[str | TaskRef | None, str | None]:
    """``(input, None)`` or ``(None, problem)``."""
    text = line.strip()
    if not text:
        return None, "is blank"
    if not text.startswith("{"):
        if any(ch.isspace() or ch in '{}[]",' for ch in text):
            return None, f"is not a task id: {text[:40]!r}"
        return (TaskRef(text, phase, stage) if phase else text), None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, "is not valid JSON"
    if not isinstance(data, dict):
        return None, "is not a JSON object"
    task_id = data.get("task_id", data.get("id"))
    if not isinstance(task_id, str) or not task_id.strip():
        return None, 'has no string "task_id" or "id"'
    task_id = task_id.strip()
    own = data.get("phase")
    if own is None:
        return (TaskRef(task_id, phase, stage) if phase else task_id), None
    if own not in PHASES:
        return None, f'has "phase" {own!r}, not one of {", ".join(PHASES)}'
    numbers: dict[str, int | None] = {}
    for key, low in (("phase_stage", 1), ("number_of_rejections", 0)):
        value = data.get(key)
        if value is not None and (type(value) is not int or value < low):
            return None, f'has "{key}" {value!r}, not an integer >= {low}'
        numbers[key] = value
    return TaskRef(task_id, own, numbers["phase_stage"], numbers["number_of_rejections"]), None


async def _where(
    project: Project, args: argparse.Namespace, refs: dict[str, TaskRef] | None
) -> AsyncIterator[Task]:
    """Tasks matching --where-status / --where-phase, from a walk that stays exact while
    the operation changes them; each one's place is kept in ``refs`` (for --failures)."""
    statuses = set(args.where_status or STATUSES)
    async with project.tasks(phase=args.where_phase) as walk:
        async for task in walk:
            if task.status.value in statuses:
                if refs is not None:
                    refs[task.task_id] = TaskRef.of(task)
                yield task


def _check_operate(args: argparse.Namespace) -> None:
    """The option combinations ``operate`` refuses (exit 2, before any request)."""
    if args.force and args.action != "reject":
        raise CliError("--force goes with the reject action only")
    if args.action == "reassign":
        if args.to is None and not args.unassign:
            raise CliError("reassign needs --to ACCOUNT_ID (or --unassign)")
        if args.no_take_over:
            raise CliError("--no-take-over does not go with reassign")
    elif args.to is not None or args.unassign:
        raise CliError("--to and --unassign go with the reassign action only")
    if args.ids_from is not None and args.where_phase is not None:
        raise CliError(
            "--where-phase filters the project's tasks and does not go with --ids-from; "
            "give the phase the listed tasks were in with --phase P instead"
        )
    if args.ids_from is None and (args.phase is not None or args.phase_stage is not None):
        raise CliError(
            "--phase and --phase-stage describe the --ids-from tasks; to choose tasks by "
            "phase use --where-phase"
        )
    if args.phase_stage is not None and args.phase is None:
        raise CliError("--phase-stage goes with --phase")


def _need_phases(inputs: list[str | TaskRef], args: argparse.Namespace) -> None:
    if args.action not in PHASE_ACTIONS:
        return
    bare = [w for w in inputs if isinstance(w, str)]
    if bare:
        raise CliError(
            f"{args.ids_from if args.ids_from != '-' else '<stdin>'}: {number(len(bare))} "
            f"tasks are listed without their phase (first: {bare[0]}); {args.action} acts "
            "on the task's phase, so give the phase they were listed in with --phase P, "
            "or list them with `annoq annofab tasks` (nothing was sent)"
        )


PHASE_ACTIONS: Final = frozenset({"complete", "reject", "cancel"})


def task_place(ref: TaskRef | None) -> dict[str, Any]:
    """Where a task was listed, as the fields of its ``--failures`` line
    (``"phase"``, ``"phase_stage"``, ``"number_of_rejections"``; none for a bare id), so
    that feeding the file back with ``--ids-from`` acts on it only there."""
    if ref is None:
        return {}
    record: dict[str, Any] = {"phase": ref.phase.value}
    if ref.phase_stage is not None:
        record["phase_stage"] = ref.phase_stage
    if ref.number_of_rejections is not None:
        record["number_of_rejections"] = ref.number_of_rejections
    return record


def _task_key(work: str | TaskRef) -> str:
    return work.task_id if isinstance(work, TaskRef) else work


async def operate_command(args: argparse.Namespace, out: Output) -> int:
    """Run the bulk operation (or its dry run) and report it (also when it stops early)."""
    _check_operate(args)
    ids: list[str | TaskRef] | None = None
    if args.ids_from is not None:
        ids = read_task_inputs(
            args.ids_from, out.stdin, phase=args.phase, phase_stage=args.phase_stage
        )
        _need_phases(ids, args)
    refs: dict[str, TaskRef] = {}  # where each task was listed, for --failures
    if ids is not None:
        refs = {w.task_id: w for w in ids if isinstance(w, TaskRef)}
    feed = CountingFeed(ids) if ids is not None else None
    async with _annofab(args) as (af, project), contextlib.AsyncExitStack() as stack:
        inputs: Any = feed
        if feed is None:
            inputs = await stack.enter_async_context(
                contextlib.aclosing(_where(project, args, refs if args.failures else None))
            )
        if args.dry_run:
            return await _dry_run(project, ids if ids is not None else inputs, args, out)

        def start(hooks: Hooks) -> Awaitable[BulkResult]:
            options: dict[str, Any] = {
                "on_moved": args.on_moved,
                "concurrency": args.concurrency,
                "on_progress": hooks.on_progress,
                "on_failure": hooks.on_failure,
                "max_retries": args.max_retries,
            }
            if args.action == "reassign":
                return project.bulk_reassign(inputs, args.to, **options)
            return project.bulk_operate(
                inputs, args.action, force=args.force, take_over=not args.no_take_over, **options
            )

        run = await run_bulk_command(
            out,
            start,
            description=_title(args),
            total=len(feed) if feed is not None else None,
            failures=args.failures,
            retries=lambda: af.stats.retries,
            unread=(lambda: [_task_key(w) for w in feed.unread()]) if feed is not None else None,
            place=lambda key: task_place(refs.get(key)),
            concurrency=args.concurrency,
        )
    return finish_bulk_command(
        run,
        out,
        what=f"operate {args.action}",
        title=f"{args.action} in project {args.project}",
        head={"action": args.action},
    )


def _title(args: argparse.Namespace) -> str:
    if args.action == "reassign":
        return f"Reassigning to {args.to}" if args.to else "Unassigning"
    return f"Operating {args.action}"


async def _dry_run(project: Project, inputs: Any, args: argparse.Namespace, out: Output) -> int:
    """Read the tasks and show what a real run would do to each; send no write."""
    if args.action == "reassign":
        plans = project.plan_reassign(inputs, args.to, on_moved=args.on_moved)
    else:
        plans = project.plan_operate(
            inputs,
            args.action,
            on_moved=args.on_moved,
            force=args.force,
            take_over=not args.no_take_over,
        )
    counts = {"update": 0, "unchanged": 0, "fail": 0}
    listed: list[dict[str, Any]] = []
    async for plan in plans:
        counts[plan.outcome] += 1
        if out.json:
            entry: dict[str, Any] = {"id": plan.task_id, "outcome": plan.outcome}
            if plan.steps:
                entry["steps"] = list(plan.steps)
            if plan.reason is not None:
                entry.update(reason=plan.reason, message=plan.message)
            listed.append(entry)
        elif not out.quiet:
            out.stdout.write(_plan_line(plan))
    if out.json:
        out.emit_json(
            {
                "dry_run": True,
                "action": args.action,
                "would_update": counts["update"],
                "unchanged": counts["unchanged"],
                "would_fail": counts["fail"],
                "tasks": listed,
            }
        )
    elif not out.quiet:
        out.stdout.write(
            f"Dry run: {number(counts['update'])} would be updated, "
            f"{number(counts['unchanged'])} unchanged, {number(counts['fail'])} would fail "
            "(nothing was changed)\n"
        )
    return EXIT_OK


def _plan_line(plan: OperatePlan) -> str:
    if plan.outcome == "update":
        return f"{plan.task_id}: would {', '.join(plan.steps)}\n"
    if plan.outcome == "unchanged":
        return f"{plan.task_id}: unchanged (done already, or moved on since it was listed)\n"
    return f"{plan.task_id}: would fail ({plan.reason}): {plan.message}\n"
