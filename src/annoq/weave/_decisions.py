"""Pure per-item decisions of a Weave progress update: no I/O, no session.

An item's display (``annotation_state``, ``annotator_user_id``) is the LATEST annotator's
state, not the caller's (see ``docs/semantics/weave.md``). So:

- a ``200`` whose display did not change is a no-op: the caller's record already held
  the target (:func:`judge` says ``unchanged``);
- a display that changed to "target, by U" proves a real write by U, and U is the caller
  unless another annotator wrote the same item in the same instant (:func:`judge` then
  names U as the ``author``, the only evidence an identity is learned from);
- "target, by someone else" says nothing about the caller's own record: such an item is
  sent, never skipped (:func:`can_skip`).

The legacy server (before progress updates became idempotent) answers a repeat with a
400; :func:`read_refusal` reads its text, and :func:`refusal_step` says what a refusal
means on a first attempt (the server refusing) and after a retried one (perhaps our own
earlier attempt, whose answer was lost).
"""

from __future__ import annotations

import enum
import re

import attrs

from .._bulk import Outcome
from ._models import AnnotationState, QueueItem

__all__ = [
    "Judgement",
    "Refusal",
    "RefusalStep",
    "can_skip",
    "holds_target_for",
    "judge",
    "read_refusal",
    "refusal_step",
]

# "Invalid state transition from 'X' to 'Y'": X is the caller's own current state.
_TRANSITION = re.compile(r"from '([a-z_]+)' to '([a-z_]+)'")
_RECORD_EXISTS = "when a record already exists"


@attrs.frozen
class Judgement:
    """What a ``200`` answer meant: the outcome, and the user a real write proved
    (``None`` when the answer proves nobody's write)."""

    outcome: Outcome
    author: str | None = None


def _same_display(before: QueueItem, after: QueueItem) -> bool:
    return (
        before.annotation_state == after.annotation_state
        and before.annotator_user_id == after.annotator_user_id
    )


def _shows(item: QueueItem, target: AnnotationState) -> bool:
    return item.annotation_state == target and bool(item.annotator_user_id)


def judge(
    before: QueueItem | None, after: QueueItem, target: AnnotationState, me: str | None
) -> Judgement:
    """Was a ``200`` answer (or a re-read after one) a real write by the caller?

    ``before`` is the item as read just before the update (``None``: a bare id, not
    read); ``me`` the caller's user id if known.

        judgement = judge(before, answer, AnnotationState.COMPLETED, me)
        if judgement.author is not None: ...  # a proven real write by that user

    With ``before``: an unchanged display is a no-op (``unchanged``); a display that
    became "target, by U" is a real write by U (``updated`` when U is the caller or the
    caller is unknown, and U is named as ``author``). Without ``before`` only the answer
    is known: "target, by someone else" is a no-op; "target, by me" (or by anyone, when
    ``me`` is unknown) is counted ``updated`` although it may be a record that was
    already the caller's (the current server answers a repeat exactly like a write).
    """
    if not _shows(after, target):
        # Not our write: a real write shows target by its author. The display is
        # somebody else's later state; our 200 means our record holds the target.
        return Judgement(Outcome.UNCHANGED)
    shown = after.annotator_user_id
    if before is not None:
        if _same_display(before, after):
            return Judgement(Outcome.UNCHANGED)
        if me is not None and shown != me:
            return Judgement(Outcome.UNCHANGED, author=shown)  # someone else, meanwhile
        return Judgement(Outcome.UPDATED, author=shown)
    if me is not None and shown != me:
        return Judgement(Outcome.UNCHANGED)
    return Judgement(Outcome.UPDATED)


def can_skip(item: QueueItem, target: AnnotationState, me: str | None) -> bool:
    """Whether ``item`` is known to hold ``target`` for ``me`` without a request: only
    when it shows "target, by me" (the latest write is ours, so our record is it)."""
    return me is not None and _shows(item, target) and item.annotator_user_id == me


def holds_target_for(item: QueueItem | None, target: AnnotationState, me: str | None) -> bool:
    """Whether a re-read ``item`` proves ``me``'s record is ``target`` (it shows
    "target, by me": the latest write is ours)."""
    return item is not None and can_skip(item, target, me)


class Refusal(enum.Enum):
    """What a 400 refusal of a progress update says about the caller's own record."""

    SAME_STATE = "same_state"  # legacy "from 'X' to 'X'": the record already holds X
    RECORD_EXISTS = "record_exists"  # legacy in_progress: some record exists, which?
    OTHER = "other"  # another state, or a different refusal: a real refusal


def read_refusal(reason: str, target: AnnotationState) -> Refusal:
    """Classify the server's refusal text for an update to ``target``.

    >>> read_refusal("Invalid state transition from 'completed' to 'completed'.",
    ...              AnnotationState.COMPLETED)
    <Refusal.SAME_STATE: 'same_state'>
    """
    named = _TRANSITION.search(reason)
    if named is not None:
        if named.group(1) == named.group(2) == target.value:
            return Refusal.SAME_STATE
        return Refusal.OTHER
    if target is AnnotationState.IN_PROGRESS and _RECORD_EXISTS in reason:
        return Refusal.RECORD_EXISTS
    return Refusal.OTHER


class RefusalStep(enum.Enum):
    """What to do with a refused update."""

    NO_OP = "no_op"  # the record already holds the target: unchanged, no request
    RESOLVE = "resolve"  # read the item and judge it: perhaps our own earlier attempt
    FAIL = "fail"  # the server refused: report it (``invalid_transition``)


def refusal_step(refusal: Refusal, *, attempts: int) -> RefusalStep:
    """The next step after a 400 refusal that came on attempt number ``attempts``.

    A first-attempt refusal is the server refusing (``FAIL``), except the legacy
    "from 'X' to 'X'" text, which says the record already holds X (``NO_OP``). After a
    retried attempt the refusal may answer our own earlier attempt whose response was
    lost: it is resolved against the server (``RESOLVE``), except a refusal naming
    another state, which proves the record holds that one (``FAIL``).

    >>> refusal_step(Refusal.RECORD_EXISTS, attempts=1)
    <RefusalStep.FAIL: 'fail'>
    """
    if refusal is Refusal.OTHER:
        return RefusalStep.FAIL
    if attempts <= 1:
        return RefusalStep.NO_OP if refusal is Refusal.SAME_STATE else RefusalStep.FAIL
    return RefusalStep.RESOLVE
