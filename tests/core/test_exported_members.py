"""The public surface: exactly these names, each shown as ``annoq.X``."""

from __future__ import annotations

import pickle

import annoq

EXPORTED = [
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


def test_all_lists_exactly_the_public_names_in_sorted_order() -> None:
    assert annoq.__all__ == EXPORTED
    assert sorted(annoq.__all__) == annoq.__all__


def test_every_exported_name_exists() -> None:
    missing = [name for name in annoq.__all__ if not hasattr(annoq, name)]
    assert missing == []


def test_every_exported_class_is_shown_as_annoq_x() -> None:
    classes = [getattr(annoq, n) for n in annoq.__all__ if isinstance(getattr(annoq, n), type)]
    assert len(classes) == len(EXPORTED) - 1  # all but __version__
    wrong = {cls.__qualname__: cls.__module__ for cls in classes if cls.__module__ != "annoq"}
    assert wrong == {}
    assert repr(annoq.QueueItem) == "<class 'annoq.QueueItem'>"


def test_version_is_a_dotted_string_also_sent_in_the_user_agent() -> None:
    from annoq._config import USER_AGENT

    assert isinstance(annoq.__version__, str)
    assert annoq.__version__.count(".") >= 1
    assert f"annoq/{annoq.__version__}" == USER_AGENT


def test_relabelled_classes_still_pickle() -> None:
    stats = annoq.QueueStats("q", 3, 1)
    error = annoq.NotFoundError(404, "gone", method="GET", url="https://h/x")

    assert pickle.loads(pickle.dumps(stats)) == stats
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is annoq.NotFoundError
    assert (copy.status, copy.reason, copy.url) == (404, "gone", "https://h/x")
    assert (
        pickle.loads(pickle.dumps(annoq.AnnotationState.SKIPPED)) is annoq.AnnotationState.SKIPPED
    )
