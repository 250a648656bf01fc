"""The pure per-item decisions of a Weave progress update, case by case (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from annoq import AnnotationState, Outcome, QueueItem
from annoq._requester import Identity
from annoq.weave._decisions import (
    Refusal,
    RefusalStep,
    can_skip,
    judge,
    read_refusal,
    refusal_step,
)

DONE = AnnotationState.COMPLETED
WORKING = AnnotationState.IN_PROGRESS
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def shown(state: str, by: str = "") -> QueueItem:
    """An item whose display is ``state`` set by ``by`` ("" = nobody)."""
    return QueueItem(
        id="i", project_id="p", queue_id="q", call_id="c", call_started_at=T0,
        call_op_name="op", call_trace_id="t", display_fields=(),
        annotation_state=AnnotationState(state), created_at=T0, created_by="u",
        updated_at=T0, annotator_user_id=by,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("before", "after", "me", "outcome", "author"),
    [
        # with the item as it was: an unchanged display is a no-op, whoever it names
        (shown("completed", "b"), shown("completed", "b"), None, "unchanged", None),
        (shown("completed", "b"), shown("completed", "b"), "me", "unchanged", None),
        (shown("completed", "me"), shown("completed", "me"), None, "unchanged", None),
        # a display that became "target, by U" is a real write by U
        (shown("unstarted"), shown("completed", "me"), None, "updated", "me"),
        (shown("completed", "b"), shown("completed", "me"), None, "updated", "me"),
        (shown("in_progress", "b"), shown("completed", "me"), "me", "updated", "me"),
        # ... by someone else while my id is known: a no-op meanwhile spoiled, not mine
        (shown("unstarted"), shown("completed", "b"), "me", "unchanged", "b"),
        # an answer not showing the target: someone else's later state, my no-op
        (shown("unstarted"), shown("in_progress", "b"), "me", "unchanged", None),
        # bare ids: only the answer is known
        (None, shown("completed", "b"), "me", "unchanged", None),
        (None, shown("completed", "me"), "me", "updated", None),
        (None, shown("completed", "b"), None, "updated", None),
        (None, shown("in_progress", "b"), None, "unchanged", None),
    ],
)
def test_judge_learns_only_from_a_display_that_changed_to_the_target(
    before, after, me, outcome, author
):
    judgement = judge(before, after, DONE, me)
    assert judgement.outcome is Outcome(outcome)
    assert judgement.author == author


def test_only_target_by_me_can_be_skipped_never_target_by_someone_else():
    assert can_skip(shown("completed", "me"), DONE, "me")
    assert not can_skip(shown("completed", "b"), DONE, "me")
    assert not can_skip(shown("completed", "me"), DONE, None)
    assert not can_skip(shown("in_progress", "me"), DONE, "me")


@pytest.mark.parametrize(
    ("reason", "target", "kind"),
    [
        ("Invalid state transition from 'completed' to 'completed'.", DONE, "same_state"),
        ("Invalid state transition from 'skipped' to 'completed'.", DONE, "other"),
        ("Invalid state transition from 'completed' to 'in_progress'.", WORKING, "other"),
        ("Cannot transition to 'in_progress' when a record already exists.", WORKING,
         "record_exists"),
        ("Cannot transition to 'in_progress' when a record already exists.", DONE, "other"),
        ("Invalid annotation_state 'x'", DONE, "other"),
    ],
)  # fmt: skip
def test_refusal_texts_are_read_for_what_they_say_about_my_record(reason, target, kind):
    assert read_refusal(reason, target) is Refusal(kind)


@pytest.mark.parametrize(
    ("kind", "attempts", "step"),
    [
        ("same_state", 1, "no_op"),
        ("record_exists", 1, "fail"),
        ("other", 1, "fail"),
        ("same_state", 2, "resolve"),
        ("record_exists", 3, "resolve"),
        ("other", 2, "fail"),
    ],
)
def test_a_first_attempt_refusal_is_a_refusal_and_only_a_retried_one_is_resolved(
    kind, attempts, step
):
    assert refusal_step(Refusal(kind), attempts=attempts) is RefusalStep(step)


def test_identity_given_is_kept_learned_once_and_forgotten_when_proofs_disagree():
    given = Identity("me")
    given.learn("b")
    assert (given.user_id, given.given) == ("me", True)

    learned = Identity()
    learned.learn("me")
    learned.learn("me")
    assert (learned.user_id, learned.given) == ("me", False)
    learned.learn("b")  # a spoiled proof: nothing is decided on a guess any more
    assert learned.user_id is None
    learned.learn("me")
    assert learned.user_id is None
