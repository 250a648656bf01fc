"""The pure decisions of the Annofab bulk imports, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

from annoq.annofab import (
    CommentImport,
    CommentPut,
    EditorAnnotation,
    EditorAnnotationDetail,
    InputData,
    InputDataImport,
    NewAnnotation,
)
from annoq.annofab._bulk_models import (
    Settle,
    after_conflict,
    annotation_matches,
    comment_changes,
    input_data_matches,
    metadata_settled,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BOX = {"_type": "Inner", "data": {"_type": "Point", "point": {"x": 1, "y": 2}}}


def _saved(*details: tuple[str, str, dict[str, object]]) -> EditorAnnotation:
    return EditorAnnotation(
        "p",
        "t",
        "i",
        tuple(
            EditorAnnotationDetail(a, "acc", label, NOW, NOW, body=dict(body))
            for a, label, body in details
        ),
        NOW,
    )


def test_a_409_is_ours_when_the_state_shows_what_we_sent() -> None:
    assert after_conflict(matches=True, overwrite=False) is Settle.OURS
    assert after_conflict(matches=True, overwrite=True) is Settle.OURS
    assert after_conflict(matches=False, overwrite=False) is Settle.CONFLICT
    assert after_conflict(matches=False, overwrite=True) is Settle.RETRY


def test_annotation_matches_ids_labels_and_shapes_in_any_order() -> None:
    want = [
        NewAnnotation(annotation_id="a", label_id="car", body=BOX),
        NewAnnotation(annotation_id="b", label_id="dog", body=BOX),
    ]
    assert annotation_matches(_saved(("b", "dog", BOX), ("a", "car", BOX)), want)
    assert not annotation_matches(_saved(("a", "car", BOX)), want)
    assert not annotation_matches(_saved(("a", "car", BOX), ("b", "cat", BOX)), want)
    moved = {"_type": "Inner", "data": {"_type": "Point", "point": {"x": 9, "y": 2}}}
    assert not annotation_matches(_saved(("a", "car", BOX), ("b", "dog", moved)), want)


def test_metadata_settled_tells_true_from_one() -> None:
    assert metadata_settled({"a": 1}, {"a": 1})
    assert not metadata_settled({"a": 1}, {"a": True})
    assert not metadata_settled({"a": 1, "b": 2}, {"a": 1})


def test_input_data_matches_name_metadata_and_a_given_path() -> None:
    have = InputData("in", "p", "a.jpg", "s3://x/a.jpg", NOW, metadata={"k": "v"})
    assert input_data_matches(
        have, InputDataImport("in", "a.jpg", "s3://x/a.jpg", metadata={"k": "v"})
    )
    assert not input_data_matches(have, InputDataImport("in", "a.jpg", "s3://x/b.jpg"))
    assert not input_data_matches(None, InputDataImport("in", "a.jpg", "s3://x/a.jpg"))


def test_comment_changes_leave_out_what_is_stored_or_gone() -> None:
    from annoq.annofab import Comment, CommentType, TaskPhase

    put = CommentPut(comment_id="c1", account_id="me", comment="hi")
    stored = Comment(
        "p", "t", "i", "c1", TaskPhase.INSPECTION, 1, "me", CommentType("inspection"), "hi",
        {"_type": "Root", "status": "open"}, NOW, NOW, NOW,
    )  # fmt: skip
    assert comment_changes([stored], CommentImport("t", "i", put=[put], delete=["gone"])) == []
    edited = CommentPut(comment_id="c1", account_id="me", comment="hello")
    [body] = comment_changes([stored], CommentImport("t", "i", put=[edited]))
    assert body["comment"] == "hello"
    assert comment_changes([stored], CommentImport("t", "i", delete=["c1"])) == [
        {"_type": "Delete", "comment_id": "c1"}
    ]
