"""Exceptions raised by annoq.

Everything annoq raises derives from :class:`AnnoqError`::

    AnnoqError
    ├── InvalidArgumentError        a call's arguments are wrong; raised before any request
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
    └── ResponseDecodeError         a response that is not what the API promises

No exception's message or ``repr`` contains credentials: URLs are reported without user
info, and request headers are never stored.
"""

from __future__ import annotations

import builtins
import html
import re
from collections.abc import Mapping
from typing import Any

from yarl import URL

__all__ = [
    "APIError",
    "AnnoqError",
    "AuthenticationError",
    "BadRequestError",
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
    "error_from_response",
    "redact_url",
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

# Weave's wording for refused transitions (rules 1, 3 and 4 of "Progress updates" in
# docs/semantics/weave.md) and for an item id that is not in the queue (rule 5). Older
# servers send no error_type, so the reason text is what distinguishes them.
_TRANSITION_MARKERS = (
    "invalid state transition",
    "cannot transition to",
    "invalid annotation state",
)
_NOT_IN_QUEUE_MARKER = "not found in queue"


def _read_reason(body: Any, fallback: str) -> tuple[str, str | None]:
    """The message and error code of an error body, in any shape annoq's backends use."""
    if isinstance(body, Mapping):
        reason = body.get("reason")
        error_type = body.get("error_type")
        if isinstance(reason, str):
            return reason, error_type if isinstance(error_type, str) else None
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail, None
        if isinstance(detail, list) and detail:
            parts = []
            for entry in detail[:5]:
                if isinstance(entry, Mapping):
                    loc = ".".join(str(p) for p in entry.get("loc", []) or [])
                    parts.append(
                        f"{loc}: {entry.get('msg', '')}" if loc else str(entry.get("msg", ""))
                    )
            if parts:
                return "; ".join(parts), None
        errors = body.get("errors")  # Annofab: {"errors": [{"error_code", "message"}]}
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            first = errors[0]
            code = first.get("error_code")
            return str(first.get("message", fallback)), code if isinstance(code, str) else None
    if isinstance(body, str):
        text = _readable_text(body)
        if text:
            return text, None
    return fallback, None


_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")


def _readable_text(body: str) -> str:
    """A text body as a one-line message; an HTML error page (a proxy's, a load
    balancer's) reduced to its title, or to its text without markup."""
    text = body.strip()
    if text.startswith("<"):
        found = _HTML_TITLE.search(text)
        text = html.unescape(found.group(1) if found else _HTML_TAG.sub(" ", text))
        text = " ".join(text.split())
    return text[:200]


def error_from_response(
    status: int,
    body: Any,
    *,
    method: str = "",
    url: str = "",
    retry_after: float | None = None,
    phrase: str = "",
) -> APIError:
    """Build the exception for an error response: one place maps status to class.

    >>> err = error_from_response(404, {"reason": "Queue q not found"})
    >>> type(err).__name__, err.reason
    ('NotFoundError', 'Queue q not found')
    """
    reason, error_type = _read_reason(body, phrase or f"HTTP {status}")
    cls: type[APIError] = _STATUS_CLASSES.get(status) or (
        ServerError if status >= 500 else APIError
    )
    if status == 400:
        lowered = reason.lower()
        if any(marker in lowered for marker in _TRANSITION_MARKERS):
            cls = InvalidTransitionError
        elif _NOT_IN_QUEUE_MARKER in lowered:
            cls = ItemNotInQueueError
    error = cls(status, reason, error_type=error_type, method=method, url=url, body=body)
    if isinstance(error, RateLimitError):
        error.retry_after = retry_after
    return error
