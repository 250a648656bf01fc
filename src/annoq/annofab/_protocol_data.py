"""Reading the JSON answers of the low-level API into the typed records of
`_models_data` / `_models_specs`, and building the request bodies the typed calls send.
Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from .._args import require_flag
from .._convert import field, make_converter, structure, structure_list
from .._errors import InvalidArgumentError
from ._models import TaskPhase
from ._models_data import (
    AnnotationDetailV1,
    AnnotationDetailV2,
    EditorAnnotation,
    EditorAnnotationDetail,
    Job,
    JobPage,
    Page,
)
from ._protocol import format_lock, page_fields

T = TypeVar("T")

#: Annofab timestamps keep their offset (``+09:00``).
converter = make_converter(datetimes_to_utc=False)


def _detail_hook(value: Any, _: Any) -> AnnotationDetailV2 | AnnotationDetailV1:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    if "body" in value:
        return converter.structure(value, AnnotationDetailV2)
    return converter.structure(value, AnnotationDetailV1)


def _scalar_hook(value: Any, _: Any) -> bool | int | str | None:
    if value is None or type(value) in (bool, int, str):
        return value  # type: ignore[no-any-return]
    raise TypeError(f"expected a boolean, integer, string or null, got {type(value).__name__}")


def _object_hook(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _optional_object_hook(value: Any, _: Any) -> dict[str, Any] | None:
    return None if value is None else _object_hook(value, None)


converter.register_structure_hook(AnnotationDetailV2 | AnnotationDetailV1, _detail_hook)
converter.register_structure_hook(bool | int | str | None, _scalar_hook)
_OBJECT = dict[str, Any]
_OPTIONAL_OBJECT = dict[str, Any] | None
converter.register_structure_hook_func(lambda t: t == _OBJECT, _object_hook)
converter.register_structure_hook_func(lambda t: t == _OPTIONAL_OBJECT, _optional_object_hook)


def read(data: Any, cls: type[T]) -> T:
    """One record (``ResponseDecodeError`` with the field's path when it does not fit)."""
    return structure(converter, data, cls)


def read_list(data: Any, cls: type[T]) -> list[T]:
    """A JSON array of records."""
    return structure_list(converter, data, cls)


def read_page(data: Any, cls: type[T]) -> Page[T]:
    """A ``{list, page_no, total_page_no, total_count, over_limit, aggregations}`` answer."""
    items = structure_list(converter, field(data, "list", list), cls, path="$.list")
    return Page(tuple(items), **page_fields(data))


def _job_data(data: Any) -> Any:
    # ``errors`` is an ``Errors`` object ({errors: [...], context}); keep its list.
    if isinstance(data, dict) and isinstance(data.get("errors"), dict):
        return {**data, "errors": data["errors"].get("errors", [])}
    return data


def read_job(data: Any) -> Job:
    return structure(converter, _job_data(data), Job)


def read_job_page(data: Any) -> JobPage:
    """``{list, has_next}``."""
    entries = field(data, "list", list)
    jobs = [
        structure(converter, _job_data(e), Job, path=f"$.list[{i}]") for i, e in enumerate(entries)
    ]
    return JobPage(tuple(jobs), has_next=field(data, "has_next", bool))


def read_in_bulk(data: Any, cls: type[T]) -> list[T]:
    """The ``success`` list of a ``{success, failure}`` answer."""
    return structure_list(converter, field(data, "success", list), cls, path="$.success")


# -- request bodies ------------------------------------------------------------------


def lock_text(value: datetime | None, name: str) -> str | None:
    """A lock timestamp as Annofab writes it (``None`` stays ``None``)."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidArgumentError(f"{name} must be an aware datetime, got {value!r}")
    return format_lock(value)


def input_data_body(
    name: str,
    path: str,
    *,
    metadata: Mapping[str, str] | None,
    sign_required: bool | None,
    last_updated_datetime: datetime | None,
) -> dict[str, Any]:
    """An ``InputDataRequest``."""
    for arg, value in (("input_data_name", name), ("input_data_path", path)):
        if not isinstance(value, str) or not value:
            raise InvalidArgumentError(f"{arg} must be a non-empty string, got {value!r}")
    body: dict[str, Any] = {"input_data_name": name, "input_data_path": path}
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise InvalidArgumentError("metadata must map strings to strings")
        body["metadata"] = dict(metadata)
    if sign_required is not None:
        require_flag(sign_required, "sign_required")
        body["sign_required"] = sign_required
    lock = lock_text(last_updated_datetime, "last_updated_datetime")
    if lock is not None:
        body["last_updated_datetime"] = lock
    return body


@attrs.frozen(kw_only=True)
class NewAnnotation:
    """An annotation to create with :meth:`Project.put_editor_annotation`.

    ``body`` is the shape, e.g. ``{"_type": "Inner", "data": {"_type": "BoundingBox",
    "left_top": {"x": 0, "y": 0}, "right_bottom": {"x": 9, "y": 9}}}``;
    ``additional_data_list`` holds v2 values (``{"definition_id", "value"}``).

        box = NewAnnotation(label_id=car.label_id, body={"_type": "Inner", "data": data})
    """

    label_id: str
    body: dict[str, Any] = attrs.field(hash=False)
    annotation_id: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    additional_data_list: tuple[dict[str, Any], ...] = ()
    editor_props: dict[str, Any] = attrs.field(factory=dict, hash=False)


def _detail_body(item: EditorAnnotationDetail | NewAnnotation, index: int) -> dict[str, Any]:
    if isinstance(item, NewAnnotation):
        return {
            "_type": "Create",
            "annotation_id": item.annotation_id,
            "label_id": item.label_id,
            "body": item.body,
            "additional_data_list": [dict(a) for a in item.additional_data_list],
            "editor_props": dict(item.editor_props),
        }
    if isinstance(item, EditorAnnotationDetail):
        out: dict[str, Any] = {
            "_type": "Update",
            "annotation_id": item.annotation_id,
            "label_id": item.label_id,
            "additional_data_list": [
                {"definition_id": a.definition_id, "value": a.value}
                for a in item.additional_data_list
            ],
            "editor_props": dict(item.editor_props),
        }
        if item.body.get("_type") == "Inner":
            out["body"] = item.body  # an outer file's body stays as stored
        return out
    raise InvalidArgumentError(
        f"details[{index}] must be an EditorAnnotationDetail or a NewAnnotation, got "
        f"{type(item).__name__}"
    )


def editor_annotation_body(
    project_id: str,
    task_id: str,
    input_data_id: str,
    details: Iterable[EditorAnnotationDetail | NewAnnotation],
    updated_datetime: datetime | None,
) -> dict[str, Any]:
    """An ``AnnotationV2Input``: kept details are ``Update``, new ones ``Create``."""
    if isinstance(details, str | bytes | Mapping):
        raise InvalidArgumentError("details must be a list of annotations")
    body: dict[str, Any] = {
        "project_id": project_id,
        "task_id": task_id,
        "input_data_id": input_data_id,
        "details": [_detail_body(item, i) for i, item in enumerate(details)],
        "format_version": "2.0.0",
    }
    lock = lock_text(updated_datetime, "updated_datetime")
    if lock is not None:
        body["updated_datetime"] = lock
    return body


@attrs.frozen(kw_only=True)
class CommentPut:
    """A comment to add (or, with an existing ``comment_id``, replace) in
    :meth:`Project.batch_update_comments`. ``root_comment_id`` makes it a reply.

        CommentPut(phase="inspection", account_id=me, comment="box too small")
    """

    comment: str
    account_id: str
    phase: TaskPhase | str = TaskPhase.INSPECTION
    phase_stage: int = 1
    comment_type: str = "inspection"
    comment_id: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    root_comment_id: str | None = None
    status: str = "open"
    phrases: tuple[str, ...] = ()

    def to_body(self) -> dict[str, Any]:
        """A ``BatchCommentRequestItemPut``."""
        phase = self.phase.value if isinstance(self.phase, TaskPhase) else self.phase
        if phase not in ("annotation", "inspection", "acceptance"):
            raise InvalidArgumentError(
                f"phase={phase!r} is not allowed; use 'annotation', 'inspection' or 'acceptance'"
            )
        if self.comment_type not in ("onhold", "inspection"):
            raise InvalidArgumentError(
                f"comment_type={self.comment_type!r} is not allowed; use 'onhold' or 'inspection'"
            )
        if (
            isinstance(self.phase_stage, bool)
            or not isinstance(self.phase_stage, int)
            or self.phase_stage < 1
        ):
            raise InvalidArgumentError(
                f"phase_stage must be an integer >= 1, got {self.phase_stage!r}"
            )
        node: dict[str, Any] = (
            {"_type": "Reply", "root_comment_id": self.root_comment_id}
            if self.root_comment_id is not None
            else {"_type": "Root", "status": self.status}
        )
        return {
            "_type": "Put",
            "comment_id": self.comment_id,
            "phase": phase,
            "phase_stage": self.phase_stage,
            "account_id": self.account_id,
            "comment_type": self.comment_type,
            "phrases": list(self.phrases),
            "comment": self.comment,
            "comment_node": node,
        }


def read_editor_annotation(data: Any) -> EditorAnnotation:
    return structure(converter, data, EditorAnnotation)


__all__ = [
    "CommentPut",
    "NewAnnotation",
    "converter",
    "editor_annotation_body",
    "input_data_body",
    "lock_text",
    "read",
    "read_editor_annotation",
    "read_in_bulk",
    "read_job",
    "read_job_page",
    "read_list",
    "read_page",
]
