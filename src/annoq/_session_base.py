"""What every backend session shares: its transport, per-view options, and lifetime.

A backend session (``WeaveSession``, ``AnnofabSession``) resolves its own URL and
credentials, then calls :meth:`SessionBase._start`; everything else here is common.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
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
from ._retry import RetryBudget, RetryPolicy
from ._transport import Auth, Request, RequestOptions, Response, Transport, TransportStats

__all__ = ["Identity", "SessionBase"]

log = logging.getLogger("annoq")


class Identity:
    """Who the caller is on the server, shared by every ``with_options`` view.

    Given by the caller (trusted), or learned from an answer that proves a real write
    by the caller. Two proofs that disagree (another annotator's write in the same
    instant spoiled one) make it unknown again for good: nothing is decided on a guess.
    """

    __slots__ = ("_contested", "_given", "_user_id")

    def __init__(self, user_id: str | None = None) -> None:
        self._user_id = user_id
        self._given = user_id is not None
        self._contested = False

    @property
    def user_id(self) -> str | None:
        """The caller's user id, if known."""
        return self._user_id

    @property
    def given(self) -> bool:
        """Whether the id was given by the caller (not learned)."""
        return self._given

    def give(self, user_id: str | None) -> None:
        """Set (or, with ``None``, forget) the id, as the caller's word."""
        self._user_id = user_id
        self._given = user_id is not None
        self._contested = False

    def learn(self, user_id: str) -> None:
        """Record a proof that ``user_id`` is the caller."""
        if self._given or self._contested or user_id == self._user_id:
            return
        if self._user_id is None:
            self._user_id = user_id
            return
        log.warning("two writes proved different user ids; treating the user id as unknown")
        self._user_id = None
        self._contested = True


W = TypeVar("W")


class SessionBase:
    """One transport (connections, auth, retry budget) and this view's request options."""

    _transport: Transport
    _options: RequestOptions

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

    async def _send(self, request: Request) -> Response:
        return await self._transport.send(request, self._options)

    async def _fetch(self, request: Request) -> bytes:
        return (await self._transport.send(request, self._options)).content

    async def _send_unrepeatable(self, request: Request) -> Response:
        """Send a request whose repeat would not do (or not read) the same: resent only
        when nothing can have been done (a connection never made, 408, 429), never after
        a lost answer, a timeout or a server error, which may follow a write."""
        return await self._transport.send(attrs.evolve(request, retry_unsafe=True), self._options)
