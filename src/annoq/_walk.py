"""The paging engine: a page fetcher in, an ordered async stream of pages out.

Backend-agnostic. A backend supplies ``fetch(index) -> PageData`` for page number
``index`` (0-based from where the walk starts); the engine keeps up to ``prefetch`` pages
in flight ahead of the consumer (by default a depth that adapts, see :func:`walk_pages`),
delivers them in order, stops at the end, and cancels what is in flight when the consumer
stops early.

Why the explicit yield to the loop: a prefetch task only sends its request once the event
loop runs it, and a consumer that does no I/O between items would never let it run; so
right after scheduling pages the walker gives the loop one turn.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, Self, TypeVar

import attrs
import orjson

from . import _config
from ._errors import AnnoqError, InvalidArgumentError

__all__ = [
    "EndGuard",
    "PageData",
    "PaginationError",
    "PrefetchDepth",
    "SeenWindow",
    "Walk",
    "decode_resume_token",
    "dedupe",
    "encode_resume_token",
    "timed",
    "walk_deduped",
    "walk_pages",
]

T = TypeVar("T")
P = TypeVar("P")
T_co = TypeVar("T_co", covariant=True)


class Walk(AsyncIterator[T_co]):
    """An async iterator over a walk that can be closed early; backends subclass it to
    expose what the walk learns (resume token, totals).

    Leaving early (``break``, an exception, cancellation) cancels prefetched requests;
    ``async with`` (or :meth:`aclose`) does it at once rather than when collected.
    """

    def __init__(self, source: AsyncIterator[T_co]) -> None:
        self._source = source

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T_co:
        return await self._source.__anext__()

    async def aclose(self) -> None:
        """Stop the walk and cancel requests still in flight."""
        await self._source.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class PaginationError(AnnoqError):
    """The server's pages make no progress (e.g. it ignores the offset)."""


@attrs.frozen
class PageData(Generic[T]):
    """What a backend's fetcher returns: the items and whether this was the last page."""

    items: Sequence[T]
    is_last: bool


class PrefetchDepth:
    """How many pages a walk keeps requested ahead of its consumer.

    A number is a fixed depth. ``None`` (the walks' default) adapts, from
    ``DEFAULT_PREFETCH`` up to ``WALK_MAX_PREFETCH``: each time the consumer is about to
    wait on a page asked ahead (:meth:`deepen`), the depth becomes what keeps the
    service's pipe full: the quickest page's latency over this process's CPU time per
    page (:meth:`record`), the pages one latency takes to use up. A slow service (50 ms a
    page, 3 ms to decode and use one) gets 16 pages in flight; a fast one, or a client
    busy decoding, stays near 2 (more pages would only wait in memory). Nor does it
    deepen while pages queue at the service: while any of the last
    ``WALK_LATENCY_SAMPLES`` pages took more than ``WALK_LATENCY_TOLERANCE`` times the
    quickest (the first pages, sent together, already tell a queue, where each waits
    for the one before, from a slow service).

        depth = PrefetchDepth(None)
        depth.record(0.05)          # a page took 50 ms
        if depth.deepen(): ...      # ask for more pages now
    """

    __slots__ = ("_cpu_start", "_lowest", "_pages", "_recent", "ceiling", "depth")

    def __init__(self, prefetch: int | None, max_prefetch: int | None = None) -> None:
        if prefetch is None:
            prefetch, max_prefetch = _config.DEFAULT_PREFETCH, _config.WALK_MAX_PREFETCH
        if (
            isinstance(prefetch, bool)
            or not isinstance(prefetch, int)
            or not (0 <= prefetch <= _config.MAX_PREFETCH)
        ):
            raise InvalidArgumentError(
                f"prefetch must be an integer from 0 to {_config.MAX_PREFETCH}, got {prefetch!r}"
            )
        self.depth = prefetch
        self.ceiling = (
            prefetch if max_prefetch is None or prefetch == 0 else max(prefetch, max_prefetch)
        )
        self._lowest = math.inf
        self._pages = 0
        self._recent: deque[float] = deque(maxlen=_config.WALK_LATENCY_SAMPLES)
        self._cpu_start = time.process_time()

    def record(self, took: float) -> None:
        """A page arrived ``took`` seconds after it was asked for."""
        self._pages += 1
        self._recent.append(took)
        if took < self._lowest:
            self._lowest = took

    def deepen(self) -> bool:
        """The consumer is about to wait on a page asked ahead: deepen if that helps;
        whether the depth grew."""
        if (
            self.depth >= self.ceiling
            or self._pages < _config.WALK_LATENCY_SAMPLES
            or max(self._recent) > self._lowest * _config.WALK_LATENCY_TOLERANCE
        ):
            return False
        per_page = (time.process_time() - self._cpu_start) / self._pages
        wanted = self.ceiling if per_page <= 0 else math.ceil(self._lowest / per_page)
        if wanted <= self.depth:
            return False
        self.depth = min(self.ceiling, wanted)
        return True


async def timed(request: Awaitable[T]) -> tuple[T, float]:
    """``request``'s result and the seconds it took (loop time), for :class:`PrefetchDepth`."""
    clock = asyncio.get_running_loop().time
    started = clock()
    result = await request
    return result, clock() - started


async def walk_pages(
    fetch: Callable[[int], Awaitable[PageData[T]]],
    *,
    prefetch: int | None,
    max_prefetch: int | None = None,
) -> AsyncIterator[tuple[int, PageData[T]]]:
    """Yield ``(index, page)`` for pages 0, 1, 2, ... in order until the last page.

    Up to ``prefetch`` further pages are requested while the consumer holds one.
    ``prefetch=None`` (the walks' default) adapts (see :class:`PrefetchDepth`); so does
    ``prefetch`` (>= 1) with ``max_prefetch``, from ``prefetch`` up to ``max_prefetch``:
    when the depth grows, those pages are requested at once. Leaving the loop early
    (break, exception, cancellation) cancels and awaits every request still in flight,
    so nothing is left pending.
    """
    depth = PrefetchDepth(prefetch, max_prefetch)
    in_flight: deque[asyncio.Task[tuple[PageData[T], float]]] = deque()
    next_index = 0

    def schedule(count: int) -> None:
        nonlocal next_index
        while len(in_flight) < count:
            in_flight.append(asyncio.ensure_future(timed(fetch(next_index))))
            next_index += 1

    index = 0
    try:
        schedule(depth.depth + 1)  # the first page and `prefetch` more
        while True:
            if not in_flight:
                schedule(1)
            await asyncio.sleep(0)  # let new requests go out before we wait or yield
            head = in_flight.popleft()
            if not head.done() and depth.deepen():
                schedule(depth.depth)
                await asyncio.sleep(0)
            page, took = await head
            depth.record(took)
            if not page.is_last:
                schedule(depth.depth)  # keep `depth` pages requested beyond this one
                await asyncio.sleep(0)
            if page.items:
                yield index, page
            if page.is_last:
                return
            index += 1
    finally:
        await _cancel_all(in_flight)


async def _cancel_all(tasks: deque[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        # Await them so no "Task was destroyed but it is pending" and no unclosed
        # response; their errors are irrelevant now (the walk is over).
        await asyncio.gather(*tasks, return_exceptions=True)
    tasks.clear()


class SeenWindow:
    """Ids read recently (the last ``capacity`` distinct ones, or all with
    ``capacity=None``); reading an id again makes it recent again.

    A stable walk only ever sees an item twice when a few new items land just before
    the current position, or when it backs up after deletions; a window of a few pages
    bounds memory and still catches every repeat. A walk in a custom sort order keeps
    every id (``capacity=None``).
    """

    __slots__ = ("_capacity", "_seen")

    def __init__(self, capacity: int | None) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        """Record ``key``; ``False`` if it was already in the window."""
        seen = self._seen
        if key in seen:
            if self._capacity is not None:
                seen.move_to_end(key)
            return False
        seen[key] = None
        if self._capacity is not None and len(seen) > self._capacity:
            seen.popitem(last=False)
        return True

    def add_page(self, keys: Sequence[Hashable]) -> Sequence[int]:
        """Record a page's ``keys`` in order; the indices of those not in the window.

        Equal to calling :meth:`add` on each key in turn (same result, same window
        after), but a page whose already-seen keys are a prefix (none, or the overlap a
        walk re-reads) is recorded with set operations instead of a step per key, and
        its fresh indices come back as a ``range``.
        """
        seen = self._seen
        count = len(keys)
        page = dict.fromkeys(keys)
        common = seen.keys() & page.keys()
        start = len(common)
        if len(page) != count or (start and not common.issuperset(keys[:start])):
            return [index for index, key in enumerate(keys) if self.add(key)]
        capacity = self._capacity
        if capacity is not None:
            for key in keys[:start]:
                seen.move_to_end(key)
        seen.update(page)  # the seen prefix keeps its (just renewed) place
        if capacity is not None:
            popitem = seen.popitem
            for _ in range(len(seen) - capacity):
                popitem(last=False)
        return range(start, count)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._seen

    def __len__(self) -> int:
        return len(self._seen)


async def dedupe(
    pages: AsyncIterator[tuple[int, PageData[T]]],
    key: Callable[[T], Hashable],
    window: SeenWindow,
    *,
    repeats_ok: bool = False,
) -> AsyncIterator[tuple[int, PageData[T], list[T]]]:
    """Add to each page the list of its items not seen before (by ``key``).

    Raises :class:`PaginationError` when two consecutive full pages hold the same ids:
    the server is ignoring the position and the walk would never end. ``repeats_ok``
    skips that check, for an order that moves under the walk (a custom sort) in a walk
    that is bounded otherwise.
    """
    previous: list[Hashable] | None = None
    async for index, page in pages:
        keys = [key(item) for item in page.items]
        if keys and keys == previous and not repeats_ok:
            raise PaginationError(
                f"page {index} repeats the previous page exactly; the server is not paging"
            )
        previous = keys
        items = page.items
        fresh = [items[index] for index in window.add_page(keys)]
        yield index, page, fresh


class EndGuard:
    """Keeps a walk's prefetch from asking for pages past the list's end, for a list
    whose answers say how many pages it has (Annofab's ``total_page_no``).

    A page beyond the largest count answered so far is requested only once the page
    before it has answered and was not the last (the list grew meanwhile); when it was
    the last, the page is never requested (:meth:`past_end` is true, and the walk has
    ended before it anyway). Before any answer, and within the counts known, pages go
    out as the prefetch asks.
    """

    __slots__ = ("_answered", "_changed", "_total")

    def __init__(self) -> None:
        self._total: int | None = None  # no answer yet
        self._answered: dict[int, bool] = {}  # page index -> was the last page
        self._changed = asyncio.Event()

    def record(self, index: int, total_pages: int, last: bool) -> None:
        """Page ``index`` (0-based) answered: the list's page count, and whether the
        walk ends there."""
        self._total = total_pages if self._total is None else max(self._total, total_pages)
        self._answered[index] = last
        self._answered.pop(index - _config.MAX_PREFETCH - 2, None)  # keep a few
        self._changed.set()
        self._changed = asyncio.Event()

    async def past_end(self, index: int) -> bool:
        """Whether page ``index`` lies past the end (then it must not be requested)."""
        while self._total is not None and index >= 1 and index + 1 > self._total:
            before = self._answered.get(index - 1)
            if before is not None:
                return before
            await self._changed.wait()
        return False


async def walk_deduped(
    fetch: Callable[[int], Awaitable[P]],
    items: Callable[[P], Sequence[T]],
    is_last: Callable[[int, P], bool],
    key: Callable[[T], Hashable],
    window: SeenWindow,
    *,
    prefetch: int | None,
    repeats_ok: bool = False,
    page_count: Callable[[P], int] | None = None,
) -> AsyncIterator[tuple[int, P, list[T]]]:
    """The walk wiring a paged list needs, written once: ``fetch(index)`` reads page
    ``index`` (0-based) as the backend answers it (its own record, with its totals);
    ``items(page)`` and ``is_last(index, page)`` say what it holds and whether the list
    ends there. Yields ``(index, page, fresh)`` in order, prefetched (:func:`walk_pages`),
    with ``fresh`` the items not in ``window`` yet (by ``key``, :func:`dedupe`). Closing
    it early cancels the requests in flight. ``page_count(page)``, when the answers say
    how many pages the list has, keeps the prefetch from asking past the end
    (:class:`EndGuard`).

        async for index, page, fresh in walk_deduped(fetch, items, is_last, key, window,
                                                     prefetch=2):
            ...
    """
    read: dict[int, P] = {}
    guard = EndGuard() if page_count is not None else None

    async def one(index: int) -> PageData[T]:
        if guard is not None and await guard.past_end(index):
            guard.record(index, 0, True)
            return PageData((), is_last=True)  # never reached: the walk ended before
        page = await fetch(index)
        read[index] = page
        last = is_last(index, page)
        if guard is not None and page_count is not None:
            guard.record(index, page_count(page), last)
        return PageData(items(page), is_last=last)

    pages = dedupe(walk_pages(one, prefetch=prefetch), key, window, repeats_ok=repeats_ok)
    try:
        async for index, _, fresh in pages:
            yield index, read.pop(index), fresh
    finally:
        await pages.aclose()  # type: ignore[attr-defined]


def _fingerprint(query: Any) -> str:
    return hashlib.blake2b(
        orjson.dumps(query, option=orjson.OPT_SORT_KEYS), digest_size=6
    ).hexdigest()


def encode_resume_token(position: int, query: Any) -> str:
    """An opaque token for "continue this query at ``position``".

    It carries a fingerprint of the query, so a token is refused by a different query
    instead of silently resuming somewhere meaningless.
    """
    raw = orjson.dumps({"v": 1, "p": position, "q": _fingerprint(query)})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_resume_token(token: str, query: Any) -> int:
    """The position stored in ``token``; InvalidArgumentError if it is not for ``query``."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        position = data["p"]
        fingerprint = data["q"]
        if data.get("v") != 1 or not isinstance(position, int) or position < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeEncodeError, orjson.JSONDecodeError):
        raise InvalidArgumentError("resume token is malformed (pass a Page.resume_token)") from None
    if fingerprint != _fingerprint(query):
        raise InvalidArgumentError(
            "resume token belongs to a different query (filter, states, sort or mode differ)"
        )
    return position
