"""The Weave annotation-queue API as pure functions: requests out, models in.

Each ``*_request`` function validates its arguments and returns a
:class:`~annoq._transport.Request`; each ``read_*`` function turns a response body into
models. Nothing here does I/O, so the whole wire format is tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .._args import require_choice, segment
from .._args import require_count as require_count
from .._args import require_id as require_id
from .._args import require_segment as require_segment
from .._convert import (
    decode_json,
    field,
    make_converter,
    make_list_reader,
    structure,
    structure_list,
)
from .._errors import InvalidArgumentError, ResponseDecodeError
from .._transport import Request
from ._fast import register_fast_item_hook
from ._models import (
    SETTABLE_STATES,
    AddCallsResult,
    AnnotationQueue,
    AnnotationState,
    ItemFilter,
    QueueItem,
    QueueStats,
    SortBy,
    parse_state,
)

converter = make_converter(datetimes_to_utc=True)
register_fast_item_hook(converter)

QUEUE_SORT_FIELDS = ("id", "name", "created_at", "updated_at")


def _str_list(values: Iterable[str], argument: str) -> list[str]:
    if isinstance(values, str | bytes):
        raise InvalidArgumentError(f"{argument} must be a list of strings, not a single string")
    if not isinstance(values, Iterable):
        raise InvalidArgumentError(
            f"{argument} must be an iterable of strings, got {type(values).__name__}"
        )
    out = list(values)
    for value in out:
        require_id(value, f"{argument}[]")
    return out


def _sort_list(sort_by: SortBy | Sequence[SortBy] | None) -> list[dict[str, str]] | None:
    if sort_by is None:
        return None
    keys = [sort_by] if isinstance(sort_by, SortBy) else list(sort_by)
    for key in keys:
        if not isinstance(key, SortBy):
            raise InvalidArgumentError(f"sort_by entries must be SortBy, got {key!r}")
    return [{"field": k.field, "direction": k.direction} for k in keys]


# -- queues ---------------------------------------------------------------------------


def create_queue_request(
    project_id: str, *, name: str, scorer_refs: Iterable[str] = (), description: str | None = None
) -> Request:
    body: dict[str, Any] = {
        "project_id": require_id(project_id, "project_id"),
        "name": require_id(name, "name"),
        "scorer_refs": _str_list(scorer_refs, "scorer_refs"),
    }
    if description is not None:
        body["description"] = description
    return Request("POST", "/annotation_queues", json=body)


def list_queues_request(
    project_id: str,
    *,
    name: str | None = None,
    sort_by: str | None = None,
    direction: str = "desc",
    limit: int | None = None,
    offset: int | None = None,
) -> Request:
    body: dict[str, Any] = {"project_id": require_id(project_id, "project_id")}
    if name is not None:
        body["name"] = name
    # Checked even without sort_by: a wrong direction must not pass silently.
    require_choice(direction, "direction", ("asc", "desc"))
    if sort_by is not None:
        if sort_by not in QUEUE_SORT_FIELDS:
            names = ", ".join(repr(f) for f in QUEUE_SORT_FIELDS)
            raise InvalidArgumentError(f"sort_by={sort_by!r} is not sortable; use one of {names}")
        body["sort_by"] = [{"field": sort_by, "direction": direction}]
    if limit is not None:
        body["limit"] = require_count(limit, "limit")
    if offset is not None:
        body["offset"] = require_count(offset, "offset")
    return Request("POST", "/annotation_queues/query", json=body, accept="application/x-ndjson")


def read_queue_request(project_id: str, queue_id: str) -> Request:
    return Request(
        "GET",
        f"/annotation_queues/{segment(queue_id, 'queue_id')}",
        params={"project_id": require_id(project_id, "project_id")},
    )


def update_queue_request(
    project_id: str,
    queue_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    scorer_refs: Iterable[str] | None = None,
) -> Request:
    body: dict[str, Any] = {"project_id": require_id(project_id, "project_id")}
    if name is not None:
        body["name"] = require_id(name, "name")
    if description is not None:
        body["description"] = description
    if scorer_refs is not None:
        body["scorer_refs"] = _str_list(scorer_refs, "scorer_refs")
    return Request("PUT", f"/annotation_queues/{segment(queue_id, 'queue_id')}", json=body)


def delete_queue_request(project_id: str, queue_id: str) -> Request:
    return Request(
        "DELETE",
        f"/annotation_queues/{segment(queue_id, 'queue_id')}",
        params={"project_id": require_id(project_id, "project_id")},
    )


def queue_stats_request(project_id: str, queue_ids: Iterable[str]) -> Request:
    body = {
        "project_id": require_id(project_id, "project_id"),
        "queue_ids": _str_list(queue_ids, "queue_ids"),
    }
    return Request("POST", "/annotation_queues/stats", json=body)


def add_calls_request(
    project_id: str, queue_id: str, call_ids: Iterable[str], display_fields: Iterable[str] = ()
) -> Request:
    body = {
        "project_id": require_id(project_id, "project_id"),
        "call_ids": _str_list(call_ids, "call_ids"),
        "display_fields": _str_list(display_fields, "display_fields"),
    }
    return Request(
        "POST",
        f"/annotation_queues/{segment(queue_id, 'queue_id')}/items",
        json=body,
    )


# -- items ----------------------------------------------------------------------------


def items_query_body(
    project_id: str,
    *,
    filter: ItemFilter | None = None,
    sort_by: SortBy | Sequence[SortBy] | None = None,
    limit: int | None = None,
    offset: int | None = None,
    include_position: bool = False,
) -> dict[str, Any]:
    """The body of an item query, leaving out everything not set."""
    body: dict[str, Any] = {"project_id": require_id(project_id, "project_id")}
    if filter is not None:
        if not isinstance(filter, ItemFilter):
            raise InvalidArgumentError(f"filter must be an ItemFilter, got {type(filter).__name__}")
        unstructured = converter.unstructure(filter)
        if unstructured:
            body["filter"] = unstructured
    sort = _sort_list(sort_by)
    if sort:
        body["sort_by"] = sort
    if limit is not None:
        body["limit"] = require_count(limit, "limit")
    if offset is not None:
        body["offset"] = require_count(offset, "offset")
    if not isinstance(include_position, bool):
        raise InvalidArgumentError(f"include_position must be a bool, got {include_position!r}")
    body["include_position"] = include_position
    return body


def items_query_request(project_id: str, queue_id: str, body: dict[str, Any]) -> Request:
    return Request(
        "POST",
        f"/annotation_queues/{segment(queue_id, 'queue_id')}/items/query",
        json=body,
    )


def update_progress_request(
    project_id: str, queue_id: str, item_id: str, state: AnnotationState | str
) -> Request:
    settable = parse_state(state, argument="state", allowed=SETTABLE_STATES)
    path = (
        f"/annotation_queues/{segment(queue_id, 'queue_id')}"
        f"/items/{segment(item_id, 'item_id')}/progress"
    )
    body = {"project_id": require_id(project_id, "project_id"), "annotation_state": settable.value}
    return Request("POST", path, json=body)


# -- responses ------------------------------------------------------------------------


def read_items_cattrs(content: bytes) -> list[QueueItem]:
    """``{"items": [...]}`` -> items, through cattrs (the reference ``read_items`` equals)."""
    return structure_list(
        converter, field(decode_json(content), "items"), QueueItem, path="$.items"
    )


#: ``{"items": [...]}`` -> items (msgspec straight into ``QueueItem``; cattrs for the rest).
read_items = make_list_reader("items", QueueItem, read_items_cattrs)


def read_item(content: bytes) -> QueueItem:
    """``{"item": {...}}`` -> item."""
    return structure(converter, field(decode_json(content), "item"), QueueItem, path="$.item")


def read_queue(content: bytes) -> AnnotationQueue:
    """``{"queue": {...}}`` -> queue."""
    return structure(
        converter, field(decode_json(content), "queue"), AnnotationQueue, path="$.queue"
    )


def read_queue_line(line: bytes, index: int) -> AnnotationQueue:
    """One NDJSON line of the queue listing."""
    return structure(converter, decode_json(line), AnnotationQueue, path=f"$[{index}]")


def read_created_id(content: bytes) -> str:
    """``{"id": "..."}`` -> the id."""
    value = field(decode_json(content), "id")
    if not isinstance(value, str) or not value:
        raise ResponseDecodeError("expected a non-empty string id", path="$.id")
    return value


def read_stats(content: bytes) -> list[QueueStats]:
    return structure_list(
        converter, field(decode_json(content), "stats"), QueueStats, path="$.stats"
    )


def read_add_calls(content: bytes) -> AddCallsResult:
    return structure(converter, decode_json(content), AddCallsResult)
