"""The records of the emulated Weave: users, calls, queues, items, state changes, and the
time and id formats they carry (pure data; the rules live in `._store`)."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any, Final

import attrs
import orjson

from .._ids import uuid7

UNSTARTED: Final = "unstarted"
IN_PROGRESS: Final = "in_progress"
COMPLETED: Final = "completed"
SKIPPED: Final = "skipped"
ALL_STATES: Final = (UNSTARTED, IN_PROGRESS, COMPLETED, SKIPPED)
SETTABLE_STATES: Final = frozenset({IN_PROGRESS, COMPLETED, SKIPPED})
DONE_STATES: Final = frozenset({COMPLETED, SKIPPED})

ITEM_SORT_FIELDS: Final = frozenset({"call_started_at", "call_op_name", "created_at", "updated_at"})
QUEUE_SORT_FIELDS: Final = frozenset({"id", "name", "created_at", "updated_at"})

DEFAULT_OP_NAMES: Final = ("predict", "evaluate", "summarize", "classify")


class EmulatorError(Exception):
    """A business error of the emulated service: HTTP 400 or 404 with a reason.

    Raised by the in-process API exactly where the HTTP API would answer 400/404, so
    tests acting as another annotator see the same rules. ``status``, ``reason`` and
    ``error_type`` are what the HTTP body carries.
    """

    def __init__(self, status: int, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.error_type = error_type

    @classmethod
    def invalid(cls, reason: str) -> EmulatorError:
        """A 400 ``InvalidRequest``."""
        return cls(400, reason, "InvalidRequest")

    @classmethod
    def not_found(cls, reason: str) -> EmulatorError:
        """A 404 ``NotFoundError``."""
        return cls(404, reason, "NotFoundError")


# --------------------------------------------------------------------------- time, ids


@lru_cache(maxsize=65536)
def _format_seconds(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def format_ms(ms: int) -> str:
    """RFC 3339 UTC with millisecond precision and ``Z``: ``2026-11-24T12:00:00.123Z``."""
    seconds, millis = divmod(ms, 1000)
    return f"{_format_seconds(seconds)}.{millis:03d}Z"


def format_ms_or_none(ms: int | None) -> str | None:
    """`format_ms`, passing ``None`` through."""
    return None if ms is None else format_ms(ms)


# --------------------------------------------------------------------------- records


@attrs.define(slots=True)
class User:
    """An account of the emulated service: one API key is one user."""

    user_id: str
    api_key: str
    projects: frozenset[str] | None = None
    """Projects the user may see; ``None`` means every project."""

    def may_see(self, project_id: str) -> bool:
        """Whether requests for ``project_id`` are allowed (else 403)."""
        return self.projects is None or project_id in self.projects


@attrs.define(slots=True)
class Call:
    """A row of a project's calls table (what add-calls copies into an item)."""

    id: str
    project_id: str
    op_name: str
    trace_id: str
    started_at: int
    ended_at: int | None


@attrs.define(slots=True)
class Queue:
    """An annotation queue (soft-deleted when ``deleted_at`` is set)."""

    id: str
    project_id: str
    name: str
    description: str
    scorer_refs: list[str]
    created_at: int
    created_by: str
    updated_at: int
    deleted_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire form of the queue."""
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": self.name,
            "description": self.description,
            "scorer_refs": list(self.scorer_refs),
            "created_at": format_ms(self.created_at),
            "created_by": self.created_by,
            "updated_at": format_ms(self.updated_at),
            "deleted_at": format_ms_or_none(self.deleted_at),
        }


@attrs.frozen
class StateChange:
    """One applied progress write, in the order the emulator applied them."""

    at_ms: int
    queue_id: str
    item_id: str
    user_id: str
    state: str


class Item:
    """A queue item with its per-annotator progress and cached JSON encoding."""

    __slots__ = (
        "_json",
        "_prefix",
        "added_by",
        "annotator",
        "call_ended_at",
        "call_id",
        "call_op_name",
        "call_started_at",
        "call_trace_id",
        "created_at",
        "created_by",
        "deleted_at",
        "display_fields",
        "done",
        "id",
        "progress",
        "project_id",
        "queue_id",
        "state",
        "updated_at",
    )

    def __init__(
        self,
        *,
        id: str,
        project_id: str,
        queue_id: str,
        call: Call,
        display_fields: list[str],
        added_by: str,
        created_at: int,
    ) -> None:
        self.id = id
        self.project_id = project_id
        self.queue_id = queue_id
        self.call_id = call.id
        self.call_started_at = call.started_at
        self.call_ended_at = call.ended_at
        self.call_op_name = call.op_name
        self.call_trace_id = call.trace_id
        self.display_fields = display_fields
        self.added_by = added_by
        self.created_at = created_at
        self.created_by = added_by
        self.updated_at = created_at
        self.deleted_at: int | None = None
        self.state = UNSTARTED
        self.annotator = ""
        self.done = False
        self.progress: dict[str, str] = {}
        self._prefix: bytes | None = None
        self._json: bytes | None = None

    def to_json(self, position: int | None = None) -> dict[str, Any]:
        """The wire form of the item (``AnnotationQueueItemSchema``)."""
        return {
            "id": self.id,
            "project_id": self.project_id,
            "queue_id": self.queue_id,
            "call_id": self.call_id,
            "call_started_at": format_ms(self.call_started_at),
            "call_ended_at": format_ms_or_none(self.call_ended_at),
            "call_op_name": self.call_op_name,
            "call_trace_id": self.call_trace_id,
            "display_fields": list(self.display_fields),
            "added_by": self.added_by,
            "annotation_state": self.state,
            "annotator_user_id": self.annotator,
            "created_at": format_ms(self.created_at),
            "created_by": self.created_by,
            "updated_at": format_ms(self.updated_at),
            "deleted_at": format_ms_or_none(self.deleted_at),
            "position_in_queue": position,
        }

    def _encode_prefix(self) -> bytes:
        data = self.to_json()
        del data["position_in_queue"]
        encoded = orjson.dumps(data)
        self._prefix = encoded[:-1]
        return self._prefix

    def encoded(self) -> bytes:
        """Cached JSON bytes with ``position_in_queue: null``."""
        cached = self._json
        if cached is None:
            prefix = self._prefix or self._encode_prefix()
            cached = self._json = prefix + b',"position_in_queue":null}'
        return cached

    def encoded_at(self, position: int) -> bytes:
        """JSON bytes with the given ``position_in_queue``."""
        prefix = self._prefix or self._encode_prefix()
        return prefix + b',"position_in_queue":%d}' % position

    def invalidate(self) -> None:
        """Drop the cached encodings (after the displayed state changed)."""
        self._prefix = None
        self._json = None


@attrs.frozen
class ItemFilter:
    """The parsed ``filter`` of an items query (exact matches AND-ed, states IN)."""

    id: str | None = None
    call_id: str | None = None
    call_op_name: str | None = None
    call_trace_id: str | None = None
    added_by: str | None = None
    annotation_states: tuple[str, ...] | None = None

    def exact_pairs(self) -> list[tuple[str, str]]:
        """The (attribute, value) pairs of the exact-match filters that are set."""
        pairs = [
            ("id", self.id),
            ("call_id", self.call_id),
            ("call_op_name", self.call_op_name),
            ("call_trace_id", self.call_trace_id),
            ("added_by", self.added_by),
        ]
        return [(name, value) for name, value in pairs if value is not None]


@attrs.frozen
class SortSpec:
    """One ``sort_by`` entry (direction already validated: ``asc`` or ``desc``)."""

    field: str
    direction: str


@attrs.frozen
class AddCallsResult:
    """The outcome of add-calls, plus the ids of the created items."""

    added_count: int
    duplicates: int
    item_ids: tuple[str, ...]


__all__ = [
    "ALL_STATES",
    "COMPLETED",
    "DEFAULT_OP_NAMES",
    "DONE_STATES",
    "IN_PROGRESS",
    "ITEM_SORT_FIELDS",
    "QUEUE_SORT_FIELDS",
    "SETTABLE_STATES",
    "SKIPPED",
    "UNSTARTED",
    "AddCallsResult",
    "Call",
    "EmulatorError",
    "Item",
    "ItemFilter",
    "Queue",
    "SortSpec",
    "StateChange",
    "User",
    "format_ms",
    "format_ms_or_none",
    "uuid7",
]
