"""Retry policy as pure functions: what to retry, how long to wait, when to stop.

Nothing here does I/O or sleeps, so every rule is tested directly. The transport asks
:func:`should_retry` after each failed attempt and waits :func:`retry_delay` seconds.

    >>> should_retry(status=503, attempt=0, max_retries=2)
    True
    >>> should_retry(status=404, attempt=0, max_retries=2)
    False
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import attrs

from . import _config as defaults
from ._errors import InvalidArgumentError

__all__ = [
    "RETRYABLE_STATUSES",
    "RetryBudget",
    "RetryPolicy",
    "backoff_delay",
    "parse_retry_after",
    "retry_delay",
    "should_retry",
    "should_wait_out_throttling",
]

#: Statuses that say "try again": timeouts, throttling and transient server trouble.
#: 400, 401, 403, 404, 409 and 422 are answers about the request itself and never retried.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _count(_: Any, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def _seconds(_: Any, attribute: attrs.Attribute[float], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidArgumentError(
            f"{attribute.name} must be a finite number of seconds >= 0, got {value!r}"
        )


@attrs.frozen
class RetryPolicy:
    """How one request is retried.

    ``max_retries`` bounds the retries after failures that may be the server's trouble
    (transport errors, 408, 5xx). Throttling (429) is different: the server refused the
    request without acting on it and said when to come back, so waiting it out spends
    neither ``max_retries`` nor the session's retry budget; it is bounded on its own by
    ``max_throttled_retries``.

    >>> RetryPolicy(max_retries=0).max_retries   # never retry
    0
    """

    max_retries: int = attrs.field(default=defaults.DEFAULT_MAX_RETRIES, validator=_count)
    backoff_base: float = attrs.field(default=defaults.RETRY_BACKOFF_BASE, validator=_seconds)
    backoff_cap: float = attrs.field(default=defaults.RETRY_BACKOFF_CAP, validator=_seconds)
    max_retry_after: float = attrs.field(default=defaults.RETRY_AFTER_CAP, validator=_seconds)
    max_throttled_retries: int = attrs.field(
        default=defaults.DEFAULT_MAX_THROTTLED_RETRIES, validator=_count
    )


def should_retry(*, status: int | None, attempt: int, max_retries: int) -> bool:
    """Whether attempt number ``attempt`` (0-based) may be followed by another.

    ``status`` is the response status, or ``None`` for a transport error or timeout
    (always retryable: the request may never have reached the server).
    """
    if attempt >= max_retries:
        return False
    return status is None or status in RETRYABLE_STATUSES


def should_wait_out_throttling(*, throttled: int, policy: RetryPolicy) -> bool:
    """Whether a request answered 429 for the ``throttled``-th time (1-based) is sent
    again after the wait. Such waits count neither as retries nor against the budget;
    but ``max_retries=0`` means one request, whatever the answer.

        >>> should_wait_out_throttling(throttled=1, policy=RetryPolicy())
        True
        >>> should_wait_out_throttling(throttled=1, policy=RetryPolicy(max_retries=0))
        False
    """
    return policy.max_retries > 0 and throttled <= policy.max_throttled_retries


def backoff_delay(
    attempt: int,
    *,
    base: float = defaults.RETRY_BACKOFF_BASE,
    cap: float = defaults.RETRY_BACKOFF_CAP,
    rand: Callable[[], float] = random.random,
) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2**attempt))``.

    Full jitter spreads the retries of many concurrent requests over the whole window
    instead of sending them back in synchronised waves.
    """
    ceiling = min(cap, base * (2 ** min(attempt, 62)))
    return float(rand() * ceiling)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The server's requested wait in seconds, or ``None`` when it gives none.

    Reads ``retry-after-ms`` (milliseconds) first, then ``Retry-After`` as seconds or as
    an HTTP date. Negative or unparseable values count as not given.

        >>> parse_retry_after({"Retry-After": "2"})
        2.0
        >>> parse_retry_after({"retry-after-ms": "250"})
        0.25
    """
    lowered = {
        k.lower(): v for k, v in headers.items() if k.lower() in ("retry-after", "retry-after-ms")
    }
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        current = time.time() if now is None else now
        seconds = max(0.0, when.timestamp() - current)
    return seconds if seconds >= 0 else None


def retry_delay(
    attempt: int,
    policy: RetryPolicy,
    *,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retrying after attempt ``attempt`` (0-based).

    A server's ``Retry-After`` wins over the backoff, capped at ``policy.max_retry_after``
    so that a confused server cannot park a client for minutes.
    """
    if retry_after is not None:
        return min(retry_after, policy.max_retry_after)
    return backoff_delay(attempt, base=policy.backoff_base, cap=policy.backoff_cap, rand=rand)


@attrs.define
class RetryBudget:
    """A session-wide token bucket that paces retries.

    Each retry takes one token; each success earns ``per_success`` back and time earns
    ``refill_per_second``, up to ``maximum``. While requests mostly succeed the budget
    never binds. When it runs dry, retries are not refused: each waits its turn for a
    token (:meth:`reserve` says how long), so a failing server sees at most
    ``refill_per_second`` retries a second from the whole session, and a run slows down
    instead of failing items. Throttling (429) waits take no token.

        >>> budget = RetryBudget(initial=1, refill_per_second=2.0, clock=lambda: 0.0)
        >>> budget.reserve(), budget.reserve(), budget.reserve()
        (0.0, 0.5, 1.0)
    """

    initial: float = defaults.RETRY_BUDGET_INITIAL
    per_success: float = defaults.RETRY_BUDGET_PER_SUCCESS
    maximum: float = defaults.RETRY_BUDGET_MAX
    refill_per_second: float = defaults.RETRY_BUDGET_REFILL_PER_SECOND
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False)
    tokens: float = attrs.field(init=False)
    _stamp: float = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        for name in ("initial", "per_success", "maximum", "refill_per_second"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidArgumentError(f"RetryBudget {name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise InvalidArgumentError(f"RetryBudget {name} must be >= 0, got {value!r}")
        if self.refill_per_second <= 0:
            raise InvalidArgumentError(
                f"RetryBudget refill_per_second must be > 0, got {self.refill_per_second!r}"
            )
        self.tokens = float(self.initial)
        self._stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self.tokens = min(self.maximum, self.tokens + elapsed * self.refill_per_second)

    def reserve(self) -> float:
        """Take a token for one retry; the seconds to wait before sending it (0.0 when a
        token was there). Tokens owed by earlier reservations make later waits longer."""
        self._refill()
        self.tokens -= 1.0
        if self.tokens >= 0.0:
            return 0.0
        return -self.tokens / self.refill_per_second

    def try_spend(self) -> bool:
        """Take one token if one is there now; ``False`` (and nothing taken) if not."""
        self._refill()
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def record_success(self) -> None:
        """Earn tokens back for a request that succeeded."""
        self._refill()
        self.tokens = min(self.maximum, self.tokens + self.per_success)
