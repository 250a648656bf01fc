"""``annoq export`` and ``annoq annotate``: a queue's annotations out to a file, and in.

The file format, the same both ways (JSONL or CSV), one row per item:

- ``id`` (the item id), ``call_id``, ``annotation_state``: the item;
- one column per spec and annotator, ``SPEC@ANNOTATOR``, holding that annotator's answer
  (export); ``annotate`` reads plain ``SPEC`` columns as your answers, or the
  ``SPEC@ANNOTATOR`` columns of the annotator named with ``--annotator``;
- ``error`` (only in a failures file; ignored when read back).

In JSONL a value is JSON; in CSV it is text read by the spec's type (``4``, ``true``,
``cat``; objects and arrays as JSON). An empty cell is no answer.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, TextIO

import orjson

from .. import _config
from .._bulk import BulkFailure
from .._errors import InvalidArgumentError
from ..weave import AnnotationSpec, Queue
from ..weave import _protocol_annotations as ap
from ._errors import EXIT_FAILED, EXIT_OK, CliError
from ._io import FORMATS, atomic_file, json_line, output_to
from ._options import (
    STATES,
    add_project_queue,
    common_options,
    connection_options,
    json_option,
    make_session,
    positive,
)
from ._render import Output, Stopwatch, bulk_json, bulk_progress, bulk_rows, number, rate

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

ITEM_COLUMNS: Final = ("id", "call_id", "annotation_state")
ERROR_COLUMN: Final = "error"


def register(commands: Subcommands) -> None:
    """Add ``export`` and ``annotate``."""
    export = commands.add_parser(
        "export",
        parents=[common_options(), connection_options()],
        help="write a queue's annotations as JSONL or CSV, one row per item",
        description="Walk the queue and write one row per item with one column per spec "
        "and annotator (SPEC@ANNOTATOR). A file is written whole or not at all.",
    )
    add_project_queue(export)
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    export.add_argument("--format", choices=FORMATS, default="jsonl", help="jsonl (default) or csv")
    export.add_argument(
        "--state",
        action="append",
        choices=STATES,
        metavar="S",
        help="only items now in state S (repeatable)",
    )
    export.add_argument(
        "--spec", action="append", metavar="NAME", help="only this spec (repeatable)"
    )
    export.set_defaults(handler=export_command)

    annotate = commands.add_parser(
        "annotate",
        parents=[common_options(), connection_options(), json_option()],
        help="import annotations from a file (the export's format) and complete the items",
        description="Read JSONL or CSV in the format 'annoq export' writes, check every "
        "value against its spec first (nothing is sent if any line is wrong), then write "
        "your answers (retry-safe ids: a rerun replaces, never duplicates) and mark each "
        "item completed. --failures writes the failed rows in the same format, ready to "
        "be fed back with --from.",
    )
    add_project_queue(annotate)
    annotate.add_argument(
        "--from", dest="source", required=True, metavar="FILE", help="JSONL or CSV; '-' is stdin"
    )
    annotate.add_argument(
        "--format", choices=FORMATS, help="the file's format (default: by its name, else jsonl)"
    )
    annotate.add_argument(
        "--annotator", metavar="A", help="import the SPEC@A columns (e.g. another tool's labels)"
    )
    annotate.add_argument(
        "--no-complete",
        dest="complete",
        action="store_false",
        help="only write the answers; leave the items' states alone",
    )
    annotate.add_argument(
        "--concurrency",
        type=positive,
        default=_config.DEFAULT_BULK_CONCURRENCY,
        metavar="N",
        help=f"items in flight at most, adapting below it "
        f"(default {_config.DEFAULT_BULK_CONCURRENCY})",
    )
    annotate.add_argument(
        "--user-id", metavar="ID", help="your W&B user id (lets a rerun send nothing at all)"
    )
    annotate.add_argument(
        "--max-payload-bytes",
        type=positive,
        default=_config.DEFAULT_MAX_FEEDBACK_PAYLOAD,
        metavar="N",
        help="the server's payload cap (default 1 MiB; 1024 on older servers)",
    )
    annotate.add_argument(
        "--failures", metavar="FILE", help="write failed rows here, in the input's format"
    )
    annotate.set_defaults(handler=annotate_command)


# -- export ---------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


async def export_command(args: argparse.Namespace, out: Output) -> int:
    """Write the queue's annotations, one row per item, in queue order."""
    clock = Stopwatch()
    written = 0
    to_file = args.output not in (None, "-")
    async with make_session(args) as weave:
        queue = weave.queue(args.project, args.queue)
        specs = await queue.annotation_specs()
        order = {spec.name: n for n, spec in enumerate(specs)}
        total = None
        if out.live() and args.state is None:
            total = (await queue.stats()).total_items  # for the bar only
        walk = queue.annotations(states=args.state, specs=args.spec)
        with (
            output_to(args.output, out.stdout) as stream,
            out.progress("Exporting annotations", total, enabled=to_file) as bar,
            _Spool() as spool,
        ):
            columns: set[str] = set()
            async with walk:
                async for entry in walk:
                    row: dict[str, Any] = {
                        "id": entry.item.id,
                        "call_id": entry.item.call_id,
                        "annotation_state": entry.item.annotation_state.value,
                    }
                    for a in sorted(entry.annotations, key=lambda a: a.created_at):
                        row[f"{a.spec_name}@{a.annotator}"] = a.value  # latest wins
                    if args.format == "jsonl":
                        stream.write(json_line(row))
                    else:
                        columns.update(row)
                        spool.write(row)
                    written += 1
                    bar.update(written, detail=rate(written, clock.elapsed))
            if args.format == "csv":
                extra = sorted(
                    columns - set(ITEM_COLUMNS),
                    key=lambda c: (order.get(c.rpartition("@")[0], len(order)), c),
                )
                writer = csv.writer(stream, lineterminator="\n")
                header = [*ITEM_COLUMNS, *extra]
                writer.writerow(header)
                for row in spool.read():
                    writer.writerow([_cell_text(row.get(c)) for c in header])
    where = args.output if to_file else "stdout"
    out.note(f"{number(written)} items written to {where} in {clock.elapsed:.1f} s")
    return EXIT_OK


class _Spool:
    """Rows kept on disk until the CSV header (every SPEC@ANNOTATOR seen) is known, so
    memory stays constant however large the queue."""

    def __enter__(self) -> _Spool:
        self._file = tempfile.TemporaryFile("w+b")
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def write(self, row: dict[str, Any]) -> None:
        self._file.write(orjson.dumps(row) + b"\n")

    def read(self) -> Iterator[dict[str, Any]]:
        self._file.seek(0)
        for line in self._file:
            row: dict[str, Any] = orjson.loads(line)
            yield row


# -- annotate -------------------------------------------------------------------------


class _Row:
    """One checked line of the input."""

    __slots__ = ("line", "raw", "values")

    def __init__(self, line: int, raw: Any, values: dict[str, Any]) -> None:
        self.line = line
        self.raw = raw
        self.values = values


def _format_of(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    return "csv" if str(args.source).lower().endswith(".csv") else "jsonl"


def _read_records(
    source: str, fmt: str, stdin: TextIO
) -> tuple[list[str] | None, list[tuple[int, dict[str, Any]]]]:
    """``(csv header or None, [(line number, record)])``; malformed lines are errors."""
    name = "<stdin>" if source == "-" else source
    records: list[tuple[int, dict[str, Any]]] = []
    header: list[str] | None = None
    try:
        with contextlib.ExitStack() as stack:
            stream = (
                stdin
                if source == "-"
                else stack.enter_context(open(source, encoding="utf-8", newline=""))
            )
            if fmt == "csv":
                reader = csv.reader(stream)
                header = next(reader, None)
                if header is None or "id" not in header:
                    raise CliError(f"{name}: line 1 must be a header with an 'id' column")
                for row in reader:
                    if not any(cell.strip() for cell in row):
                        continue
                    if len(row) != len(header):
                        raise CliError(
                            f"{name}: line {reader.line_num} has {len(row)} cells, the "
                            f"header {len(header)} (nothing was sent)"
                        )
                    records.append((reader.line_num, dict(zip(header, row, strict=True))))
            else:
                for number_, line in enumerate(stream, 1):
                    if not line.strip():
                        continue
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        raise CliError(
                            f"{name}: line {number_} is not valid JSON (nothing was sent)"
                        ) from None
                    if not isinstance(record, dict):
                        raise CliError(
                            f"{name}: line {number_} is not a JSON object (nothing was sent)"
                        )
                    records.append((number_, record))
    except UnicodeDecodeError:
        raise CliError(f"{name}: not UTF-8 text") from None
    except OSError as error:
        raise CliError(f"cannot read {name}: {error.strerror or error}") from None
    return header, records


def _parse_cell(text: str, spec: AnnotationSpec) -> Any:
    """A CSV cell as the value the spec's type expects."""
    kind = spec.field_schema.get("type")
    if kind == "string":
        return text
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind in ("integer", "number"):
        try:
            return int(text)
        except ValueError:
            pass
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text  # checked against the schema next, which names the problem


def _columns(
    keys: Sequence[str], specs: dict[str, AnnotationSpec], annotator: str | None, where: str
) -> dict[str, str]:
    """``{column: spec name}`` of the columns to import."""
    chosen: dict[str, str] = {}
    for key in keys:
        if key in ITEM_COLUMNS or key in (ERROR_COLUMN, "annotator_user_id"):
            continue
        spec_name, at, who = key.rpartition("@")
        if not at:
            spec_name, who = key, ""
        if spec_name not in specs:
            known = ", ".join(repr(s) for s in specs) or "none"
            raise CliError(
                f"{where}: column {key!r} names no spec of this queue (its specs: {known}); "
                "nothing was sent"
            )
        if who and who != annotator:
            continue
        if spec_name in chosen.values():
            raise CliError(f"{where}: spec {spec_name!r} has two columns; nothing was sent")
        chosen[key] = spec_name
    return chosen


def _check_annotator(
    header: list[str] | None,
    records: list[tuple[int, dict[str, Any]]],
    specs: dict[str, AnnotationSpec],
    annotator: str | None,
    name: str,
) -> None:
    """Whose answers to import must be clear before anything is sent."""
    keys = set(header) if header is not None else {k for _, record in records for k in record}
    plain = {k for k in keys if k in specs}
    answered = {k.rpartition("@")[2] for k in keys if "@" in k and k.rpartition("@")[0] in specs}
    if annotator is None and not plain and answered:
        who = ", ".join(sorted(answered)[:5])
        raise CliError(
            f"{name}: the file holds answers by {who}; choose whose to import as yours with "
            "--annotator (nothing was sent)"
        )
    if annotator is not None and annotator not in answered:
        raise CliError(f"{name}: no SPEC@{annotator} columns (nothing was sent)")


def _check_rows(
    records: list[tuple[int, dict[str, Any]]],
    header: list[str] | None,
    specs: Sequence[AnnotationSpec],
    args: argparse.Namespace,
    name: str,
) -> tuple[list[_Row], int]:
    """Every line checked before anything is sent: ``(rows, lines without values)``."""
    by_name = {spec.name: spec for spec in specs}
    _check_annotator(header, records, by_name, args.annotator, name)
    fixed = _columns(header, by_name, args.annotator, f"{name}: line 1") if header else None
    rows: list[_Row] = []
    empty = 0
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, record in records:
        where = f"{name}: line {line}"
        try:
            item_id = record.get("id")
            if not isinstance(item_id, str) or not item_id.strip():
                raise InvalidArgumentError('no item "id"')
            item_id = item_id.strip()
            if item_id in seen:
                raise InvalidArgumentError(f"item {item_id!r} is also on line {seen[item_id]}")
            seen[item_id] = line
            columns = (
                fixed
                if fixed is not None
                else _columns(list(record), by_name, args.annotator, where)
            )
            values: dict[str, Any] = {}
            for column, spec_name in columns.items():
                raw = record.get(column)
                if raw is None or raw == "":
                    continue
                spec = by_name[spec_name]
                value = _parse_cell(raw, spec) if header is not None else raw
                ap.check_annotation_value(
                    item_id, spec, value, max_payload_bytes=args.max_payload_bytes
                )
                values[spec_name] = value
        except (InvalidArgumentError, CliError) as problem:
            text = str(problem).removeprefix(f"{where}: ")
            problems.append(f"line {line}: {text}")
            continue
        if values:
            rows.append(_Row(line, record, values))
        else:
            empty += 1
    if problems:
        more = f" (and {len(problems) - 1} more bad lines)" if len(problems) > 1 else ""
        raise CliError(f"{name}: {problems[0]}{more}; nothing was sent")
    return rows, empty


async def _with_items(queue: Queue, rows: list[_Row]) -> AsyncIterator[tuple[Any, Any]]:
    """The rows as import inputs, with the queue's current items found by one walk (a
    page request per 500 items instead of a lookup per id), in queue order; ids not in
    the queue come last, as ids (they fail as not_in_queue)."""
    wanted = {row.raw["id"].strip(): row for row in rows}
    if len(wanted) <= _config.CLI_LOOKUP_AT_MOST:
        for item_id, few in wanted.items():
            yield item_id, few.values  # a few rows: one lookup each beats a whole walk
        return
    async with queue.pages() as walk:
        async for page in walk:
            for item in page.items:
                row = wanted.pop(item.id, None)
                if row is not None:
                    yield item, row.values
    for item_id, row in wanted.items():
        yield item_id, row.values


def _failures_writer(stream: TextIO, fmt: str, header: list[str] | None) -> Any:
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        columns = [c for c in (header or []) if c != ERROR_COLUMN] + [ERROR_COLUMN]
        writer.writerow(columns)

        def write_csv(record: dict[str, Any], failure: BulkFailure) -> None:
            cells = {**record, ERROR_COLUMN: f"{failure.reason}: {failure.error}"}
            writer.writerow([cells.get(c, "") for c in columns])

        return write_csv

    def write_jsonl(record: dict[str, Any], failure: BulkFailure) -> None:
        error = {"reason": failure.reason, "message": str(failure.error)}
        stream.write(json_line({**record, ERROR_COLUMN: error}))

    return write_jsonl


async def annotate_command(args: argparse.Namespace, out: Output) -> int:
    """Check the whole file, then import it."""
    fmt = _format_of(args)
    name = "<stdin>" if args.source == "-" else args.source
    header, records = _read_records(args.source, fmt, out.stdin)
    async with make_session(args) as weave:
        queue = weave.queue(args.project, args.queue)
        specs = await queue.annotation_specs()
        if not specs:
            raise CliError(f"queue {args.queue} has no annotation specs; nothing to import")
        rows, empty = _check_rows(records, header, specs, args, name)
        by_id = {row.raw["id"].strip(): row for row in rows}
        sink: contextlib.AbstractContextManager[TextIO | None] = (
            atomic_file(args.failures) if args.failures else contextlib.nullcontext()
        )
        with sink as failures, out.progress("Annotating", len(rows)) as bar:
            result = await queue.submit_annotations(
                _with_items(queue, rows),
                complete=args.complete,
                concurrency=args.concurrency,
                on_progress=bulk_progress(bar, lambda: weave.stats.retries, len(rows)),
                max_retries=args.max_retries,
                max_payload_bytes=args.max_payload_bytes,
            )
            if failures is not None:
                write = _failures_writer(failures, fmt, header)
                for failure in result.failures:
                    row = by_id.get(failure.key)
                    if row is not None:
                        write(row.raw, failure)
    if out.json:
        out.emit_json({"skipped_without_values": empty, **bulk_json(result)})
    elif not out.quiet:
        out.table(bulk_rows(result), title=f"Annotated queue {args.queue}")
        if empty:
            out.note(f"{number(empty)} lines had no values and were skipped")
        if result.failed and args.failures:
            out.note(
                f"{number(result.failed)} failed rows written to {args.failures}; retry them "
                f"with --from {args.failures}"
            )
        elif result.failed:
            first = result.failures[0]
            out.note(f"first failure: {first.key}: {first.error} (--failures FILE saves them all)")
    return EXIT_OK if result.ok else EXIT_FAILED
