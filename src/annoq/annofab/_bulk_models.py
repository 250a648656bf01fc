"""Inputs of the Annofab bulk imports, their checks, and the pure decisions behind them.

Each import reads what is there, leaves it ``unchanged`` when it already equals what
would be sent, and otherwise writes once. After a lost answer the write is retried;
a refusal of the retry (409, 404) is settled by reading again and asking the pure
functions here whether the state now shows our write: :func:`metadata_settled`,
:func:`annotation_matches`, :func:`input_data_matches`, :func:`after_conflict`.
:mod:`._bulk_drivers` does the I/O.
"""

from __future__ import annotations

import enum
import math
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs

from .._args import require_segment
from .._errors import AnnoqError, InvalidArgumentError
from ._models_data import Comment, EditorAnnotation, InputData
from ._protocol_data import CommentPut, NewAnnotation

__all__ = [
    "AnnotationImport",
    "CommentImport",
    "InputDataImport",
    "InvalidItemError",
    "Settle",
    "UploadError",
    "after_conflict",
    "annotation_matches",
    "check_metadata",
    "checked",
    "comment_changes",
    "input_data_matches",
    "metadata_items",
    "metadata_settled",
]

MetadataValue = str | int | float | bool
T = TypeVar("T")


class InvalidItemError(InvalidArgumentError):
    """A lazily read bulk item that is not valid (failed alone, reason ``invalid_item``)."""

    failure_code = "invalid_item"


def checked(check: Callable[[], T]) -> T:
    """``check()``, its :class:`InvalidArgumentError` as an :class:`InvalidItemError`."""
    try:
        return check()
    except InvalidArgumentError as error:
        raise InvalidItemError(str(error)) from None


class UploadError(AnnoqError):
    """A file upload to a temporary path failed or arrived damaged (its ETag is not
    the file's MD5); the input data was not registered."""

    failure_code = "upload_failed"

    def __init__(self, message: str, *, code: str = "upload_failed") -> None:
        super().__init__(message)
        self.failure_code = code


def check_metadata(task_id: object, metadata: object) -> tuple[str, dict[str, MetadataValue]]:
    """A ``(task id, metadata)`` pair, checked: values are strings, numbers or booleans."""
    tid = require_segment(task_id, "task_id")
    if not isinstance(metadata, Mapping):
        raise InvalidArgumentError(f"task {tid!r}: metadata must be a mapping, got {metadata!r}")
    out: dict[str, MetadataValue] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"task {tid!r}: metadata keys must be strings, got {key!r}")
        ok = isinstance(value, str | bool | int) or (
            isinstance(value, float) and math.isfinite(value)
        )
        if not ok:
            raise InvalidArgumentError(
                f"task {tid!r}: metadata[{key!r}] must be a string, number or boolean, "
                f"got {value!r}"
            )
        out[key] = value
    return tid, out


def metadata_items(items: object) -> Iterable[Any] | AsyncIterable[Any]:
    """The ``(task id, metadata)`` pairs of a mapping or an iterable of pairs; a list,
    tuple or mapping is checked whole before any request."""
    if isinstance(items, str | bytes):
        raise InvalidArgumentError("items must map task ids to metadata, not be a string")
    if isinstance(items, Mapping):
        return [check_metadata(k, v) for k, v in items.items()]
    if isinstance(items, list | tuple):
        return [check_metadata(*_pair(i, n)) for n, i in enumerate(items)]
    if isinstance(items, Iterable | AsyncIterable):
        return items
    raise InvalidArgumentError(f"items must be a mapping or an iterable of pairs, got {items!r}")


def _pair(item: object, index: int) -> tuple[object, object]:
    if not isinstance(item, tuple | list) or len(item) != 2:
        raise InvalidArgumentError(f"items[{index}] must be a (task_id, metadata) pair")
    return item[0], item[1]


def metadata_settled(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a task's metadata already is ``wanted`` (the PATCH replaces it whole)."""
    return dict(current) == dict(wanted) and all(
        type(current[k]) is type(v) for k, v in wanted.items()
    )


def _as_tuple(details: Iterable[NewAnnotation]) -> tuple[NewAnnotation, ...]:
    return tuple(details)


@attrs.frozen
class AnnotationImport:
    """The annotations one input data of a task should have, replacing what is there.

    Give each :class:`NewAnnotation` its ``annotation_id`` when the items come from a
    file, so a rerun sends the same ids (and finds them already there).
    ``updated_datetime`` is the lock you read (``None``: read it first).

        AnnotationImport("t-1", "in-1", [NewAnnotation(annotation_id="a-1", ...)])
    """

    task_id: str
    input_data_id: str
    details: tuple[NewAnnotation, ...] = attrs.field(converter=_as_tuple)
    updated_datetime: datetime | None = None

    @classmethod
    def of(cls, item: object, index: int = 0) -> AnnotationImport:
        """An import from an :class:`AnnotationImport` or a ``(task_id, input_data_id,
        details)`` tuple, checked."""
        if isinstance(item, tuple | list) and len(item) == 3:
            item = cls(item[0], item[1], _details(item[2], index))
        if not isinstance(item, AnnotationImport):
            raise InvalidArgumentError(
                f"items[{index}] must be an AnnotationImport or a (task_id, input_data_id, "
                f"details) tuple, got {item!r}"
            )
        require_segment(item.task_id, f"items[{index}].task_id")
        require_segment(item.input_data_id, f"items[{index}].input_data_id")
        _details(item.details, index)
        return item

    @property
    def key(self) -> str:
        """``task_id/input_data_id``: the bulk key."""
        return f"{self.task_id}/{self.input_data_id}"


def _details(details: object, index: int) -> tuple[NewAnnotation, ...]:
    if isinstance(details, str | bytes | Mapping) or not isinstance(details, Iterable):
        raise InvalidArgumentError(f"items[{index}].details must be a list of NewAnnotation")
    out = tuple(details)
    for d in out:
        if not isinstance(d, NewAnnotation):
            raise InvalidArgumentError(
                f"items[{index}].details holds {type(d).__name__}, not NewAnnotation"
            )
    if len({d.annotation_id for d in out}) != len(out):
        raise InvalidArgumentError(f"items[{index}].details repeat an annotation_id")
    return out


def _wanted(detail: NewAnnotation) -> tuple[str, str, Any, Any, Any]:
    return (
        detail.annotation_id,
        detail.label_id,
        detail.body,
        [dict(a) for a in detail.additional_data_list],
        dict(detail.editor_props),
    )


def annotation_matches(current: EditorAnnotation, wanted: Sequence[NewAnnotation]) -> bool:
    """Whether the saved annotation already holds exactly ``wanted`` (same ids, labels,
    shapes, attribute values and editor props; order does not matter)."""
    have = sorted(
        (
            (
                d.annotation_id,
                d.label_id,
                d.body,
                [
                    {"definition_id": a.definition_id, "value": a.value}
                    for a in d.additional_data_list
                ],
                dict(d.editor_props),
            )
            for d in current.details
        ),
        key=lambda t: t[0],
    )
    want = sorted((_wanted(d) for d in wanted), key=lambda t: t[0])
    return have == want


class Settle(enum.Enum):
    """What a refused write (a 409) means once the state has been read again."""

    OURS = "ours"  # our earlier attempt landed, its answer was lost: counted once
    RETRY = "retry"  # someone else changed it, overwrite: write again with the new lock
    CONFLICT = "conflict"  # someone else changed it: fail the item


def after_conflict(*, matches: bool, overwrite: bool) -> Settle:
    """The meaning of a 409 to a write sent because the state read just before did
    not match: ``matches`` tells whether the state read after the 409 equals what we
    sent. If it does, an attempt of ours landed and its answer was lost (the transport
    or the HTTP library re-sent it): counted once. Otherwise someone else changed it.

    >>> after_conflict(matches=True, overwrite=False)
    <Settle.OURS: 'ours'>
    """
    if matches:
        return Settle.OURS
    return Settle.RETRY if overwrite else Settle.CONFLICT


@attrs.frozen
class InputDataImport:
    """One input data to register: ``input_data_path`` (a URL or ``s3://`` path the
    service can read), or ``upload``, a local file sent to a temporary path first.

        InputDataImport("in-1", "a.jpg", upload=Path("frames/a.jpg"))
    """

    input_data_id: str
    input_data_name: str
    input_data_path: str | None = None
    upload: Path | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict, hash=False)

    @classmethod
    def of(cls, item: object, index: int = 0) -> InputDataImport:
        """The item, checked (before any request for a list)."""
        if not isinstance(item, InputDataImport):
            raise InvalidArgumentError(f"items[{index}] must be an InputDataImport, got {item!r}")
        require_segment(item.input_data_id, f"items[{index}].input_data_id")
        if not isinstance(item.input_data_name, str) or not item.input_data_name.strip():
            raise InvalidArgumentError(f"items[{index}].input_data_name must be a non-empty string")
        if (item.input_data_path is None) == (item.upload is None):
            raise InvalidArgumentError(
                f"items[{index}] ({item.input_data_id!r}): give input_data_path or upload, "
                "exactly one"
            )
        if item.input_data_path is not None and (
            not isinstance(item.input_data_path, str) or not item.input_data_path.strip()
        ):
            raise InvalidArgumentError(f"items[{index}].input_data_path must be a string")
        if item.upload is not None and not isinstance(item.upload, Path):
            raise InvalidArgumentError(f"items[{index}].upload must be a pathlib.Path")
        if not isinstance(item.metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in item.metadata.items()
        ):
            raise InvalidArgumentError(f"items[{index}].metadata must map strings to strings")
        if item.input_data_name.lower().endswith(".zip"):
            raise InvalidArgumentError(
                f"items[{index}]: a ZIP starts a job that cannot be retried safely; register "
                "its files one by one"
            )
        return item


def input_data_matches(current: InputData | None, wanted: InputDataImport) -> bool:
    """Whether ``current`` already is ``wanted``: same name, metadata and (for a given
    path) path. An upload's temporary path differs each time, so an uploaded input is
    the same when its name and metadata are: give a new id to replace a file's content.
    """
    if current is None:
        return False
    same = current.input_data_name == wanted.input_data_name and dict(current.metadata) == dict(
        wanted.metadata
    )
    if wanted.input_data_path is not None:
        same = same and current.input_data_path == wanted.input_data_path
    return same


def _puts(value: Iterable[CommentPut]) -> tuple[CommentPut, ...]:
    return tuple(value)


def _ids(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class CommentImport:
    """Comments to put (add or replace, by the ``comment_id`` you choose) and to delete
    on one input data of a task.

        CommentImport("t-1", "in-1", put=[CommentPut(comment_id="c-1", account_id=me,
                                                     comment="box too small")])
    """

    task_id: str
    input_data_id: str
    put: tuple[CommentPut, ...] = attrs.field(default=(), converter=_puts)
    delete: tuple[str, ...] = attrs.field(default=(), converter=_ids)

    @classmethod
    def of(cls, item: object, index: int = 0) -> CommentImport:
        """The item, checked (its Put bodies built, so a bad one fails here)."""
        if not isinstance(item, CommentImport):
            raise InvalidArgumentError(f"items[{index}] must be a CommentImport, got {item!r}")
        require_segment(item.task_id, f"items[{index}].task_id")
        require_segment(item.input_data_id, f"items[{index}].input_data_id")
        for entry in item.put:
            if not isinstance(entry, CommentPut):
                raise InvalidArgumentError(f"items[{index}].put holds {entry!r}, not CommentPut")
            entry.to_body()
        for comment_id in item.delete:
            require_segment(comment_id, f"items[{index}].delete[]")
        ids = [p.comment_id for p in item.put] + list(item.delete)
        if len(set(ids)) != len(ids):
            raise InvalidArgumentError(f"items[{index}] names a comment_id twice")
        if not ids:
            raise InvalidArgumentError(f"items[{index}] puts and deletes nothing")
        return item

    @property
    def key(self) -> str:
        """``task_id/input_data_id``: the bulk key."""
        return f"{self.task_id}/{self.input_data_id}"


def _stored(comment: Comment) -> dict[str, Any]:
    return {
        "phase": comment.phase.value,
        "phase_stage": comment.phase_stage,
        "account_id": comment.account_id,
        "comment_type": str(comment.comment_type),
        "phrases": list(comment.phrases),
        "comment": comment.comment,
        "comment_node": dict(comment.comment_node),
    }


def comment_changes(current: Sequence[Comment], item: CommentImport) -> list[dict[str, Any]]:
    """The batch items still to send: Puts whose comment is not already stored as
    given, Deletes of comments still there; ``[]`` when nothing is left to do."""
    stored = {c.comment_id: _stored(c) for c in current}
    out: list[dict[str, Any]] = []
    for entry in item.put:
        body = entry.to_body()
        wanted = {k: body[k] for k in _stored_keys()}
        if stored.get(entry.comment_id) != wanted:
            out.append(body)
    out += [{"_type": "Delete", "comment_id": c} for c in item.delete if c in stored]
    return out


def _stored_keys() -> tuple[str, ...]:
    return (
        "phase", "phase_stage", "account_id", "comment_type", "phrases", "comment",
        "comment_node",
    )  # fmt: skip
