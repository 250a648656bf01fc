"""``Queue``: a cheap handle on one annotation queue, with walking and bulk updates."""

from __future__ import annotations

import logging
import operator
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs

from .. import _config
from .._args import require_choice, require_flag, require_inputs, require_prefetch
from .._bulk import BulkFailure, BulkProgress, BulkResult, key_by
from .._errors import AnnoqError, InvalidArgumentError, NotFoundError
from .._walk import (
    PageData,
    PaginationError,
    SeenWindow,
    Walk,
    decode_resume_token,
    encode_resume_token,
    walk_pages,
)
from . import _annotations
from . import _protocol as proto
from ._annotations import AnnotationRow, AnnotationWalk
from ._driver import MAYBE_APPLIED, ProgressDriver
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
from ._models_annotations import AnnotationSpec

if TYPE_CHECKING:
    from ._session import WeaveSession

__all__ = ["ItemWalk", "Queue", "WalkMode"]

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
            (await self._weave.send(proto.read_queue_request(self.project_id, self.id))).content
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
        return proto.read_queue((await self._weave.send(request)).content)

    async def delete(self) -> AnnotationQueue:
        """Soft-delete the queue (its items stay); a second delete is a NotFoundError.

        Resolved against the server, as a repeat of a delete whose answer was lost reads
        as NotFoundError: the queue is read first (NotFoundError if it is missing or
        already deleted), then deleted. A 404 from the delete itself, or a lost answer
        after which the queue reads as missing, means it is deleted now (by this call,
        or by someone else at the same moment): the queue is returned as read just
        before (its ``deleted_at`` then unknown, ``None``). Only throttling (429) is
        retried; after another lost answer, with the queue still there, the error is
        raised.
        """
        before = await self.read()
        request = proto.delete_queue_request(self.project_id, self.id)
        try:
            return proto.read_queue((await self._weave.send(request, repeatable=False)).content)
        except NotFoundError:
            return before
        except MAYBE_APPLIED as error:
            try:
                await self.read()
            except NotFoundError:
                return before
            except AnnoqError:
                raise error from None
            raise

    async def stats(self) -> QueueStats:
        """This queue's item counts."""
        [stats] = await self._weave.queue_stats(self.project_id, [self.id])
        return stats

    async def add_calls(
        self, call_ids: Iterable[str], *, display_fields: Iterable[str] = ()
    ) -> AddCallsResult:
        """Add calls as items; already-present calls count as duplicates.

        Not retried once the request may have reached the server (a repeat after a lost
        answer would report the calls it had added as duplicates): only throttling
        (429) is retried. After a :class:`~annoq.TransportError` or a server error some
        calls may have been added; calling again is safe (present ones are duplicates).

            added = await queue.add_calls(call_ids, display_fields=["inputs.prompt"])
        """
        request = proto.add_calls_request(self.project_id, self.id, call_ids, display_fields)
        return proto.read_add_calls((await self._weave.send(request, repeatable=False)).content)

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
        return proto.read_items((await self._weave.send(request)).content)

    async def get_item(self, item_id: str) -> QueueItem | None:
        """One item by id, or ``None`` if it is not in this queue."""
        page = await self.query_page(
            filter=ItemFilter(id=proto.require_segment(item_id, "item_id")), limit=1
        )
        return page.items[0] if page.items else None

    async def update_progress(self, item_id: str, state: AnnotationState | str) -> QueueItem:
        """Set your annotation state of one item; returns the item as it now shows.

        A refusal on the first attempt is raised (:class:`~annoq.InvalidTransitionError`),
        except the legacy server's "from 'X' to 'X'" (your record already holds it: the
        item is returned). After a retried attempt, a legacy refusal, or retries that
        ran out, is resolved against the server: when it proves your record holds
        ``state`` (a refusal naming it, or the item shown as set by you), the item is
        returned instead of an error.

            item = await queue.update_progress(item_id, AnnotationState.COMPLETED)
        """
        target = parse_state(state, argument="state", allowed=SETTABLE_STATES)
        driver = ProgressDriver(self, self._weave, target)
        return await driver.update_one(item_id)

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
        prefetch: int | None = None,
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

        ``prefetch`` pages are requested ahead of the one you hold. The default
        (``None``) starts at 2 and, when you wait on a page, deepens to what one
        page's latency takes to use up, up to 16 (``WALK_MAX_PREFETCH``): a slow service
        gets more pages in flight, a fast one or a slow consumer keeps few in memory.
        A number fixes the depth (``prefetch=0``: one page at a time).

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
        prefetch: int | None = None,
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
        return _QueueItemWalk(self._walk(plan), state)

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
        prefetch: int | None,
    ) -> _WalkPlan:
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
            anchored=mode == "stable" and not body.get("sort_by"),
        )

    async def _walk(self, plan: _WalkPlan) -> AsyncIterator[_WalkedPage]:
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
                    f"the list of queue {self.id} keeps moving under the walk (backed up "
                    f"{stalls} times without finding an item not read before)"
                )
            if short is not None:
                # One request right after a short page: the end, or a capping server.
                back = overlap if walker.anchor is not None else 0
                offset, limit = walker.position - back, size + back
                raw = await self._query({**plan.body, "limit": limit, "offset": offset})
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
                            self.id, given, asked, given,
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
                items = await self._query({**plan.body, "limit": limit, "offset": offset})
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
                                self.id, _MAX_BACKUP_PAGES, backup_from, offset,
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
                    self.id, backup_from,
                )  # fmt: skip
                walker.restart(max(0, backup_from - size))
            else:  # further
                backing_up += 1
                walker.restart(max(0, backup_from - size * backing_up))

    # -- annotations (see _annotations.py) --------------------------------------------

    async def annotation_specs(self) -> tuple[AnnotationSpec, ...]:
        """The AnnotationSpecs this queue's ``scorer_refs`` name (its questions).

        specs = await queue.annotation_specs()
        print([(s.name, s.field_schema) for s in specs])
        """
        return await _annotations.annotation_specs(self)

    def annotations(
        self,
        *,
        states: Iterable[AnnotationState | str] | None = None,
        specs: Iterable[str] | None = None,
        filter: ItemFilter | None = None,
        page_size: int = _config.DEFAULT_PAGE_SIZE,
        prefetch: int | None = None,
        feedback_page_size: int = _config.DEFAULT_FEEDBACK_PAGE_SIZE,
    ) -> AnnotationWalk:
        """Walk the queue (the stable walk of :meth:`items`) and yield each item with
        the human annotations made from this queue on its call.

        One feedback query per page of items (not per item), prefetched like the item
        pages; memory stays bounded by a few pages. Re-sent rows (same id, shown twice
        until the service merges them) are reported once, the latest. ``specs`` keeps
        only answers to those specs (names or refs).

            async for entry in queue.annotations(states=["completed"]):
                for a in entry.annotations:
                    print(entry.item.id, a.spec_name, a.annotator, a.value)
        """
        return _annotations.export(
            self,
            states=states,
            specs=specs,
            filter=filter,
            page_size=page_size,
            prefetch=prefetch,
            feedback_page_size=feedback_page_size,
        )

    async def submit_annotations(
        self,
        rows: Iterable[AnnotationRow] | AsyncIterable[AnnotationRow],
        *,
        complete: bool = True,
        concurrency: int = _config.DEFAULT_BULK_CONCURRENCY,
        on_progress: Callable[[BulkProgress], object] | None = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
        max_payload_bytes: int = _config.DEFAULT_MAX_FEEDBACK_PAYLOAD,
        batch_items: int = _config.DEFAULT_ANNOTATION_BATCH_ITEMS,
    ) -> BulkResult:
        """Annotate many items as yourself; one outcome per row.

        ``rows`` are ``(item id or QueueItem, {spec name or ref: value})``. Each value is
        checked against its spec's ``field_schema`` and the payload size limit before
        anything is written: a list of rows is checked whole first (InvalidArgumentError
        naming the item and the spec); rows from a lazy iterable are checked as they are
        read, and a bad one fails alone (reason ``invalid_value``). Each row's answers go
        in one ``/feedback/batch/create`` request with ids derived from project, queue,
        item and spec, so a retry after a lost answer, or a rerun, replaces instead of
        duplicating. With ``complete`` the item is then marked completed. A row whose
        answers were already there (and, with ``complete``, already completed by you)
        is ``unchanged``. Pass QueueItems (from a walk) to save a lookup per id. The
        reads and writes of concurrent rows are coalesced, up to ``batch_items`` rows per
        feedback query and per batch create; the progress updates go one per item.

            result = await queue.submit_annotations(
                [(item_id, {"quality": 4, "ok": True})], complete=True
            )
        """
        return await _annotations.submit(
            self,
            rows,
            complete=complete,
            concurrency=concurrency,
            on_progress=on_progress,
            fail_fast=fail_fast,
            max_retries=max_retries,
            max_payload_bytes=max_payload_bytes,
            batch_items=batch_items,
        )

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
        exact: bool = False,
    ) -> BulkResult:
        """Set ``state`` on many items, ``concurrency`` at a time; one outcome per input.

        ``items`` is any iterable or async iterable of ids or :class:`QueueItem` (read
        lazily; a generator of millions is fine). Each ends as updated, unchanged
        (already so for you) or failed with a reason; a lost response that is retried is
        resolved against the server and counted once. Throttling (429) narrows the
        parallelism, which recovers as requests succeed. Each request is retried up to
        ``max_retries`` times (default ``DEFAULT_BULK_MAX_RETRIES``, more than a single
        call's: over thousands of requests, rare streaks of faults do happen).

        After a run with ``failed == 0`` every input item holds YOUR record in
        ``state``, whoever else annotated it. Counts are exact for :class:`QueueItem`
        inputs (the item as read is compared with the answer). For bare ids, once your
        user id is known, an item whose latest display was already "``state``, by you"
        counts as updated (the current server answers a repeat exactly like a write);
        ``exact=True`` reads each item first (one more request each) to count it
        unchanged. ``on_failure`` is called with each failure as it happens.

            result = await queue.bulk_update_progress(ids, "completed", concurrency=32)
            print(result.updated, result.unchanged, result.failed)
        """
        require_inputs(items, "items")
        target = parse_state(state, argument="state", allowed=SETTABLE_STATES)
        require_flag(exact, "exact")
        weave = self._weave.bulk_view(max_retries)
        driver = ProgressDriver(weave.queue(self.project_id, self.id), weave, target, exact=exact)
        return await weave.run_bulk(
            items,
            driver.run,
            key=_work_key,
            concurrency=concurrency,
            on_progress=on_progress,
            on_failure=on_failure,
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
        the updates it makes never cause it to skip an item. The walk's requests are
        retried as persistently as the updates (``max_retries``); if it fails anyway,
        :class:`~annoq.BulkInputError` is raised with the partial result. Counts are
        exact (each walked item is compared with its update's answer).

            result = await queue.mark_all("completed", states=["unstarted", "in_progress"])
        """
        target = parse_state(state, argument="state", allowed=SETTABLE_STATES)
        walker = self._weave.bulk_view(max_retries).queue(self.project_id, self.id)
        walk = walker.items(filter=filter, states=states, page_size=page_size)
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


_MAX_BACKUP_PAGES = _config.WALK_MAX_BACKUP_PAGES
_MAX_STALLS = _config.WALK_MAX_STALLS


class _Walker:
    """What a walk knows: where it is in the list, the item just before that (the
    anchor), the ids it has read, and how many more items it may yield."""

    def __init__(self, plan: _WalkPlan) -> None:
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


class _WalkPlan:
    __slots__ = (
        "anchored",
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
        prefetch: int | None,
        *,
        custom_order: bool,
        anchored: bool = False,
    ) -> None:
        self.anchored = anchored
        self.body = body
        self.fingerprint = fingerprint
        self.start = start
        self.page_size = page_size
        self.states = states
        self.max_items = max_items
        self.prefetch = prefetch
        self.custom_order = custom_order


_work_key = key_by(QueueItem, "id")


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
