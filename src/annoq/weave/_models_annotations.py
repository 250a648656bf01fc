"""Models of Weave annotations: a queue's specs (the questions) and the answers.

Annotators' answers are feedback rows on the item's call; each answers one
AnnotationSpec, whose ``field_schema`` (JSON Schema) says what values are allowed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from .._errors import InvalidArgumentError
from ._models import QueueItem

__all__ = ["Annotation", "AnnotationSpec", "FeedbackRow", "ItemAnnotations"]


@attrs.frozen
class AnnotationSpec:
    """One question of a queue (an AnnotationSpec object its ``scorer_refs`` name).

    ``name`` is the object's name (annotations of it have ``feedback_type``
    ``"wandb.annotation." + name``), ``ref`` its full ref
    (``weave:///entity/project/object/NAME:DIGEST``), ``field_schema`` the JSON Schema of
    allowed values; ``title`` and ``description`` are what the spec shows annotators.
    """

    name: str
    ref: str
    field_schema: dict[str, Any] = attrs.field(factory=dict)
    title: str | None = None
    description: str | None = None

    @property
    def feedback_type(self) -> str:
        """The ``feedback_type`` of answers to this spec."""
        return "wandb.annotation." + self.name


@attrs.frozen
class Annotation:
    """One human answer to one spec on one item.

    ``annotator`` is the W&B user id of who answered, ``feedback_id`` the row's id.
    """

    spec_name: str
    spec_ref: str | None
    value: Any
    annotator: str
    created_at: datetime
    feedback_id: str


@attrs.frozen
class ItemAnnotations:
    """A queue item with the human annotations made from this queue on its call."""

    item: QueueItem
    annotations: tuple[Annotation, ...]

    def values(self, annotator: str | None = None) -> dict[str, Any]:
        """``{spec name: value}`` of one annotator (or of the only one, when just one
        answered); the latest answer per spec wins."""
        chosen = [a for a in self.annotations if annotator is None or a.annotator == annotator]
        if annotator is None and len({a.annotator for a in chosen}) > 1:
            raise InvalidArgumentError("several annotators answered; name one with annotator=")
        out: dict[str, Any] = {}
        for a in sorted(chosen, key=lambda a: a.created_at):
            out[a.spec_name] = a.value
        return out


@attrs.frozen
class FeedbackRow:
    """A feedback row as ``/feedback/query`` returns it (the fields annoq reads)."""

    id: str
    weave_ref: str
    feedback_type: str
    created_at: datetime
    payload: dict[str, Any] = attrs.field(factory=dict)
    wb_user_id: str | None = None
    annotation_ref: str | None = None
    queue_id: str | None = None


for _cls in (AnnotationSpec, Annotation, ItemAnnotations, FeedbackRow):
    attrs.resolve_types(_cls)
del _cls
