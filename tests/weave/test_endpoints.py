"""Each of the nine Weave endpoints, pinned on the wire: method, path, query, headers and
body of the request annoq sends, and the models it decodes from a realistic response."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest

import annoq
from annoq import (
    AddCallsResult,
    AnnotationQueue,
    AnnotationState,
    ItemFilter,
    QueueItem,
    QueueStats,
    ServerError,
    SortBy,
    Timeout,
    WeaveSession,
)
from tests._support import (
    API_KEY,
    BASE,
    BASIC,
    FAST_RETRIES,
    PROJECT,
    MockHTTP,
    calls,
    item_json,
    only_call,
    queue_json,
    request_count,
    sent_json,
    url,
)

QID = "0193a1b2-0000-7000-8000-0000000000aa"
ODD_QID = "team a+queue"  # a space and a plus: both must be quoted in the path
ODD_QID_QUOTED = "team%20a%2Bqueue"
ODD_ITEM = "item+1 x"
ODD_ITEM_QUOTED = "item%2B1%20x"


def assert_common_headers(call: object, *, accept: str = "application/json") -> None:
    headers = call.kwargs["headers"]  # type: ignore[attr-defined]
    assert headers["Authorization"] == BASIC
    assert headers["User-Agent"].startswith("annoq/")
    assert annoq.__version__ in headers["User-Agent"]
    # A JSON body is labelled as such; GET and DELETE carry no body and no Content-Type.
    if call.kwargs.get("data") is not None:  # type: ignore[attr-defined]
        assert headers["Content-Type"] == "application/json"
    else:
        assert "Content-Type" not in headers
    assert headers["Accept"] == accept


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- create queue -------------------------------------------------------------------------


async def test_create_queue_posts_name_project_scorers_and_description(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url("/annotation_queues"), payload={"id": QID})

    created = await weave.create_queue(
        PROJECT, name="triage", scorer_refs=["weave:///e/p/object/Q:v1"], description="first"
    )

    assert created == QID
    method, sent_url, call = only_call(http)
    assert method == "POST"
    assert sent_url.raw_path == "/annotation_queues"
    assert sent_url.query_string == ""
    assert_common_headers(call)
    assert sent_json(call) == {
        "project_id": PROJECT,
        "name": "triage",
        "scorer_refs": ["weave:///e/p/object/Q:v1"],
        "description": "first",
    }


async def test_create_queue_body_omits_description_the_caller_did_not_set(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url("/annotation_queues"), payload={"id": QID})

    await weave.create_queue(PROJECT, name="triage")

    _, _, call = only_call(http)
    assert sent_json(call) == {"project_id": PROJECT, "name": "triage", "scorer_refs": []}


# -- list queues (NDJSON) --------------------------------------------------------------------


async def test_queues_streams_every_ndjson_line_as_a_queue(
    http: MockHTTP, weave: WeaveSession
) -> None:
    lines = [
        queue_json(id="q1", name="alpha"),
        queue_json(id="q2", name="beta", description=None, scorer_refs=[]),
        queue_json(id="q3", name="gamma", created_at="2026-11-24T20:00:00+09:00"),
    ]
    body = b"\n".join(orjson.dumps(line) for line in lines) + b"\n\n"
    http.post(url("/annotation_queues/query"), body=body, content_type="application/x-ndjson")

    got = [queue async for queue in weave.queues(PROJECT)]

    assert [q.id for q in got] == ["q1", "q2", "q3"]
    assert all(isinstance(q, AnnotationQueue) for q in got)
    assert got[0].scorer_refs == ("weave:///entity/project/object/Quality:v1",)
    assert got[1].description is None
    assert got[1].scorer_refs == ()
    assert got[2].created_at == utc(2026, 11, 24, 11, 0)
    assert got[0].updated_at == utc(2026, 11, 24, 11, 30, 0, 500000)
    assert got[0].deleted_at is None
    method, sent_url, call = only_call(http)
    assert method == "POST"
    assert sent_url.raw_path == "/annotation_queues/query"
    assert_common_headers(call, accept="application/x-ndjson")
    assert sent_json(call) == {"project_id": PROJECT}


async def test_queues_sends_name_sort_limit_and_offset_when_given(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url("/annotation_queues/query"), body=b"", content_type="application/x-ndjson")

    got = [
        q
        async for q in weave.queues(
            PROJECT, name="tri", sort_by="name", direction="asc", limit=10, offset=20
        )
    ]

    assert got == []
    _, _, call = only_call(http)
    assert sent_json(call) == {
        "project_id": PROJECT,
        "name": "tri",
        "sort_by": [{"field": "name", "direction": "asc"}],
        "limit": 10,
        "offset": 20,
    }


# -- read / update / delete queue ------------------------------------------------------------


async def test_read_queue_gets_quoted_path_with_project_query(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.get(
        url(f"/annotation_queues/{ODD_QID_QUOTED}?project_id={PROJECT}"),
        payload={"queue": queue_json(id=ODD_QID)},
    )

    queue = await weave.queue(PROJECT, ODD_QID).read()

    assert queue == AnnotationQueue(
        id=ODD_QID,
        project_id=PROJECT,
        name="triage",
        description="first pass",
        scorer_refs=("weave:///entity/project/object/Quality:v1",),
        created_at=utc(2026, 11, 24, 11, 0),
        created_by="user-owner",
        updated_at=utc(2026, 11, 24, 11, 30, 0, 500000),
        deleted_at=None,
    )
    assert queue.created_at.tzinfo is UTC
    method, sent_url, call = only_call(http)
    assert method == "GET"
    assert sent_url.raw_path == f"/annotation_queues/{ODD_QID_QUOTED}"
    assert sent_url.query == {"project_id": PROJECT}
    assert call.kwargs["params"] == {"project_id": PROJECT}
    assert call.kwargs["data"] is None
    assert_common_headers(call)


async def test_update_queue_puts_only_the_fields_given(http: MockHTTP, weave: WeaveSession) -> None:
    http.put(
        url(f"/annotation_queues/{ODD_QID_QUOTED}"),
        payload={"queue": queue_json(id=ODD_QID, name="renamed", description="")},
    )

    queue = await weave.queue(PROJECT, ODD_QID).update(name="renamed", description="")

    assert queue.name == "renamed"
    assert queue.description == ""
    method, sent_url, call = only_call(http)
    assert method == "PUT"
    assert sent_url.raw_path == f"/annotation_queues/{ODD_QID_QUOTED}"
    assert sent_url.query_string == ""
    assert_common_headers(call)
    assert sent_json(call) == {"project_id": PROJECT, "name": "renamed", "description": ""}


async def test_update_queue_sends_scorer_refs_even_when_empty(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.put(url(f"/annotation_queues/{QID}"), payload={"queue": queue_json(scorer_refs=[])})

    queue = await weave.queue(PROJECT, QID).update(scorer_refs=[])

    assert queue.scorer_refs == ()
    _, _, call = only_call(http)
    assert sent_json(call) == {"project_id": PROJECT, "scorer_refs": []}


async def test_delete_queue_sends_delete_and_decodes_the_soft_deleted_queue(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.get(
        url(f"/annotation_queues/{ODD_QID_QUOTED}?project_id={PROJECT}"),
        payload={"queue": queue_json(id=ODD_QID)},
    )  # read first: a lost answer is then resolved against the server
    http.delete(
        url(f"/annotation_queues/{ODD_QID_QUOTED}?project_id={PROJECT}"),
        payload={"queue": queue_json(id=ODD_QID, deleted_at="2026-11-25T08:00:00.250Z")},
    )

    queue = await weave.queue(PROJECT, ODD_QID).delete()

    assert queue.deleted_at == utc(2026, 11, 25, 8, 0, 0, 250000)
    assert [m for m, _, _ in calls(http)] == ["GET", "DELETE"]
    method, sent_url, call = calls(http)[1]
    assert method == "DELETE"
    assert sent_url.raw_path == f"/annotation_queues/{ODD_QID_QUOTED}"
    assert sent_url.query == {"project_id": PROJECT}
    assert call.kwargs["data"] is None
    assert_common_headers(call)


# -- stats ----------------------------------------------------------------------------------


async def test_queue_stats_posts_ids_and_decodes_rows_in_order(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(
        url("/annotation_queues/stats"),
        payload={
            "stats": [
                {"queue_id": "q2", "total_items": 10, "completed_items": 4},
                {"queue_id": "q1", "total_items": 0, "completed_items": 0},
            ]
        },
    )

    stats = await weave.queue_stats(PROJECT, ["q2", "q1"])

    assert stats == [QueueStats("q2", 10, 4), QueueStats("q1", 0, 0)]
    method, sent_url, call = only_call(http)
    assert method == "POST"
    assert sent_url.raw_path == "/annotation_queues/stats"
    assert_common_headers(call)
    assert sent_json(call) == {"project_id": PROJECT, "queue_ids": ["q2", "q1"]}


async def test_queue_handle_stats_asks_for_its_own_id_only(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(
        url("/annotation_queues/stats"),
        payload={"stats": [{"queue_id": ODD_QID, "total_items": 7, "completed_items": 7}]},
    )

    stats = await weave.queue(PROJECT, ODD_QID).stats()

    assert stats == QueueStats(ODD_QID, 7, 7)
    _, _, call = only_call(http)
    assert sent_json(call) == {"project_id": PROJECT, "queue_ids": [ODD_QID]}


# -- add calls ------------------------------------------------------------------------------


async def test_add_calls_posts_call_ids_and_display_fields(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(
        url(f"/annotation_queues/{ODD_QID_QUOTED}/items"),
        payload={"added_count": 2, "duplicates": 1},
    )

    result = await weave.queue(PROJECT, ODD_QID).add_calls(
        ["c1", "c2", "c3"], display_fields=["inputs.prompt"]
    )

    assert result == AddCallsResult(added_count=2, duplicates=1)
    method, sent_url, call = only_call(http)
    assert method == "POST"
    assert sent_url.raw_path == f"/annotation_queues/{ODD_QID_QUOTED}/items"
    assert_common_headers(call)
    assert sent_json(call) == {
        "project_id": PROJECT,
        "call_ids": ["c1", "c2", "c3"],
        "display_fields": ["inputs.prompt"],
    }


async def test_add_calls_sends_empty_display_fields_by_default(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url(f"/annotation_queues/{QID}/items"), payload={"added_count": 1, "duplicates": 0})

    await weave.queue(PROJECT, QID).add_calls(["c1"])

    _, _, call = only_call(http)
    assert sent_json(call) == {"project_id": PROJECT, "call_ids": ["c1"], "display_fields": []}


# -- query items ----------------------------------------------------------------------------


async def test_query_page_posts_filter_sort_limit_offset_and_position(
    http: MockHTTP, weave: WeaveSession
) -> None:
    items = [
        item_json(id="i1", position_in_queue=3),
        item_json(
            id="i2",
            annotation_state="completed",
            annotator_user_id="user-ann",
            position_in_queue=4,
            call_ended_at=None,
        ),
    ]
    http.post(url(f"/annotation_queues/{ODD_QID_QUOTED}/items/query"), payload={"items": items})

    page = await weave.queue(PROJECT, ODD_QID).query_page(
        filter=ItemFilter(call_op_name="predict", annotation_states=["unstarted", "completed"]),
        sort_by=[SortBy("call_started_at", "desc"), SortBy("created_at")],
        limit=2,
        offset=2,
        include_position=True,
    )

    assert page.offset == 2
    assert page.limit == 2
    assert page.has_more
    assert [i.id for i in page.items] == ["i1", "i2"]
    first, second = page.items
    assert isinstance(first, QueueItem)
    assert first.position_in_queue == 3
    assert first.annotation_state is AnnotationState.UNSTARTED
    assert first.annotator_user_id == ""
    assert first.display_fields == ("inputs.prompt", "output")
    assert first.call_started_at == utc(2026, 11, 24, 12, 0, 0, 123000)
    assert first.call_ended_at == utc(2026, 11, 24, 12, 0, 1, 456789)
    assert first.created_at == utc(2026, 11, 24, 12, 5, 0, 1000)
    assert first.call_started_at.utcoffset() is not None
    assert second.annotation_state is AnnotationState.COMPLETED
    assert second.annotator_user_id == "user-ann"
    assert second.call_ended_at is None
    method, sent_url, call = only_call(http)
    assert method == "POST"
    assert sent_url.raw_path == f"/annotation_queues/{ODD_QID_QUOTED}/items/query"
    assert sent_url.query_string == ""
    assert_common_headers(call)
    assert sent_json(call) == {
        "project_id": PROJECT,
        "filter": {"call_op_name": "predict", "annotation_states": ["unstarted", "completed"]},
        "sort_by": [
            {"field": "call_started_at", "direction": "desc"},
            {"field": "created_at", "direction": "asc"},
        ],
        "limit": 2,
        "offset": 2,
        "include_position": True,
    }


async def test_query_page_body_omits_filter_sort_and_limit_not_given(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url(f"/annotation_queues/{QID}/items/query"), payload={"items": []})

    page = await weave.queue(PROJECT, QID).query_page()

    assert page.items == ()
    assert page.limit is None
    assert not page.has_more
    _, _, call = only_call(http)
    assert sent_json(call) == {"project_id": PROJECT, "offset": 0, "include_position": False}


async def test_query_page_leaves_out_an_empty_filter(http: MockHTTP, weave: WeaveSession) -> None:
    http.post(url(f"/annotation_queues/{QID}/items/query"), payload={"items": []})

    await weave.queue(PROJECT, QID).query_page(filter=ItemFilter(), sort_by=[], limit=0)

    _, _, call = only_call(http)
    assert sent_json(call) == {
        "project_id": PROJECT,
        "limit": 0,
        "offset": 0,
        "include_position": False,
    }


# -- update progress ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", [AnnotationState.IN_PROGRESS, "completed", AnnotationState.SKIPPED]
)
async def test_update_progress_posts_state_to_quoted_item_path(
    http: MockHTTP, weave: WeaveSession, state: AnnotationState | str
) -> None:
    wire = str(AnnotationState(state).value)
    http.post(
        url(f"/annotation_queues/{ODD_QID_QUOTED}/items/{ODD_ITEM_QUOTED}/progress"),
        payload={
            "item": item_json(
                id=ODD_ITEM,
                queue_id=ODD_QID,
                annotation_state=wire,
                annotator_user_id="user-me",
                position_in_queue=None,
            )
        },
    )

    item = await weave.queue(PROJECT, ODD_QID).update_progress(ODD_ITEM, state)

    assert item.id == ODD_ITEM
    assert item.queue_id == ODD_QID
    assert item.annotation_state == wire
    assert item.annotation_state.is_known
    assert item.annotator_user_id == "user-me"
    assert item.position_in_queue is None
    assert item.updated_at == utc(2026, 11, 24, 12, 5, 0, 1000)
    method, sent_url, call = only_call(http)
    assert method == "POST"
    assert sent_url.raw_path == (
        f"/annotation_queues/{ODD_QID_QUOTED}/items/{ODD_ITEM_QUOTED}/progress"
    )
    assert_common_headers(call)
    assert sent_json(call) == {"project_id": PROJECT, "annotation_state": wire}


# -- auth schemes ---------------------------------------------------------------------------


async def test_bearer_token_is_sent_as_bearer_authorization(http: MockHTTP) -> None:
    http.get(url(f"/annotation_queues/{QID}?project_id={PROJECT}"), payload={"queue": queue_json()})

    async with WeaveSession(bearer_token="tok-123", base_url=BASE) as weave:
        await weave.queue(PROJECT, QID).read()

    _, _, call = only_call(http)
    assert call.kwargs["headers"]["Authorization"] == "Bearer tok-123"


async def test_api_key_is_sent_as_basic_base64_of_api_colon_key(http: MockHTTP) -> None:
    http.get(url(f"/annotation_queues/{QID}?project_id={PROJECT}"), payload={"queue": queue_json()})

    async with WeaveSession(api_key="KEY", base_url=BASE) as weave:
        await weave.queue(PROJECT, QID).read()

    _, _, call = only_call(http)
    header = call.kwargs["headers"]["Authorization"]
    scheme, token = header.split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token) == b"api:KEY"


async def test_custom_user_agent_replaces_the_default(http: MockHTTP) -> None:
    http.post(url("/annotation_queues"), payload={"id": QID})

    async with WeaveSession(API_KEY, base_url=BASE, user_agent="annoq/9 my-tool/1") as weave:
        await weave.create_queue(PROJECT, name="x")

    _, _, call = only_call(http)
    assert call.kwargs["headers"]["User-Agent"] == "annoq/9 my-tool/1"


async def test_base_url_path_prefix_is_kept_in_front_of_endpoint_paths(http: MockHTTP) -> None:
    http.post("https://proxy.example/weave/annotation_queues", payload={"id": QID})

    async with WeaveSession(API_KEY, base_url="https://proxy.example/weave/") as weave:
        assert await weave.create_queue(PROJECT, name="x") == QID

    _, sent_url, _ = only_call(http)
    assert sent_url.raw_path == "/weave/annotation_queues"


# -- caller's aiohttp session ---------------------------------------------------------------


async def test_given_client_session_is_used_and_never_closed(http: MockHTTP) -> None:
    http.post(url("/annotation_queues"), payload={"id": QID}, repeat=True)
    async with aiohttp.ClientSession(headers={"X-Caller-Session": "yes"}) as mine:
        async with WeaveSession(API_KEY, base_url=BASE, session=mine) as weave:
            await weave.create_queue(PROJECT, name="x")
        await weave.aclose()

        assert not mine.closed
        # Requests went through the caller's session: its default headers were merged in.
        _, _, call = only_call(http)
        assert call.kwargs["headers"]["X-Caller-Session"] == "yes"
        # And the caller can keep using it.
        async with mine.post(url("/annotation_queues")) as response:
            assert response.status == 200
    assert mine.closed


async def test_session_made_by_annoq_is_closed_on_exit(http: MockHTTP) -> None:
    http.post(url("/annotation_queues"), payload={"id": QID})
    async with WeaveSession(API_KEY, base_url=BASE) as weave:
        await weave.create_queue(PROJECT, name="x")
        client = weave._transport._session
        assert client is not None
        assert not client.closed
    assert client.closed


async def test_closed_given_client_session_is_reported_as_transport_error(
    http: MockHTTP,
) -> None:
    mine = aiohttp.ClientSession()
    await mine.close()
    async with WeaveSession(API_KEY, base_url=BASE, session=mine) as weave:
        with pytest.raises(annoq.TransportError, match="closed"):
            await weave.create_queue(PROJECT, name="x")
    assert request_count(http) == 0


# -- per-call options -----------------------------------------------------------------------


async def test_with_options_max_retries_zero_sends_a_failing_request_once(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url("/annotation_queues"), status=503, payload={"reason": "busy"}, repeat=True)

    with pytest.raises(ServerError) as caught:
        await weave.with_options(max_retries=0).create_queue(PROJECT, name="x")

    assert request_count(http) == 1
    assert caught.value.attempts == 1
    assert caught.value.status == 503


async def test_with_options_leaves_the_parent_session_retrying(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url("/annotation_queues/stats"), status=503, payload={"reason": "busy"}, repeat=True)
    weave.with_options(max_retries=0)

    with pytest.raises(ServerError) as caught:
        await weave.queue_stats(PROJECT, [QID])  # a read: retried

    assert request_count(http) == FAST_RETRIES.max_retries + 1
    assert caught.value.attempts == FAST_RETRIES.max_retries + 1


async def test_with_options_timeout_is_the_time_limit_of_that_views_requests(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url("/annotation_queues"), payload={"id": QID}, repeat=True)

    await weave.with_options(timeout=5.0).create_queue(PROJECT, name="x")
    await weave.with_options(timeout=Timeout(total=None, connect=2.0, read=3.0)).create_queue(
        PROJECT, name="x"
    )
    await weave.create_queue(PROJECT, name="x")

    timeouts = [call.kwargs["timeout"] for _, _, call in calls(http)]
    assert timeouts[0] == aiohttp.ClientTimeout(total=5.0, connect=5.0, sock_read=5.0)
    assert timeouts[1] == aiohttp.ClientTimeout(total=None, connect=2.0, sock_read=3.0)
    default = annoq.Timeout()
    assert timeouts[2] == aiohttp.ClientTimeout(
        total=default.total, connect=default.connect, sock_read=default.read
    )


async def test_timeout_with_no_retries_raises_annoq_timeout_after_one_attempt(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url("/annotation_queues"), timeout=True, repeat=True)

    with pytest.raises(annoq.TimeoutError) as caught:
        await weave.with_options(max_retries=0).create_queue(PROJECT, name="x")

    assert isinstance(caught.value, TimeoutError)  # also the builtin
    assert request_count(http) == 1


async def test_session_timeout_argument_applies_to_every_request(http: MockHTTP) -> None:
    http.post(url("/annotation_queues"), payload={"id": QID})

    async with WeaveSession(API_KEY, base_url=BASE, timeout=7.5) as weave:
        await weave.create_queue(PROJECT, name="x")

    _, _, call = only_call(http)
    assert call.kwargs["timeout"] == aiohttp.ClientTimeout(total=7.5, connect=7.5, sock_read=7.5)
