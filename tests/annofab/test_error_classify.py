"""Annofab's reading of error bodies, a pure function the transport calls (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from annoq import NotFoundError
from annoq._errors import Classified, error_from_response
from annoq.annofab._errors import classify


def test_the_first_error_gives_message_and_code() -> None:
    body = {
        "errors": [
            {"error_code": "NOT_FOUND", "message": "task t was not found", "ext": {}},
            {"error_code": "OTHER", "message": "second"},
        ],
        "context": {},
    }
    assert classify(404, body) == Classified("task t was not found", "NOT_FOUND", None)


def test_the_class_is_the_status_class() -> None:
    body = {"errors": [{"error_code": "NOT_FOUND", "message": "task t was not found"}]}
    error = error_from_response(404, body, classify=classify)
    assert type(error) is NotFoundError
    assert (error.reason, error.error_type) == ("task t was not found", "NOT_FOUND")
    # Weave's refusal wording means nothing here: a 400 stays a plain bad request.
    weave_words = {"errors": [{"message": "Invalid state transition from a to b"}]}
    assert classify(400, weave_words).cls is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"errors": [{"message": "no code"}]}, Classified("no code", None, None)),
        ({"errors": [{"error_code": 7, "message": 8}]}, Classified("8", None, None)),
        ({"errors": [{"error_code": "X"}]}, Classified("", "X", None)),
        ({"errors": []}, Classified("", None, None)),
        ({"errors": ["text"]}, Classified("", None, None)),
        ({"reason": "weave's shape"}, Classified("", None, None)),
        (None, Classified("", None, None)),
        (
            "<html><title>503 Service Unavailable</title></html>",
            Classified("503 Service Unavailable"),
        ),
    ],
)
def test_other_bodies(body: Any, expected: Classified) -> None:
    assert classify(500, body) == expected


def test_no_message_falls_back_to_the_status_phrase() -> None:
    error = error_from_response(500, {"errors": []}, classify=classify, phrase="Internal")
    assert error.reason == "Internal"
