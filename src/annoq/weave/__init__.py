"""The W&B Weave annotation-queue backend."""

from ._models import (
    AddCallsResult,
    AnnotationQueue,
    AnnotationState,
    ItemFilter,
    Page,
    QueueItem,
    QueueStats,
    SortBy,
)
from ._queue import ItemWalk, Queue, WalkMode
from ._session import WeaveSession

__all__ = [
    "AddCallsResult",
    "AnnotationQueue",
    "AnnotationState",
    "ItemFilter",
    "ItemWalk",
    "Page",
    "Queue",
    "QueueItem",
    "QueueStats",
    "SortBy",
    "WalkMode",
    "WeaveSession",
]
