"""The W&B Weave annotation-queue backend."""

from ._annotations import AnnotationWalk
from ._handle import Queue
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
from ._models_annotations import Annotation, AnnotationSpec, ItemAnnotations
from ._session import WeaveSession
from ._walks import ItemWalk, WalkMode

__all__ = [
    "AddCallsResult",
    "Annotation",
    "AnnotationQueue",
    "AnnotationSpec",
    "AnnotationState",
    "AnnotationWalk",
    "ItemAnnotations",
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
