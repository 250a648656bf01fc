"""Annotations as pure functions: the schema checker, feedback ids, requests, answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annoq import InvalidArgumentError, ResponseDecodeError
from annoq._json_schema import SchemaProblem, check_value
from annoq.weave import AnnotationSpec
from annoq.weave import _protocol_annotations as ap
from annoq.weave._models_annotations import FeedbackRow

SCHEMAS: list[dict[str, Any]] = [
    {"type": "integer", "minimum": 1, "maximum": 5},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "number", "multipleOf": 0.5},
    {"type": "string", "minLength": 2, "maxLength": 4},
    {"type": "string", "enum": ["cat", "dog"]},
    {"type": "string", "pattern": "^[a-c]+$"},
    {"type": "boolean"},
    {"type": ["string", "null"]},
    {"const": 3},
    {"enum": [1, "1", True, None]},
    {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1, "maxItems": 3},
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    },
    {"type": "object", "additionalProperties": {"type": "boolean"}},
    {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]},
    {"oneOf": [{"type": "integer", "maximum": 3}, {"type": "integer", "minimum": 2}]},
    {"allOf": [{"type": "number"}, {"minimum": 2}]},
    {"not": {"type": "string"}},
    {"title": "free text", "description": "anything"},
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10)
    | st.floats(-10, 10, allow_nan=False)
    | st.sampled_from([0.5, 1.0, 2.5, 3.0])
    | st.text("abcd1", max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=600, deadline=None)
@given(schema=st.sampled_from(SCHEMAS), value=json_values)
def test_the_schema_checker_agrees_with_the_reference_validator(schema: Any, value: Any) -> None:
    expected = jsonschema.Draft202012Validator(schema).is_valid(value)
    try:
        check_value(value, schema)
        got = True
    except SchemaProblem:
        got = False
    assert got == expected, (schema, value)


def test_a_schema_problem_says_where_and_why() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"type": "integer"}}},
    }
    with pytest.raises(SchemaProblem, match=r"'x' is not of type integer \(at \$\.a\[1\]\)"):
        check_value({"a": [1, "x"]}, schema)


def test_feedback_ids_are_stable_and_differ_by_item_and_spec_but_not_value() -> None:
    first = ap.feedback_id("e/p", "q", "item-1", "quality")
    assert first == ap.feedback_id("e/p", "q", "item-1", "quality")
    assert uuid.UUID(first).version == 5
    others = {
        ap.feedback_id("e/p", "q", "item-2", "quality"),
        ap.feedback_id("e/p", "q", "item-1", "label"),
        ap.feedback_id("e/p", "q2", "item-1", "quality"),
        ap.feedback_id("e/other", "q", "item-1", "quality"),
    }
    assert first not in others
    assert len(others) == 4


SPEC = AnnotationSpec(
    "quality", "weave:///e/p/object/quality:abc", {"type": "integer", "maximum": 5}
)


def test_a_value_is_checked_against_the_schema_and_the_payload_limit_naming_item_and_spec() -> None:
    assert ap.check_annotation_value("i1", SPEC, 4, max_payload_bytes=100) == {"value": 4}
    with pytest.raises(InvalidArgumentError, match=r"item 'i1', spec 'quality'.*maximum of 5"):
        ap.check_annotation_value("i1", SPEC, 6, max_payload_bytes=100)
    free = AnnotationSpec("note", "weave:///e/p/object/note:abc", {})
    # One character, counted as its six-character ASCII escape, as the service does.
    assert ap.payload_size({"value": "é"}) == len('{"value": "\\u00e9"}')
    with pytest.raises(InvalidArgumentError, match="over the limit of 18"):
        ap.check_annotation_value("i1", free, "éé", max_payload_bytes=18)
    with pytest.raises(InvalidArgumentError, match="not JSON"):
        ap.check_annotation_value("i1", free, {1, 2}, max_payload_bytes=100)


def test_the_page_query_filters_on_queue_and_calls_never_on_the_user() -> None:
    expr = ap.queue_feedback_expr("Q", ["r1", "r2"])
    request = ap.feedback_query_request("e/p", expr, limit=10, offset=20)
    assert request.path == "/feedback/query"
    assert request.json["query"] == {
        "$expr": {
            "$and": [
                {"$eq": [{"$getField": "queue_id"}, {"$literal": "Q"}]},
                {"$in": [{"$getField": "weave_ref"}, [{"$literal": "r1"}, {"$literal": "r2"}]]},
            ]
        }
    }
    assert (request.json["limit"], request.json["offset"]) == (10, 20)
    assert "wb_user_id" not in orjson.dumps(request.json).decode()


def test_an_annotation_create_carries_the_queue_the_spec_and_the_client_id() -> None:
    body = ap.annotation_create_body("e/p", "Q", "weave:///e/p/call/c1", SPEC, {"value": 3}, "id-1")
    assert body == {
        "project_id": "e/p",
        "weave_ref": "weave:///e/p/call/c1",
        "feedback_type": "wandb.annotation.quality",
        "annotation_ref": SPEC.ref,
        "payload": {"value": 3},
        "queue_id": "Q",
        "id": "id-1",
    }


def test_specs_are_read_from_refs_and_other_scorers_are_left_out() -> None:
    refs = ["weave:///e/p/object/quality:abc", "weave:///e/p/object/judge:def"]
    vals = [
        {"_class_name": "AnnotationSpec", "name": "Quality", "field_schema": {"type": "integer"}},
        {"_class_name": "LLMJudge", "prompt": "..."},
    ]
    [spec] = ap.read_specs(orjson.dumps({"vals": vals}), refs)
    assert (spec.name, spec.title, spec.field_schema) == ("quality", "Quality", {"type": "integer"})
    with pytest.raises(ResponseDecodeError):
        ap.read_specs(orjson.dumps({"vals": vals[:1]}), refs)


def _row(id: str, user: str, at: int, value: Any) -> FeedbackRow:
    return FeedbackRow(
        id=id,
        weave_ref="r",
        feedback_type="wandb.annotation.q",
        created_at=datetime(2026, 1, 1, 0, 0, at, tzinfo=UTC),
        payload={"value": value},
        wb_user_id=user,
    )


def test_copies_of_a_resent_row_are_reduced_to_the_latest_per_user_and_id() -> None:
    rows = [
        _row("a", "u1", 1, 1),
        _row("a", "u1", 3, 3),
        _row("a", "u2", 2, 2),
        _row("b", "u1", 0, 0),
    ]
    kept = {(r.wb_user_id, r.id): r.payload["value"] for r in ap.latest_rows(rows)}
    assert kept == {("u1", "a"): 3, ("u2", "a"): 2, ("u1", "b"): 0}


def test_feedback_answers_that_do_not_fit_are_decode_errors() -> None:
    with pytest.raises(ResponseDecodeError, match="result"):
        ap.read_feedback(b'{"rows": []}')
    with pytest.raises(ResponseDecodeError):
        ap.read_feedback(b'{"result": [{"id": 5}]}')
    with pytest.raises(ResponseDecodeError, match="expected 2 created rows"):
        ap.read_created(b'{"res": []}', 2)
