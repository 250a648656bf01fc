"""``Queue``: a cheap handle on one annotation queue, with walking and bulk updates."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .. import _config
from .._args import require_flag, require_inputs
from .._bulk import BulkFailure, BulkProgress, BulkResult, key_by
from .._errors import AnnoqError, NotFoundError
from . import _annotations, _walks
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
from ._walks import ItemWalk, WalkMode

if TYPE_CHECKING:
    from ._session import WeaveSession

__all__ = ["ItemWalk", "Queue", "WalkMode"]


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
        plan = _walks.plan_walk(
            project_id=self.project_id,
            queue_id=self.id,
            filter=filter,
            states=states,
            sort_by=sort_by,
            page_size=page_size,
            include_position=include_position,
            max_items=max_items,
            resume=resume,
            mode=mode,
            prefetch=prefetch,
        )
        return _walks.page_walk(self._weave, plan)

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
        plan = _walks.plan_walk(
            project_id=self.project_id,
            queue_id=self.id,
            filter=filter,
            states=states,
            sort_by=sort_by,
            page_size=page_size,
            include_position=include_position,
            max_items=max_items,
            resume=resume,
            mode=mode,
            prefetch=prefetch,
        )
        return _walks.item_walk(self._weave, plan)

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


_work_key = key_by(QueueItem, "id")
