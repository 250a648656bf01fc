"""annoq: an asyncio client for human-annotation work queues.

Stream whole queues with walks that never skip or repeat an item while states change,
and bulk-mark items with bounded parallelism and exactly one outcome per input.

    import annoq

    async with annoq.WeaveSession() as weave:
        queue = weave.queue("entity/project", queue_id)
        async for item in queue.items(states=["unstarted"]):
            ...
        result = await queue.mark_all("completed", states=["unstarted"])

Backends: W&B Weave (:class:`WeaveSession`) and Annofab (``annoq.annofab``). A local
emulator of both lives in ``annoq.emulator``.
"""

from ._bulk import (
    BulkAbortedError,
    BulkError,
    BulkFailure,
    BulkInputError,
    BulkProgress,
    BulkResult,
    Outcome,
)
from ._config import Timeout
from ._errors import (
    AnnoqError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InsecureTransportError,
    InvalidArgumentError,
    InvalidTransitionError,
    ItemNotInQueueError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    MFARequiredError,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TimeoutError,
    TransportError,
    ValidationError,
)
from ._public import relabel as _relabel
from ._retry import RetryBudget, RetryPolicy
from ._transport import RequestOptions, TransportStats
from ._version import __version__
from ._walk import PaginationError
from .weave import (
    AddCallsResult,
    AnnotationQueue,
    AnnotationState,
    ItemFilter,
    ItemWalk,
    Page,
    Queue,
    QueueItem,
    QueueStats,
    SortBy,
    WeaveSession,
)

__all__ = [
    "APIError",
    "AddCallsResult",
    "AnnoqError",
    "AnnotationQueue",
    "AnnotationState",
    "AuthenticationError",
    "BadRequestError",
    "BulkAbortedError",
    "BulkError",
    "BulkFailure",
    "BulkInputError",
    "BulkProgress",
    "BulkResult",
    "ConfigurationError",
    "ConflictError",
    "InsecureTransportError",
    "InvalidArgumentError",
    "InvalidTransitionError",
    "ItemFilter",
    "ItemNotInQueueError",
    "ItemWalk",
    "JobFailedError",
    "JobNotFoundError",
    "JobTimeoutError",
    "MFARequiredError",
    "MissingCredentialsError",
    "NotFoundError",
    "Outcome",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "Queue",
    "QueueItem",
    "QueueStats",
    "RateLimitError",
    "RequestOptions",
    "ResponseDecodeError",
    "RetryBudget",
    "RetryPolicy",
    "ServerError",
    "SortBy",
    "Timeout",
    "TimeoutError",
    "TransportError",
    "TransportStats",
    "ValidationError",
    "WeaveSession",
    "__version__",
]

# Show public names as ``annoq.X`` in reprs, tracebacks and docs (type hints still resolve).
_relabel(globals(), __all__, module=__name__)
del _relabel
