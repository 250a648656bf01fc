"""Weave queue walks: the plan of a walk (checked before any request), the walker that
reads the queue's offset list page by page on the shared paging engine
(:mod:`annoq._walk`), and the walks ``Queue.pages()`` and ``Queue.items()`` hand out."""

from __future__ import annotations

import logging
import operator
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Literal, TypeVar

import attrs

from .. import _config
from .._args import require_choice, require_prefetch
from .._errors import InvalidArgumentError
from .._requester import Requester
from .._walk import (
    PageData,
    PaginationError,
    SeenWindow,
    Walk,
    decode_resume_token,
    encode_resume_token,
    walk_pages,
)
from . import _protocol as proto
from ._models import AnnotationState, ItemFilter, Page, QueueItem, SortBy, parse_states

__all__ = ["ItemWalk", "WalkMode", "WalkPlan", "item_walk", "page_walk", "plan_walk", "walk"]

log = logging.getLogger("annoq")

WalkMode = Literal["stable", "fast"]
T_co = TypeVar("T_co", covariant=True)


class ItemWalk(Walk[T_co]):
    """A walk of a queue's items or pages that can be closed early and resumed later.

        async with queue.items(states=["unstarted"]) as walk:
            async for item in walk:
                ...
        token = walk.resume_token   # continue later: queue.items(..., resume=token)

    ``resume_token`` continues right after the last item (or page) handed out.
    Leaving early (``break``, an exception, cancellation) cancels prefetched requests;
    ``async with`` (or :meth:`aclose`) does it at once rather than when collected.
    """

    def __init__(self, source: AsyncIterator[T_co], state: _WalkState) -> None:
        super().__init__(source)
        self._state = state

    @property
    def resume_token(self) -> str | None:
        """Token to continue right after the last item (or page) handed out; ``None``
        before the first."""
        return self._state.resume_token


class _WalkState:
    """Where a walk stands: the list position just after the last item handed out.

    The token is encoded only when asked for, so tracking costs nothing per item.
    """

    __slots__ = ("fingerprint", "position")

    def __init__(self) -> None:
        self.position: int | None = None
        self.fingerprint: Any = None

    @property
    def resume_token(self) -> str | None:
        if self.position is None:
            return None
        return encode_resume_token(self.position, self.fingerprint)


@attrs.frozen
class WalkPlan:
    """What one walk of a queue reads, decided (and checked) before any request.

    ``body`` is the items query without ``limit``/``offset``; ``fingerprint`` is what a
    resume token must match; ``start`` the list offset to begin at; ``states`` the
    states kept while walking (stable mode; ``None``: keep all); ``custom_order`` a
    caller's sort (ids kept for the whole walk); ``anchored`` the overlap of one item
    that finds deletions before the position (stable mode, default order).
    """

    project_id: str
    queue_id: str
    body: dict[str, Any]
    fingerprint: dict[str, Any]
    start: int
    page_size: int
    states: frozenset[AnnotationState] | None
    max_items: int | None
    prefetch: int | None
    custom_order: bool
    anchored: bool


def plan_walk(
    *,
    project_id: str,
    queue_id: str,
    filter: ItemFilter | None = None,
    states: Iterable[AnnotationState | str] | None = None,
    sort_by: SortBy | Sequence[SortBy] | None = None,
    page_size: int = _config.DEFAULT_PAGE_SIZE,
    include_position: bool = False,
    max_items: int | None = None,
    resume: str | None = None,
    mode: str = "stable",
    prefetch: int | None = None,
) -> WalkPlan:
    """The plan of a walk of ``Queue.pages()``/``items()`` (same options); pure, no I/O.

    Every check is here: a bad option raises :class:`~annoq.InvalidArgumentError`
    naming it, before any request.

        plan = plan_walk(project_id="e/p", queue_id="q1", states=["unstarted"])
    """
    proto.require_count(page_size, "page_size", minimum=1)
    require_prefetch(prefetch)
    if max_items is not None:
        proto.require_count(max_items, "max_items")
    require_choice(mode, "mode", ("stable", "fast"))
    base = filter if filter is not None else ItemFilter()
    if not isinstance(base, ItemFilter):
        raise InvalidArgumentError(f"filter must be an ItemFilter, got {type(base).__name__}")
    wanted = base.annotation_states
    if states is not None:
        given = parse_states(states, argument="states")
        if wanted is not None and set(wanted) != set(given or ()):
            raise InvalidArgumentError(
                "states and filter.annotation_states disagree; give the state filter once"
            )
        wanted = given
    if resume is not None and not isinstance(resume, str):
        raise InvalidArgumentError(f"resume must be a resume token (str), got {resume!r}")
    server_filter = base.without_states()
    if mode == "fast" and wanted is not None:
        server_filter = ItemFilter(
            **{**proto.converter.unstructure(server_filter), "annotation_states": wanted}
        )
    body = proto.items_query_body(
        project_id,
        filter=server_filter,
        sort_by=sort_by,
        include_position=include_position,
    )
    fingerprint = {
        "queue": queue_id,
        "body": body,
        "mode": mode,
        "states": sorted(s.value for s in wanted) if wanted is not None else None,
    }
    start = decode_resume_token(resume, fingerprint) if resume is not None else 0
    local_states = frozenset(wanted) if (wanted is not None and mode == "stable") else None
    return WalkPlan(
        project_id=project_id,
        queue_id=queue_id,
        body=body,
        fingerprint=fingerprint,
        start=start,
        page_size=page_size,
        states=local_states,
        max_items=max_items,
        prefetch=prefetch,
        custom_order=sort_by is not None and bool(body.get("sort_by")),
        anchored=mode == "stable" and not body.get("sort_by"),
    )


def page_walk(requester: Requester, plan: WalkPlan) -> ItemWalk[Page[QueueItem]]:
    """``Queue.pages()``: the walk of ``plan``, page by page, sent through ``requester``."""
    state = _WalkState()
    state.fingerprint = plan.fingerprint
    return ItemWalk(_pages_of(walk(requester, plan), state), state)


def item_walk(requester: Requester, plan: WalkPlan) -> ItemWalk[QueueItem]:
    """``Queue.items()``: the walk of ``plan``, item by item, sent through ``requester``."""
    state = _WalkState()
    state.fingerprint = plan.fingerprint
    return _QueueItemWalk(walk(requester, plan), state)


async def walk(requester: Requester, plan: WalkPlan) -> AsyncIterator[_WalkedPage]:
    """Every page of the walk (possibly empty after filtering), with the list
    position just after each kept item, for exact resume tokens.

    Pages are fetched ahead in *segments* of fixed-size pages (:func:`walk_pages`).
    A segment ends, and the next starts where the list really is, when:

    - *items before the position were deleted* (stable mode, default order): each
      page after the first re-reads the last item of the page before (an overlap of
      one). When that anchor is missing, later offsets moved left; the walk backs up
      (a page, then further while the first item read is one it has not seen) and
      goes on, filtering out what it has already read. Nothing is skipped.
    - *a page is short*: it is the end only when nothing follows it (one more request
      tells). When more follows, the server caps the page size below what was asked:
      the walk goes on with pages of the size the server gave, and logs a warning.
    """
    walker = _Walker(plan)
    if walker.remaining == 0:
        return
    queue_id = plan.queue_id

    async def query(body: dict[str, Any]) -> list[QueueItem]:
        request = proto.items_query_request(plan.project_id, queue_id, body)
        return proto.read_items((await requester.send(request)).content)

    overlap = 1 if plan.anchored else 0
    size = plan.page_size
    backing_up = 0  # pages backed up from `backup_from`, while re-finding our place
    backup_from = 0
    # (items, limit) of a short page, while the next request tells what it means
    short: tuple[int, int] | None = None
    stalls = 0  # back-ups since a page last held an item not read before
    warned = False
    while True:
        if stalls > _MAX_STALLS:
            raise PaginationError(
                f"the list of queue {queue_id} keeps moving under the walk (backed up "
                f"{stalls} times without finding an item not read before)"
            )
        if short is not None:
            # One request right after a short page: the end, or a capping server.
            back = overlap if walker.anchor is not None else 0
            offset, limit = walker.position - back, size + back
            raw = await query({**plan.body, "limit": limit, "offset": offset})
            keys = list(map(_item_id, raw))
            if back and walker.shifted(keys):
                backing_up, backup_from = 1, walker.position
                walker.restart(max(0, backup_from - size))
                short = None
                stalls += 1
                continue
            if len(raw) <= back:
                return  # nothing after the short page: the end of the list
            given, asked = short
            # A capping server gives the same short count again; a list that grew at
            # its end (items added meanwhile) gives what was added. Either way the
            # walk goes on from where the items are, so nothing is skipped; only a
            # cap is worth smaller requests (and a warning).
            if len(raw) == given:
                if not warned:
                    warned = True
                    log.warning(
                        "queue %s: the server answered %d items for a page of %d although "
                        "more follow; continuing with pages of %d",
                        queue_id, given, asked, given,
                    )  # fmt: skip
                size = max(1, given - overlap)  # later requests ask for what it gives
            walked = walker.take(offset, back, raw, keys, full=len(raw) == limit, size=size)
            if walked.new:
                stalls = 0
            yield walked
            if walker.remaining == 0:
                return
            short = (len(raw), limit) if len(raw) < size + back else None
            continue

        seg_start, seg_size = walker.position, size
        lead = overlap if walker.anchor is not None else 0

        async def fetch(
            index: int, seg_start: int = seg_start, seg_size: int = seg_size, lead: int = lead
        ) -> PageData[QueueItem]:
            back = lead if index == 0 else overlap
            limit = seg_size + back
            offset = seg_start + index * seg_size - back
            items = await query({**plan.body, "limit": limit, "offset": offset})
            return PageData(items, is_last=len(items) < limit)

        outcome = "end"
        expected_back = lead
        pages = walk_pages(fetch, prefetch=plan.prefetch)
        try:
            async for index, page in pages:
                back = lead if index == 0 else overlap
                limit = seg_size + back
                offset = seg_start + index * seg_size - back
                keys = list(map(_item_id, page.items))
                if backing_up and index == 0:
                    if offset > 0 and keys[0] not in walker.window:
                        if backing_up < _MAX_BACKUP_PAGES:
                            outcome = "further"
                            break
                        log.warning(
                            "queue %s: more than %d pages of items before offset %d "
                            "were deleted during the walk; it goes on from %d",
                            queue_id, _MAX_BACKUP_PAGES, backup_from, offset,
                        )  # fmt: skip
                elif back and walker.shifted(keys):
                    outcome = "backup"
                    break
                full = len(page.items) == limit
                walked = walker.take(offset, back, page.items, keys, full=full, size=seg_size)
                if walked.new:
                    backing_up = stalls = 0
                yield walked
                if walker.remaining == 0:
                    return
                expected_back = overlap
                if page.is_last:
                    if len(page.items) > back:
                        outcome = "short"
                    break
            else:
                # walk_pages ends without yielding on an empty last page; one that
                # should have held the anchor means the list shrank before it.
                if expected_back and walker.anchor is not None:
                    outcome = "backup"
        finally:
            await pages.aclose()  # type: ignore[attr-defined]
        if outcome == "end":
            return
        if outcome == "short":
            short = (len(page.items), seg_size + (lead if index == 0 else overlap))
            continue
        stalls += 1
        if outcome == "backup":
            backing_up, backup_from = 1, walker.position
            log.debug(
                "walk of queue %s: items deleted before offset %d; backing up a page",
                queue_id, backup_from,
            )  # fmt: skip
            walker.restart(max(0, backup_from - size))
        else:  # further
            backing_up += 1
            walker.restart(max(0, backup_from - size * backing_up))


_MAX_BACKUP_PAGES = _config.WALK_MAX_BACKUP_PAGES
_MAX_STALLS = _config.WALK_MAX_STALLS


class _Walker:
    """What a walk knows: where it is in the list, the item just before that (the
    anchor), the ids it has read, and how many more items it may yield."""

    def __init__(self, plan: WalkPlan) -> None:
        size = plan.page_size
        # Holds every id a back-up can re-read (up to _MAX_BACKUP_PAGES pages back).
        self.window = SeenWindow(None if plan.custom_order else (_MAX_BACKUP_PAGES + 2) * size)
        self.states = plan.states
        self.position = plan.start  # list offset of the first item not yet read
        self.anchor: str | None = None  # id of the item just before `position`
        self.remaining = plan.max_items
        self._previous: list[str] | None = None

    def shifted(self, keys: list[str]) -> bool:
        """Whether a page that should hold the anchor does not: the list moved left."""
        return self.anchor is not None and self.anchor not in keys

    def restart(self, position: int) -> None:
        """Go on reading at ``position``, checked against the ids seen (no anchor)."""
        self.position = position
        self.anchor = None
        self._previous = None

    def take(
        self,
        offset: int,
        back: int,
        raw: Sequence[QueueItem],
        keys: list[str],
        *,
        full: bool,
        size: int,
    ) -> _WalkedPage:
        """Read one page found at ``offset`` (its first ``back`` items re-read; ``keys``
        their ids)."""
        if full and keys == self._previous:
            raise PaginationError(
                f"the page at offset {offset} repeats the previous page exactly; "
                "the server is not paging"
            )
        self._previous = keys if full else None
        wanted = self.states
        fresh = self.window.add_page(keys)
        kept: Sequence[QueueItem]
        after: Sequence[int]
        if wanted is None and isinstance(fresh, range):
            # The usual page: all new after the overlap. No step per item.
            kept = tuple(raw[fresh.start :])
            after = range(offset + fresh.start + 1, offset + len(raw) + 1)
        else:
            kept_list: list[QueueItem] = []
            after_list: list[int] = []
            for index in fresh:
                item = raw[index]
                if wanted is None or item.annotation_state in wanted:
                    kept_list.append(item)
                    after_list.append(offset + index + 1)
            kept, after = tuple(kept_list), after_list
        if raw:
            self.anchor = keys[-1]
            self.position = offset + len(raw)
        end = self.position
        remaining = self.remaining
        if remaining is not None and len(kept) >= remaining:
            kept, after = kept[:remaining], after[:remaining]
            end = after[-1] if after else end
            self.remaining = 0
        elif remaining is not None:
            self.remaining = remaining - len(kept)
        walked = _WalkedPage(Page(kept, offset + back, size), after, end)
        walked.new = len(fresh)
        return walked


_item_id = operator.attrgetter("id")


class _WalkedPage:
    __slots__ = ("after", "end", "new", "page")

    def __init__(self, page: Page[QueueItem], after: Sequence[int], end: int) -> None:
        self.page = page
        self.after = after
        self.end = end
        self.new = 0  # items of the page not read before


async def _pages_of(
    walked: AsyncIterator[_WalkedPage], state: _WalkState
) -> AsyncIterator[Page[QueueItem]]:
    try:
        async for entry in walked:
            state.position = entry.end
            if entry.page.items:
                yield attrs.evolve(entry.page, resume_token=state.resume_token)
    finally:
        await walked.aclose()  # type: ignore[attr-defined]


class _QueueItemWalk(ItemWalk[QueueItem]):
    """``queue.items()``: hands out each page's items straight from the page's tuple
    (one coroutine per item, no generator layers), and works out the resume position
    only when asked for it."""

    def __init__(self, walked: AsyncIterator[_WalkedPage], state: _WalkState) -> None:
        super().__init__(walked, state)  # type: ignore[arg-type]
        self._items: Sequence[QueueItem] = ()
        self._after: Sequence[int] = ()
        self._next = 0  # index in _items of the next item to hand out
        self._count = 0
        self._end: int | None = None  # the current page's end position
        self._base: int | None = None  # the position before the current page's items

    async def __anext__(self) -> QueueItem:
        index = self._next
        if index < self._count:
            self._next = index + 1
            return self._items[index]
        return await self._next_page()

    async def _next_page(self) -> QueueItem:
        while True:
            if self._end is not None:
                self._base = self._end
            self._items, self._after, self._next, self._count = (), (), 0, 0
            entry: _WalkedPage = await self._source.__anext__()  # type: ignore[assignment]
            self._end = entry.end
            items = entry.page.items
            if items:
                self._items, self._after, self._next, self._count = (
                    items, entry.after, 1, len(items),
                )  # fmt: skip
                return items[0]

    @property
    def resume_token(self) -> str | None:
        """Token to continue right after the last item handed out; ``None`` before the
        first."""
        index = self._next
        position = self._after[index - 1] if index else self._base
        self._state.position = position
        return self._state.resume_token
