"""Annotations on the wire, as pure functions: spec refs, feedback queries and creates,
deterministic feedback ids, and the checks made before anything is sent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from .._convert import decode_json, field, structure, structure_list
from .._errors import InvalidArgumentError, ResponseDecodeError
from .._json_schema import SchemaProblem, check_value
from .._transport import Request
from ._models_annotations import Annotation, AnnotationSpec, FeedbackRow
from ._protocol import converter, require_id

ANNOTATION_PREFIX: Final = "wandb.annotation."
#: The namespace of annoq's feedback ids (uuid5 of the stable parts of an annotation).
FEEDBACK_ID_NAMESPACE: Final = uuid.UUID("6f1b2f1e-8c0e-5a57-9a41-616e6e6f7121")


def call_ref(project_id: str, call_id: str) -> str:
    """The ``weave_ref`` of a call: ``weave:///entity/project/call/CALL_ID``."""
    return f"weave:///{project_id}/call/{call_id}"


def spec_name_of_ref(ref: str) -> str | None:
    """NAME of ``weave:///entity/project/object/NAME:DIGEST``, else ``None``."""
    if not ref.startswith("weave:///"):
        return None
    parts = ref[len("weave:///") :].split("/")
    if len(parts) != 4 or parts[2] != "object" or ":" not in parts[3]:
        return None
    name = parts[3].partition(":")[0]
    return name or None


def feedback_id(project_id: str, queue_id: str, item_id: str, spec_name: str) -> str:
    """The id annoq gives the feedback row answering ``spec_name`` on one item.

    Made of what stays the same when the same answer is sent again (project, queue,
    item, spec name), never of the value: a rerun re-sends the same id, so a retry after
    a lost answer, or a rerun with new values, replaces the row instead of adding one.
    The annotator is not part of it: the service keys rows by ``(weave_ref, wb_user_id,
    id)``, so two annotators' rows with the same id never replace each other, and the
    id does not change with whether the caller's user id is known.
    """
    name = "\x1f".join(("annoq-annotation-v1", project_id, queue_id, item_id, spec_name))
    return str(uuid.uuid5(FEEDBACK_ID_NAMESPACE, name))


def payload_size(payload: Mapping[str, Any]) -> int:
    """The size the service caps: ``len(json.dumps(payload))`` (ASCII escapes)."""
    return len(json.dumps(payload))


def check_annotation_value(
    item_id: str, spec: AnnotationSpec, value: Any, *, max_payload_bytes: int
) -> dict[str, Any]:
    """The payload for ``value``, or InvalidArgumentError naming the item and the spec."""
    try:
        check_value(value, spec.field_schema)
    except SchemaProblem as problem:
        raise InvalidArgumentError(
            f"item {item_id!r}, spec {spec.name!r}: value {_short(value)} does not fit the "
            f"spec's field_schema: {problem}"
        ) from None
    payload = {"value": value}
    try:
        size = payload_size(payload)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"item {item_id!r}, spec {spec.name!r}: value {_short(value)} is not JSON"
        ) from None
    if size > max_payload_bytes:
        raise InvalidArgumentError(
            f"item {item_id!r}, spec {spec.name!r}: payload is {size} bytes, over the "
            f"limit of {max_payload_bytes} (max_payload_bytes)"
        )
    return payload


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- requests ---------------------------------------------------------------------------


def read_refs_request(refs: Sequence[str]) -> Request:
    return Request("POST", "/refs/read_batch", json={"refs": list(refs)})


def feedback_query_request(
    project_id: str,
    expr: Mapping[str, Any],
    *,
    limit: int | None = None,
    offset: int | None = None,
) -> Request:
    body: dict[str, Any] = {
        "project_id": require_id(project_id, "project_id"),
        "query": {"$expr": dict(expr)},
        # created_at ascending: rows added while reading land after what was read.
        "sort_by": [
            {"field": "created_at", "direction": "asc"},
            {"field": "id", "direction": "asc"},
        ],
    }
    if limit is not None:
        body["limit"] = limit
    if offset is not None:
        body["offset"] = offset
    return Request("POST", "/feedback/query", json=body)


def _eq(field: str, value: str) -> dict[str, Any]:
    return {"$eq": [{"$getField": field}, {"$literal": value}]}


def _in(field: str, values: Iterable[str]) -> dict[str, Any]:
    return {"$in": [{"$getField": field}, [{"$literal": v} for v in values]]}


def queue_feedback_expr(
    queue_id: str, weave_refs: Iterable[str], ids: Iterable[str] | None = None
) -> dict[str, Any]:
    """Rows made from ``queue_id`` on these calls (and, given ``ids``, with those ids).

    Not filtered on ``wb_user_id``: the service compares unconverted ids there, so a
    filter on the id results show matches nothing.
    """
    refs = list(weave_refs)
    terms = [_eq("queue_id", queue_id)]
    terms.append(_eq("weave_ref", refs[0]) if len(refs) == 1 else _in("weave_ref", refs))
    if ids is not None:
        terms.append(_in("id", ids))
    return {"$and": terms}


def batch_create_request(rows: Sequence[Mapping[str, Any]]) -> Request:
    return Request("POST", "/feedback/batch/create", json={"batch": list(rows)})


def annotation_create_body(
    project_id: str,
    queue_id: str,
    weave_ref: str,
    spec: AnnotationSpec,
    payload: Mapping[str, Any],
    row_id: str,
) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "weave_ref": weave_ref,
        "feedback_type": spec.feedback_type,
        "annotation_ref": spec.ref,
        "payload": dict(payload),
        "queue_id": queue_id,
        "id": row_id,
    }


# -- answers ----------------------------------------------------------------------------


def read_specs(content: bytes, refs: Sequence[str]) -> list[AnnotationSpec]:
    """``{"vals": [...]}`` of ``/refs/read_batch`` -> the AnnotationSpecs among them."""
    vals = field(decode_json(content), "vals")
    if not isinstance(vals, list) or len(vals) != len(refs):
        raise ResponseDecodeError(f"expected {len(refs)} values", path="$.vals")
    specs = []
    for index, (ref, val) in enumerate(zip(refs, vals, strict=True)):
        if not isinstance(val, dict) or val.get("_class_name", "AnnotationSpec") != (
            "AnnotationSpec"
        ):
            continue  # a scorer of another kind: not a question for humans
        name = spec_name_of_ref(ref)
        schema = val.get("field_schema", {})
        if name is None or not isinstance(schema, dict):
            raise ResponseDecodeError("not an AnnotationSpec", path=f"$.vals[{index}]")
        title = val.get("name")
        description = val.get("description")
        specs.append(
            AnnotationSpec(
                name=name,
                ref=ref,
                field_schema=schema,
                title=title if isinstance(title, str) else None,
                description=description if isinstance(description, str) else None,
            )
        )
    return specs


def read_feedback(content: bytes) -> list[FeedbackRow]:
    """``{"result": [...]}`` -> rows."""
    return structure_list(
        converter, field(decode_json(content), "result"), FeedbackRow, path="$.result"
    )


def read_created(content: bytes, expected: int) -> list[FeedbackRow]:
    """``{"res": [{id, created_at, wb_user_id, payload}]}`` of a batch create."""
    res = field(decode_json(content), "res")
    if not isinstance(res, list) or len(res) != expected:
        raise ResponseDecodeError(f"expected {expected} created rows", path="$.res")
    out = []
    for index, entry in enumerate(res):
        data = {"weave_ref": "", "feedback_type": "", **entry} if isinstance(entry, dict) else entry
        out.append(structure(converter, data, FeedbackRow, path=f"$.res[{index}]"))
    return out


def latest_rows(rows: Iterable[FeedbackRow]) -> list[FeedbackRow]:
    """One row per ``(weave_ref, wb_user_id, id)``, the latest copy (the service keeps
    every copy of a re-sent id until a background merge)."""
    latest: dict[tuple[str, str | None, str], FeedbackRow] = {}
    for row in rows:
        key = (row.weave_ref, row.wb_user_id, row.id)
        kept = latest.get(key)
        if kept is None or row.created_at >= kept.created_at:
            latest[key] = row
    return list(latest.values())


def annotation_of(row: FeedbackRow) -> Annotation | None:
    """The human annotation a row holds, or ``None`` for other feedback."""
    if not row.feedback_type.startswith(ANNOTATION_PREFIX):
        return None
    return Annotation(
        spec_name=row.feedback_type[len(ANNOTATION_PREFIX) :],
        spec_ref=row.annotation_ref,
        value=row.payload.get("value"),
        annotator=row.wb_user_id or "",
        created_at=row.created_at,
        feedback_id=row.id,
    )
