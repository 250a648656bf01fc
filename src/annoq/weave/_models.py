"""Weave annotation-queue models: frozen, slotted attrs classes.

Field names, types and optionality follow the service's OpenAPI schemas
(``AnnotationQueueItemSchema`` and friends); see tests/contract/.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

import attrs

from .._args import listing
from .._errors import InvalidArgumentError

__all__ = [
    "AddCallsResult",
    "AnnotationQueue",
    "AnnotationState",
    "ItemFilter",
    "Page",
    "QueueItem",
    "QueueStats",
    "SortBy",
    "parse_state",
    "parse_states",
]


class AnnotationState(enum.StrEnum):
    """An item's annotation state.

    Compares equal to its wire string: ``AnnotationState.COMPLETED == "completed"``.
    A state the server invents later decodes to a pseudo-member whose ``is_known`` is
    ``False`` instead of failing the whole page.
    """

    UNSTARTED = "unstarted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    SKIPPED = "skipped"

    @classmethod
    def _missing_(cls, value: object) -> AnnotationState | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """Whether this is one of the four states annoq knows."""
        return self.value in _KNOWN_STATES


_KNOWN_STATES = frozenset(s.value for s in AnnotationState.__members__.values())
#: States an annotator may set (``unstarted`` is only ever the absence of a record).
SETTABLE_STATES = (AnnotationState.IN_PROGRESS, AnnotationState.COMPLETED, AnnotationState.SKIPPED)


def parse_state(
    value: AnnotationState | str,
    *,
    argument: str = "state",
    allowed: Iterable[AnnotationState] = tuple(AnnotationState.__members__.values()),
) -> AnnotationState:
    """Validate a caller's state: a known member or its wire name, else InvalidArgumentError.

    >>> parse_state("completed")
    <AnnotationState.COMPLETED: 'completed'>
    """
    allowed = tuple(allowed)
    if isinstance(value, str) and value in _KNOWN_STATES:
        state = AnnotationState(value)
        if state in allowed:
            return state
    raise InvalidArgumentError(
        f"{argument}={value!r} is not allowed; use {listing(s.value for s in allowed)}"
    )


SortField = Literal["call_started_at", "call_op_name", "created_at", "updated_at"]
SORTABLE_FIELDS: tuple[str, ...] = ("call_started_at", "call_op_name", "created_at", "updated_at")


def _check_sort_field(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in SORTABLE_FIELDS:
        # The server silently ignores other fields; refusing here keeps the caller's
        # intended order from being dropped without a word.
        names = ", ".join(repr(f) for f in SORTABLE_FIELDS)
        raise InvalidArgumentError(f"SortBy field={value!r} is not sortable; use one of {names}")


def _check_direction(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("asc", "desc"):
        raise InvalidArgumentError(
            f"SortBy direction={value!r} is not allowed; use 'asc' or 'desc'"
        )


@attrs.frozen
class SortBy:
    """One sort key of an item query; ``id ASC`` is always appended by the server.

    >>> SortBy("call_started_at", "desc")
    SortBy(field='call_started_at', direction='desc')
    """

    field: str = attrs.field(validator=_check_sort_field)
    direction: Literal["asc", "desc"] = attrs.field(default="asc", validator=_check_direction)


def _states_tuple(
    value: Iterable[AnnotationState | str] | None,
) -> tuple[AnnotationState, ...] | None:
    return parse_states(value, argument="annotation_states")


def parse_states(
    value: Iterable[AnnotationState | str] | None, *, argument: str
) -> tuple[AnnotationState, ...] | None:
    """States given as a list (or one state), else InvalidArgumentError naming ``argument``."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        names = ", ".join(repr(s.value) for s in AnnotationState.__members__.values())
        raise InvalidArgumentError(f"{argument} must be a list of states ({names}), got {value!r}")
    return tuple(parse_state(s, argument=argument) for s in value)


def _optional_text(_: Any, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgumentError(
            f"ItemFilter {attribute.name} must be a string or None, got {value!r}"
        )


@attrs.frozen
class ItemFilter:
    """Exact-match filters (AND-ed) and an ``annotation_states`` IN-filter for item queries.

    >>> ItemFilter(call_op_name="predict", annotation_states=["unstarted"]).annotation_states
    (<AnnotationState.UNSTARTED: 'unstarted'>,)
    """

    __annoq_omit_unset__: ClassVar[bool] = True

    id: str | None = attrs.field(default=None, validator=_optional_text)
    call_id: str | None = attrs.field(default=None, validator=_optional_text)
    call_op_name: str | None = attrs.field(default=None, validator=_optional_text)
    call_trace_id: str | None = attrs.field(default=None, validator=_optional_text)
    added_by: str | None = attrs.field(default=None, validator=_optional_text)
    annotation_states: tuple[AnnotationState, ...] | None = attrs.field(
        default=None, converter=_states_tuple
    )

    def without_states(self) -> ItemFilter:
        """The same exact-match filters with no state filter."""
        return attrs.evolve(self, annotation_states=None)


@attrs.frozen
class QueueItem:
    """One item of an annotation queue (a call to annotate) and its displayed state.

    ``annotation_state`` is the latest state set by any annotator, and
    ``annotator_user_id`` who set it (``""`` or ``None`` when nobody has).
    """

    id: str
    project_id: str
    queue_id: str
    call_id: str
    call_started_at: datetime
    call_op_name: str
    call_trace_id: str
    display_fields: tuple[str, ...]
    annotation_state: AnnotationState
    created_at: datetime
    created_by: str
    updated_at: datetime
    added_by: str | None = None
    annotator_user_id: str | None = None
    call_ended_at: datetime | None = None
    deleted_at: datetime | None = None
    position_in_queue: int | None = None


@attrs.frozen
class AnnotationQueue:
    """An annotation queue (its metadata; items are walked with ``Queue.items``)."""

    id: str
    project_id: str
    name: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    description: str | None = None
    scorer_refs: tuple[str, ...] = ()
    deleted_at: datetime | None = None


@attrs.frozen
class QueueStats:
    """Counts of one queue; ``completed_items`` counts completed or skipped items."""

    queue_id: str
    total_items: int
    completed_items: int


@attrs.frozen
class AddCallsResult:
    """Outcome of adding calls: how many were added and how many were already there.

    Unknown call ids are dropped by the server without a word, so
    ``added_count + duplicates`` can be less than the number of ids sent.
    """

    added_count: int
    duplicates: int


T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a walk or query: its items and where it sits.

    ``resume_token`` (set on pages of a walk) continues a later walk right after this
    page: ``queue.items(resume=page.resume_token)``.
    """

    items: tuple[T, ...]
    offset: int
    limit: int | None
    resume_token: str | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_more(self) -> bool:
        """Whether a next page may exist (this one was full)."""
        return bool(self.limit) and len(self.items) >= (self.limit or 0)


# Resolve the string annotations now, in this module: annoq's __init__ re-labels the
# classes as ``annoq.X`` and cattrs would otherwise look the names up there.
for _cls in (SortBy, ItemFilter, QueueItem, AnnotationQueue, QueueStats, AddCallsResult, Page):
    attrs.resolve_types(_cls)
del _cls
