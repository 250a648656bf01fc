"""Walks of Annofab's page+limit lists (input data, annotations, projects) on the shared
paging engine (:mod:`annoq._walk`): prefetching, in order, each item once.

A list whose order moves while items change (input data: latest update first) gets a
catch-up pass after the main walk: the items updated since the walk began (``from`` the
first item's ``updated_datetime``) that the walk has not yielded yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Hashable, Sequence
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from .. import _config
from .._args import require_choice, require_page_size, require_prefetch
from .._walk import SeenWindow, Walk, walk_deduped
from ._models import OverLimitError
from ._models_data import Page

__all__ = ["ListWalk", "WholeList", "list_walk", "numbered_pages"]

T = TypeVar("T")


class Numbered(Protocol):
    """What an Annofab page says of where it stands in the list."""

    @property
    def page_no(self) -> int: ...

    @property
    def total_page_no(self) -> int: ...


P = TypeVar("P", bound=Numbered)

#: ``fetch(page_no, limit)``: one page of the list (1-based), as the server answers it.
Fetch = Callable[[int, int], Awaitable[Page[T]]]


class _State:
    __slots__ = ("over_limit", "total_count")

    def __init__(self) -> None:
        self.total_count: int | None = None
        self.over_limit: bool | None = None


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
    require_page_size(page_size, maximum=_config.ANNOFAB_MAX_PAGE_SIZE)
    require_prefetch(prefetch)
    require_choice(on_over_limit, "on_over_limit", ("raise", "warn"))


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


def numbered_pages(
    fetch: Callable[[int, int], Awaitable[P]],
    items: Callable[[P], Sequence[T]],
    key: Callable[[T], Hashable],
    window: SeenWindow,
    *,
    page_size: int,
    prefetch: int | None,
    repeats_ok: bool,
) -> AsyncIterator[tuple[int, P, list[T]]]:
    """Annofab's page+limit paging on the one walk entry point
    (:func:`annoq._walk.walk_deduped`): ``fetch(page_no, limit)`` (1-based) answers a
    page with ``page_no``/``total_page_no``; the walk ends at the last page, an empty
    one, or the 10,000 results Annofab pages through."""
    cap = _config.ANNOFAB_RESULT_CAP

    def one(index: int) -> Awaitable[P]:
        return fetch(index + 1, page_size)

    def is_last(index: int, page: P) -> bool:
        reachable = (index + 1) * page_size < cap
        return not items(page) or page.page_no >= page.total_page_no or not reachable

    return walk_deduped(
        one,
        items,
        is_last,
        key,
        window,
        prefetch=prefetch,
        repeats_ok=repeats_ok,
        page_count=_page_count,
    )


def _page_count(page: Numbered) -> int:
    return page.total_page_no


def _items_of(page: Page[T]) -> Sequence[T]:
    return page.items


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
    # The order can move under the walk: a page may legitimately repeat; the 10,000 cap
    # bounds the walk anyway.
    pages = numbered_pages(
        fetch, _items_of, key, window, page_size=page_size, prefetch=prefetch, repeats_ok=True
    )
    try:
        async for index, page, fresh in pages:
            if index == 0 and page.items:
                firsts.append(page.items[0])
            if state is not None:
                state.total_count, state.over_limit = page.total_count, page.over_limit
                if page.over_limit and on_over_limit == "raise":
                    cap = _config.ANNOFAB_RESULT_CAP
                    raise OverLimitError(page.total_count, cap, local_filters=False)
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


class WholeList(Generic[T]):
    """A list the service answers whole (no paging): await it for a ``list``, or walk
    it with ``async for`` like the paged lists. One request, sent when first awaited or
    iterated; awaiting or iterating again reuses the answer.

        members = await project.members()
        async for member in project.members():
            ...
    """

    __slots__ = ("_fetch", "_items")

    def __init__(self, fetch: Callable[[], Awaitable[list[T]]]) -> None:
        self._fetch = fetch
        self._items: list[T] | None = None

    async def _load(self) -> list[T]:
        if self._items is None:
            self._items = await self._fetch()
        return list(self._items)

    def __await__(self) -> Generator[Any, None, list[T]]:
        return self._load().__await__()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._walk()

    async def _walk(self) -> AsyncIterator[T]:
        for item in await self._load():
            yield item

    async def __aenter__(self) -> WholeList[T]:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None

    async def aclose(self) -> None:
        """Nothing to cancel (for symmetry with the paged walks)."""
