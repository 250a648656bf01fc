"""``annoq annofab input-data``, ``annotations``, ``export`` and ``jobs``: the project's
other lists and its whole-project files, with the conventions of ``annoq annofab tasks``
(JSONL or CSV on stdout or to an atomic ``-o`` file, progress bars on a terminal, a
closing note on stderr, the exit codes of every command)."""

from __future__ import annotations

import argparse
import codecs
import contextlib
import csv
import warnings
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, TextIO, TypeVar

import attrs
import orjson

from .. import _config
from .._errors import JobFailedError
from ..annofab import InputData, Job, JobType, OverLimitWarning, Project, SingleAnnotation
from ..annofab._exports import BytesSink
from ._errors import EXIT_OK, CliError
from ._io import FORMATS, json_line, output_to
from ._options import count, json_option, seconds
from ._render import Output, Stopwatch, is_terminal, number, rate

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

T = TypeVar("T")

JOB_TYPES: Final = tuple(m.value for m in JobType.__members__.values())
EXPORT_KINDS: Final = ("tasks", "input-data", "annotations")
_BATCH: Final = 200
"""Records written (and the bar moved) together when a walk yields one at a time."""


# -- shared options ---------------------------------------------------------------------


def add_output_options(parser: argparse.ArgumentParser, *, formats: bool = True) -> None:
    """``--format`` (jsonl or csv), ``-o FILE`` and ``--limit N``: how a listing is
    written (the same for every listing command)."""
    group = parser.add_argument_group("output")
    if formats:
        group.add_argument(
            "--format", choices=FORMATS, default="jsonl", help="jsonl (default) or csv"
        )
    group.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    group.add_argument("--limit", type=count, metavar="N", help="stop after N records")


def add_over_limit_option(parser: argparse.ArgumentParser, *, export: bool) -> None:
    """``--on-over-limit``: what a listing does past Annofab's 10,000 results."""
    choices = ("raise", "warn", "export") if export else ("raise", "warn")
    parser.add_argument(
        "--on-over-limit",
        choices=choices,
        default="raise",
        help="past 10,000 matches: stop with an error (default), warn and take the first"
        + (
            ", or read the whole-project export instead (the file as last rebuilt)"
            if export
            else ""
        ),
    )


def moment(text: str) -> datetime:
    """argparse type: an ISO 8601 date-time with its offset."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the offset too (e.g. {text}+09:00)")
    return value


# -- writing records --------------------------------------------------------------------


class RecordWriter:
    """Records (dicts) as JSONL, or as CSV with a header of ``fields`` (lists and objects
    as JSON text, missing values empty)."""

    def __init__(self, fmt: str, stream: TextIO, fields: Sequence[str]) -> None:
        self._stream = stream
        self._fields = tuple(fields)
        self._csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(self._fields)

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        """Write these records."""
        if self._csv is None:
            self._stream.writelines(json_line(r) for r in records)
            return
        self._csv.writerows([cell(r.get(f)) for f in self._fields] for r in records)


def cell(value: Any) -> str:
    """One CSV cell: empty for a missing value, JSON text for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return str(value)


async def batched(items: AsyncIterable[T], size: int = _BATCH) -> AsyncGenerator[list[T], None]:
    """``items`` in lists of up to ``size`` (the last one shorter)."""
    batch: list[T] = []
    async for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def write_listing(
    args: argparse.Namespace,
    out: Output,
    what: str,
    fields: Sequence[str],
    batches: Callable[[], AsyncGenerator[Sequence[Any], None]],
    record: Callable[[Any], dict[str, Any]],
) -> int:
    """Write a listing the way every listing command does: to stdout or an atomic
    ``-o`` file, a progress bar on a terminal (when the data does not go there), at
    most ``--limit`` records, over-limit warnings as notes, a closing count."""
    to_file = args.output not in (None, "-")
    clock = Stopwatch()
    written = 0
    limit = getattr(args, "limit", None)
    show_bar = out.live() and (to_file or not is_terminal(out.stdout))
    with (
        output_to(args.output, out.stdout) as stream,
        out.progress(f"Streaming {what}", None, enabled=show_bar) as bar,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always", OverLimitWarning)
        writer = RecordWriter(getattr(args, "format", "jsonl"), stream, fields)
        source = batches()
        async with contextlib.aclosing(source):
            async for page in source:
                chunk = list(page)
                if limit is not None:
                    chunk = chunk[: limit - written]
                writer.write(record(r) for r in chunk)
                written += len(chunk)
                bar.update(written, detail=rate(written, clock.elapsed))
                if limit is not None and written >= limit:
                    break
    for warning in caught:
        if issubclass(warning.category, OverLimitWarning):
            out.note(str(warning.message))
    where = args.output if to_file else "stdout"
    out.note(
        f"{number(written)} {what} written to {where} in {clock.elapsed:.1f} s "
        f"({rate(written, clock.elapsed)})"
    )
    return EXIT_OK


def register(sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``input-data``, ``annotations``, ``export`` and ``jobs`` to ``annoq annofab``."""
    inputs = sub.add_parser(
        "input-data",
        parents=parents,
        help="stream a project's input data as JSONL or CSV",
        description="Stream the project's input data (each item once, also while items "
        "change) to stdout or a file. Past 10,000 matches: an error, --on-over-limit "
        "warn (the first 10,000) or export (the whole-project input data export, "
        "filters applied here).",
    )
    inputs.add_argument("project", metavar="PROJECT", help="project id")
    group = inputs.add_argument_group("filters")
    for name in ("id", "name", "path"):
        group.add_argument(
            f"--input-data-{name}", metavar="PART", help=f"the {name} contains PART (any case)"
        )
    group.add_argument("--task-id", metavar="ID", help="only this task's input data")
    group.add_argument("--from", dest="from_", type=moment, metavar="TIME", help="updated since")
    group.add_argument("--to", type=moment, metavar="TIME", help="updated until")
    add_output_options(inputs)
    add_over_limit_option(inputs, export=True)
    inputs.set_defaults(handler=input_data_command)

    anns = sub.add_parser(
        "annotations",
        parents=parents,
        help="stream a project's annotations (one line per annotation) as JSONL",
        description="Stream the project's annotation list, one record per annotation "
        "(task_id, input_data_id, detail, updated_datetime), each once. --query takes "
        "an Annofab AnnotationQuery as JSON; --task-id, --input-data-id and --label-id "
        "are added to it.",
    )
    anns.add_argument("project", metavar="PROJECT", help="project id")
    group = anns.add_argument_group("filters")
    group.add_argument(
        "--query", metavar="JSON", help='an AnnotationQuery, e.g. \'{"task_id": "t-1"}\''
    )
    for name in ("task_id", "input_data_id", "label_id"):
        group.add_argument(f"--{name.replace('_', '-')}", metavar="ID", help=f"only this {name}")
    group.add_argument("--sort", metavar="KEYS", help="Annofab sort keys (e.g. task_id)")
    add_output_options(anns, formats=False)
    add_over_limit_option(anns, export=False)
    anns.set_defaults(handler=annotations_command)

    export = sub.add_parser(
        "export",
        parents=[*parents, json_option()],
        help="download a whole-project export (tasks, input data, the annotation ZIP)",
        description="Download the project's tasks or input data export (a JSON array) "
        "or its annotation ZIP, to stdout or to FILE atomically (no partial file on "
        "failure). --refresh rebuilds it first and waits for the job (one already "
        "running is waited for). The signed URL is read without your credentials.",
    )
    export.add_argument("kind", metavar="KIND", choices=EXPORT_KINDS, help=", ".join(EXPORT_KINDS))
    export.add_argument("project", metavar="PROJECT", help="project id")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    export.add_argument("--refresh", action="store_true", help="rebuild the file first")
    _job_timeout_option(export, "--job-timeout", "with --refresh: the longest wait for the job")
    export.set_defaults(handler=export_command)

    jobs = sub.add_parser(
        "jobs",
        parents=parents,
        help="list a project's jobs, or wait for one to finish",
        description="List the project's jobs, newest first, as JSONL (every page). "
        "--wait waits for the newest job of --job-type (or --job-id) to finish and "
        "writes it; exit status 1 when it failed (its errors on stderr).",
    )
    jobs.add_argument("project", metavar="PROJECT", help="project id")
    jobs.add_argument("--job-type", choices=JOB_TYPES, metavar="T", help=", ".join(JOB_TYPES))
    jobs.add_argument("--wait", action="store_true", help="wait for the job to finish")
    jobs.add_argument("--job-id", metavar="ID", help="with --wait: this job, not the newest")
    _job_timeout_option(jobs, "--wait-timeout", "with --wait: the longest wait")
    add_output_options(jobs)
    jobs.set_defaults(handler=jobs_command)


def _job_timeout_option(parser: argparse.ArgumentParser, flag: str, text: str) -> None:
    parser.add_argument(
        flag, dest="job_timeout", type=seconds, metavar="SECONDS", help=f"{text} (default: an hour)"
    )


# -- commands -----------------------------------------------------------------------------


async def input_data_command(args: argparse.Namespace, out: Output) -> int:
    """Write the project's input data."""
    from ._annofab import _annofab, model_record

    async with _annofab(args) as (_, project):
        walk = project.input_data(
            input_data_id=args.input_data_id,
            input_data_name=args.input_data_name,
            input_data_path=args.input_data_path,
            task_id=args.task_id,
            from_=args.from_,
            to=args.to,
            on_over_limit=args.on_over_limit,
        )
        return await write_listing(
            args, out, "input data", _fields(InputData), lambda: batched(walk), model_record
        )


async def annotations_command(args: argparse.Namespace, out: Output) -> int:
    """Write the project's annotations, one line each."""
    from ._annofab import _annofab, model_record

    query = _annotation_query(args)
    async with _annofab(args) as (_, project):
        walk = project.annotations(query=query, sort=args.sort, on_over_limit=args.on_over_limit)
        return await write_listing(
            args, out, "annotations", _fields(SingleAnnotation), lambda: batched(walk), model_record
        )


def _annotation_query(args: argparse.Namespace) -> dict[str, Any] | None:
    query: dict[str, Any] = {}
    if args.query is not None:
        try:
            query = orjson.loads(args.query)
        except orjson.JSONDecodeError:
            raise CliError(f"--query is not JSON: {args.query[:60]!r}") from None
        if not isinstance(query, dict):
            raise CliError("--query must be a JSON object (an AnnotationQuery)")
    for name in ("task_id", "input_data_id", "label_id"):
        value = getattr(args, name)
        if value is not None:
            if name in query and query[name] != value:
                raise CliError(f"--{name.replace('_', '-')} contradicts --query's {name!r}")
            query[name] = value
    return query or None


async def export_command(args: argparse.Namespace, out: Output) -> int:
    """Download one whole-project export."""
    from ._annofab import _annofab

    to_file = args.output not in (None, "-")
    if args.json and not to_file:
        raise CliError("--json reports on the file written: give -o FILE")
    if args.kind == "annotations" and not to_file:
        buffer = getattr(out.stdout, "buffer", None)
        if buffer is None or is_terminal(out.stdout):
            raise CliError("the annotation ZIP is binary: give -o FILE (or pipe stdout)")
    clock = Stopwatch()
    show_bar = out.live() and (to_file or not is_terminal(out.stdout))
    async with _annofab(args) as (_, project):
        with (
            output_to(args.output, out.stdout) as stream,
            out.progress(f"Downloading the {args.kind} export", None, enabled=show_bar) as bar,
        ):

            def on_job(job: Job) -> None:
                bar.update(0, detail=f"waiting for {job.job_type.value} ({job.job_status.value})")

            def on_bytes(done: int) -> None:
                bar.update(done, detail=f"{done / 1e6:,.1f} MB")

            sink = _ByteSink(stream, binary=args.kind == "annotations")
            size = await _exporter(project, args.kind)(
                sink,
                refresh=args.refresh,
                on_progress=on_bytes,
                on_job=on_job,
                job_timeout=args.job_timeout or _config.ANNOFAB_JOB_TIMEOUT,
            )
            sink.close()
    where = args.output if to_file else "stdout"
    if args.json:
        out.emit_json(
            {
                "kind": args.kind,
                "project": args.project,
                "output": args.output,
                "bytes": size,
                "refreshed": args.refresh,
                "elapsed": round(clock.elapsed, 3),
            }
        )
    out.note(
        f"the {args.kind} export ({number(size)} bytes) written to {where} in {clock.elapsed:.1f} s"
    )
    return EXIT_OK


class _Exporter(Protocol):
    def __call__(
        self,
        path: BytesSink,
        *,
        refresh: bool,
        on_progress: Callable[[int], object],
        on_job: Callable[[Job], object],
        job_timeout: float | None,
    ) -> Awaitable[int]: ...


def _exporter(project: Project, kind: str) -> _Exporter:
    if kind == "tasks":
        return project.export_tasks
    if kind == "input-data":
        return project.export_input_data
    return project.annotation_archive


class _ByteSink:
    """Bytes into a text stream: through its binary buffer when it has one, else
    decoded as UTF-8 as they come (a character split between chunks waits)."""

    def __init__(self, stream: TextIO, binary: bool) -> None:
        stream.flush()
        self._buffer = getattr(stream, "buffer", None)
        if binary and self._buffer is None:
            raise CliError("the annotation ZIP is binary: give -o FILE")
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def write(self, data: bytes, /) -> object:
        """Take the next chunk."""
        if self._buffer is not None:
            return self._buffer.write(data)
        return self._stream.write(self._decoder.decode(data))

    def close(self) -> None:
        """Write what the decoder still holds; flush."""
        if self._buffer is None:
            self._stream.write(self._decoder.decode(b"", final=True))
        else:
            self._buffer.flush()


async def jobs_command(args: argparse.Namespace, out: Output) -> int:
    """List the project's jobs, or wait for one."""
    from ._annofab import _annofab, model_record

    if args.wait and args.job_type is None:
        raise CliError("--wait needs --job-type T (the type of the job to wait for)")
    if not args.wait and (args.job_id is not None or args.job_timeout is not None):
        raise CliError("--job-id and --wait-timeout go with --wait")
    async with _annofab(args) as (_, project):
        if not args.wait:
            walk = project.jobs(args.job_type)
            return await write_listing(
                args, out, "jobs", _fields(Job), lambda: batched(walk), model_record
            )
        return await _wait(project, args, out)


async def _wait(project: Project, args: argparse.Namespace, out: Output) -> int:
    from ._annofab import model_record

    clock = Stopwatch()
    describe = f"Waiting for {args.job_type}" + (f" {args.job_id}" if args.job_id else "")
    with (
        output_to(args.output, out.stdout) as stream,
        out.progress(describe, None) as bar,
    ):
        polls = 0

        def on_job(job: Job) -> None:
            nonlocal polls
            polls += 1
            bar.update(polls, detail=f"{job.job_id}: {job.job_status.value}")

        writer = RecordWriter(args.format, stream, _fields(Job))
        failed: JobFailedError | None = None
        try:
            job = await project.wait_job(
                args.job_type,
                args.job_id,
                timeout=args.job_timeout or _config.ANNOFAB_JOB_TIMEOUT,
                on_progress=on_job,
            )
        except JobFailedError as error:
            failed, job = error, error.job
        writer.write([model_record(job)])  # the failed job too: its errors are in it
    if failed is not None:
        raise failed
    out.note(f"job {args.job_type}/{job.job_id} succeeded (waited {clock.elapsed:.1f} s)")
    return EXIT_OK


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(cls))
