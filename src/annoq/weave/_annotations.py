"""Annotations out and in: a queue's specs, the export walk, and the bulk import.

The operations behind ``Queue.annotation_specs``, ``Queue.annotations`` and
``Queue.submit_annotations``; they use only the session's requester and the queue's own
walk and progress calls.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import _config
from .._bulk import BulkProgress, BulkResult, Outcome
from .._coalesce import Coalescer
from .._errors import BadRequestError, InvalidArgumentError
from .._walk import PrefetchDepth, Walk, timed
from . import _protocol_annotations as ap
from ._driver import ProgressDriver
from ._models import AnnotationState, ItemFilter, Page, QueueItem
from ._models_annotations import Annotation, AnnotationSpec, FeedbackRow, ItemAnnotations

if TYPE_CHECKING:
    from ._handle import Queue
    from ._session import WeaveSession

__all__ = ["AnnotationRow", "AnnotationWalk", "annotation_specs", "export", "submit"]

AnnotationRow = tuple["str | QueueItem", Mapping[str, Any]]
"""One import input: an item (id or :class:`QueueItem`) and ``{spec name or ref: value}``."""


class AnnotationWalk(Walk[ItemAnnotations]):
    """The export walk: each item with its annotations, in queue order.

    async with queue.annotations(states=["completed"]) as walk:
        async for entry in walk:
            print(entry.item.id, entry.values(annotator="ann-1"))
    """


async def annotation_specs(queue: Queue) -> tuple[AnnotationSpec, ...]:
    """The AnnotationSpecs the queue's ``scorer_refs`` name, in that order (two requests:
    the queue, then one batch read of its refs)."""
    info = await queue.read()
    refs = list(info.scorer_refs)
    if not refs:
        return ()
    content = (await queue._weave.send(ap.read_refs_request(refs))).content
    return tuple(ap.read_specs(content, refs))


def _spec_index(specs: Iterable[AnnotationSpec]) -> dict[str, AnnotationSpec]:
    index: dict[str, AnnotationSpec] = {}
    for spec in specs:
        index[spec.name] = spec
        index[spec.ref] = spec
    return index


def _choose_specs(known: Sequence[AnnotationSpec], wanted: Sequence[str]) -> frozenset[str]:
    index = _spec_index(known)
    names = set()
    for key in wanted:
        spec = index.get(key)
        if spec is None:
            allowed = ", ".join(repr(s.name) for s in known) or "none"
            raise InvalidArgumentError(
                f"specs: {key!r} is not a spec of this queue; its specs are {allowed}"
            )
        names.add(spec.name)
    return frozenset(names)


def _str_list(values: Iterable[str] | None, argument: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        raise InvalidArgumentError(f"{argument} must be a list of strings, not a single string")
    out = list(values)
    for value in out:
        if not isinstance(value, str) or not value:
            raise InvalidArgumentError(f"{argument} entries must be non-empty strings")
    return out


# -- export -----------------------------------------------------------------------------


def export(
    queue: Queue,
    *,
    states: Iterable[AnnotationState | str] | None,
    specs: Iterable[str] | None,
    filter: ItemFilter | None,
    page_size: int,
    prefetch: int | None,
    feedback_page_size: int,
) -> AnnotationWalk:
    wanted = _str_list(specs, "specs")
    if isinstance(feedback_page_size, bool) or not isinstance(feedback_page_size, int):
        raise InvalidArgumentError("feedback_page_size must be an integer >= 1")
    if feedback_page_size < 1:
        raise InvalidArgumentError("feedback_page_size must be an integer >= 1")
    # The page walk checks its own arguments now, before any request.
    pages = queue.pages(filter=filter, states=states, page_size=page_size, prefetch=prefetch)
    return AnnotationWalk(_export(queue, pages, wanted, prefetch, feedback_page_size))


async def _export(
    queue: Queue,
    pages: Walk[Page[QueueItem]],
    wanted: list[str] | None,
    prefetch: int | None,
    feedback_page_size: int,
) -> AsyncIterator[ItemAnnotations]:
    pending: deque[tuple[Page[QueueItem], asyncio.Task[tuple[list[FeedbackRow], float]]]]
    pending = deque()
    depth = PrefetchDepth(prefetch)  # feedback queries on the way: as the item pages'
    try:
        chosen = None
        if wanted is not None:
            chosen = _choose_specs(await annotation_specs(queue), wanted)
        async for page in pages:
            task = asyncio.ensure_future(timed(_page_feedback(queue, page, feedback_page_size)))
            pending.append((page, task))
            await asyncio.sleep(0)  # let the query go out while earlier pages are consumed
            while len(pending) > depth.depth:
                if not pending[0][1].done() and depth.deepen():
                    continue
                for entry in await _joined(pending.popleft(), queue.project_id, chosen, depth):
                    yield entry
        while pending:
            for entry in await _joined(pending.popleft(), queue.project_id, chosen, depth):
                yield entry
    finally:
        for _, task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
        await pages.aclose()


async def _page_feedback(queue: Queue, page: Page[QueueItem], limit: int) -> list[FeedbackRow]:
    """The feedback rows of this queue on a page's calls: one query, unless a page of
    calls has ``limit`` rows or more; then the calls are split in halves and each half
    asked again (never paged by offset: a background merge between two pages would
    shift rows past the offset), down to single calls, which alone page by offset."""
    refs = sorted({ap.call_ref(queue.project_id, item.call_id) for item in page.items})
    return await _feedback_of(queue, refs, limit)


async def _feedback_of(queue: Queue, refs: list[str], limit: int) -> list[FeedbackRow]:
    expr = ap.queue_feedback_expr(queue.id, refs)
    request = ap.feedback_query_request(queue.project_id, expr, limit=limit, offset=0)
    rows = ap.read_feedback((await queue._weave.send(request)).content)
    if len(rows) < limit:
        return rows
    if len(refs) > 1:
        middle = len(refs) // 2
        return [
            *await _feedback_of(queue, refs[:middle], limit),
            *await _feedback_of(queue, refs[middle:], limit),
        ]
    while True:  # one call with ``limit`` rows or more
        request = ap.feedback_query_request(queue.project_id, expr, limit=limit, offset=len(rows))
        batch = ap.read_feedback((await queue._weave.send(request)).content)
        rows.extend(batch)
        if len(batch) < limit:
            return rows


async def _joined(
    entry: tuple[Page[QueueItem], asyncio.Task[tuple[list[FeedbackRow], float]]],
    project_id: str,
    chosen: frozenset[str] | None,
    depth: PrefetchDepth,
) -> list[ItemAnnotations]:
    page, task = entry
    rows, took = await task
    depth.record(took)
    by_ref: dict[str, list[Annotation]] = {}
    for row in ap.latest_rows(rows):
        annotation = ap.annotation_of(row)
        if annotation is None or (chosen is not None and annotation.spec_name not in chosen):
            continue
        by_ref.setdefault(row.weave_ref, []).append(annotation)
    out = []
    for item in page.items:
        found = by_ref.get(ap.call_ref(project_id, item.call_id), [])
        found.sort(key=lambda a: (a.spec_name, a.annotator, a.created_at, a.feedback_id))
        out.append(ItemAnnotations(item, tuple(found)))
    return out


# -- import -----------------------------------------------------------------------------


class _Prepared:
    """One checked import input: the item and its payloads per spec."""

    __slots__ = ("item", "item_id", "payloads")

    def __init__(
        self,
        item_id: str,
        item: QueueItem | None,
        payloads: list[tuple[AnnotationSpec, dict[str, Any]]],
    ) -> None:
        self.item_id = item_id
        self.item = item
        self.payloads = payloads


class _NotInQueue(InvalidArgumentError):
    failure_code = "not_in_queue"


class _Invalid(InvalidArgumentError):
    failure_code = "invalid_value"


def _prepare(
    row: Any, queue_id: str, index: dict[str, AnnotationSpec], max_payload_bytes: int
) -> _Prepared:
    if not isinstance(row, tuple | list) or len(row) != 2:
        raise _Invalid(
            f"an annotation row must be (item id or QueueItem, {{spec: value}}), got {row!r:.80}"
        )
    target, values = row
    if isinstance(target, QueueItem):
        if target.queue_id != queue_id:
            raise _Invalid(f"item {target.id!r} belongs to queue {target.queue_id!r}")
        item_id, item = target.id, target
    elif isinstance(target, str) and target.strip():
        item_id, item = target.strip(), None
    else:
        raise _Invalid(
            f"an annotation row's item must be an item id or QueueItem, got {target!r:.60}"
        )
    if not isinstance(values, Mapping) or not values:
        raise _Invalid(f"item {item_id!r}: values must be a non-empty {{spec name or ref: value}}")
    payloads: list[tuple[AnnotationSpec, dict[str, Any]]] = []
    seen: set[str] = set()
    for key, value in values.items():
        spec = index.get(key) if isinstance(key, str) else None
        if spec is None:
            names = ", ".join(sorted({repr(s.name) for s in index.values()})) or "none"
            raise _Invalid(
                f"item {item_id!r}, spec {key!r}: not a spec of this queue; its specs are {names}"
            )
        if spec.name in seen:
            raise _Invalid(f"item {item_id!r}, spec {spec.name!r}: given twice")
        seen.add(spec.name)
        try:
            payload = ap.check_annotation_value(
                item_id, spec, value, max_payload_bytes=max_payload_bytes
            )
        except InvalidArgumentError as problem:
            raise _Invalid(str(problem)) from None
        payloads.append((spec, payload))
    return _Prepared(item_id, item, payloads)


async def submit(
    queue: Queue,
    rows: Iterable[AnnotationRow] | AsyncIterable[AnnotationRow],
    *,
    complete: bool,
    concurrency: int,
    on_progress: Callable[[BulkProgress], object] | None,
    fail_fast: bool,
    max_retries: int | None,
    max_payload_bytes: int,
    batch_items: int = _config.DEFAULT_ANNOTATION_BATCH_ITEMS,
) -> BulkResult:
    if isinstance(batch_items, bool) or not isinstance(batch_items, int) or batch_items < 1:
        raise InvalidArgumentError(f"batch_items must be an integer >= 1, got {batch_items!r}")
    if isinstance(max_payload_bytes, bool) or not isinstance(max_payload_bytes, int):
        raise InvalidArgumentError("max_payload_bytes must be an integer >= 1")
    if max_payload_bytes < 1:
        raise InvalidArgumentError("max_payload_bytes must be an integer >= 1")
    if not isinstance(complete, bool):
        raise InvalidArgumentError(f"complete must be a bool, got {complete!r}")
    index = _spec_index(await annotation_specs(queue))
    inputs: Iterable[Any] | AsyncIterable[Any]
    if isinstance(rows, Sequence):
        # A list is checked whole before anything is written.
        inputs = [_prepare(row, queue.id, index, max_payload_bytes) for row in rows]
    else:
        inputs = _checked_lazily(rows, queue.id, index, max_payload_bytes)
    weave = queue._weave.bulk_view(max_retries)
    importer = _Importer(queue, weave, complete=complete, batch_items=batch_items)
    try:
        return await weave.run_bulk(
            inputs,
            importer.apply,
            key=_prepared_key,
            concurrency=concurrency,
            on_progress=on_progress,
            fail_fast=fail_fast,
        )
    finally:
        await importer.aclose()


class _Rejected:
    """A lazily read input that failed its checks: reported as that input's failure."""

    __slots__ = ("error", "key")

    def __init__(self, key: str, error: InvalidArgumentError) -> None:
        self.key = key
        self.error = error


def _row_key(row: Any) -> str:
    if isinstance(row, tuple | list) and len(row) == 2:
        target = row[0]
        if isinstance(target, QueueItem):
            return target.id
        if isinstance(target, str):
            return target
    return repr(row)[:80]


async def _checked_lazily(
    rows: Iterable[AnnotationRow] | AsyncIterable[AnnotationRow],
    queue_id: str,
    index: dict[str, AnnotationSpec],
    max_payload_bytes: int,
) -> AsyncIterator[_Prepared | _Rejected]:
    async def each() -> AsyncIterator[Any]:
        if isinstance(rows, AsyncIterable):
            async for row in rows:
                yield row
        else:
            for row in rows:
                yield row

    async for row in each():
        try:
            yield _prepare(row, queue_id, index, max_payload_bytes)
        except InvalidArgumentError as error:
            yield _Rejected(_row_key(row), error)


def _prepared_key(work: _Prepared | _Rejected) -> str:
    return work.key if isinstance(work, _Rejected) else work.item_id


class _Importer:
    """Carries one checked input out: read what is there, write what differs (with
    deterministic ids), then complete the item.

    The reads and the writes of concurrent items are coalesced: one feedback query
    and one batch create carry up to ``batch_items`` items each.
    """

    def __init__(
        self, queue: Queue, weave: WeaveSession, *, complete: bool, batch_items: int
    ) -> None:
        self.queue = queue
        self.weave = weave
        self.complete = complete
        # While the caller's user id is unknown, writes go one at a time: the first
        # answer names the caller (the service sets wb_user_id from the credentials),
        # and every later decision uses it.
        self._learning = asyncio.Lock()
        self._completer = ProgressDriver(
            weave.queue(queue.project_id, queue.id), weave, AnnotationState.COMPLETED
        )
        self.reads: Coalescer[tuple[str, list[str]], list[FeedbackRow]] = Coalescer(
            self._read_many, max_batch=batch_items
        )
        self.writes: Coalescer[list[dict[str, Any]], list[FeedbackRow]] = Coalescer(
            self._create_many, max_batch=batch_items
        )

    @property
    def me(self) -> str | None:
        return self.queue._weave.user_id

    async def aclose(self) -> None:
        await self.reads.aclose()
        await self.writes.aclose()

    async def apply(self, work: _Prepared | _Rejected) -> Outcome:
        if isinstance(work, _Rejected):
            raise work.error
        item = work.item
        if item is None:
            item = await self.queue.get_item(work.item_id)
            if item is None:
                raise _NotInQueue(f"item {work.item_id!r} is not in queue {self.queue.id!r}")
        wrote = await self._annotate(item, work)
        if not self.complete:
            return Outcome.UPDATED if wrote else Outcome.UNCHANGED
        progress = await self._completer.run(item)
        return Outcome.UPDATED if wrote or progress is Outcome.UPDATED else Outcome.UNCHANGED

    async def _annotate(self, item: QueueItem, work: _Prepared) -> bool:
        """Write the item's annotations unless they are already there; whether any
        value changed."""
        queue = self.queue
        ref = ap.call_ref(queue.project_id, item.call_id)
        ids = {
            spec.name: ap.feedback_id(queue.project_id, queue.id, item.id, spec.name)
            for spec, _ in work.payloads
        }
        existing = await self.reads.submit((ref, list(ids.values())))
        if self.me is not None and self._in_place(existing, work, ids, self.me):
            return False
        body = [
            ap.annotation_create_body(
                queue.project_id, queue.id, ref, spec, payload, ids[spec.name]
            )
            for spec, payload in work.payloads
        ]
        if self.me is None:
            async with self._learning:
                if self.me is not None and self._in_place(existing, work, ids, self.me):
                    return False  # learned meanwhile: already there
                created = await self.writes.submit(body)
                if self.me is None:
                    learned = next((r.wb_user_id for r in created if r.wb_user_id), None)
                    # A create's answer names its author, who is the caller.
                    if learned:
                        self.weave.identity.learn(learned)
        else:
            created = await self.writes.submit(body)
        me = self.me
        # Sent again with the same ids and values: the rows already held them.
        return me is None or not self._in_place(existing, work, ids, me)

    async def _read_many(
        self, entries: list[tuple[str, list[str]]]
    ) -> list[list[FeedbackRow] | BaseException]:
        """One feedback query for several items' rows (by call and id)."""
        queue = self.queue
        refs = list(dict.fromkeys(ref for ref, _ in entries))
        ids = list(dict.fromkeys(i for _, item_ids in entries for i in item_ids))
        expr = ap.queue_feedback_expr(queue.id, refs, ids)
        limit = _config.DEFAULT_FEEDBACK_PAGE_SIZE
        rows: list[FeedbackRow] = []
        while True:
            request = ap.feedback_query_request(
                queue.project_id, expr, limit=limit, offset=len(rows)
            )
            batch = ap.read_feedback((await self.weave.send(request)).content)
            rows.extend(batch)
            if len(batch) < limit:
                break
        by_ref: dict[str, list[FeedbackRow]] = {}
        for row in rows:
            by_ref.setdefault(row.weave_ref, []).append(row)
        return [by_ref.get(ref, []) for ref, _ in entries]

    async def _create_many(
        self, entries: list[list[dict[str, Any]]]
    ) -> list[list[FeedbackRow] | BaseException]:
        """Several items' rows in batch creates (under a byte budget each); a batch the
        server refuses is split so that only the items at fault fail."""
        results: list[list[FeedbackRow] | BaseException] = []
        chunk: list[list[dict[str, Any]]] = []
        size = 0
        for entry in entries:
            weight = sum(ap.payload_size(row["payload"]) for row in entry)
            if chunk and size + weight > _config.ANNOTATION_BATCH_BYTES:
                results.extend(await self._create_chunk(chunk))
                chunk, size = [], 0
            chunk.append(entry)
            size += weight
        if chunk:
            results.extend(await self._create_chunk(chunk))
        return results

    async def _create_chunk(
        self, chunk: list[list[dict[str, Any]]]
    ) -> list[list[FeedbackRow] | BaseException]:
        flat = [row for entry in chunk for row in entry]
        try:
            content = (await self.weave.send(ap.batch_create_request(flat))).content
        except BadRequestError as refusal:
            if len(chunk) == 1:
                return [refusal]
            alone = [await self._create_chunk([entry]) for entry in chunk]
            return [result for results in alone for result in results]
        created = ap.read_created(content, len(flat))
        out: list[list[FeedbackRow] | BaseException] = []
        start = 0
        for entry in chunk:
            out.append(created[start : start + len(entry)])
            start += len(entry)
        return out

    @staticmethod
    def _in_place(
        existing: list[FeedbackRow], work: _Prepared, ids: dict[str, str], me: str
    ) -> bool:
        mine = {r.id: r for r in ap.latest_rows(existing) if r.wb_user_id == me}
        for spec, payload in work.payloads:
            row = mine.get(ids[spec.name])
            if row is None or row.payload != payload or row.feedback_type != spec.feedback_type:
                return False
        return True
