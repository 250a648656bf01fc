"""Weave's reading of error bodies, a pure function the transport calls (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from annoq import InvalidTransitionError, ItemNotInQueueError
from annoq._errors import Classified
from annoq.weave._errors import classify


def test_reason_and_error_type_are_read() -> None:
    found = classify(400, {"reason": "name must not be empty", "error_type": "InvalidRequest"})
    assert found == Classified("name must not be empty", "InvalidRequest", None)


@pytest.mark.parametrize(
    "reason",
    [
        "Invalid state transition from 'completed' to 'in_progress'",
        "Cannot transition to 'in_progress' when a record already exists",
        "Invalid annotation state 'done'",
    ],
)
def test_refused_transition_wording_on_a_400_is_an_invalid_transition(reason: str) -> None:
    assert classify(400, {"reason": reason}).cls is InvalidTransitionError
    # The wording decides only on a 400: the status's own class otherwise.
    assert classify(409, {"reason": reason}).cls is None


def test_not_in_queue_wording_on_a_400_is_its_own_class() -> None:
    found = classify(400, {"reason": "Queue item 'x' not found in queue 'q'"})
    assert found.cls is ItemNotInQueueError
    assert classify(400, {"reason": "project_id is malformed"}).cls is None


def test_fastapi_detail_string_and_list_are_read() -> None:
    assert classify(404, {"detail": "gone"}).reason == "gone"
    detail = [{"loc": ["body", "limit"], "msg": "bad"}, {"msg": "worse"}, "not an entry"]
    assert classify(422, {"detail": detail}).reason == "body.limit: bad; worse"
    many = [{"msg": str(n)} for n in range(9)]
    assert classify(422, {"detail": many}).reason == "0; 1; 2; 3; 4"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": 3},
        {"detail": []},
        {"errors": [{"error_code": "X", "message": "annofab's shape"}]},
        None,
        [1, 2],
    ],
)
def test_bodies_without_a_weave_message_give_no_reason(body: Any) -> None:
    assert classify(500, body) == Classified("", None, None)


def test_text_and_html_bodies_are_read_as_text() -> None:
    assert classify(502, "<html><title>502 Bad Gateway</title></html>").reason == (
        "502 Bad Gateway"
    )
    assert classify(503, "  down  ").reason == "down"
