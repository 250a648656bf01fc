"""The retry policy as pure functions, and the transport carrying it out."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import format_datetime as http_date

import aiohttp
import anyio
import pytest

from annoq import APIError, RateLimitError, RetryBudget, RetryPolicy, ServerError, WeaveSession
from annoq._retry import (
    RETRYABLE_STATUSES,
    backoff_delay,
    parse_retry_after,
    retry_delay,
    should_retry,
)
from annoq._transport import Request
from tests._support import (
    API_KEY,
    BASE,
    FAST_RETRIES,
    KEY_B64,
    PROJECT,
    MockHTTP,
    request_count,
    url,
)

ALMOST_ONE = lambda: 0.999999  # noqa: E731
ZERO = lambda: 0.0  # noqa: E731

# -- what is retried ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [None, 408, 429, 500, 502, 503, 504])
def test_transient_failures_are_retried(status: int | None) -> None:
    assert should_retry(status=status, attempt=0, max_retries=2)
    assert should_retry(status=status, attempt=1, max_retries=2)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_answers_about_the_request_itself_are_never_retried(status: int) -> None:
    assert not should_retry(status=status, attempt=0, max_retries=10)
    assert status not in RETRYABLE_STATUSES


@pytest.mark.parametrize("status", [None, 503])
def test_no_retry_once_max_retries_attempts_have_been_retried(status: int | None) -> None:
    assert should_retry(status=status, attempt=2, max_retries=3)
    assert not should_retry(status=status, attempt=3, max_retries=3)
    assert not should_retry(status=status, attempt=4, max_retries=3)


def test_max_retries_zero_never_retries() -> None:
    assert not should_retry(status=None, attempt=0, max_retries=0)
    assert not should_retry(status=503, attempt=0, max_retries=0)


# -- backoff --------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_is_full_jitter_below_the_exponential_ceiling(attempt: int) -> None:
    base, cap = 0.25, 8.0
    ceiling = min(cap, base * 2**attempt)

    high = backoff_delay(attempt, base=base, cap=cap, rand=ALMOST_ONE)
    low = backoff_delay(attempt, base=base, cap=cap, rand=ZERO)

    assert 0 <= high < ceiling
    assert high == pytest.approx(ceiling, rel=1e-5)
    assert low == 0.0


def test_backoff_never_exceeds_the_cap_even_for_huge_attempt_numbers() -> None:
    for attempt in (10, 63, 64, 1000, 10**6):
        delay = backoff_delay(attempt, base=0.25, cap=8.0, rand=ALMOST_ONE)
        assert 7.99 < delay < 8.0


def test_backoff_grows_exponentially_until_the_cap() -> None:
    delays = [backoff_delay(n, base=1.0, cap=5.0, rand=lambda: 0.5) for n in range(5)]
    assert delays == [0.5, 1.0, 2.0, 2.5, 2.5]


def test_retry_delay_uses_the_policy_backoff_when_the_server_gives_no_wait() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=3.0)
    assert retry_delay(0, policy, rand=ALMOST_ONE) == pytest.approx(0.5, rel=1e-5)
    assert retry_delay(5, policy, rand=ALMOST_ONE) == pytest.approx(3.0, rel=1e-5)
    assert retry_delay(5, policy, rand=ZERO) == 0.0


# -- Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0"}, 0.0),
        ({"RETRY-AFTER": " 1.5 "}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After-Ms": "0"}, 0.0),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),  # ms is more precise: it wins
        ({"retry-after-ms": "-1", "Retry-After": "9"}, 9.0),  # a bad ms falls back
        ({"retry-after-ms": "soon", "Retry-After": "3"}, 3.0),
        ({}, None),
        ({"Content-Type": "application/json"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"retry-after-ms": "-250"}, None),
        ({"retry-after-ms": "nan"}, None),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_http_date_is_seconds_from_now() -> None:
    when = datetime(2026, 11, 24, 12, 0, 30, tzinfo=UTC)
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC).timestamp()

    assert parse_retry_after({"Retry-After": http_date(when, usegmt=True)}, now=now) == 30.0
    assert parse_retry_after({"Retry-After": "Tue, 24 Nov 2026 12:01:00 GMT"}, now=now) == 60.0


def test_retry_after_http_date_in_the_past_means_now() -> None:
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after({"Retry-After": "Tue, 24 Nov 2026 11:00:00 GMT"}, now=now) == 0.0


def test_retry_after_wins_over_backoff_but_is_capped_by_the_policy() -> None:
    policy = RetryPolicy(backoff_base=100.0, backoff_cap=100.0, max_retry_after=10.0)
    assert retry_delay(0, policy, retry_after=0.0, rand=ALMOST_ONE) == 0.0
    assert retry_delay(0, policy, retry_after=4.0, rand=ALMOST_ONE) == 4.0
    assert retry_delay(0, policy, retry_after=3600.0, rand=ALMOST_ONE) == 10.0
    assert retry_delay(0, RetryPolicy(), retry_after=3600.0) == RetryPolicy().max_retry_after


# -- budget ---------------------------------------------------------------------------------


FROZEN = lambda: 0.0  # noqa: E731  (a clock that never moves: no refill over time)


def test_retry_budget_runs_dry_after_its_tokens_are_spent() -> None:
    budget = RetryBudget(initial=3, per_success=0.5, maximum=10, clock=FROZEN)
    assert [budget.try_spend() for _ in range(5)] == [True, True, True, False, False]
    assert budget.tokens == 0


def test_retry_budget_refills_with_successes_up_to_its_maximum() -> None:
    budget = RetryBudget(initial=0, per_success=0.5, maximum=2, clock=FROZEN)
    assert not budget.try_spend()
    budget.record_success()
    assert not budget.try_spend()  # half a token is not a retry
    budget.record_success()
    assert budget.try_spend()
    for _ in range(100):
        budget.record_success()
    assert budget.tokens == 2
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]


# -- the transport carries the policy out ---------------------------------------------------

STATS = "/annotation_queues/stats"  # a read: retried (create_queue is not; see test_bulk_emulator)


def stats_of(queue_id: str) -> dict[str, object]:
    return {"stats": [{"queue_id": queue_id, "total_items": 1, "completed_items": 0}]}


async def stats_id(weave: WeaveSession) -> str:
    [stats] = await weave.queue_stats(PROJECT, ["q"])
    return stats.queue_id


async def test_a_503_then_200_succeeds_with_two_requests(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url(STATS), status=503, payload={"reason": "busy"})
    http.post(url(STATS), payload=stats_of("q-1"))

    assert await stats_id(weave) == "q-1"

    assert request_count(http) == 2
    assert weave.stats.retries == 1
    assert weave.stats.by_status == {503: 1, 200: 1}


async def test_a_connection_error_is_retried_like_a_transient_status(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url(STATS), exception=aiohttp.ServerDisconnectedError())
    http.post(url(STATS), payload=stats_of("q-1"))

    assert await stats_id(weave) == "q-1"

    assert request_count(http) == 2
    assert weave.stats.transport_errors == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_a_non_retryable_status_is_raised_after_one_request(
    http: MockHTTP, weave: WeaveSession, status: int
) -> None:
    http.post(url(STATS), status=status, payload={"reason": "no"}, repeat=True)

    with pytest.raises(APIError) as caught:
        await stats_id(weave)

    assert caught.value.status == status
    assert caught.value.attempts == 1
    assert request_count(http) == 1


async def test_retries_stop_after_max_retries_and_report_attempts(
    http: MockHTTP, weave: WeaveSession
) -> None:
    http.post(url(STATS), status=502, payload={"reason": "down"}, repeat=True)

    with pytest.raises(ServerError) as caught:
        await stats_id(weave)

    assert request_count(http) == FAST_RETRIES.max_retries + 1
    assert caught.value.attempts == FAST_RETRIES.max_retries + 1


async def test_retry_after_from_the_server_replaces_a_long_backoff(
    http: MockHTTP, caplog: pytest.LogCaptureFixture
) -> None:
    # The backoff alone would wait up to 1000 s; Retry-After: 0 makes the retry immediate.
    slow_backoff = RetryPolicy(max_retries=2, backoff_base=1000.0, backoff_cap=1000.0)
    http.post(url(STATS), status=429, headers={"Retry-After": "0"})
    http.post(url(STATS), status=503, headers={"retry-after-ms": "20"})
    http.post(url(STATS), payload=stats_of("q-1"))
    caplog.set_level(logging.DEBUG, logger="annoq")

    async with WeaveSession(API_KEY, base_url=BASE, retry_policy=slow_backoff) as weave:
        with anyio.fail_after(10):  # ignoring Retry-After would wait minutes: fail instead
            assert await stats_id(weave) == "q-1"
        assert weave.stats.rate_limited == 1

    assert request_count(http) == 3
    waits = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(waits) == 2
    assert "in 0.000s" in waits[0]
    assert "in 0.020s" in waits[1]


def test_an_empty_retry_budget_makes_each_retry_wait_its_turn_for_a_token() -> None:
    now = [0.0]
    budget = RetryBudget(initial=1, per_success=1, maximum=5, refill_per_second=4.0,
                         clock=lambda: now[0])  # fmt: skip
    assert [budget.reserve() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    now[0] = 1.0  # a second later four tokens came back: the debt of 3 is paid
    assert budget.reserve() == 0.0
    assert budget.tokens == 0.0


def test_a_retry_budget_refills_over_time_up_to_its_maximum() -> None:
    now = [0.0]
    budget = RetryBudget(initial=0, per_success=0, maximum=3, refill_per_second=2.0,
                         clock=lambda: now[0])  # fmt: skip
    assert not budget.try_spend()
    now[0] = 0.5
    assert budget.try_spend()  # one token earned in half a second
    now[0] = 100.0
    budget.record_success()
    assert budget.tokens == 3


async def test_an_exhausted_retry_budget_slows_retries_down_instead_of_failing_them(
    http: MockHTTP, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        http.post(url(STATS), status=503, payload={"reason": "busy"})
    http.post(url(STATS), payload=stats_of("q-1"))
    budget = RetryBudget(initial=0, per_success=1, maximum=5, refill_per_second=50.0,
                         clock=FROZEN)  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="annoq")

    async with WeaveSession(
        API_KEY, base_url=BASE, retry_policy=FAST_RETRIES, retry_budget=budget
    ) as weave:
        assert await stats_id(weave) == "q-1"

    assert request_count(http) == 4  # every retry went out, each after its token's wait
    waits = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert [" in 0.020s" in w for w in waits] == [True, False, False]
    assert " in 0.040s" in waits[1]
    assert " in 0.060s" in waits[2]
    assert all("waiting for a token" in w for w in waits)


async def test_successes_refill_the_session_retry_budget(http: MockHTTP) -> None:
    http.post(url(STATS), payload=stats_of("q-1"))
    http.post(url(STATS), status=503, payload={"reason": "busy"})
    http.post(url(STATS), payload=stats_of("q-2"))
    budget = RetryBudget(initial=0, per_success=1, maximum=5, clock=FROZEN)

    async with WeaveSession(
        API_KEY, base_url=BASE, retry_policy=FAST_RETRIES, retry_budget=budget
    ) as weave:
        assert await stats_id(weave) == "q-1"
        assert budget.tokens == 1
        assert await stats_id(weave) == "q-2"  # retried on that token

    assert request_count(http) == 3
    assert budget.tokens == 1


async def test_each_retry_is_logged_at_debug_with_attempt_and_wait_but_no_credentials(
    http: MockHTTP, weave: WeaveSession, caplog: pytest.LogCaptureFixture
) -> None:
    http.post(url(STATS), status=500, payload={"reason": "oops"})
    http.post(url(STATS), status=503, payload={"reason": "busy"})
    http.post(url(STATS), payload=stats_of("q-1"))
    caplog.set_level(logging.DEBUG, logger="annoq")

    await stats_id(weave)

    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.DEBUG, logging.DEBUG]
    first, second = (r.getMessage() for r in retries)
    total = FAST_RETRIES.max_retries + 1
    assert f"attempt 2 of {total}" in first
    assert f"attempt 3 of {total}" in second
    assert "500" in first
    assert "503" in second
    for message in (first, second):
        assert " in 0.00" in message  # the wait, in seconds
        assert "https://trace.example/annotation_queues/stats" in message
    assert API_KEY not in caplog.text
    assert KEY_B64 not in caplog.text


@pytest.mark.parametrize(
    ("first", "uncertain"),
    [(429, False), (503, True), (500, True), (408, False), (None, True)],
)
async def test_a_response_says_whether_an_earlier_send_may_have_been_applied(
    http: MockHTTP, weave: WeaveSession, first: int | None, uncertain: bool
) -> None:
    if first is None:
        http.post(url("/annotation_queues"), exception=aiohttp.ServerDisconnectedError())
    else:
        http.post(url("/annotation_queues"), status=first, headers={"Retry-After": "0"})
    http.post(url("/annotation_queues"), payload={"id": "q-1"})
    response = await weave.send(Request("POST", "/annotation_queues", json={}))
    assert response.attempts == 2
    assert response.uncertain is uncertain


async def test_a_429_is_waited_out_without_spending_a_retry(http: MockHTTP) -> None:
    for _ in range(5):
        http.post(url("/annotation_queues"), status=429, headers={"Retry-After": "0"})
    http.post(url("/annotation_queues"), payload={"id": "q-1"})
    async with WeaveSession(
        API_KEY, base_url=BASE, retry_policy=RetryPolicy(max_retries=1, backoff_base=0.001)
    ) as weave:
        assert await weave.create_queue(PROJECT, name="x") == "q-1"
        assert weave.stats.rate_limited == 5
    assert request_count(http) == 6


async def test_waiting_out_429s_stops_after_max_throttled_retries(http: MockHTTP) -> None:
    http.post(url("/annotation_queues"), status=429, headers={"Retry-After": "0"}, repeat=True)
    policy = RetryPolicy(max_retries=3, backoff_base=0.001, max_throttled_retries=7)
    async with WeaveSession(API_KEY, base_url=BASE, retry_policy=policy) as weave:
        with pytest.raises(RateLimitError) as caught:
            await weave.create_queue(PROJECT, name="x")
    assert caught.value.attempts == 8
    assert request_count(http) == 8
