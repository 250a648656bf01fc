"""Retry policy as pure functions: what to retry, how long to wait, when to stop.

Nothing here does I/O or sleeps, so every rule is tested directly. The transport asks
:func:`should_retry` after each failed attempt and waits :func:`retry_delay` seconds.

    >>> should_retry(status=503, attempt=0, max_retries=2)
    True
    >>> should_retry(status=404, attempt=0, max_retries=2)
    False
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

import attrs

from . import _config

__all__ = [
    "RETRYABLE_STATUSES",
    "RetryBudget",
    "RetryPolicy",
    "backoff_delay",
    "parse_retry_after",
    "retry_delay",
    "should_retry",
]

#: Statuses that say "try again": timeouts, throttling and transient server trouble.
#: 400, 401, 403, 404, 409 and 422 are answers about the request itself and never retried.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@attrs.frozen
class RetryPolicy:
    """How one request is retried.

    >>> RetryPolicy(max_retries=0).max_retries   # never retry
    0
    """

    max_retries: int = _config.DEFAULT_MAX_RETRIES
    backoff_base: float = _config.RETRY_BACKOFF_BASE
    backoff_cap: float = _config.RETRY_BACKOFF_CAP
    max_retry_after: float = _config.RETRY_AFTER_CAP


def should_retry(*, status: int | None, attempt: int, max_retries: int) -> bool:
    """Whether attempt number ``attempt`` (0-based) may be followed by another.

    ``status`` is the response status, or ``None`` for a transport error or timeout
    (always retryable: the request may never have reached the server).
    """
    if attempt >= max_retries:
        return False
    return status is None or status in RETRYABLE_STATUSES


def backoff_delay(
    attempt: int,
    *,
    base: float = _config.RETRY_BACKOFF_BASE,
    cap: float = _config.RETRY_BACKOFF_CAP,
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
    """A session-wide token bucket for retries.

    Each retry spends one token; each success earns ``per_success`` back, up to
    ``maximum``. While requests mostly succeed the budget never binds; when a server is
    down it runs dry and requests fail fast instead of multiplying the load.

        >>> budget = RetryBudget(initial=1)
        >>> budget.try_spend(), budget.try_spend()
        (True, False)
    """

    initial: float = _config.RETRY_BUDGET_INITIAL
    per_success: float = _config.RETRY_BUDGET_PER_SUCCESS
    maximum: float = _config.RETRY_BUDGET_MAX
    tokens: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tokens = self.initial

    def try_spend(self) -> bool:
        """Take one token for a retry; ``False`` when none is left."""
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def record_success(self) -> None:
        """Earn tokens back for a request that succeeded."""
        self.tokens = min(self.maximum, self.tokens + self.per_success)
