"""Error responses become annoq's typed exceptions, carrying what the server said."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import annoq
from annoq import (
    AnnoqError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InvalidTransitionError,
    ItemNotInQueueError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    ValidationError,
    WeaveSession,
)
from annoq._errors import error_from_response as _error_from_response
from annoq._errors import redact_url
from annoq.weave._errors import classify as weave_classify
from tests._support import (
    API_KEY,
    PROJECT,
    MockHTTP,
    item_json,
    request_count,
    url,
)

QID = "q-1"


def error_from_response(status: int, body: object, **kwargs: Any) -> APIError:
    """The error built with Weave's reading of the body, as WeaveSession's transport does."""
    return _error_from_response(status, body, classify=weave_classify, **kwargs)


PROGRESS = f"/annotation_queues/{QID}/items/i-1/progress"

# -- one factory maps status to class -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, ValidationError),
        (429, RateLimitError),
        (500, ServerError),
        (501, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (405, APIError),
        (413, APIError),
        (418, APIError),
    ],
)
def test_each_status_maps_to_its_exception_class(status: int, cls: type[APIError]) -> None:
    error = error_from_response(status, {"reason": "because"}, method="POST", url="https://h/x")

    assert type(error) is cls
    assert isinstance(error, APIError)
    assert isinstance(error, AnnoqError)
    assert error.status == status
    assert error.reason == "because"
    assert error.method == "POST"
    assert error.url == "https://h/x"


def test_400_carries_reason_and_error_type() -> None:
    body = {"reason": "Queue name must not be empty", "error_type": "InvalidRequest"}

    error = error_from_response(400, body, method="POST", url="https://h/annotation_queues")

    assert type(error) is BadRequestError
    assert error.reason == "Queue name must not be empty"
    assert error.error_type == "InvalidRequest"
    assert error.body == body
    assert str(error) == (
        "HTTP 400 [InvalidRequest]: Queue name must not be empty (POST https://h/annotation_queues)"
    )


def test_400_from_an_older_server_without_error_type_still_has_its_reason() -> None:
    error = error_from_response(400, {"reason": "Queue name must not be empty"})

    assert type(error) is BadRequestError
    assert error.reason == "Queue name must not be empty"
    assert error.error_type is None
    assert "[" not in str(error)


def test_422_exposes_the_detail_list_and_summarises_it_as_the_reason() -> None:
    detail = [
        {
            "loc": ["body", "sort_by", 0, "direction"],
            "msg": "Input should be 'asc' or 'desc'",
            "type": "literal_error",
        },
        {"loc": ["body", "limit"], "msg": "Input should be a valid integer", "type": "int_type"},
    ]

    error = error_from_response(422, {"detail": detail})

    assert isinstance(error, ValidationError)
    assert error.detail == detail
    assert "body.sort_by.0.direction: Input should be 'asc' or 'desc'" in error.reason
    assert "body.limit: Input should be a valid integer" in error.reason


def test_422_without_a_detail_list_has_an_empty_detail() -> None:
    error = error_from_response(422, "Unprocessable", phrase="Unprocessable Entity")
    assert isinstance(error, ValidationError)
    assert error.detail == []
    assert error.reason == "Unprocessable"


def test_429_carries_retry_after() -> None:
    error = error_from_response(429, {"reason": "slow down"}, retry_after=2.5)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 2.5
    assert error_from_response(429, {}).retry_after is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "reason",
    [
        "Invalid state transition from 'completed' to 'in_progress'",
        "Invalid state transition from 'skipped' to 'completed'",
        "Cannot transition to 'in_progress' when a record already exists",
    ],
)
@pytest.mark.parametrize("error_type", [None, "InvalidRequest"])
def test_refused_state_transitions_are_invalid_transition_errors(
    reason: str, error_type: str | None
) -> None:
    body = (
        {"reason": reason} if error_type is None else {"reason": reason, "error_type": error_type}
    )

    error = error_from_response(400, body)

    assert type(error) is InvalidTransitionError
    assert isinstance(error, BadRequestError)
    assert error.reason == reason


def test_item_not_in_queue_is_its_own_bad_request() -> None:
    error = error_from_response(400, {"reason": "Queue item 'x' not found in queue 'q'"})

    assert type(error) is ItemNotInQueueError
    assert isinstance(error, BadRequestError)
    assert not isinstance(error, InvalidTransitionError)


def test_an_unrelated_400_is_a_plain_bad_request() -> None:
    other = error_from_response(400, {"reason": "project_id is malformed"})
    assert type(other) is BadRequestError


def test_html_error_page_becomes_a_typed_error_with_a_readable_reason() -> None:
    page = (
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )

    error = error_from_response(502, page, phrase="Bad Gateway")

    assert type(error) is ServerError
    assert error.reason == "502 Bad Gateway"
    assert "<" not in str(error)
    assert error.body == page


def test_html_error_page_without_title_is_reduced_to_its_text() -> None:
    error = error_from_response(403, "<!DOCTYPE html><p>Access &amp; denied</p>\n<p>by WAF</p>")
    assert type(error) is PermissionDeniedError
    assert error.reason == "Access & denied by WAF"


def test_empty_error_body_falls_back_to_the_status_phrase() -> None:
    assert error_from_response(503, "", phrase="Service Unavailable").reason == (
        "Service Unavailable"
    )
    assert error_from_response(503, None).reason == "HTTP 503"


def test_error_url_never_contains_user_info() -> None:
    error = error_from_response(
        404, {"reason": "gone"}, method="GET", url="https://api:s3cret@h/x?a=1"
    )
    assert error.url == "https://h/x?a=1"
    assert "s3cret" not in str(error)
    assert redact_url("https://u:p@h:8443/p") == "https://h:8443/p"


def test_api_errors_survive_pickling_with_their_fields() -> None:
    error = error_from_response(
        429, {"reason": "slow"}, method="POST", url="https://h/x", retry_after=3.0
    )
    error.attempts = 4

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is RateLimitError
    assert (copy.status, copy.reason, copy.method, copy.url, copy.body, copy.attempts) == (
        429,
        "slow",
        "POST",
        "https://h/x",
        {"reason": "slow"},
        4,
    )
    assert copy.retry_after == 3.0
    assert str(copy) == str(error)


def test_transport_errors_survive_pickling_with_their_fields() -> None:
    error = annoq.TimeoutError("request timed out", method="GET", url="https://h/x", attempts=3)

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is annoq.TimeoutError
    assert isinstance(copy, TimeoutError)
    assert str(copy) == "request timed out (GET https://h/x)"
    assert (copy.method, copy.url, copy.attempts) == ("GET", "https://h/x", 3)


def test_decode_errors_survive_pickling_with_path_and_message_unchanged() -> None:
    error = ResponseDecodeError("expected a string, got int", path="$.items[0].id", snippet="{")

    copy = pickle.loads(pickle.dumps(error))

    assert str(copy) == str(error)
    assert (copy.path, copy.snippet) == ("$.items[0].id", "{")


# -- through the transport ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, ValidationError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (418, APIError),
    ],
)
async def test_error_responses_raise_typed_errors_with_request_and_body(
    http: MockHTTP, weave: WeaveSession, status: int, cls: type[APIError]
) -> None:
    body = {"reason": f"server says {status}", "error_type": "SomeError"}
    http.get(url(f"/annotation_queues/{QID}?project_id={PROJECT}"), status=status, payload=body)

    with pytest.raises(APIError) as caught:
        await weave.with_options(max_retries=0).queue(PROJECT, QID).read()

    error = caught.value
    assert type(error) is cls
    assert error.status == status
    assert error.reason == f"server says {status}"
    assert error.error_type == "SomeError"
    assert error.method == "GET"
    assert error.url == f"https://trace.example/annotation_queues/{QID}"
    assert error.body == body
    assert error.attempts == 1
    assert request_count(http) == 1


async def test_404_for_a_missing_queue_is_not_found(http: MockHTTP, weave: WeaveSession) -> None:
    http.get(
        url(f"/annotation_queues/{QID}?project_id={PROJECT}"),
        status=404,
        payload={"reason": f"Queue {QID} not found", "error_type": "NotFoundError"},
    )  # delete() reads the queue first

    with pytest.raises(NotFoundError, match=f"Queue {QID} not found"):
        await weave.queue(PROJECT, QID).delete()
    assert request_count(http) == 1  # a missing queue: no DELETE sent


async def test_429_through_the_transport_reports_retry_after(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(
        url("/annotation_queues"),
        status=429,
        payload={"reason": "Too many requests"},
        headers={"Retry-After": "7"},
    )

    with pytest.raises(RateLimitError) as caught:
        await weave.with_options(max_retries=0).create_queue(PROJECT, name="x")

    assert caught.value.retry_after == 7.0


async def test_422_through_the_transport_keeps_the_detail(
    http: MockHTTP, weave: WeaveSession
) -> None:
    detail = [{"loc": ["body", "annotation_state"], "msg": "Field required", "type": "missing"}]
    http.post(url(PROGRESS), status=422, payload={"detail": detail})

    with pytest.raises(ValidationError) as caught:
        await weave.queue(PROJECT, QID).update_progress("i-1", "completed")

    assert caught.value.detail == detail
    assert caught.value.reason == "body.annotation_state: Field required"


@pytest.mark.parametrize(
    ("reason", "cls"),
    [
        ("Invalid state transition from 'completed' to 'in_progress'", InvalidTransitionError),
        ("Cannot transition to 'in_progress' when a record already exists", InvalidTransitionError),
        ("Queue item 'i-1' not found in queue 'q-1'", ItemNotInQueueError),
    ],
)
async def test_progress_refusals_are_distinguishable_from_other_400s(
    http: MockHTTP, weave: WeaveSession, reason: str, cls: type[APIError]
) -> None:
    http.post(url(PROGRESS), status=400, payload={"reason": reason})

    with pytest.raises(BadRequestError) as caught:
        await weave.queue(PROJECT, QID).update_progress("i-1", "in_progress")

    assert type(caught.value) is cls
    assert caught.value.reason == reason
    assert caught.value.error_type is None
    assert request_count(http) == 1


async def test_html_502_from_a_proxy_is_a_server_error_with_readable_reason(
    http: MockHTTP, weave: WeaveSession
) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    http.post(url("/annotation_queues"), status=502, body=page, content_type="text/html")

    with pytest.raises(ServerError) as caught:
        await weave.with_options(max_retries=0).create_queue(PROJECT, name="x")

    assert caught.value.reason == "502 Bad Gateway"
    assert caught.value.body == page


async def test_non_json_200_body_is_a_response_decode_error(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(
        url(f"/annotation_queues/{QID}/items/query"),
        body="<html><body>Sign in</body></html>",
        content_type="text/html",
    )

    with pytest.raises(ResponseDecodeError, match="not JSON") as caught:
        await weave.queue(PROJECT, QID).query_page()

    assert caught.value.path == "$"
    assert "Sign in" in caught.value.snippet


async def test_200_with_the_wrong_shape_names_the_field(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url(PROGRESS), payload={"item": item_json(display_fields="inputs.prompt")})

    with pytest.raises(ResponseDecodeError) as caught:
        await weave.queue(PROJECT, QID).update_progress("i-1", "completed")

    assert caught.value.path == "$.item.display_fields"


async def test_errors_never_carry_the_authorization_header(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url("/annotation_queues"), status=401, payload={"reason": "bad key"})

    with pytest.raises(AuthenticationError) as caught:
        await weave.create_queue(PROJECT, name="x")

    assert API_KEY not in repr(vars(caught.value))
    assert "Authorization" not in repr(vars(caught.value))


def test_every_exception_class_is_exported_and_rooted_at_annoq_error() -> None:
    for name in annoq.__all__:
        obj = getattr(annoq, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, AnnoqError), name
    assert issubclass(annoq.TimeoutError, TimeoutError)
    assert issubclass(annoq.TimeoutError, annoq.TransportError)
    assert issubclass(annoq.InvalidArgumentError, ValueError)


def test_the_core_reading_knows_no_backend() -> None:
    # Without a backend's classify, only a text body is read; the status gives the class.
    weave_body = {"reason": "Invalid state transition from 'completed' to 'skipped'"}
    error = _error_from_response(400, weave_body, phrase="Bad Request")
    assert type(error) is BadRequestError
    assert error.reason == "Bad Request"
    annofab_body = {"errors": [{"error_code": "NOT_FOUND", "message": "gone"}]}
    assert _error_from_response(404, annofab_body).reason == "HTTP 404"
    assert _error_from_response(404, "no such queue").reason == "no such queue"
