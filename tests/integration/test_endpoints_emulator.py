"""Every endpoint, error mapping, retries and auth through the client against the emulator.

The aioresponses tests pin what annoq sends; these prove the client against a server
that applies the contract's rules, so the two cannot agree on a mistake.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from annoq import (
    AnnotationState,
    AuthenticationError,
    InvalidTransitionError,
    ItemFilter,
    ItemNotInQueueError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    SortBy,
    TransportError,
    WeaveSession,
)
from annoq.emulator import FaultRule
from tests._support import FAST_RETRIES


async def test_queue_lifecycle_create_read_update_list_stats_delete(annoq_emulator, weave):
    emu = annoq_emulator
    before = datetime.now(UTC).replace(microsecond=0)
    qid = await weave.create_queue(emu.project, name="triage", scorer_refs=["weave:///s/1"])
    queue = weave.queue(emu.project, qid)
    info = await queue.read()
    assert (info.id, info.name, info.scorer_refs, info.deleted_at) == (
        qid,
        "triage",
        ("weave:///s/1",),
        None,
    )
    assert info.created_at >= before
    assert info.created_at.tzinfo is UTC

    updated = await queue.update(description="urgent first")
    assert (updated.name, updated.description) == ("triage", "urgent first")

    other = await weave.create_queue(emu.project, name="archive")
    listed = [q.id async for q in weave.queues(emu.project, name="tRIAGE")]
    assert listed == [qid]
    everything = [q.id async for q in weave.queues(emu.project, sort_by="name", direction="asc")]
    assert everything == [other, qid]

    deleted = await queue.delete()
    assert deleted.deleted_at is not None
    with pytest.raises(NotFoundError) as caught:
        await queue.read()
    assert caught.value.status == 404
    with pytest.raises(NotFoundError):
        await queue.delete()
    assert [q.id async for q in weave.queues(emu.project)] == [other]


async def test_add_calls_counts_duplicates_and_drops_unknown_calls(annoq_emulator, weave):
    emu = annoq_emulator
    calls = emu.weave.create_calls(5)
    qid = await weave.create_queue(emu.project, name="q")
    queue = weave.queue(emu.project, qid)
    first = await queue.add_calls(calls[:3], display_fields=["inputs.prompt"])
    assert (first.added_count, first.duplicates) == (3, 0)
    again = await queue.add_calls([*calls, "no-such-call"])
    assert (again.added_count, again.duplicates) == (2, 3)
    [stats] = await weave.queue_stats(emu.project, [qid])
    assert (stats.total_items, stats.completed_items) == (5, 0)
    page = await queue.query_page(limit=10)
    assert sorted(i.call_id for i in page.items) == sorted(calls)


async def test_stats_follow_request_order_with_zeros_for_unknown_ids(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(12)
    item = emu.weave.item_ids(qid)[0]
    await weave.queue(emu.project, qid).update_progress(item, "skipped")
    stats = await weave.queue_stats(emu.project, ["unknown", qid])
    assert [(s.queue_id, s.total_items, s.completed_items) for s in stats] == [
        ("unknown", 0, 0),
        (qid, 12, 1),
    ]
    assert await weave.queue_stats(emu.project, []) == []


async def test_query_page_filters_sorts_and_counts_position_before_the_state_filter(
    annoq_emulator, weave
):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(30)
    ids = emu.weave.item_ids(qid)
    queue = weave.queue(emu.project, qid)
    for item_id in ids[:10]:
        await queue.update_progress(item_id, AnnotationState.COMPLETED)
    page = await queue.query_page(
        filter=ItemFilter(annotation_states=["unstarted"]),
        limit=5,
        offset=2,
        include_position=True,
    )
    assert [i.id for i in page.items] == ids[12:17]
    assert [i.position_in_queue for i in page.items] == [13, 14, 15, 16, 17]
    newest = await queue.query_page(sort_by=SortBy("call_started_at", "desc"), limit=30)
    starts = [i.call_started_at for i in newest.items]
    assert starts == sorted(starts, reverse=True)
    assert (await queue.query_page(limit=0)).items == ()
    assert (await queue.query_page(limit=5, offset=1000)).items == ()


async def test_update_progress_returns_the_item_and_refusals_are_typed(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(3)
    first, second, _ = emu.weave.item_ids(qid)
    queue = weave.queue(emu.project, qid)
    item = await queue.update_progress(first, "in_progress")
    assert item.annotation_state is AnnotationState.IN_PROGRESS
    assert item.annotator_user_id == emu.user_id
    assert item.position_in_queue is None
    done = await queue.update_progress(first, "completed")
    assert done.annotation_state == "completed"
    assert (await queue.update_progress(first, "completed")).annotation_state == "completed"
    with pytest.raises(InvalidTransitionError) as refused:
        await queue.update_progress(first, "in_progress")
    assert refused.value.status == 400
    assert refused.value.error_type
    with pytest.raises(ItemNotInQueueError):
        await queue.update_progress("not-an-item", "completed")
    other_queue = weave.queue(emu.project, emu.weave.seed_queue(1))
    with pytest.raises(ItemNotInQueueError):
        await other_queue.update_progress(second, "completed")


async def test_wrong_key_is_an_authentication_error_that_never_shows_the_key(annoq_emulator):
    emu = annoq_emulator
    async with WeaveSession("wrong-key-123", base_url=emu.base_url) as w:
        with pytest.raises(AuthenticationError) as caught:
            await w.queue(emu.project, "q").read()
    assert caught.value.status == 401
    assert "wrong-key-123" not in str(caught.value)
    assert "wrong-key-123" not in repr(caught.value)


async def test_bearer_token_authenticates_too(annoq_emulator):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(2)
    async with WeaveSession(bearer_token=emu.api_key, base_url=emu.base_url) as w:
        assert (await w.queue(emu.project, qid).read()).id == qid


async def test_a_project_the_user_may_not_see_is_permission_denied(annoq_emulator):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(2)
    outsider = emu.add_user("outsider", projects=["elsewhere/project"])
    async with WeaveSession(outsider.api_key, base_url=emu.base_url) as w:
        with pytest.raises(PermissionDeniedError) as caught:
            await w.queue(emu.project, qid).read()
    assert caught.value.status == 403


async def test_transient_faults_are_retried_until_success(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(5)
    emu.faults.add(FaultRule(kind="status", status=503, rate=1.0, routes={"read_queue"}, times=2))
    emu.faults.add(FaultRule(kind="drop", rate=1.0, routes={"stats"}, times=1))
    emu.faults.add(
        FaultRule(
            kind="status", status=429, rate=1.0, routes={"items_query"}, times=1, retry_after="0"
        )
    )
    before = weave.stats.retries
    assert (await weave.queue(emu.project, qid).read()).id == qid
    assert (await weave.queue(emu.project, qid).stats()).total_items == 5
    assert len((await weave.queue(emu.project, qid).query_page(limit=10)).items) == 5
    assert weave.stats.retries - before == 4
    assert weave.stats.rate_limited >= 1


async def test_without_retries_faults_surface_as_typed_errors(annoq_emulator, weave):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(5)
    once = weave.with_options(max_retries=0)
    emu.faults.add(
        FaultRule(
            kind="status",
            status=502,
            rate=1.0,
            routes={"read_queue"},
            times=1,
            body="<html><title>502 Bad Gateway</title></html>",
        )
    )
    with pytest.raises(ServerError) as bad_gateway:
        await once.queue(emu.project, qid).read()
    assert bad_gateway.value.status == 502
    assert "Bad Gateway" in str(bad_gateway.value)
    # A POST: aiohttp itself resends an idempotent request (GET, PUT, DELETE) once on a
    # dropped connection (RFC 9112), but never a POST.
    emu.faults.add(FaultRule(kind="drop", rate=1.0, routes={"stats"}, times=1))
    with pytest.raises(TransportError) as dropped:
        await once.queue(emu.project, qid).stats()
    assert dropped.value.attempts == 1


async def test_debug_logs_of_retries_never_contain_credentials(annoq_emulator, caplog):
    emu = annoq_emulator
    qid = emu.weave.seed_queue(2)
    emu.faults.add(FaultRule(kind="status", status=503, rate=1.0, routes={"read_queue"}, times=3))
    caplog.set_level(logging.DEBUG)
    async with WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES) as w:
        await w.queue(emu.project, qid).read()
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 3
    import base64

    secret_forms = [emu.api_key, base64.b64encode(f"api:{emu.api_key}".encode()).decode()]
    assert not any(s in caplog.text for s in secret_forms)
