"""Exceptions raised by annoq.

Everything annoq raises derives from :class:`AnnoqError`::

    AnnoqError
    ├── InvalidArgumentError        a call's arguments are wrong; raised before any request
    │   └── PhaseRequiredError          Annofab: a bare task id where the phase is needed
    ├── BulkError                   a bulk run stopped early; ``result`` has what was done
    │   ├── BulkAbortedError            fail_fast: stopped at the first failure
    │   └── BulkInputError              the input (or the walk feeding it) raised
    ├── ConfigurationError          the session cannot be set up
    │   ├── MissingCredentialsError     no API key, token or login was found
    │   └── InsecureTransportError      credentials would travel over plain http or elsewhere
    ├── APIError                    the server answered with an error status
    │   ├── BadRequestError             400
    │   │   ├── InvalidTransitionError      a state change the server refuses
    │   │   └── ItemNotInQueueError         the item id is not in that queue
    │   ├── AuthenticationError         401
    │   │   └── MFARequiredError            the account needs a second factor (use a PAT)
    │   ├── PermissionDeniedError       403
    │   ├── NotFoundError               404
    │   ├── ConflictError               409 (e.g. an optimistic-lock refusal)
    │   ├── ValidationError             422, with the server's ``detail`` list
    │   ├── RateLimitError              429, with ``retry_after``
    │   └── ServerError                 5xx
    ├── TransportError              no usable response: connection refused, reset, dropped
    │   └── TimeoutError                a time limit ran out (also a builtin TimeoutError)
    ├── JobFailedError              an awaited Annofab job failed; names it and its errors
    ├── JobTimeoutError             an awaited job was still running when time ran out
    ├── JobNotFoundError            the job to wait for is not in the project's job list
    ├── ResponseDecodeError         a response that is not what the API promises
    ├── PaginationError             the server's pages make no progress
    ├── OverLimitError              Annofab: a task search past the 10,000 results it pages
    ├── TaskStateError              Annofab: the task's state does not allow the operation
    └── UploadError                 Annofab: an upload failed or arrived damaged

No exception's message or ``repr`` contains credentials: URLs are reported without user
info, and request headers are never stored.
"""

from __future__ import annotations

import builtins
import html
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from yarl import URL

from . import _config

__all__ = [
    "APIError",
    "AnnoqError",
    "AuthenticationError",
    "BadRequestError",
    "Classified",
    "Classify",
    "ConfigurationError",
    "ConflictError",
    "InsecureTransportError",
    "InvalidArgumentError",
    "InvalidTransitionError",
    "ItemNotInQueueError",
    "JobFailedError",
    "JobNotFoundError",
    "JobTimeoutError",
    "MFARequiredError",
    "MissingCredentialsError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "ServerError",
    "TimeoutError",
    "TransportError",
    "ValidationError",
    "classify_plain",
    "error_from_response",
    "redact_url",
    "status_class",
    "text_reason",
]


class AnnoqError(Exception):
    """Base class of every exception annoq raises."""


class InvalidArgumentError(AnnoqError, ValueError):
    """An argument is invalid; raised before any request is sent."""


class ConfigurationError(AnnoqError):
    """The session cannot be set up as asked."""


class MissingCredentialsError(ConfigurationError):
    """No credentials were given or found in the environment or netrc."""


class InsecureTransportError(ConfigurationError):
    """Credentials would be sent over plain http to a host that is not loopback, or to
    another origin than the base URL (a redirect, which annoq never follows)."""


def redact_url(url: str | URL, *, query: bool = True) -> str:
    """Return ``url`` without user info, safe to log or show; with ``query=False`` its
    query string and fragment are masked too (a configured base URL may carry a key).

    >>> redact_url("https://api:secret@example.com/x?a=1")
    'https://example.com/x?a=1'
    >>> redact_url("https://example.com/x?key=secret", query=False)
    'https://example.com/x?<redacted>'
    """
    parsed = url if isinstance(url, URL) else URL(url)
    if parsed.user is not None or parsed.password is not None:
        parsed = parsed.with_user(None)
    if not query and (parsed.raw_query_string or parsed.raw_fragment):
        return str(parsed.with_query(None).with_fragment(None)) + "?<redacted>"
    return str(parsed)


class APIError(AnnoqError):
    """The server answered with an error status.

    Attributes: ``status``, ``reason`` (the server's message), ``error_type`` (the
    server's error code, when it sends one), ``method`` and ``url`` of the request
    (never credentials), ``body`` (the parsed JSON body, or the text when it is not JSON)
    and ``attempts`` (how many times the request was sent).
    """

    def __init__(
        self,
        status: int,
        reason: str,
        *,
        error_type: str | None = None,
        method: str = "",
        url: str = "",
        body: Any = None,
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.reason = reason
        self.error_type = error_type
        self.method = method
        self.url = redact_url(url) if url else ""
        self.body = body
        self.attempts = attempts
        super().__init__(self._message())

    def _message(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        kind = f" [{self.error_type}]" if self.error_type else ""
        return f"HTTP {self.status}{kind}: {self.reason}{where}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_api_error,
            (
                type(self),
                self.status,
                self.reason,
                self.error_type,
                self.method,
                self.url,
                self.body,
                self.attempts,
            ),
            # Attributes set after construction (RateLimitError.retry_after) travel too.
            dict(self.__dict__),
        )


def _rebuild_api_error(cls: type[APIError], *args: Any) -> APIError:
    status, reason, error_type, method, url, body, attempts = args
    return cls(
        status, reason, error_type=error_type, method=method, url=url, body=body, attempts=attempts
    )


def _rebuild_error(cls: type[AnnoqError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    # Not ``cls(*args)``: the message in ``args`` is already complete, and the
    # constructors would add their suffix (" at $...", " (GET url)") a second time.
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class BadRequestError(APIError):
    """400: the server refused the request as it stands."""


class InvalidTransitionError(BadRequestError):
    """400: the server refuses this state change (e.g. completed -> in_progress)."""


class ItemNotInQueueError(BadRequestError):
    """400: the item id is not in the queue the request named."""


class AuthenticationError(APIError):
    """401: the credentials are missing, wrong or expired."""


class MFARequiredError(AuthenticationError):
    """The account asks for a second factor; use a personal access token instead."""


class PermissionDeniedError(APIError):
    """403: the credentials are valid but may not do this."""


class NotFoundError(APIError):
    """404: the queue, project or task does not exist (or was deleted)."""


class ConflictError(APIError):
    """409: the resource changed meanwhile (optimistic lock) or the request conflicts."""


class ValidationError(APIError):
    """422: the server could not parse the request; ``detail`` lists what was wrong."""

    @property
    def detail(self) -> list[Any]:
        """The server's list of ``{"loc", "msg", "type"}`` entries (empty if absent)."""
        if isinstance(self.body, Mapping):
            detail = self.body.get("detail")
            if isinstance(detail, list):
                return detail
        return []


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` is the server's wait in seconds, if given."""

    retry_after: float | None = None


class ServerError(APIError):
    """5xx: the server or a backend behind it failed."""


class TransportError(AnnoqError):
    """No usable response: the connection failed, was reset or dropped mid-exchange.

    ``attempts`` counts how many times the request was sent.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "", attempts: int = 1):
        self.method = method
        self.url = redact_url(url) if url else ""
        self.attempts = attempts
        where = f" ({method} {self.url})" if method else ""
        super().__init__(f"{message}{where}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


class TimeoutError(TransportError, builtins.TimeoutError):
    """A time limit (total, connect or read) ran out."""


class JobFailedError(AnnoqError):
    """An awaited job failed: ``job`` is the finished job, ``errors`` its error list.

    try:
        await project.wait_job("gen-tasks-list")
    except JobFailedError as e:
        print(e.job_id, e.errors)
    """

    def __init__(self, job: Any) -> None:
        self.job = job
        self.job_id: str = job.job_id
        self.job_type: str = str(getattr(job.job_type, "value", job.job_type))
        self.errors: tuple[Any, ...] = tuple(job.errors)
        said = "; ".join(f"{e.error_code or '?'}: {e.message or ''}".strip() for e in self.errors)
        super().__init__(
            f"job {self.job_type}/{self.job_id} failed" + (f": {said}" if said else "")
        )


class JobTimeoutError(AnnoqError):
    """An awaited job was still running when ``timeout`` seconds had passed; ``job`` is
    its last state (the job itself goes on)."""

    def __init__(self, job: Any, timeout: float) -> None:
        self.job = job
        self.timeout = timeout
        kind = getattr(job.job_type, "value", job.job_type)
        super().__init__(f"job {kind}/{job.job_id} was still running after {timeout:g} s")


class JobNotFoundError(AnnoqError):
    """The job to wait for is not in the project's job list (none of that type, or
    not that id)."""


class ResponseDecodeError(AnnoqError):
    """A response body is not what the API promises (not JSON, missing or mistyped fields).

    ``path`` names where in the body the problem is, e.g. ``$.items[3].call_started_at``.
    """

    def __init__(self, message: str, *, path: str = "$", snippet: str = ""):
        self.path = path
        self.snippet = snippet
        text = f"{message} at {path}"
        if snippet:
            text += f" (body starts: {snippet!r})"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def status_class(status: int) -> type[APIError]:
    """The class an error status maps to when the backend knows nothing finer.

    >>> status_class(404).__name__, status_class(503).__name__
    ('NotFoundError', 'ServerError')
    """
    return _STATUS_CLASSES.get(status) or (ServerError if status >= 500 else APIError)


class Classified(NamedTuple):
    """What a backend reads from an error body: the server's message (empty: none),
    its error code, and a finer class than the status gives (``None``: the status's)."""

    reason: str
    error_type: str | None = None
    cls: type[APIError] | None = None


#: A backend's reading of an error response: ``classify(status, body) -> Classified``,
#: a pure function of the status and the parsed body (JSON, or the text when not JSON).
Classify = Callable[[int, Any], Classified]


_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")


def text_reason(body: Any) -> str:
    """A text body as a one-line message ("" for anything else); an HTML error page (a
    proxy's, a load balancer's) reduced to its title, or to its text without markup.

    >>> text_reason("<html><title>502 Bad Gateway</title></html>")
    '502 Bad Gateway'
    """
    if not isinstance(body, str):
        return ""
    text = body.strip()
    if text.startswith("<"):
        found = _HTML_TITLE.search(text)
        text = html.unescape(found.group(1) if found else _HTML_TAG.sub(" ", text))
        text = " ".join(text.split())
    return text[: _config.ERROR_REASON_CHARS]


def classify_plain(status: int, body: Any) -> Classified:
    """The reading that knows no backend: a text body's message, the status's class."""
    return Classified(text_reason(body))


def error_from_response(
    status: int,
    body: Any,
    *,
    method: str = "",
    url: str = "",
    retry_after: float | None = None,
    phrase: str = "",
    classify: Classify = classify_plain,
) -> APIError:
    """Build the exception for an error response: one place maps status to class.

    ``classify`` is the backend's reading of the body (see :data:`Classify`); without a
    message from it, the status phrase is the reason.

    >>> err = error_from_response(404, "Queue q not found")
    >>> type(err).__name__, err.reason
    ('NotFoundError', 'Queue q not found')
    """
    found = classify(status, body)
    reason = found.reason or phrase or f"HTTP {status}"
    cls = found.cls or status_class(status)
    error = cls(status, reason, error_type=found.error_type, method=method, url=url, body=body)
    if isinstance(error, RateLimitError):
        error.retry_after = retry_after
    return error
