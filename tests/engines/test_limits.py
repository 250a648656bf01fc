"""AdaptiveLimit on its own: pure logic fed latency samples and 429s."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annoq._config import ADAPTIVE_INITIAL_LIMIT
from annoq._limits import AdaptiveLimit


def feed(limit: AdaptiveLimit, latency: float, count: int, now: float = 0.0) -> float:
    """``count`` samples of ``latency``, ``limit.limit`` finishing per ``latency`` seconds
    (a service that takes whatever is sent at a flat latency)."""
    for _ in range(count):
        now += latency / limit.limit
        limit.on_sample(latency, now)
    return now


events = st.lists(
    st.one_of(
        st.tuples(st.just("sample"), st.floats(0.0, 5.0), st.floats(0.0, 1.0)),
        st.tuples(st.just("throttle"), st.just(0.0), st.just(0.0)),
    ),
    max_size=400,
)


@given(ceiling=st.integers(1, 256), initial=st.integers(1, 64), events=events)
def test_the_limit_stays_between_one_and_the_ceiling(ceiling, initial, events):
    limit = AdaptiveLimit(ceiling, initial=initial)
    now = 0.0
    assert 1 <= limit.limit <= ceiling
    for kind, latency, step in events:
        if kind == "sample":
            now += step
            limit.on_sample(latency, now)
        else:
            limit.on_throttled()
        assert 1 <= limit.limit <= ceiling


@given(ceiling=st.integers(2, 256), warm=st.integers(0, 200))
def test_a_429_shrinks_the_limit(ceiling, warm):
    limit = AdaptiveLimit(ceiling)
    feed(limit, 0.05, warm)
    before = limit.limit
    limit.on_throttled()
    assert limit.limit < before or before == 1


def test_flat_latency_grows_to_the_ceiling_from_a_small_start():
    limit = AdaptiveLimit(64)
    assert limit.limit == ADAPTIVE_INITIAL_LIMIT
    feed(limit, 0.05, 4 + 8 + 16 + 32)  # four rounds of slow start
    assert limit.limit == 64


def test_it_recovers_after_throttling_at_a_flat_latency():
    limit = AdaptiveLimit(64)
    now = feed(limit, 0.05, 200)
    limit.on_throttled()
    limit.on_throttled()  # the rest of the round's 429s do not cut again
    assert limit.limit == 32
    feed(limit, 0.05, 500, now)
    assert limit.limit == 64


def test_rising_latency_without_more_throughput_backs_off():
    limit = AdaptiveLimit(64)
    now = feed(limit, 0.01, 300)
    assert limit.limit == 64
    # a saturated service: latency grows with what is sent, throughput stays flat
    for _ in range(600):
        latency = limit.limit / 1000.0  # 1,000 requests/s whatever the concurrency
        now += 1 / 1000.0
        limit.on_sample(latency, now)
    assert limit.limit < 32


def test_a_service_admitting_n_at_once_is_settled_near_n():
    limit = AdaptiveLimit(64)
    now = 0.0
    seen: list[int] = []
    for _ in range(5_000):
        now += 0.05 / limit.limit
        if limit.limit > 8:
            limit.on_throttled()
        limit.on_sample(0.05, now)
        seen.append(limit.limit)
    assert min(seen[-1000:]) >= 4
    assert max(seen[-1000:]) <= 16


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="ceiling"):
        AdaptiveLimit(0)
    with pytest.raises(ValueError, match="initial"):
        AdaptiveLimit(4, initial=0)
