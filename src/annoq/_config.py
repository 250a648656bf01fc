"""Defaults, in one place.

Every tunable number annoq uses lives here as a named constant, so that a reader can see
the whole configuration at a glance and tests can refer to the same values the code uses.
"""

from __future__ import annotations

import attrs

from ._version import __version__

__all__ = [
    "ANNOFAB_BULK_CONCURRENCY",
    "ANNOFAB_IDS_PER_REQUEST",
    "ANNOFAB_MAX_PAGE_SIZE",
    "ANNOFAB_PUT_BACK_TIMEOUT",
    "ANNOFAB_RESULT_CAP",
    "DEFAULT_ANNOFAB_ENDPOINT",
    "DEFAULT_BULK_CONCURRENCY",
    "DEFAULT_BULK_MAX_RETRIES",
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_PREFETCH",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WEAVE_BASE_URL",
    "USER_AGENT",
    "Timeout",
]

#: Where W&B Weave's trace server lives when nothing else is configured.
DEFAULT_WEAVE_BASE_URL = "https://trace.wandb.ai"
#: The netrc machine W&B's own login writes the API key under.
WANDB_NETRC_HOST = "api.wandb.ai"

#: Retries after the first attempt of one request (transport errors, 408, 429, 5xx).
DEFAULT_MAX_RETRIES = 4
#: Full-jitter exponential backoff: attempt n waits uniform(0, min(CAP, BASE * 2**n)).
RETRY_BACKOFF_BASE = 0.25
RETRY_BACKOFF_CAP = 8.0
#: A server's Retry-After is honoured up to this many seconds; longer asks are capped.
RETRY_AFTER_CAP = 60.0
#: Session-wide retry budget (token bucket): retries spend a token, successes earn some
#: back. It stops a dead server from being hammered with every request's full retry quota.
RETRY_BUDGET_INITIAL = 200.0
RETRY_BUDGET_PER_SUCCESS = 1.0
RETRY_BUDGET_MAX = 2000.0

#: Items per page when walking a queue.
DEFAULT_PAGE_SIZE = 500
#: Pages requested ahead of the consumer.
DEFAULT_PREFETCH = 2
#: Retries per request inside bulk operations. A bulk run makes thousands of requests, so
#: a transient fault rate that rarely beats 4 retries still would, a few times per run.
DEFAULT_BULK_MAX_RETRIES = 10
#: Parallel requests of one bulk operation.
DEFAULT_BULK_CONCURRENCY = 16
#: Connections one session keeps open at most (aiohttp's TCPConnector limit).
DEFAULT_CONNECTION_LIMIT = 100

#: Annofab's service, when nothing else is configured (the API lives under /api/v1).
DEFAULT_ANNOFAB_ENDPOINT = "https://annofab.com"
#: Annofab's largest page (``limit``); also the default page size of task walks.
ANNOFAB_MAX_PAGE_SIZE = 200
#: Annofab pages through at most this many results of one query (``over_limit`` past it).
ANNOFAB_RESULT_CAP = 10_000
#: Task ids per tasks-in-bulk request.
ANNOFAB_IDS_PER_REQUEST = 100
#: Parallel task operations: Annofab's own CLI stays at 4 because more draws 429s.
ANNOFAB_BULK_CONCURRENCY = 4
#: Seconds a stopped bulk operation (fail-fast, timeout, Ctrl-C) spends putting the
#: tasks it had started back to ``break`` before giving up on them.
ANNOFAB_PUT_BACK_TIMEOUT = 10.0

USER_AGENT = f"annoq/{__version__}"


@attrs.frozen
class Timeout:
    """Time limits of one request, in seconds (``None`` = no limit).

    ``total`` bounds the whole exchange, ``connect`` the wait for a connection (pool and
    socket), ``read`` the silence between two reads of the response.

        >>> Timeout(total=10.0).total
        10.0
    """

    total: float | None = 60.0
    connect: float | None = 10.0
    read: float | None = 30.0


DEFAULT_TIMEOUT = Timeout()
