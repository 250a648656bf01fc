"""``Queue``: a cheap handle on one annotation queue, with walking and bulk updates."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs

from .. import _config
from .._bulk import BulkFailure, BulkProgress, BulkResult, Outcome, key_by, run_bulk
from .._errors import InvalidArgumentError, InvalidTransitionError
from .._walk import (
    PageData,
    SeenWindow,
    Walk,
    decode_resume_token,
    dedupe,
    encode_resume_token,
    walk_pages,
)
from . import _protocol as proto
from ._models import (
    SETTABLE_STATES,
    AddCallsResult,
    AnnotationQueue,
    AnnotationState,
    ItemFilter,
    Page,
    QueueItem,
    QueueStats,
    SortBy,
    parse_state,
)

if TYPE_CHECKING:
    from ._session import WeaveSession

__all__ = ["ItemWalk", "Queue", "WalkMode"]

WalkMode = Literal["stable", "fast"]
T_co = TypeVar("T_co", covariant=True)

# Legacy servers name the annotator's own current state in the refusal; when it equals the
# requested state, the update is in fact in place (e.g. our own earlier, lost attempt).
_SAME_STATE = re.compile(r"from '([a-z_]+)' to '([a-z_]+)'")


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


class Queue:
    """A handle on one annotation queue. Made by ``WeaveSession.queue``; no I/O until used.

    queue = weave.queue("entity/project", queue_id)
    info = await queue.read()
    async for item in queue.items(states=["unstarted"], page_size=500): ...
    result = await queue.bulk_update_progress(ids, "completed", concurrency=16)
    """

    def __init__(self, weave: WeaveSession, project_id: str, queue_id: str) -> None:
        self._weave = weave
        self.project_id = project_id
        self.id = queue_id

    def __repr__(self) -> str:
        return f"Queue(project_id={self.project_id!r}, id={self.id!r})"

    # -- the queue itself -----------------------------------------------------------

    async def read(self) -> AnnotationQueue:
        """The queue's metadata; :class:`~annoq.NotFoundError` if missing or deleted."""
        return proto.read_queue(
            await self._weave._fetch(proto.read_queue_request(self.project_id, self.id))
        )

    async def update(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        scorer_refs: Iterable[str] | None = None,
    ) -> AnnotationQueue:
        """Change name, description or scorers (only what is given); returns the queue."""
        request = proto.update_queue_request(
            self.project_id, self.id, name=name, description=description, scorer_refs=scorer_refs
        )
        return proto.read_queue(await self._weave._fetch(request))

    async def delete(self) -> AnnotationQueue:
        """Soft-delete the queue (its items stay); a second delete is a NotFoundError."""
        return proto.read_queue(
            await self._weave._fetch(proto.delete_queue_request(self.project_id, self.id))
        )

    async def stats(self) -> QueueStats:
        """This queue's item counts."""
        [stats] = await self._weave.queue_stats(self.project_id, [self.id])
        return stats

    async def add_calls(
        self, call_ids: Iterable[str], *, display_fields: Iterable[str] = ()
    ) -> AddCallsResult:
        """Add calls as items; already-present calls count as duplicates.

        added = await queue.add_calls(call_ids, display_fields=["inputs.prompt"])
        """
        request = proto.add_calls_request(self.project_id, self.id, call_ids, display_fields)
        return proto.read_add_calls(await self._weave._fetch(request))

    # -- items: one request ---------------------------------------------------------

    async def query_page(
        self,
        *,
        filter: ItemFilter | None = None,
        sort_by: SortBy | Sequence[SortBy] | None = None,
        limit: int | None = None,
        offset: int = 0,
        include_position: bool = False,
    ) -> Page[QueueItem]:
        """One item query, exactly as the API does it (a single request).

        page = await queue.query_page(limit=100, offset=0, include_position=True)
        """
        body = proto.items_query_body(
            self.project_id,
            filter=filter,
            sort_by=sort_by,
            limit=limit,
            offset=offset,
            include_position=include_position,
        )
        items = await self._query(body)
        return Page(tuple(items), offset, limit)

    async def _query(self, body: dict[str, Any]) -> list[QueueItem]:
        request = proto.items_query_request(self.project_id, self.id, body)
        return proto.read_items(await self._weave._fetch(request))

    async def get_item(self, item_id: str) -> QueueItem | None:
        """One item by id, or ``None`` if it is not in this queue."""
        page = await self.query_page(
            filter=ItemFilter(id=proto.require_id(item_id, "item_id")), limit=1
        )
        return page.items[0] if page.items else None

    async def update_progress(self, item_id: str, state: AnnotationState | str) -> QueueItem:
        """Set your annotation state of one item; returns the item as it now shows.

        item = await queue.update_progress(item_id, AnnotationState.COMPLETED)
        """
        request = proto.update_progress_request(self.project_id, self.id, item_id, state)
        return proto.read_item(await self._weave._fetch(request))

    # -- walking --------------------------------------------------------------------

    def pages(
        self,
        *,
        filter: ItemFilter | None = None,
        states: Iterable[AnnotationState | str] | None = None,
        sort_by: SortBy | Sequence[SortBy] | None = None,
        page_size: int = _config.DEFAULT_PAGE_SIZE,
        include_position: bool = False,
        max_items: int | None = None,
        resume: str | None = None,
        mode: WalkMode = "stable",
        prefetch: int = _config.DEFAULT_PREFETCH,
    ) -> ItemWalk[Page[QueueItem]]:
        """Walk the queue page by page (``Page`` objects), prefetching ahead.

        ``states`` (or ``filter.annotation_states``) keeps items in those states. In the
        default ``mode="stable"`` the state filter is applied here while walking the
        server's append-only unfiltered list, so changes during the walk (yours or other
        annotators') never make it skip or repeat an item: every item that existed when
        the walk started and matches when its page is read is yielded exactly once.
        ``mode="fast"`` sends the state filter to the server (fewer bytes) and is only
        correct when no state changes while walking. With ``sort_by`` the list is not
        append-only: items are deduplicated by id (never yielded twice), but an item
        inserted before the current position during the walk is not seen, and one whose
        sort key changes may be missed.

            async for page in queue.pages(filter=ItemFilter(call_op_name="predict")):
                print(page.offset, len(page.items))
        """
        state = _WalkState()
        plan = self._plan_walk(
            filter, states, sort_by, page_size, include_position, max_items, resume, mode, prefetch
        )
        state.fingerprint = plan.fingerprint
        return ItemWalk(_pages_of(self._walk(plan), state), state)

    def items(
        self,
        *,
        filter: ItemFilter | None = None,
        states: Iterable[AnnotationState | str] | None = None,
        sort_by: SortBy | Sequence[SortBy] | None = None,
        page_size: int = _config.DEFAULT_PAGE_SIZE,
        include_position: bool = False,
        max_items: int | None = None,
        resume: str | None = None,
        mode: WalkMode = "stable",
        prefetch: int = _config.DEFAULT_PREFETCH,
    ) -> ItemWalk[QueueItem]:
        """Walk the queue item by item; same options and guarantees as :meth:`pages`.

        async for item in queue.items(states=["unstarted"]):
            print(item.id, item.call_op_name)
        """
        state = _WalkState()
        plan = self._plan_walk(
            filter, states, sort_by, page_size, include_position, max_items, resume, mode, prefetch
        )
        state.fingerprint = plan.fingerprint
        return ItemWalk(_items_of(self._walk(plan), state), state)

    def _plan_walk(
        self,
        filter: ItemFilter | None,
        states: Iterable[AnnotationState | str] | None,
        sort_by: SortBy | Sequence[SortBy] | None,
        page_size: int,
        include_position: bool,
        max_items: int | None,
        resume: str | None,
        mode: str,
        prefetch: int,
    ) -> _WalkPlan:
        proto.require_count(page_size, "page_size", minimum=1)
        proto.require_count(prefetch, "prefetch")
        if max_items is not None:
            proto.require_count(max_items, "max_items")
        if mode not in ("stable", "fast"):
            raise InvalidArgumentError(f"mode={mode!r} is not allowed; use 'stable' or 'fast'")
        base = filter if filter is not None else ItemFilter()
        if not isinstance(base, ItemFilter):
            raise InvalidArgumentError(f"filter must be an ItemFilter, got {type(base).__name__}")
        wanted = base.annotation_states
        if states is not None:
            given = ItemFilter(annotation_states=states).annotation_states
            if wanted is not None and set(wanted) != set(given or ()):
                raise InvalidArgumentError(
                    "states and filter.annotation_states disagree; give the state filter once"
                )
            wanted = given
        server_filter = base.without_states()
        if mode == "fast" and wanted is not None:
            server_filter = ItemFilter(
                **{**proto.converter.unstructure(server_filter), "annotation_states": wanted}
            )
        body = proto.items_query_body(
            self.project_id,
            filter=server_filter,
            sort_by=sort_by,
            include_position=include_position,
        )
        fingerprint = {
            "queue": self.id,
            "body": body,
            "mode": mode,
            "states": sorted(s.value for s in wanted) if wanted is not None else None,
        }
        start = decode_resume_token(resume, fingerprint) if resume is not None else 0
        local_states = frozenset(wanted) if (wanted is not None and mode == "stable") else None
        return _WalkPlan(
            body,
            fingerprint,
            start,
            page_size,
            local_states,
            max_items,
            prefetch,
            custom_order=sort_by is not None and bool(body.get("sort_by")),
        )

    async def _walk(self, plan: _WalkPlan) -> AsyncIterator[_WalkedPage]:
        """Every page of the walk (possibly empty after filtering), with the list
        position just after each kept item, for exact resume tokens."""
        size = plan.page_size

        async def fetch(index: int) -> PageData[QueueItem]:
            body = {**plan.body, "limit": size, "offset": plan.start + index * size}
            items = await self._query(body)
            return PageData(items, is_last=len(items) < size)

        window = SeenWindow(None if plan.custom_order else 2 * size)
        remaining = plan.max_items
        if remaining == 0:
            return
        wanted = plan.states
        pages = dedupe(walk_pages(fetch, prefetch=plan.prefetch), _item_id, window)
        async for index, raw, fresh in pages:
            offset = plan.start + index * size
            fresh_ids = {id(item) for item in fresh}
            kept: list[QueueItem] = []
            after: list[int] = []
            for position, item in enumerate(raw.items, offset + 1):
                if id(item) in fresh_ids and (wanted is None or item.annotation_state in wanted):
                    kept.append(item)
                    after.append(position)
            end = offset + len(raw.items)
            if remaining is not None and len(kept) >= remaining:
                del kept[remaining:], after[remaining:]
                end = after[-1] if after else end
                remaining = 0
            elif remaining is not None:
                remaining -= len(kept)
            yield _WalkedPage(Page(tuple(kept), offset, size), after, end)
            if remaining == 0:
                return

    # -- bulk -----------------------------------------------------------------------

    async def bulk_update_progress(
        self,
        items: Iterable[str | QueueItem] | AsyncIterable[str | QueueItem],
        state: AnnotationState | str,
        *,
        concurrency: int = _config.DEFAULT_BULK_CONCURRENCY,
        on_progress: Callable[[BulkProgress], object] | None = None,
        on_failure: Callable[[BulkFailure], object] | None = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Set ``state`` on many items, ``concurrency`` at a time; one outcome per input.

        ``items`` is any iterable or async iterable of ids or :class:`QueueItem` (read
        lazily; a generator of millions is fine). Each ends as updated, unchanged
        (already so for you) or failed with a reason; a lost response that is retried is
        resolved against the server and counted once. Throttling (429) narrows the
        parallelism, which recovers as requests succeed. Each request is retried up to
        ``max_retries`` times (default ``DEFAULT_BULK_MAX_RETRIES``, more than a single
        call's: over thousands of requests, rare streaks of faults do happen).

            result = await queue.bulk_update_progress(ids, "completed", concurrency=32)
            print(result.updated, result.unchanged, result.failed)
        """
        target = parse_state(state, argument="state", allowed=SETTABLE_STATES)
        retries = _config.DEFAULT_BULK_MAX_RETRIES if max_retries is None else max_retries
        weave = self._weave.with_options(max_retries=retries)
        stats = weave.stats
        return await run_bulk(
            items,
            lambda work: self._apply_progress(weave, work, target),
            key=_work_key,
            concurrency=concurrency,
            on_progress=on_progress,
            on_failure=on_failure,
            throttle_count=lambda: stats.rate_limited,
            retry_count=lambda: stats.retries,
            fail_fast=fail_fast,
        )

    async def mark_all(
        self,
        state: AnnotationState | str,
        *,
        filter: ItemFilter | None = None,
        states: Iterable[AnnotationState | str] | None = None,
        concurrency: int = _config.DEFAULT_BULK_CONCURRENCY,
        page_size: int = _config.DEFAULT_PAGE_SIZE,
        on_progress: Callable[[BulkProgress], object] | None = None,
        on_failure: Callable[[BulkFailure], object] | None = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Set ``state`` on every item matching ``filter``/``states``, streaming.

        A stable walk feeds the bulk updater directly (nothing is collected first), so
        the updates it makes never cause it to skip an item.

            result = await queue.mark_all("completed", states=["unstarted", "in_progress"])
        """
        target = parse_state(state, argument="state", allowed=SETTABLE_STATES)
        walk = self.items(filter=filter, states=states, page_size=page_size)
        async with walk:
            return await self.bulk_update_progress(
                walk,
                target,
                concurrency=concurrency,
                on_progress=on_progress,
                on_failure=on_failure,
                fail_fast=fail_fast,
                max_retries=max_retries,
            )

    async def _apply_progress(
        self, weave: WeaveSession, work: str | QueueItem, target: AnnotationState
    ) -> Outcome:
        me = self._weave.user_id
        before: QueueItem | None = None
        if isinstance(work, QueueItem):
            if work.queue_id != self.id:
                raise InvalidArgumentError(f"item {work.id!r} belongs to queue {work.queue_id!r}")
            if me is not None and work.annotation_state == target and work.annotator_user_id == me:
                return Outcome.UNCHANGED  # known to be done already; no request
            before, item_id = work, work.id
        elif isinstance(work, str) and work.strip():
            item_id = work
        else:
            raise InvalidArgumentError(f"bulk input must be an item id or QueueItem, got {work!r}")
        request = proto.update_progress_request(self.project_id, self.id, item_id, target)
        try:
            response = await weave._transport.send(request, weave.options)
        except InvalidTransitionError as refusal:
            return await self._resolve_refusal(item_id, target, refusal)
        item = proto.read_item(response.content)
        if response.attempts > 1:
            return Outcome.UPDATED  # a retry's 200 after a lost answer: ours, counted once
        return self._judge(before, item, target)

    def _judge(
        self, before: QueueItem | None, after: QueueItem, target: AnnotationState
    ) -> Outcome:
        """Was a 200 answer a real write or a no-op (our record already had ``target``)?

        A real write makes us the item's latest annotator: the answer shows ``target``
        set by us. A no-op leaves the item as it was. So with the item as it was before
        (a ``QueueItem`` input), an unchanged display means a no-op, and whoever the
        display names after a real write is us (learned for later decisions). With a
        bare id on the current server a repeat cannot be told from a fresh write (the
        answers are identical); it counts as updated, and is never written twice.
        """
        me = self._weave.user_id
        if after.annotation_state != target or not after.annotator_user_id:
            return Outcome.UNCHANGED  # the display is someone else's later state
        if before is not None:
            if (
                before.annotation_state == target
                and before.annotator_user_id == after.annotator_user_id
            ):
                if me is None:
                    self._weave.user_id = after.annotator_user_id  # a no-op shows our own record
                return Outcome.UNCHANGED
            if me is None:
                self._weave.user_id = after.annotator_user_id  # a real write shows its author
                return Outcome.UPDATED
        if me is not None and after.annotator_user_id != me:
            return Outcome.UNCHANGED
        return Outcome.UPDATED

    async def _resolve_refusal(
        self, item_id: str, target: AnnotationState, refusal: InvalidTransitionError
    ) -> Outcome:
        """A refused update may be our own earlier attempt (a lost response) or a state
        we set before; find out from the server instead of reporting a failure."""
        done = Outcome.UPDATED if refusal.attempts > 1 else Outcome.UNCHANGED
        named = _SAME_STATE.search(refusal.reason)
        if named is not None:
            if named.group(1) == named.group(2) == target.value:
                return done
            raise refusal
        current = await self.get_item(item_id)
        me = self._weave.user_id
        if (
            current is not None
            and current.annotation_state == target
            and (me is None or current.annotator_user_id == me)
        ):
            return done
        raise refusal


class _WalkPlan:
    __slots__ = (
        "body",
        "custom_order",
        "fingerprint",
        "max_items",
        "page_size",
        "prefetch",
        "start",
        "states",
    )

    def __init__(
        self,
        body: dict[str, Any],
        fingerprint: dict[str, Any],
        start: int,
        page_size: int,
        states: frozenset[AnnotationState] | None,
        max_items: int | None,
        prefetch: int,
        *,
        custom_order: bool,
    ) -> None:
        self.body = body
        self.fingerprint = fingerprint
        self.start = start
        self.page_size = page_size
        self.states = states
        self.max_items = max_items
        self.prefetch = prefetch
        self.custom_order = custom_order


def _item_id(item: QueueItem) -> str:
    return item.id


_work_key = key_by(QueueItem, "id")


class _WalkedPage:
    __slots__ = ("after", "end", "page")

    def __init__(self, page: Page[QueueItem], after: list[int], end: int) -> None:
        self.page = page
        self.after = after
        self.end = end


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


async def _items_of(
    walked: AsyncIterator[_WalkedPage], state: _WalkState
) -> AsyncIterator[QueueItem]:
    try:
        async for entry in walked:
            for item, position in zip(entry.page.items, entry.after, strict=True):
                state.position = position
                yield item
            state.position = entry.end
    finally:
        await walked.aclose()  # type: ignore[attr-defined]
