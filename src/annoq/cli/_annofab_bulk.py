"""``annoq annofab patch-metadata FILE`` and ``annoq annofab import-annotations FILE``:
the bulk imports from JSONL files, checked whole (with line numbers) before anything is
sent, with the conventions of ``annoq annofab operate`` (``--failures``, ``--json``,
exit 1 when any failed). A ``--failures`` line carries the input line's fields, so the
failures file is itself an input for a rerun."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from .. import _config
from .._bulk import BulkResult
from .._errors import InvalidArgumentError
from ..annofab import AnnotationImport, NewAnnotation
from ..annofab._bulk_models import check_metadata
from ._io import read_checked_lines
from ._options import json_option, positive
from ._render import Output
from ._run import CountingFeed, Hooks, finish_bulk_command, run_bulk_command

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

Parse = Callable[[dict[str, Any]], tuple[str, Any]]


def register(sub: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``patch-metadata`` and ``import-annotations`` to ``annoq annofab``."""
    meta = sub.add_parser(
        "patch-metadata",
        parents=[*parents, json_option()],
        help="set many tasks' metadata from a JSONL file (bulk, one outcome each)",
        description='Each line of FILE is {"task_id": ..., "metadata": {...}}. A task whose '
        "metadata already equals it is 'unchanged'; else the metadata is replaced "
        "(--merge: the keys are added). The whole file is checked first; nothing is "
        "sent when a line is bad. Exit status 1 when any failed.",
    )
    meta.add_argument("--merge", action="store_true", help="add the keys to the ones there")
    anns = sub.add_parser(
        "import-annotations",
        parents=[*parents, json_option()],
        help="import editor annotations from a JSONL file (bulk, one outcome each)",
        description='Each line of FILE is {"task_id", "input_data_id", "details": '
        '[{"annotation_id", "label_id", "body", "additional_data_list"?, "editor_props"?}]}, '
        "replacing that input data's annotations. Already so: 'unchanged'. Someone "
        "else's change meanwhile fails the line with 'conflict' (--overwrite writes "
        "anyway); a write is never applied twice. Exit status 1 when any failed.",
    )
    anns.add_argument(
        "--overwrite", action="store_true", help="write over someone else's change (409)"
    )
    for parser, handler in ((meta, metadata_command), (anns, annotations_command)):
        parser.add_argument("project", metavar="PROJECT", help="project id")
        parser.add_argument("file", metavar="FILE", help="JSONL input ('-' reads stdin)")
        parser.add_argument(
            "--concurrency",
            type=positive,
            default=_config.ANNOFAB_BULK_CONCURRENCY,
            metavar="N",
            help=f"items in flight at once (default {_config.ANNOFAB_BULK_CONCURRENCY})",
        )
        parser.add_argument(
            "--failures",
            metavar="FILE",
            help="write failed lines as JSONL (the input fields plus id, reason, message), "
            "as they fail; the file is an input for a rerun",
        )
        parser.set_defaults(handler=handler)


def _metadata_line(record: dict[str, Any]) -> tuple[str, Any]:
    task_id, metadata = check_metadata(record.get("task_id"), record.get("metadata"))
    return task_id, (task_id, metadata)


def _annotation_line(record: dict[str, Any]) -> tuple[str, Any]:
    details = record.get("details")
    if not isinstance(details, list):
        raise InvalidArgumentError('"details" must be a list')
    made = []
    for n, d in enumerate(details):
        if not isinstance(d, dict):
            raise InvalidArgumentError(f"details[{n}] must be an object")
        for name in ("annotation_id", "label_id"):
            if not isinstance(d.get(name), str) or not d[name]:
                raise InvalidArgumentError(
                    f'details[{n}]."{name}" is required (a string; ids keep reruns safe)'
                )
        if not isinstance(d.get("body"), dict):
            raise InvalidArgumentError(f'details[{n}]."body" must be an object')
        extra = d.get("additional_data_list", [])
        props = d.get("editor_props", {})
        if not isinstance(extra, list) or not all(isinstance(a, dict) for a in extra):
            raise InvalidArgumentError(f'details[{n}]."additional_data_list" must be objects')
        if not isinstance(props, dict):
            raise InvalidArgumentError(f'details[{n}]."editor_props" must be an object')
        made.append(
            NewAnnotation(
                annotation_id=d["annotation_id"],
                label_id=d["label_id"],
                body=d["body"],
                additional_data_list=tuple(extra),
                editor_props=props,
            )
        )
    item = AnnotationImport.of((record.get("task_id"), record.get("input_data_id"), made))
    return item.key, item


def read_jsonl(
    source: str, stdin: TextIO, parse: Parse
) -> tuple[list[Any], list[str], dict[str, dict[str, Any]]]:
    """The items of a JSONL file (or stdin), checked whole: the first bad line (and
    how many more) is a :class:`CliError`, and nothing is sent. Also the input fields
    of each item by its key, for the failures file."""

    def line_of(line: str) -> tuple[tuple[str, Any, dict[str, Any]] | None, str | None]:
        if not line.strip():
            return None, None
        try:
            record = orjson.loads(line)
            if not isinstance(record, dict):
                raise InvalidArgumentError("not a JSON object")
            key, item = parse(record)
        except orjson.JSONDecodeError:
            return None, "is not JSON"
        except InvalidArgumentError as error:
            return None, str(error)
        return (key, item, {k: v for k, v in record.items() if k not in _REPORT}), None

    parsed = read_checked_lines(source, stdin, line_of, expected="nothing was sent", separator=": ")
    return [p[1] for p in parsed], [p[0] for p in parsed], {p[0]: p[2] for p in parsed}


_REPORT = frozenset({"id", "reason", "message"})


async def _run(
    args: argparse.Namespace,
    out: Output,
    parse: Parse,
    call: Callable[[Any, Any, dict[str, Any]], Awaitable[BulkResult]],
    what: str,
) -> int:
    from ._annofab import _annofab

    items, keys, records = read_jsonl(args.file, out.stdin, parse)
    feed = CountingFeed(items)
    async with _annofab(args) as (af, project):

        def start(hooks: Hooks) -> Awaitable[BulkResult]:
            options: dict[str, Any] = {
                "concurrency": args.concurrency,
                "on_progress": hooks.on_progress,
                "on_failure": hooks.on_failure,
                "max_retries": args.max_retries,
            }
            return call(project, feed, options)

        run = await run_bulk_command(
            out,
            start,
            description=what.capitalize(),
            total=len(feed),
            failures=args.failures,
            retries=lambda: af.stats.retries,
            unread=lambda: keys[feed.read :],
            place=lambda key: records.get(key, {}),
            concurrency=args.concurrency,
        )
    return finish_bulk_command(
        run, out, what=what, title=f"{what} in project {args.project}", head={"command": what}
    )


async def metadata_command(args: argparse.Namespace, out: Output) -> int:
    """Patch task metadata from a JSONL file."""
    return await _run(
        args,
        out,
        _metadata_line,
        lambda p, feed, o: p.bulk_patch_metadata(feed, merge=args.merge, **o),
        "patch metadata",
    )


async def annotations_command(args: argparse.Namespace, out: Output) -> int:
    """Import editor annotations from a JSONL file."""
    return await _run(
        args,
        out,
        _annotation_line,
        lambda p, feed, o: p.bulk_put_annotations(feed, overwrite=args.overwrite, **o),
        "import annotations",
    )
