"""What every backend session shares: its transport, per-view options, and lifetime.

A backend session (``WeaveSession``, ``AnnofabSession``) resolves its own URL and
credentials, then calls :meth:`SessionBase._start`; everything else here is common.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self, TypeVar

import aiohttp
import attrs
from yarl import URL

from . import _config
from ._args import make_options, require_count
from ._bulk import BulkFailure, BulkProgress, BulkResult, Outcome, run_bulk
from ._config import Timeout
from ._errors import Classify, InvalidArgumentError, classify_plain
from ._requester import Identity
from ._retry import RetryBudget, RetryPolicy
from ._transport import Auth, Request, RequestOptions, Response, Transport, TransportStats

__all__ = ["SessionBase"]


W = TypeVar("W")


class SessionBase:
    """One transport (connections, auth, retry budget), the caller's identity, and this
    view's request options; its public verbs make it a :class:`~annoq._requester.Requester`."""

    _transport: Transport
    _options: RequestOptions
    _identity: Identity

    def _start(
        self,
        url: URL,
        auth: Auth,
        *,
        session: aiohttp.ClientSession | None,
        timeout: Timeout | float | None,
        max_retries: int | None,
        retry_policy: RetryPolicy | None,
        retry_budget: RetryBudget | bool | None,
        connection_limit: int,
        user_agent: str | None,
        max_response_bytes: int = _config.DEFAULT_MAX_RESPONSE_BYTES,
        classify: Classify = classify_plain,
        identity: Identity | None = None,
    ) -> None:
        require_count(connection_limit, "connection_limit", minimum=1)
        require_count(max_response_bytes, "max_response_bytes", minimum=1)
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise InvalidArgumentError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
            )
        if user_agent is not None and (
            not isinstance(user_agent, str)
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in user_agent)
        ):
            raise InvalidArgumentError("user_agent must be a string without control characters")
        if retry_budget is not None and not isinstance(retry_budget, bool | RetryBudget):
            raise InvalidArgumentError(
                f"retry_budget must be a RetryBudget, True or None, got {retry_budget!r}"
            )
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise InvalidArgumentError(
                f"retry_policy must be a RetryPolicy, got {type(retry_policy).__name__}"
            )
        budget = RetryBudget() if retry_budget is True else (retry_budget or None)
        self._transport = Transport(
            url, auth, session=session, connection_limit=connection_limit,
            user_agent=user_agent, budget=budget, max_response_bytes=max_response_bytes,
            classify=classify,
        )  # fmt: skip
        self._options = make_options(RequestOptions(), timeout, max_retries, retry_policy)
        self._identity = Identity() if identity is None else identity  # shared by every view

    def with_options(
        self,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Self:
        """A view of this session with other time limits or retries; it shares the
        connections, credentials and everything cached.

            fast = session.with_options(timeout=5.0, max_retries=0)
        """
        view = copy.copy(self)
        view._options = make_options(self._options, timeout, max_retries, retry_policy)
        return view

    def bulk_view(self, max_retries: int | None = None) -> Self:
        """A view for a bulk run: ``max_retries`` per request, by default
        ``DEFAULT_BULK_MAX_RETRIES`` (more than a single call's: over thousands of
        requests, rare streaks of faults do happen).

            view = session.bulk_view()
        """
        retries = _config.DEFAULT_BULK_MAX_RETRIES if max_retries is None else max_retries
        return self.with_options(max_retries=retries)

    @property
    def stats(self) -> TransportStats:
        """Request, retry and throttling counters of this session (shared by its views)."""
        return self._transport.stats

    async def run_bulk(
        self,
        inputs: Iterable[W] | AsyncIterable[W],
        apply: Callable[[W], Awaitable[Outcome]],
        *,
        key: Callable[[W], str],
        concurrency: int,
        on_progress: Callable[[BulkProgress], object] | None = None,
        on_failure: Callable[[BulkFailure], object] | None = None,
        fail_fast: bool = False,
    ) -> BulkResult:
        """Run a bulk job on the shared engine, its throttle and retry figures read from
        this session's counters (the one place that wiring lives for every backend).

            result = await session.run_bulk(ids, apply, key=str, concurrency=16)
        """
        stats = self.stats
        return await run_bulk(
            inputs,
            apply,
            key=key,
            concurrency=concurrency,
            on_progress=on_progress,
            on_failure=on_failure,
            throttle_count=lambda: stats.rate_limited,
            retry_count=lambda: stats.retries,
            fail_fast=fail_fast,
        )

    @property
    def options(self) -> RequestOptions:
        """The time limits and retry policy requests of this view use."""
        return self._options

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (unless the aiohttp session was passed in)."""
        await self._transport.aclose()

    @property
    def identity(self) -> Identity:
        """Who the caller is on the server (shared by every ``with_options`` view)."""
        return self._identity

    async def send(self, request: Request, *, repeatable: bool = True) -> Response:
        """Send one request with this view's time limits and retries (the low-level verb
        handles use). ``repeatable=False`` marks a request whose repeat would not do (or
        not read) the same: it is resent only when nothing can have been done (a
        connection never made, 408, 429), never after a lost answer, a timeout or a
        server error, which may follow a write.

            response = await session.send(request)
        """
        if not repeatable and not request.retry_unsafe:
            request = attrs.evolve(request, retry_unsafe=True)
        return await self._transport.send(request, self._options)

    def stream(self, request: Request) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """Send one request and hold the response open, to read it incrementally.

        async with session.stream(request) as response: ...
        """
        return self._transport.stream(request, self._options)
