"""An adaptive concurrency limit: pure logic, no I/O, no clock of its own.

:class:`AdaptiveLimit` finds how many requests a service takes at once. It is fed the
latency of every finished request (:meth:`AdaptiveLimit.on_sample`) and every throttled
response (:meth:`AdaptiveLimit.on_throttled`); :attr:`AdaptiveLimit.limit` is the number
of requests to keep in flight.

How (a Vegas-style limit, judged once per *round*, a round being as many samples as the
limit): the lowest round latency seen is the baseline (it drifts up slowly, so a service
that got slower for good is re-learnt). A round whose latency holds (within
``ADAPTIVE_LATENCY_TOLERANCE`` times the baseline plus ``ADAPTIVE_LATENCY_SLACK``), or
whose throughput still grew against the previous round, grows the limit: doubling at
first (slow start), by a quarter once it has backed off. A round with rising latency and
no more throughput shrinks it by ``ADAPTIVE_LATENCY_BACKOFF``. A 429 halves it at once
(once per round: the requests already in flight may all be refused too). The limit
stays within 1 and the caller's ceiling.

    limit = AdaptiveLimit(ceiling=64)
    limit.on_sample(0.05, now=time.monotonic())   # one request took 50 ms
    limit.on_throttled()                          # a 429
    in_flight_allowed = limit.limit
"""

from __future__ import annotations

import math

from . import _config

__all__ = ["AdaptiveLimit"]


class AdaptiveLimit:
    """The current concurrency limit of one bulk run; see the module docstring."""

    __slots__ = (
        "_baseline",
        "_ceiling",
        "_count",
        "_cut_pending",
        "_limit",
        "_previous_throughput",
        "_round_start",
        "_slow_start",
        "_sum",
    )

    def __init__(self, ceiling: int, *, initial: int = _config.ADAPTIVE_INITIAL_LIMIT) -> None:
        if ceiling < 1 or initial < 1:
            raise ValueError("ceiling and initial must be >= 1")
        self._ceiling = ceiling
        self._limit = float(min(initial, ceiling))
        self._baseline = math.inf
        self._previous_throughput = 0.0
        self._slow_start = True
        self._cut_pending = False  # a 429 cut happened in this round: ignore more
        self._reset_round(None)

    @property
    def limit(self) -> int:
        """Requests to keep in flight now (1 <= limit <= ceiling)."""
        return max(1, min(self._ceiling, int(self._limit)))

    @property
    def ceiling(self) -> int:
        """The caller's upper bound."""
        return self._ceiling

    def _reset_round(self, now: float | None) -> None:
        self._count = 0
        self._sum = 0.0
        self._round_start = now

    def on_throttled(self) -> None:
        """A request was refused with 429: halve the limit (once per round)."""
        self._slow_start = False
        if self._cut_pending:
            return
        self._cut_pending = True
        self._limit = max(1.0, self._limit * _config.ADAPTIVE_THROTTLE_BACKOFF)
        self._previous_throughput = 0.0
        self._reset_round(None)

    def on_sample(self, latency: float, now: float) -> None:
        """A request finished after ``latency`` seconds, at time ``now`` (monotonic)."""
        if self._round_start is None:
            self._round_start = now - max(0.0, latency)
        self._count += 1
        self._sum += max(0.0, latency)
        if self._count < self.limit:
            return
        elapsed = now - self._round_start
        mean = self._sum / self._count
        throughput = self._count / elapsed if elapsed > 0 else math.inf
        self._judge(mean, throughput)
        self._cut_pending = False
        self._reset_round(now)

    def _judge(self, latency: float, throughput: float) -> None:
        if latency < self._baseline:
            self._baseline = latency
        holds = (
            latency
            <= self._baseline * _config.ADAPTIVE_LATENCY_TOLERANCE + _config.ADAPTIVE_LATENCY_SLACK
        )
        grew = throughput > self._previous_throughput * _config.ADAPTIVE_THROUGHPUT_GAIN
        self._previous_throughput = throughput
        if holds or grew:
            step = self._limit if self._slow_start else max(1.0, self._limit / 4)
            self._limit = min(float(self._ceiling), self._limit + step)
        else:
            self._slow_start = False
            self._limit = max(
                1.0, min(self._limit - 1, self._limit * _config.ADAPTIVE_LATENCY_BACKOFF)
            )
        # let the baseline follow a service that got slower for good
        self._baseline *= _config.ADAPTIVE_BASELINE_DRIFT
