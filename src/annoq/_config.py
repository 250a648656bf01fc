"""Defaults, in one place.

Every tunable number annoq uses lives here as a named constant, so that a reader can see
the whole configuration at a glance and tests can refer to the same values the code uses.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from ._version import __version__

__all__ = [
    "ANNOFAB_BULK_CONCURRENCY",
    "ANNOFAB_DOWNLOAD_READ_TIMEOUT",
    "ANNOFAB_IDS_PER_REQUEST",
    "ANNOFAB_JOB_FIRST_POLL",
    "ANNOFAB_JOB_POLL_CAP",
    "ANNOFAB_JOB_POLL_FACTOR",
    "ANNOFAB_JOB_TIMEOUT",
    "ANNOFAB_MAX_PAGE_SIZE",
    "ANNOFAB_MAX_TASK_STEPS",
    "ANNOFAB_PUT_BACK_TIMEOUT",
    "ANNOFAB_RESULT_CAP",
    "ANNOFAB_UPLOAD_BACKOFF_CAP",
    "ANNOFAB_UPLOAD_TIMEOUT",
    "ANNOFAB_WALK_CATCH_UP_PASSES",
    "ANNOTATION_BATCH_BYTES",
    "BULK_DEDUPE_WINDOW",
    "BULK_PROGRESS_INTERVAL",
    "CLI_DEMO_ITEMS",
    "CLI_LOOKUP_AT_MOST",
    "CLI_PROGRESS_REFRESH_PER_SECOND",
    "COALESCE_MAX_IN_FLIGHT",
    "DEFAULT_ANNOFAB_ENDPOINT",
    "DEFAULT_ANNOTATION_BATCH_ITEMS",
    "DEFAULT_BULK_CONCURRENCY",
    "DEFAULT_BULK_MAX_RETRIES",
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_FEEDBACK_PAGE_SIZE",
    "DEFAULT_MAX_FEEDBACK_PAYLOAD",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_THROTTLED_RETRIES",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_PREFETCH",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WEAVE_BASE_URL",
    "ERROR_DETAIL_ENTRIES",
    "ERROR_REASON_CHARS",
    "ERROR_TEXT_CHARS",
    "MAX_PREFETCH",
    "TIMEOUT_CONNECT",
    "TIMEOUT_READ",
    "TIMEOUT_TOTAL",
    "USER_AGENT",
    "WALK_MAX_BACKUP_PAGES",
    "WALK_MAX_STALLS",
    "Timeout",
]

#: Where W&B Weave's trace server lives when nothing else is configured.
DEFAULT_WEAVE_BASE_URL = "https://trace.wandb.ai"
#: The netrc machine W&B's own login writes the API key under.
WANDB_NETRC_HOST = "api.wandb.ai"
#: W&B's own API (``WANDB_BASE_URL``'s default). Any other ``WANDB_BASE_URL`` (a dedicated
#: or self-hosted W&B) serves its trace server under ``<WANDB_BASE_URL>/traces``.
DEFAULT_WANDB_BASE_URL = "https://api.wandb.ai"

#: Retries after the first attempt of one request (transport errors, 408, 429, 5xx).
DEFAULT_MAX_RETRIES = 4
#: Full-jitter exponential backoff: attempt n waits uniform(0, min(CAP, BASE * 2**n)).
RETRY_BACKOFF_BASE = 0.25
RETRY_BACKOFF_CAP = 8.0
#: A server's Retry-After is honoured up to this many seconds; longer asks are capped.
RETRY_AFTER_CAP = 60.0
#: A 429 is waited out (for its Retry-After) up to this many times per request; these
#: waits spend neither DEFAULT_MAX_RETRIES nor the retry budget.
DEFAULT_MAX_THROTTLED_RETRIES = 50
#: Session-wide retry budget (token bucket): retries spend a token, successes and time
#: earn some back. When it is empty, retries wait for a token (at most REFILL_PER_SECOND
#: retries a second): a dead server is not hammered, and a run slows down, not fails.
RETRY_BUDGET_INITIAL = 200.0
RETRY_BUDGET_PER_SUCCESS = 1.0
RETRY_BUDGET_MAX = 2000.0
RETRY_BUDGET_REFILL_PER_SECOND = 10.0

#: Largest response body read (bytes); a larger answer is a ResponseDecodeError, found
#: out from Content-Length or while reading, never after reading it all.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Of an error response, only this many bytes are read (for its message).
ERROR_BODY_BYTES = 64 * 1024

#: Items per page when walking a queue.
DEFAULT_PAGE_SIZE = 500
#: Pages a walk requests ahead of the consumer at first (its default ``prefetch=None``).
DEFAULT_PREFETCH = 2
#: The most pages a walk may request ahead (a ``prefetch=`` the caller gives).
MAX_PREFETCH = 16
#: The default walk (``prefetch=None``) deepens, when the consumer waits on a page asked
#: ahead, to the quickest page's latency over the client's CPU time per page (the pages
#: one latency takes to use up), up to this many pages ahead: the ceiling that bounds
#: its memory. A number given as ``prefetch=`` is a fixed depth.
WALK_MAX_PREFETCH = 16
#: ... from its third page on (the CPU time of the first pages includes opening
#: connections), and not while any of the last WALK_LATENCY_SAMPLES pages took more than
#: WALK_LATENCY_TOLERANCE times the quickest page: those pages queue at the service.
WALK_LATENCY_SAMPLES = 3
WALK_LATENCY_TOLERANCE = 1.5
#: How many pages a Weave stable walk backs up at most to find its place after items
#: before it were deleted.
WALK_MAX_BACKUP_PAGES = 4
#: Back-ups in a row without an item not read before, after which the server's list is
#: taken to be unstable (a PaginationError) rather than walked forever.
WALK_MAX_STALLS = 20
#: Retries per request inside bulk operations. A bulk run makes thousands of requests, so
#: a transient fault rate that rarely beats 4 retries still would, a few times per run.
DEFAULT_BULK_MAX_RETRIES = 10
#: The most parallel requests of one bulk operation (its ``concurrency=``): a ceiling.
#: Below it the engine finds the service's capacity itself (see ADAPTIVE_*). As many as
#: the connection pool holds (DEFAULT_CONNECTION_LIMIT): more would only queue for one.
DEFAULT_BULK_CONCURRENCY = 100
#: How many recent bulk keys (the last distinct ones read) are remembered to report a
#: repeated input as a duplicate.
BULK_DEDUPE_WINDOW = 50_000
#: Seconds between two progress events of a bulk run (the last one always comes).
BULK_PROGRESS_INTERVAL = 0.1
#: Adaptive concurrency of bulk runs (annoq._limits.AdaptiveLimit): requests in flight at
#: the start; the limit then doubles per round (as many results as the limit) while
#: latency holds, grows by a quarter once it has backed off, and never exceeds the caller's
#: ``concurrency=``.
ADAPTIVE_INITIAL_LIMIT = 4
#: A round's mean latency "holds" up to TOLERANCE x the lowest seen, plus SLACK seconds.
ADAPTIVE_LATENCY_TOLERANCE = 1.5
ADAPTIVE_LATENCY_SLACK = 0.002
#: ... and a round whose throughput beat the previous one by this factor grows anyway.
ADAPTIVE_THROUGHPUT_GAIN = 1.1
#: A round with rising latency and no more throughput multiplies the limit by this.
ADAPTIVE_LATENCY_BACKOFF = 0.8
#: A 429 multiplies the limit by this (at most once per round).
ADAPTIVE_THROTTLE_BACKOFF = 0.5
#: The lowest latency seen is raised by this factor every round (forgets old lows).
ADAPTIVE_BASELINE_DRIFT = 1.01
#: Feedback rows per feedback query of an annotation export (more pages only past it).
DEFAULT_FEEDBACK_PAGE_SIZE = 10_000
#: The service's cap on one feedback payload, ``len(json.dumps(payload))``: 1 MiB today
#: (older servers: 1,024); annotation imports check it before sending.
DEFAULT_MAX_FEEDBACK_PAYLOAD = 1 << 20
#: An annotation import sends the reads and the writes of up to this many items at
#: once as one feedback query and one batch create (concurrent items are coalesced).
DEFAULT_ANNOTATION_BATCH_ITEMS = 50
#: ... and keeps one batch create under this many payload bytes.
ANNOTATION_BATCH_BYTES = 4 << 20
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
#: Catch-up passes a walk of a moving list (input data) makes over the items changed
#: since it began, at most.
ANNOFAB_WALK_CATCH_UP_PASSES = 3
#: ``wait_job``: seconds to the first poll, growth factor and cap of the poll interval.
ANNOFAB_JOB_FIRST_POLL = 1.5
ANNOFAB_JOB_POLL_FACTOR = 1.5
ANNOFAB_JOB_POLL_CAP = 30.0
#: ``wait_job``: seconds before giving up (``JobTimeoutError``); ``None`` waits forever.
ANNOFAB_JOB_TIMEOUT = 3600.0
#: The most parallel task operations (a ceiling, like DEFAULT_BULK_CONCURRENCY). Annofab's
#: own CLI stays at 4 because more draws 429s; annoq starts at ADAPTIVE_INITIAL_LIMIT and
#: backs off on every 429, so it may try more.
ANNOFAB_BULK_CONCURRENCY = 32
#: Seconds a stopped bulk operation (fail-fast, timeout, Ctrl-C) spends putting the
#: tasks it had started back to ``break`` before giving up on them.
ANNOFAB_PUT_BACK_TIMEOUT = 10.0
#: Seconds one file upload to a temporary path may take (bulk input data imports).
ANNOFAB_UPLOAD_TIMEOUT = 300.0
#: Seconds an export download (a signed URL) may go without a byte before it fails; no
#: limit on the whole download (a project's export can be large).
ANNOFAB_DOWNLOAD_READ_TIMEOUT = 300.0
#: Longest pause, in seconds, between attempts of a failed file upload.
ANNOFAB_UPLOAD_BACKOFF_CAP = 2.0

#: Steps one Annofab task may take before the driver stops (a take-over, a start and the
#: operation, each possibly re-decided after a conflict): far above what any task needs.
ANNOFAB_MAX_TASK_STEPS = 12
#: Batches a coalescer (annotation reads and writes) keeps on the way at once.
COALESCE_MAX_IN_FLIGHT = 2
#: Default time limits of one request, in seconds (see :class:`Timeout`); a bare number
#: given as ``timeout`` is the total, with the connect limit capped at TIMEOUT_CONNECT.
TIMEOUT_TOTAL = 60.0
TIMEOUT_CONNECT = 10.0
TIMEOUT_READ = 30.0
#: An error's message (its ``reason``) read from a text body keeps this many characters;
#: a text (not JSON) error body is kept as ``body`` up to ERROR_TEXT_CHARS.
ERROR_REASON_CHARS = 200
ERROR_TEXT_CHARS = 500
#: Entries of a 422 ``detail`` list summed up in the message.
ERROR_DETAIL_ENTRIES = 5

USER_AGENT = f"annoq/{__version__}"

#: Items in the queue ``annoq demo`` walks and completes.
CLI_DEMO_ITEMS = 20_000
#: Up to this many rows, ``annoq annotate`` looks each item up by id instead of walking.
CLI_LOOKUP_AT_MOST = 100
#: How often the CLI redraws its progress bar on a terminal.
CLI_PROGRESS_REFRESH_PER_SECOND = 8


def _limit(attribute: Any, value: object) -> None:
    """A time limit is ``None`` or a finite number of seconds > 0."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        from ._errors import InvalidArgumentError  # _errors imports nothing of annoq's

        raise InvalidArgumentError(
            f"Timeout {attribute.name} must be None or a finite number of seconds > 0, "
            f"got {value!r}"
        )


@attrs.frozen
class Timeout:
    """Time limits of one request, in seconds (``None`` = no limit).

    ``total`` bounds the whole exchange, ``connect`` the wait for a connection (pool and
    socket), ``read`` the silence between two reads of the response.

        >>> Timeout(total=10.0).total
        10.0
    """

    total: float | None = attrs.field(default=TIMEOUT_TOTAL, validator=lambda s, a, v: _limit(a, v))
    connect: float | None = attrs.field(
        default=TIMEOUT_CONNECT, validator=lambda s, a, v: _limit(a, v)
    )
    read: float | None = attrs.field(default=TIMEOUT_READ, validator=lambda s, a, v: _limit(a, v))


DEFAULT_TIMEOUT = Timeout()
