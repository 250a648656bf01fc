"""Hypothesis strategies for Weave wire data (``AnnotationQueueItemSchema`` and junk)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

STATES = ("unstarted", "in_progress", "completed", "skipped")
_ZONES = (UTC, timezone(timedelta(hours=9)), timezone(-timedelta(hours=5, minutes=30)))


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    """An RFC 3339 timestamp as servers write it: ``Z`` or an offset, 0/3/6 fraction digits."""
    moment = draw(
        st.datetimes(
            min_value=datetime(1971, 1, 1),
            max_value=datetime(2200, 1, 1),
            timezones=st.sampled_from(_ZONES),
        )
    )
    spec = draw(st.sampled_from(["seconds", "milliseconds", "microseconds"]))
    text = moment.isoformat(timespec=spec)
    if text.endswith("+00:00") and draw(st.booleans()):
        text = text[: -len("+00:00")] + "Z"
    return text


ids = st.text(min_size=1, max_size=40)
texts = st.text(max_size=40)


def queue_items() -> st.SearchStrategy[dict[str, Any]]:
    """Dicts valid under the contract's ``AnnotationQueueItemSchema``."""
    return st.fixed_dictionaries(
        {
            "id": ids,
            "project_id": ids,
            "queue_id": ids,
            "call_id": ids,
            "call_started_at": rfc3339(),
            "call_op_name": texts,
            "call_trace_id": texts,
            "display_fields": st.lists(texts, max_size=4),
            "annotation_state": st.sampled_from(STATES),
            "created_at": rfc3339(),
            "created_by": texts,
            "updated_at": rfc3339(),
        },
        optional={
            "added_by": st.none() | texts,
            "annotator_user_id": st.none() | texts,
            "call_ended_at": st.none() | rfc3339(),
            "deleted_at": st.none() | rfc3339(),
            "position_in_queue": st.none() | st.integers(min_value=1, max_value=2**53),
        },
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | rfc3339(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def damaged_items(draw: st.DrawFn) -> dict[str, Any]:
    """A valid item with some fields replaced by arbitrary JSON or removed."""
    item = draw(queue_items())
    for key in draw(st.lists(st.sampled_from(sorted(item)), max_size=3, unique=True)):
        if draw(st.booleans()):
            item[key] = draw(json_values)
        else:
            del item[key]
    return item
