"""One HTTP exchange with auth, time limits, retries and error mapping; nothing else.

Backends build a :class:`Request` with pure functions and hand it to
:meth:`Transport.send`; what comes back is a :class:`Response` with a 2xx status, or an
exception from annoq's tree. The retry *decisions* live in :mod:`annoq._retry`; this
module only carries them out.
"""

from __future__ import annotations

import builtins
import functools
import ipaddress
import logging
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import aiohttp
import anyio
import attrs
import orjson
from multidict import CIMultiDictProxy
from yarl import URL

from . import _config
from ._config import Timeout
from ._errors import (
    AnnoqError,
    APIError,
    Classify,
    InsecureTransportError,
    InvalidArgumentError,
    ResponseDecodeError,
    TimeoutError,
    TransportError,
    classify_plain,
    error_from_response,
    redact_url,
)
from ._retry import (
    RetryBudget,
    RetryPolicy,
    parse_retry_after,
    retry_delay,
    should_retry,
    should_wait_out_throttling,
)

__all__ = ["Auth", "NoAuth", "Request", "RequestOptions", "Response", "Transport", "TransportStats"]

log = logging.getLogger("annoq")

_ACCEPT_JSON = {"Accept": "application/json"}

#: Answers that say a request was not applied, so even a retry-unsafe one may be resent.
_NOT_APPLIED_STATUSES = frozenset({408, 429})
#: Methods aiohttp itself resends once when a connection drops (RFC 9112 section 9.3.1.1).
_AIOHTTP_RESENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_NOT_RESENT = (
    "not re-sent: this operation could apply twice if repeated, and the request may have "
    "reached the server; check its effect before sending it again"
)


class Auth(Protocol):
    """How a backend authenticates: the headers to send, and what to do on a 401."""

    async def headers(self, transport: Transport) -> Mapping[str, str]:
        """Headers carrying the credentials (may log in lazily)."""
        ...

    async def refresh(self, transport: Transport, stale: Mapping[str, str]) -> bool:
        """After a 401 sent with ``stale``: renew the credentials; ``True`` to resend."""
        ...


class NoAuth:
    """Sends no credentials (control routes, login requests)."""

    async def headers(self, transport: Transport) -> Mapping[str, str]:
        return {}

    async def refresh(self, transport: Transport, stale: Mapping[str, str]) -> bool:
        return False


@attrs.frozen
class Request:
    """A request as data: built by pure functions, sent by :class:`Transport`.

    ``json`` is encoded with orjson; ``None`` sends no body. The body never shows in the
    repr (a login carries a password, a refresh its token). ``retry_unsafe`` marks a
    request that could apply twice if repeated: it is never re-sent once it may have
    reached the server (a drop after sending, a timeout, a 5xx), and the error says so.
    """

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Any = attrs.field(default=None, repr=False)
    accept: str = "application/json"
    authenticated: bool = True
    retry_unsafe: bool = False


@attrs.frozen
class Response:
    """A successful (2xx) response, read whole. ``attempts`` counts sends (1 = no retry).

    ``uncertain`` is true when an earlier send may have been applied by the server: it
    ended without a clear answer (a connection lost after sending, a timeout, a 5xx).
    Sends answered 408 or 429, or never connected, were not applied and leave it false.
    """

    status: int
    headers: CIMultiDictProxy[str]
    content: bytes
    attempts: int = 1
    uncertain: bool = False


_DEFAULT_RETRY = RetryPolicy()


@attrs.frozen
class RequestOptions:
    """Per-call settings: time limits and retry policy (see ``with_options``)."""

    timeout: Timeout = _config.DEFAULT_TIMEOUT
    retry: RetryPolicy = _DEFAULT_RETRY


@attrs.define
class TransportStats:
    """Counters of one session's traffic, for progress displays and tests."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    by_status: dict[int, int] = attrs.Factory(dict)
    transport_errors: int = 0


@functools.lru_cache(maxsize=64)
def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=timeout.total, connect=timeout.connect, sock_read=timeout.read
    )


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _shown(base_url: str) -> str:
    """A base URL fit for a message: no user info, no query string (it may hold a key)."""
    try:
        return redact_url(base_url, query=False)
    except (ValueError, TypeError):
        return "<unparseable URL>"


def check_base_url(
    base_url: object, *, allow_insecure_http: bool, argument: str = "base_url"
) -> URL:
    """Validate a base URL; refuse plain http to another machine unless allowed.

    User info, query string and fragment are dropped; messages never show them.
    """
    if not isinstance(base_url, str):
        raise InvalidArgumentError(
            f"{argument} must be an http(s) URL string, got {type(base_url).__name__}"
        )
    if not isinstance(allow_insecure_http, bool):
        raise InvalidArgumentError(
            f"allow_insecure_http must be a bool, got {allow_insecure_http!r}"
        )
    try:
        url = URL(base_url)
    except (ValueError, TypeError) as exc:  # a bad port, a malformed IPv6 literal
        problem = f"is not a valid URL ({exc})"
    else:
        if url.scheme not in ("http", "https") or not url.host:
            problem = "is not an http(s) URL with a host"
        elif any(c.isspace() or ord(c) < 0x20 for c in url.host):
            problem = "has an invalid host"
        elif url.port is not None and not 0 < url.port < 65536:
            problem = "has an invalid port"
        else:
            problem = ""
    if problem:
        raise InvalidArgumentError(f"{argument}={_shown(base_url)!r} {problem}")
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.host):
        raise InsecureTransportError(
            f"refusing to send credentials over plain http to {url.host!r}; use https, "
            "or pass allow_insecure_http=True if this network is trusted"
        )
    return url.with_user(None).with_query(None).with_fragment(None)


def default_user_agent() -> str:
    """``annoq/<version> aiohttp/<version> python/<major.minor>``."""
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"{_config.USER_AGENT} aiohttp/{aiohttp.__version__} python/{py}"


class Transport:
    """Sends requests for one backend session over a shared aiohttp session.

    It owns the aiohttp session it creates and closes it in :meth:`aclose`; a session
    passed in is used as is and never closed. ``classify`` is the backend's reading of
    error bodies (:data:`annoq._errors.Classify`); the transport knows no backend.
    """

    def __init__(
        self,
        base_url: URL,
        auth: Auth,
        *,
        session: aiohttp.ClientSession | None = None,
        connection_limit: int = _config.DEFAULT_CONNECTION_LIMIT,
        user_agent: str | None = None,
        budget: RetryBudget | None = None,
        max_response_bytes: int = _config.DEFAULT_MAX_RESPONSE_BYTES,
        classify: Classify = classify_plain,
    ) -> None:
        self.base_url = base_url
        self.classify = classify  # the backend's reading of error bodies
        self.max_response_bytes = max_response_bytes
        self.auth = auth
        self._base = str(base_url).rstrip("/")
        self._given_session = session
        self._session = session
        self._connection_limit = connection_limit
        self.budget = budget
        self.stats = TransportStats()
        self._static_headers = {**_ACCEPT_JSON, "User-Agent": user_agent or default_user_agent()}
        self._unsafe_in_flight = 0  # retry-unsafe PUT/DELETE requests being sent
        self._aiohttp_resends = True
        self._body_headers = {**self._static_headers, "Content-Type": "application/json"}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if self._given_session is not None:
                raise TransportError("the aiohttp.ClientSession passed to annoq is closed")
            connector = aiohttp.TCPConnector(limit=self._connection_limit)
            # Timeouts are set per request; the session-level default would override none.
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def aclose(self) -> None:
        """Close the aiohttp session if this transport created it."""
        if self._given_session is None and self._session is not None:
            await self._session.close()
        self._session = None

    def url_for(self, request: Request) -> str:
        return self._base + request.path

    async def send(self, request: Request, options: RequestOptions) -> Response:
        """Send ``request``, retrying per ``options.retry``; a 2xx Response or an error."""
        response, content, attempts, uncertain = await self._exchange(
            request, options, read_body=True
        )
        return Response(response.status, response.headers, content, attempts, uncertain)

    @asynccontextmanager
    async def stream(
        self, request: Request, options: RequestOptions
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Like :meth:`send` but yields the open response to read incrementally.

        Retries happen only before the response is handed over; a failure while the
        caller reads is raised as :class:`TransportError` (:class:`TimeoutError` when a
        time limit ran out).
        """
        response, _, attempts, _ = await self._exchange(request, options, read_body=False)
        try:
            yield response
        except (builtins.TimeoutError, aiohttp.ClientError) as exc:
            if isinstance(exc, AnnoqError):
                raise
            url = self.url_for(request)
            raise self._transport_error(
                exc, request, url, attempts - 1, while_="streaming"
            ) from None
        finally:
            response.release()

    async def _exchange(
        self, request: Request, options: RequestOptions, *, read_body: bool
    ) -> tuple[aiohttp.ClientResponse, bytes, int, bool]:
        """The attempt loop shared by :meth:`send` and :meth:`stream`: a 2xx response
        (read and released when ``read_body``, else open for the caller) or an error.

        Redirects are never followed (see :meth:`_redirect_error`). A 429 is waited out
        without spending a retry or the budget; other retries take a budget token, and
        wait for one when the budget is empty.
        """
        url = self.url_for(request)
        body = None if request.json is None else orjson.dumps(request.json)
        timeout = _client_timeout(options.timeout)
        headers = self._body_headers if body is not None else self._static_headers
        if request.accept != "application/json":
            headers = {**headers, "Accept": request.accept}
        policy = options.retry
        attempt = 0  # retries spent (not counting 429 waits)
        throttled = 0  # 429 answers waited out
        sends = 0
        uncertain = False  # an earlier send may have been applied
        refreshed = False
        client = self._client()
        while True:
            auth_headers: Mapping[str, str] = {}
            if request.authenticated:
                auth_headers = await self.auth.headers(self)
            self.stats.requests += 1
            sends += 1
            error: APIError | TransportError
            retry_after: float | None = None
            status: int | None = None
            unsent = False  # certainly never reached the server (no connection was made)
            unsafe_resend = request.retry_unsafe and request.method in _AIOHTTP_RESENT_METHODS
            if unsafe_resend:
                self._aiohttp_resend(client, off=True)
            try:
                response = await client.request(
                    request.method,
                    url,
                    params=request.params,
                    data=body,
                    headers={**headers, **auth_headers} if auth_headers else headers,
                    timeout=timeout,
                    allow_redirects=False,
                )
            except (builtins.TimeoutError, aiohttp.ClientError) as exc:
                error = self._transport_error(exc, request, url, sends - 1)
                unsent = isinstance(exc, aiohttp.ClientConnectorError)
            else:
                handed_over = False
                try:
                    status = response.status
                    self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
                    if 200 <= status < 300:
                        content = (
                            await self._read_body(response, request, url) if read_body else b""
                        )
                        if not read_body:
                            self._check_length(response, request, url)
                        if self.budget is not None:
                            self.budget.record_success()
                        handed_over = not read_body
                        return response, content, sends, uncertain
                    content = await _read_error_body(response)
                    if 300 <= status < 400:
                        raise self._redirect_error(response, request, url, sends)
                    if status == 401 and request.authenticated and not refreshed:
                        refreshed = True
                        if await self.auth.refresh(self, auth_headers):
                            continue  # resend with new credentials; not a retry
                    retry_after = parse_retry_after(response.headers)
                    error = error_from_response(
                        status,
                        _parse_error_body(content),
                        method=request.method,
                        url=url,
                        retry_after=retry_after,
                        phrase=response.reason or "",
                        classify=self.classify,
                    )
                    error.attempts = sends
                except (builtins.TimeoutError, aiohttp.ClientError) as exc:
                    error = self._transport_error(exc, request, url, sends - 1)
                finally:
                    if not handed_over:
                        response.release()
            finally:
                if unsafe_resend:
                    self._aiohttp_resend(client, off=False)
            if status is None:
                self.stats.transport_errors += 1
            if (status is None and not unsent) or (status is not None and status >= 500):
                uncertain = True
            if status == 429:
                self.stats.rate_limited += 1
                throttled += 1
                if not should_wait_out_throttling(throttled=throttled, policy=policy):
                    raise error
                # The server acted on nothing and said when to come back: wait, then
                # resend (even a retry-unsafe request); no retry is spent and the
                # budget is not touched.
                delay = retry_delay(throttled - 1, policy, retry_after=retry_after)
                budget_wait = 0.0
            else:
                if not should_retry(status=status, attempt=attempt, max_retries=policy.max_retries):
                    raise error
                if request.retry_unsafe and not unsent and status not in _NOT_APPLIED_STATUSES:
                    error.add_note(_NOT_RESENT)
                    raise error
                delay = retry_delay(attempt, policy, retry_after=retry_after)
                # An empty budget slows retries down (each waits for a token); it never
                # turns a retryable failure into a failed request.
                budget_wait = self.budget.reserve() if self.budget is not None else 0.0
                attempt += 1
            self.stats.retries += 1
            wait = max(delay, budget_wait)
            log.debug(
                "retrying %s %s (attempt %d of %d) in %.3fs after %s%s",
                request.method,
                redact_url(url),
                sends + 1,
                policy.max_retries + 1 + throttled,  # 429 waits are not retries
                wait,
                status if status is not None else type(error).__name__,
                "; retry budget empty, waiting for a token" if budget_wait > delay else "",
            )
            await anyio.sleep(wait)

    def _check_length(self, response: aiohttp.ClientResponse, request: Request, url: str) -> None:
        length = response.content_length
        if length is not None and length > self.max_response_bytes:
            raise _too_large(request, url, self.max_response_bytes, length)

    async def _read_body(
        self, response: aiohttp.ClientResponse, request: Request, url: str
    ) -> bytes:
        """The whole body, refused (ResponseDecodeError) past ``max_response_bytes``: by
        its Content-Length before reading, or as soon as the bytes read pass the cap."""
        self._check_length(response, request, url)
        cap = self.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > cap:
                raise _too_large(request, url, cap, None)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _redirect_error(
        self, response: aiohttp.ClientResponse, request: Request, url: str, sends: int
    ) -> AnnoqError:
        """annoq never follows a redirect: the services never redirect API calls, so one
        means a proxy or a wrong base URL, and following it would resend the body (a
        password, a token) and the credentials somewhere else. A redirect to another
        origin is an InsecureTransportError; one within this origin an APIError."""
        location = response.headers.get("Location", "")
        here = URL(url)
        try:
            target = here.join(URL(location)) if location else None
        except (ValueError, TypeError):
            target = None
        where = f"{request.method} {redact_url(url)}"
        if target is None or not target.is_absolute() or target.origin() != here.origin():
            shown = (
                redact_url(target.origin())
                if target is not None and target.is_absolute()
                else "an unreadable location"
            )
            insecure = (
                target is not None and target.scheme == "http" and not is_loopback(target.host)
            )
            return InsecureTransportError(
                f"refusing to follow a {response.status} redirect of {where} to "
                f"{'plain http at ' if insecure else 'another origin, '}{shown}: annoq sends "
                "credentials and request bodies only to the base URL (nothing was sent there); "
                "if that server is the right one, make it the base URL"
            )
        error = error_from_response(
            response.status,
            f"redirect to {target.path} not followed (annoq never follows redirects)",
            method=request.method,
            url=url,
            phrase=response.reason or "",
        )
        error.attempts = sends
        return error

    def _aiohttp_resend(self, client: aiohttp.ClientSession, *, off: bool) -> None:
        """aiohttp resends PUT and DELETE once by itself when a connection drops; its
        switch is per session, so it is off while any retry-unsafe PUT/DELETE is sent."""
        if not hasattr(client, "_retry_connection"):
            return  # an aiohttp that does not resend by itself
        if off:
            if self._unsafe_in_flight == 0:
                self._aiohttp_resends = client._retry_connection
            self._unsafe_in_flight += 1
            client._retry_connection = False
        else:
            self._unsafe_in_flight -= 1
            if self._unsafe_in_flight == 0:
                client._retry_connection = self._aiohttp_resends

    def _transport_error(
        self,
        exc: BaseException,
        request: Request,
        url: str,
        attempt: int,
        *,
        while_: str = "",
    ) -> TransportError:
        during = f" while {while_}" if while_ else ""
        if isinstance(exc, builtins.TimeoutError):
            return TimeoutError(
                f"request timed out{during}", method=request.method, url=url, attempts=attempt + 1
            )
        text = (
            str(exc).split(" [", 1)[0] if not isinstance(exc, aiohttp.ClientResponseError) else ""
        )
        detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        return TransportError(
            f"connection failed{during} ({detail})",
            method=request.method,
            url=url,
            attempts=attempt + 1,
        )


def _too_large(request: Request, url: str, cap: int, length: int | None) -> ResponseDecodeError:
    size = f"of {length:,} bytes " if length is not None else ""
    return ResponseDecodeError(
        f"response {size}to {request.method} {redact_url(url)} is larger than the "
        f"{cap:,}-byte limit (max_response_bytes); not read further"
    )


async def _read_error_body(response: aiohttp.ClientResponse) -> bytes:
    """The first ``ERROR_BODY_BYTES`` of an error answer (enough for its message)."""
    cap = _config.ERROR_BODY_BYTES
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        chunks.append(chunk)
        size += len(chunk)
        if size >= cap:
            break
    return b"".join(chunks)[:cap]


def _parse_error_body(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return content.decode("utf-8", "replace")[: _config.ERROR_TEXT_CHARS]


async def aiter_lines(
    response: aiohttp.ClientResponse, *, max_bytes: int = _config.DEFAULT_MAX_RESPONSE_BYTES
) -> AsyncIterator[bytes]:
    """Lines of a streamed body, without the newline; blank lines skipped.

    The body as a whole, and so each line, is bounded by ``max_bytes``: past it, a
    :class:`ResponseDecodeError` (never an unbounded buffer, never aiohttp's own
    line-length error).
    """
    pending = bytearray()
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        pending += chunk
        end = pending.rfind(b"\n")
        if end >= 0:
            lines = bytes(pending[:end]).split(b"\n")
            del pending[: end + 1]
            for raw in lines:
                line = raw.strip()
                if line:
                    yield line
        if size > max_bytes:  # the lines complete within the cap went out first
            raise ResponseDecodeError(
                f"streamed response is larger than the {max_bytes:,}-byte limit "
                "(max_response_bytes); not read further"
            )
    last = bytes(pending).strip()
    if last:
        yield last
