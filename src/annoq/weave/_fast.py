"""A hand-tuned cattrs structure hook for ``QueueItem``, the one class decoded per item.

Pages of a walk are decoded by msgspec (``_convert.make_list_reader``); this hook serves
the cattrs path: single items, and pages msgspec hands back (an offset to move to UTC,
a date-only timestamp). The generated hook calls one Python function per field; this
one does the same checks inline and falls back to the generated hook for anything
unusual (a wrong type, a missing field, an unknown state), which then gives the exact
result or the error with its field path. ``tests/weave/test_fast_hook.py`` proves the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn

from .._convert import fromiso
from ._models import AnnotationState, QueueItem

__all__ = ["FastItemHook", "fast_item", "register_fast_item_hook"]

_STATES: dict[str, AnnotationState] = {s.value: s for s in AnnotationState.__members__.values()}


class _Unusual(Exception):
    """This object needs the generated hook."""


def _dt(value: Any) -> datetime:
    if type(value) is not str:
        raise _Unusual
    parsed = fromiso(value)
    tz = parsed.tzinfo
    if tz is UTC:
        return parsed
    if tz is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _opt_s(value: Any) -> str | None:
    if value is not None and type(value) is not str:
        raise _Unusual
    return value


def fast_item(data: Any) -> QueueItem:
    """The fast path alone: raises (``_Unusual``, ``KeyError``, ...) where it gives up."""
    if type(data) is not dict:
        raise _Unusual
    state = _STATES.get(data["annotation_state"])
    fields = data["display_fields"]
    if state is None or type(fields) is not list:
        raise _Unusual
    for field in fields:
        if type(field) is not str:
            raise _Unusual
    get = data.get
    item_id = data["id"]
    project_id = data["project_id"]
    queue_id = data["queue_id"]
    call_id = data["call_id"]
    op_name = data["call_op_name"]
    trace_id = data["call_trace_id"]
    created_by = data["created_by"]
    if (
        type(item_id) is not str
        or type(project_id) is not str
        or type(queue_id) is not str
        or type(call_id) is not str
        or type(op_name) is not str
        or type(trace_id) is not str
        or type(created_by) is not str
    ):
        raise _Unusual
    ended = get("call_ended_at")
    deleted = get("deleted_at")
    position = get("position_in_queue")
    if position is not None and type(position) is not int:
        raise _Unusual
    return QueueItem(
        item_id,
        project_id,
        queue_id,
        call_id,
        _dt(data["call_started_at"]),
        op_name,
        trace_id,
        tuple(fields),
        state,
        _dt(data["created_at"]),
        created_by,
        _dt(data["updated_at"]),
        _opt_s(get("added_by")),
        _opt_s(get("annotator_user_id")),
        None if ended is None else _dt(ended),
        None if deleted is None else _dt(deleted),
        position,
    )


class FastItemHook:
    """The structure hook ``register_fast_item_hook`` installs: fast path, then cattrs's."""

    __slots__ = ("generated",)

    def __init__(self, converter: cattrs.Converter) -> None:
        self.generated: Callable[[Any, Any], QueueItem] = make_dict_structure_fn(
            QueueItem, converter
        )

    def __call__(self, data: Any, cls: Any) -> QueueItem:
        try:
            return fast_item(data)
        except (_Unusual, KeyError, TypeError, ValueError, OverflowError):
            return self.generated(data, cls)


def register_fast_item_hook(converter: cattrs.Converter) -> None:
    """Make ``converter`` structure ``QueueItem`` through the fast path."""
    converter.register_structure_hook(QueueItem, FastItemHook(converter))
