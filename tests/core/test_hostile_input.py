"""Hostile and mistaken input: ids that would change the URL path, arguments of the
wrong type or out of range, credentials that would split a header, secrets in reprs and
messages. Each is a typed InvalidArgumentError naming the argument, before any request
(the mock has no URL registered: nothing may be sent)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest

from annoq import (
    InsecureTransportError,
    InvalidArgumentError,
    ItemFilter,
    ResponseDecodeError,
    RetryPolicy,
    Timeout,
    WeaveSession,
)
from annoq._transport import Request
from annoq.annofab import AnnofabSession
from annoq.annofab import _protocol as annofab_proto
from tests._support import API_KEY, BASE, PROJECT, MockHTTP, request_count, url

QID = "q-1"
Call = Callable[[WeaveSession], Awaitable[Any]]

#: Ids that would not name one resource once put in a URL path.
PATH_CHANGING_IDS = [".", "..", "a/b", "../x", "a?b=1", "a#b", "a\\b", "", "   ", "a\r\nb", "a\x00"]


async def first(iterator: Any) -> Any:
    return await anext(aiter(iterator), None)


# -- finding 11: ids that change the path -------------------------------------------------

WEAVE_ID_CALLS: list[tuple[str, Call]] = [
    ("queue_id", lambda w, i: w.queue(PROJECT, i).read()),  # type: ignore[misc]
    ("queue_id", lambda w, i: w.queue(PROJECT, i).delete()),  # type: ignore[misc]
    ("queue_id", lambda w, i: w.queue(PROJECT, i).update(name="x")),  # type: ignore[misc]
    ("queue_id", lambda w, i: w.queue(PROJECT, i).add_calls(["c"])),  # type: ignore[misc]
    ("queue_id", lambda w, i: first(w.queue(PROJECT, i).items())),  # type: ignore[misc]
    ("item_id", lambda w, i: w.queue(PROJECT, QID).update_progress(i, "completed")),  # type: ignore[misc]
    ("item_id", lambda w, i: w.queue(PROJECT, QID).get_item(i)),  # type: ignore[misc]
]


@pytest.mark.parametrize("bad", PATH_CHANGING_IDS)
@pytest.mark.parametrize(("argument", "call"), WEAVE_ID_CALLS)
async def test_weave_ids_that_would_change_the_request_path_are_refused_before_any_request(
    http: MockHTTP, weave: WeaveSession, argument: str, call: Any, bad: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        await call(weave, bad)
    assert request_count(http) == 0


@pytest.mark.parametrize("bad", PATH_CHANGING_IDS)
async def test_a_bulk_input_id_that_would_change_the_path_fails_without_a_request(
    http: MockHTTP, weave: WeaveSession, bad: str
) -> None:
    result = await weave.queue(PROJECT, QID).bulk_update_progress([bad], "completed")
    assert result.failed == 1
    assert isinstance(result.failures[0].error, InvalidArgumentError)
    assert request_count(http) == 0


ANNOFAB_ID_CALLS: list[tuple[str, Callable[[AnnofabSession, str], Awaitable[Any]]]] = [
    ("project_id", lambda af, i: af.project(i).task("t-1")),
    ("task_id", lambda af, i: af.project("p-1").task(i)),
    ("task_id", lambda af, i: af.project("p-1").task_histories(i)),
    ("task_ids", lambda af, i: af.project("p-1").tasks_by_ids([i])),
]


@pytest.mark.parametrize("bad", PATH_CHANGING_IDS)
@pytest.mark.parametrize(("argument", "call"), ANNOFAB_ID_CALLS)
async def test_annofab_ids_that_would_change_the_request_path_are_refused_before_any_request(
    http: MockHTTP, argument: str, call: Any, bad: str
) -> None:
    async with AnnofabSession(pat="pat-1", endpoint="https://annofab.example") as af:
        with pytest.raises(InvalidArgumentError, match=argument):
            await call(af, bad)
    assert request_count(http) == 0


@pytest.mark.parametrize("good", ["0193a1b2-0000-7000-8000-0000000000aa", "a b", "a+b", "ä", "a.b"])
def test_ordinary_ids_still_name_one_quoted_path_segment(good: str) -> None:
    request = annofab_proto.task_request("p-1", good)
    assert request.path == "/api/v1/projects/p-1/tasks/" + quote(good, safe="")


# -- finding 15: sessions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "kwargs"),
    [
        ("api_key", {"api_key": 123}),
        ("api_key", {"api_key": "key\r\nX-Injected: 1"}),
        ("bearer_token", {"bearer_token": 123}),
        ("bearer_token", {"bearer_token": "tok\r\nX-Injected: 1"}),
        ("bearer_token", {"bearer_token": "tok en"}),
        ("base_url", {"base_url": 123}),
        ("base_url", {"base_url": ""}),
        ("base_url", {"base_url": "https://h:99999"}),
        ("base_url", {"base_url": "https://h:port"}),
        ("base_url", {"base_url": "https://[::1/"}),
        ("base_url", {"base_url": "https://[zz]:80"}),
        ("base_url", {"base_url": "ftp://h"}),
        ("timeout", {"timeout": float("nan")}),
        ("timeout", {"timeout": float("inf")}),
        ("timeout", {"timeout": -5}),
        ("timeout", {"timeout": "5"}),
        ("connection_limit", {"connection_limit": -1}),
        ("connection_limit", {"connection_limit": "x"}),
        ("connection_limit", {"connection_limit": 0}),
        ("max_retries", {"max_retries": -1}),
        ("retry_policy", {"retry_policy": 3}),
        ("retry_budget", {"retry_budget": 5}),
        ("max_response_bytes", {"max_response_bytes": 0}),
        ("allow_insecure_http", {"allow_insecure_http": "yes"}),
    ],
)
def test_bad_session_arguments_are_typed_errors_naming_the_argument(
    argument: str, kwargs: dict[str, Any]
) -> None:
    kwargs = {"api_key": API_KEY, "base_url": BASE, **kwargs}
    if "bearer_token" in kwargs:
        del kwargs["api_key"]
    with pytest.raises(InvalidArgumentError, match=argument) as caught:
        WeaveSession(**kwargs)
    assert API_KEY not in str(caught.value)


def test_weave_session_with_a_number_for_the_key_is_a_typed_error() -> None:
    with pytest.raises(InvalidArgumentError, match="api_key must be a string"):
        WeaveSession(123, base_url=BASE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argument", "make"),
    [
        ("total", lambda: Timeout(total=float("nan"))),
        ("read", lambda: Timeout(read=float("inf"))),
        ("connect", lambda: Timeout(connect=-1.0)),
        ("total", lambda: Timeout(total="5")),  # type: ignore[arg-type]
        ("max_retries", lambda: RetryPolicy(max_retries=-1)),
        ("backoff_base", lambda: RetryPolicy(backoff_base=float("nan"))),
        ("max_throttled_retries", lambda: RetryPolicy(max_throttled_retries="3")),  # type: ignore[arg-type]
        ("annotation_states", lambda: ItemFilter(annotation_states=5)),  # type: ignore[arg-type]
        ("id", lambda: ItemFilter(id=5)),  # type: ignore[arg-type]
        ("call_op_name", lambda: ItemFilter(call_op_name=["predict"])),  # type: ignore[arg-type]
    ],
)
def test_bad_option_objects_are_typed_errors_naming_the_field(argument: str, make: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        make()


# -- finding 15: calls --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "call"),
    [
        ("call_ids", lambda w: w.queue(PROJECT, QID).add_calls(None)),
        ("call_ids", lambda w: w.queue(PROJECT, QID).add_calls(5)),
        ("display_fields", lambda w: w.queue(PROJECT, QID).add_calls(["c"], display_fields=None)),
        ("queue_ids", lambda w: w.queue_stats(PROJECT, None)),
        ("items", lambda w: w.queue(PROJECT, QID).bulk_update_progress(None, "completed")),
        ("items", lambda w: w.queue(PROJECT, QID).bulk_update_progress("abc", "completed")),
        ("items", lambda w: w.queue(PROJECT, QID).bulk_update_progress(5, "completed")),
        ("prefetch", lambda w: first(w.queue(PROJECT, QID).items(prefetch=10_000))),
        ("prefetch", lambda w: first(w.queue(PROJECT, QID).pages(prefetch=-1))),
        ("timeout", lambda w: w.with_options(timeout=float("nan")).queue(PROJECT, QID).read()),
        ("timeout", lambda w: w.with_options(timeout=float("inf")).queue(PROJECT, QID).read()),
    ],
)
async def test_bad_call_arguments_are_typed_errors_before_any_request(
    http: MockHTTP, weave: WeaveSession, argument: str, call: Call
) -> None:
    with pytest.raises(InvalidArgumentError, match=argument):
        await call(weave)
    assert request_count(http) == 0


async def test_annofab_walk_prefetch_has_an_upper_bound(http: MockHTTP) -> None:
    async with AnnofabSession(pat="pat-1", endpoint="https://annofab.example") as af:
        with pytest.raises(InvalidArgumentError, match="prefetch"):
            af.project("p-1").tasks(prefetch=10_000)
    assert request_count(http) == 0


# -- finding 15: answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows", [[], [{"queue_id": QID, "total_items": 1, "completed_items": 0}] * 2]
)
async def test_a_stats_answer_without_one_row_per_queue_is_a_decode_error(
    http: MockHTTP, weave: WeaveSession, rows: list[Any]
) -> None:
    http.post(url("/annotation_queues/stats"), payload={"stats": rows})
    with pytest.raises(ResponseDecodeError, match="one stats row per queue"):
        await weave.queue(PROJECT, QID).stats()


# -- finding 17: secrets in reprs and messages --------------------------------------------


def test_request_reprs_never_show_the_login_password_or_the_refresh_token() -> None:
    login = annofab_proto.login_request("alice", "pw-secret-1234")
    refresh = annofab_proto.refresh_request("refresh-secret-5678")
    for request in (login, refresh):
        assert isinstance(request, Request)
        assert "secret" not in repr(request)
        assert "secret" not in str(request)
    assert "/api/v1/login" in repr(login)


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://h.example/?api_key=sekrit-123",
        "https://h.example:99999/?token=sekrit-123",
        "https://[::1/?token=sekrit-123",
        "https://user:sekrit-123@h.example:99999/",
        "https://h.example/#sekrit-123",
    ],
)
def test_a_secret_in_the_base_url_is_never_in_the_error_message(base_url: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        WeaveSession(API_KEY, base_url=base_url if "#" not in base_url else "ftp" + base_url[5:])
    assert "sekrit" not in str(caught.value)


def test_a_secret_in_a_plain_http_base_url_is_never_in_the_refusal() -> None:
    with pytest.raises(InsecureTransportError) as caught:
        WeaveSession(API_KEY, base_url="http://h.example/?api_key=sekrit-123")
    assert "sekrit" not in str(caught.value)


def test_a_base_url_query_string_is_dropped_from_the_session_url() -> None:
    weave = WeaveSession(API_KEY, base_url="https://h.example/weave?api_key=sekrit-123")
    assert weave.base_url == "https://h.example/weave"
    assert "sekrit" not in repr(weave)
