"""``plan_walk``: the pure function that checks a walk's options and decides what it reads.

No session, no server: the plan is built from the options alone, so every check runs
(and every bad option is refused, naming it) before a walk can send anything.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from annoq import InvalidArgumentError
from annoq._config import DEFAULT_PAGE_SIZE, MAX_PREFETCH
from annoq._walk import encode_resume_token
from annoq.weave import AnnotationState, ItemFilter, SortBy
from annoq.weave._walks import WalkPlan, plan_walk

PROJECT = "entity/project"
QUEUE = "q-1"


def plan(**options: Any) -> WalkPlan:
    return plan_walk(project_id=PROJECT, queue_id=QUEUE, **options)


def test_the_default_plan_walks_the_whole_unfiltered_list_from_the_start() -> None:
    walk = plan()
    assert walk.project_id == PROJECT
    assert walk.queue_id == QUEUE
    assert walk.body == {"project_id": PROJECT, "include_position": False}
    assert walk.start == 0
    assert walk.page_size == DEFAULT_PAGE_SIZE
    assert walk.states is None
    assert walk.max_items is None
    assert walk.prefetch is None
    assert walk.anchored is True
    assert walk.custom_order is False
    assert walk.fingerprint == {
        "queue": QUEUE,
        "body": walk.body,
        "mode": "stable",
        "states": None,
    }


def test_a_stable_walk_filters_states_locally_and_sends_none() -> None:
    walk = plan(filter=ItemFilter(call_op_name="predict"), states=["unstarted", "in_progress"])
    assert walk.states == {AnnotationState.UNSTARTED, AnnotationState.IN_PROGRESS}
    assert "annotation_states" not in str(walk.body)
    assert walk.body["filter"] == {"call_op_name": "predict"}
    assert walk.fingerprint["states"] == ["in_progress", "unstarted"]
    assert walk.anchored is True


def test_a_fast_walk_sends_the_state_filter_and_keeps_every_answered_item() -> None:
    walk = plan(states=["completed"], mode="fast")
    assert walk.states is None
    assert walk.body["filter"]["annotation_states"] == ["completed"]
    assert walk.anchored is False
    assert walk.fingerprint["mode"] == "fast"


def test_states_given_both_ways_must_agree() -> None:
    same = plan(filter=ItemFilter(annotation_states=["skipped"]), states=["skipped"])
    assert same.states == {AnnotationState.SKIPPED}
    with pytest.raises(InvalidArgumentError, match="disagree"):
        plan(filter=ItemFilter(annotation_states=["skipped"]), states=["completed"])


def test_a_caller_sort_is_a_custom_order_without_the_anchor() -> None:
    walk = plan(sort_by=SortBy("created_at", "desc"))
    assert walk.body["sort_by"] == [{"field": "created_at", "direction": "desc"}]
    assert walk.custom_order is True
    assert walk.anchored is False


def test_the_counts_are_kept_as_given() -> None:
    walk = plan(page_size=7, max_items=0, prefetch=3, include_position=True)
    assert (walk.page_size, walk.max_items, walk.prefetch) == (7, 0, 3)
    assert walk.body["include_position"] is True


def test_a_resume_token_of_the_same_query_sets_the_start() -> None:
    first = plan(states=["unstarted"], page_size=50)
    token = encode_resume_token(123, first.fingerprint)
    # The page size is not part of the query: a walk may resume with another.
    resumed = plan(states=["unstarted"], page_size=10, resume=token)
    assert resumed.start == 123
    with pytest.raises(InvalidArgumentError, match="different query"):
        plan(states=["completed"], resume=token)
    with pytest.raises(InvalidArgumentError, match="different query"):
        plan_walk(project_id=PROJECT, queue_id="another", states=["unstarted"], resume=token)


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": "100"}, "page_size"),
        ({"page_size": True}, "page_size"),
        ({"prefetch": -1}, "prefetch"),
        ({"prefetch": MAX_PREFETCH + 1}, "prefetch"),
        ({"prefetch": 1.5}, "prefetch"),
        ({"max_items": -1}, "max_items"),
        ({"max_items": "all"}, "max_items"),
        ({"mode": "quick"}, "mode"),
        ({"mode": None}, "mode"),
        ({"filter": {"call_op_name": "predict"}}, "filter"),
        ({"states": ["finished"]}, "states"),
        ({"states": 3}, "states"),
        ({"sort_by": "created_at"}, "sort_by"),
        ({"include_position": "yes"}, "include_position"),
        ({"resume": "not a token"}, "resume"),
        ({"resume": 42}, "resume"),
    ],
)
def test_a_bad_option_is_refused_naming_it(options: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        plan(**options)
    assert str(caught.value).startswith(argument)


def test_the_options_are_keyword_only_and_the_plan_is_frozen() -> None:
    with pytest.raises(TypeError):
        plan_walk(PROJECT, QUEUE)  # type: ignore[misc]
    walk = plan()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        walk.start = 5  # type: ignore[misc]


def test_the_plan_depends_only_on_its_options() -> None:
    options: dict[str, Any] = {"states": ["unstarted"], "page_size": 20, "max_items": 9}
    assert plan(**options) == plan(**options)
