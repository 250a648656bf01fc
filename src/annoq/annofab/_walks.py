"""Walks of Annofab's page+limit lists (input data, annotations, projects) on the shared
paging engine (:mod:`annoq._walk`): prefetching, in order, each item once.

A list whose order moves while items change (input data: latest update first) gets a
catch-up pass after the main walk: the items updated since the walk began (``from`` the
first item's ``updated_datetime``) that the walk has not yielded yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from .. import _config
from .._args import require_count, require_prefetch
from .._errors import InvalidArgumentError
from .._walk import PageData, SeenWindow, Walk, dedupe, walk_pages
from ._models import OverLimitError
from ._models_data import Page

__all__ = ["EndGuard", "ListWalk", "list_walk"]

T = TypeVar("T")

#: ``fetch(page_no, limit)``: one page of the list (1-based), as the server answers it.
Fetch = Callable[[int, int], Awaitable[Page[T]]]


class _State:
    __slots__ = ("over_limit", "total_count")

    def __init__(self) -> None:
        self.total_count: int | None = None
        self.over_limit: bool | None = None


class EndGuard:
    """Keeps a walk's prefetch from asking for pages past the list's end.

    Annofab's answers say how many pages the list has (``total_page_no``), and a walk
    ends at the page that reaches it. A page beyond the largest total seen so far is
    requested only once the page before it has answered and was not the last (the list
    grew meanwhile); when it was the last, the page is never requested
    (:meth:`past_end` is true, and the walk has ended before it anyway). Within the
    totals known, and before any answer, pages go out as the prefetch asks.
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


class ListWalk(Walk[T], Generic[T]):
    """An async iterator over a paged Annofab list that can be closed early.

        async with project.input_data() as walk:
            async for item in walk:
                ...
        print(walk.total_count)

    ``total_count`` and ``over_limit`` are the server's figures (``None`` before the
    first page).
    """

    def __init__(self, source: AsyncIterator[T], state: _State) -> None:
        super().__init__(source)
        self._state = state

    @property
    def total_count(self) -> int | None:
        """Items the server's list matches (``None`` before the first page)."""
        return self._state.total_count

    @property
    def over_limit(self) -> bool | None:
        """Whether the list matches more than Annofab pages through (10,000)."""
        return self._state.over_limit


def check_list_walk(page_size: int, prefetch: int | None, on_over_limit: str) -> None:
    """Validate the common walk options (before any request)."""
    require_count(page_size, "page_size", minimum=1)
    require_prefetch(prefetch)
    if page_size > _config.ANNOFAB_MAX_PAGE_SIZE:
        raise InvalidArgumentError(
            f"page_size must be at most {_config.ANNOFAB_MAX_PAGE_SIZE}, got {page_size}"
        )
    if on_over_limit not in ("raise", "warn"):
        raise InvalidArgumentError(
            f"on_over_limit={on_over_limit!r} is not allowed; use 'raise' or 'warn'"
        )


def list_walk(
    fetch: Fetch[T],
    key: Callable[[T], Hashable],
    *,
    page_size: int,
    prefetch: int | None,
    on_over_limit: str = "raise",
    catch_up: Callable[[T], Fetch[T]] | None = None,
) -> ListWalk[T]:
    """Walk a page+limit list: every item once (by ``key``).

    ``catch_up(first_item)`` gives the fetcher of a second, narrower pass over the items
    changed since the walk began (for a list in latest-update-first order, where a
    changed item jumps to the front, onto pages already read).
    """
    check_list_walk(page_size, prefetch, on_over_limit)
    state = _State()
    return ListWalk(_items(fetch, key, page_size, prefetch, on_over_limit, catch_up, state), state)


async def _pass(
    fetch: Fetch[T],
    key: Callable[[T], Hashable],
    window: SeenWindow,
    page_size: int,
    prefetch: int | None,
    on_over_limit: str,
    state: _State | None,
    firsts: list[T],
) -> AsyncIterator[T]:
    cap = _config.ANNOFAB_RESULT_CAP
    metas: dict[int, Page[T]] = {}
    guard = EndGuard()

    async def one(index: int) -> PageData[T]:
        if await guard.past_end(index):
            guard.record(index, 0, True)
            return PageData((), is_last=True)  # never reached: the walk ended before
        page = await fetch(index + 1, page_size)
        metas[index] = page
        reachable = (index + 1) * page_size < cap
        last = not page.items or page.page_no >= page.total_page_no or not reachable
        guard.record(index, page.total_page_no, last)
        return PageData(page.items, is_last=last)

    # The order can move under the walk: a page may legitimately repeat; the 10,000 cap
    # bounds the walk anyway.
    pages = dedupe(walk_pages(one, prefetch=prefetch), key, window, repeats_ok=True)
    try:
        async for index, page, fresh in pages:
            meta = metas.pop(index)
            if index == 0 and page.items:
                firsts.append(page.items[0])
            if state is not None:
                state.total_count, state.over_limit = meta.total_count, meta.over_limit
                if meta.over_limit and on_over_limit == "raise":
                    raise OverLimitError(meta.total_count, cap, local_filters=False)
            for item in fresh:
                yield item
    finally:
        await pages.aclose()  # type: ignore[attr-defined]


async def _items(
    fetch: Fetch[T],
    key: Callable[[T], Hashable],
    page_size: int,
    prefetch: int | None,
    on_over_limit: str,
    catch_up: Callable[[T], Fetch[T]] | None,
    state: _State,
) -> AsyncIterator[T]:
    window = SeenWindow(None)  # every id: the order may move, the cap bounds it
    firsts: list[T] = []
    main = _pass(fetch, key, window, page_size, prefetch, on_over_limit, state, firsts)
    try:
        async for item in main:
            yield item
    finally:
        await main.aclose()  # type: ignore[attr-defined]
    if catch_up is None or not firsts:
        return
    for _ in range(_config.ANNOFAB_WALK_CATCH_UP_PASSES):
        before = len(window)
        again: list[T] = []
        extra = _pass(catch_up(firsts[0]), key, window, page_size, prefetch, "warn", None, again)
        try:
            async for item in extra:
                yield item
        finally:
            await extra.aclose()  # type: ignore[attr-defined]
        if len(window) == before:
            return
