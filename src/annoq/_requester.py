"""What a handle, a driver or a walk may use of a session: its public verbs.

A ``Queue``, a ``Project``, the per-item drivers and the walks hold a session (or a
``with_options`` view of one) and reach it only through :class:`Requester`: send a
request, stream one, read the counters, make a view with other options, and ask who
the caller is (:class:`Identity`, one holder shared by every view). Nothing reaches
the transport or a session's private state, so a backend's handles change only when
this small surface does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, Self, TypeVar, cast

import aiohttp
import anyio

from ._config import Timeout
from ._retry import RetryPolicy
from ._transport import Request, RequestOptions, Response, TransportStats

__all__ = ["Identity", "Requester"]

log = logging.getLogger("annoq")

A = TypeVar("A")


class Identity:
    """Who the caller is on the server, shared by every ``with_options`` view.

    Weave: the user id, given by the caller (trusted), or learned from an answer that
    proves a real write by the caller. Two proofs that disagree (another annotator's
    write in the same instant spoiled one) make it unknown again for good: nothing is
    decided on a guess. Annofab: the caller's account record, fetched once
    (:meth:`record`).
    """

    __slots__ = ("_contested", "_given", "_lock", "_record", "_user_id")

    def __init__(self, user_id: str | None = None) -> None:
        self._user_id = user_id
        self._given = user_id is not None
        self._contested = False
        self._record: object = None
        self._lock = anyio.Lock()

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

    async def record(self, fetch: Callable[[], Awaitable[A]]) -> A:
        """The caller's record (an account), fetched by ``fetch`` once for every view:
        concurrent first callers wait for the one request (single-flight)."""
        if self._record is None:
            async with self._lock:
                if self._record is None:
                    self._record = await fetch()
        return cast(A, self._record)


class Requester(Protocol):
    """The verbs a session offers its handles, drivers and walks (and nothing else).

    response = await session.send(request)
    async with session.stream(request) as response: ...
    view = session.with_options(max_retries=8)
    """

    @property
    def identity(self) -> Identity:
        """Who the caller is (shared by every view)."""
        ...

    @property
    def stats(self) -> TransportStats:
        """Request, retry and throttling counters (shared by every view)."""
        ...

    @property
    def options(self) -> RequestOptions:
        """The time limits and retry policy of this view."""
        ...

    async def send(self, request: Request, *, repeatable: bool = True) -> Response:
        """Send one request with this view's options; ``repeatable=False`` for one
        whose repeat would not do the same (resent only when it cannot have arrived)."""
        ...

    def stream(self, request: Request) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """Send one request and hold its response open to read incrementally."""
        ...

    def with_options(
        self,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Self:
        """A view with other time limits or retries, sharing everything else."""
        ...
