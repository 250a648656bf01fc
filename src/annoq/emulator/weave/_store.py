"""In-memory state and rules of the emulated W&B Weave annotation-queue service.

Pure and synchronous: no I/O, no asyncio. The HTTP layer (`._app`) parses and
validates requests, calls one method here, and encodes the result. Every rule of
``docs/semantics/weave.md`` that is about state (not about HTTP) lives here.

Data layout, chosen for speed on large queues:

- each queue's live items are kept in a list in the default order
  (``created_at ASC, id ASC``); new items land at the end (a batch added in the same
  millisecond as the current tail is merged by id, exactly as the real ordering would);
- each item caches its encoded JSON (without ``position_in_queue``), invalidated when
  its displayed state changes, so an unfiltered page is a slice plus a join of bytes;
- filters and explicit sorts scan the queue (O(N)), as the real service does.
"""

from __future__ import annotations

import contextlib
import gc
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from operator import attrgetter
from typing import Any, Final

import attrs
import orjson

from .._clock import Clock, wall_ms
from .._ledger import Ledger

UNSTARTED: Final = "unstarted"
IN_PROGRESS: Final = "in_progress"
COMPLETED: Final = "completed"
SKIPPED: Final = "skipped"
ALL_STATES: Final = (UNSTARTED, IN_PROGRESS, COMPLETED, SKIPPED)
SETTABLE_STATES: Final = frozenset({IN_PROGRESS, COMPLETED, SKIPPED})
DONE_STATES: Final = frozenset({COMPLETED, SKIPPED})

ITEM_SORT_FIELDS: Final = frozenset({"call_started_at", "call_op_name", "created_at", "updated_at"})
QUEUE_SORT_FIELDS: Final = frozenset({"id", "name", "created_at", "updated_at"})

DEFAULT_OP_NAMES: Final = ("predict", "evaluate", "summarize", "classify")

_UUID_MS_MASK: Final = (1 << 48) - 1


class EmulatorError(Exception):
    """A business error of the emulated service: HTTP 400 or 404 with a reason.

    Raised by the in-process API exactly where the HTTP API would answer 400/404, so
    tests acting as another annotator see the same rules. ``status``, ``reason`` and
    ``error_type`` are what the HTTP body carries.
    """

    def __init__(self, status: int, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.error_type = error_type

    @classmethod
    def invalid(cls, reason: str) -> EmulatorError:
        """A 400 ``InvalidRequest``."""
        return cls(400, reason, "InvalidRequest")

    @classmethod
    def not_found(cls, reason: str) -> EmulatorError:
        """A 404 ``NotFoundError``."""
        return cls(404, reason, "NotFoundError")


# --------------------------------------------------------------------------- time, ids


@lru_cache(maxsize=65536)
def _format_seconds(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def format_ms(ms: int) -> str:
    """RFC 3339 UTC with millisecond precision and ``Z``: ``2026-11-24T12:00:00.123Z``."""
    seconds, millis = divmod(ms, 1000)
    return f"{_format_seconds(seconds)}.{millis:03d}Z"


def format_ms_or_none(ms: int | None) -> str | None:
    """`format_ms`, passing ``None`` through."""
    return None if ms is None else format_ms(ms)


def uuid7(ms: int, rng: random.Random) -> str:
    """A UUIDv7 string: 48-bit millisecond timestamp, then random bits.

    Ids made in different milliseconds sort by time; within one millisecond they are
    in random order, as on the real service.
    """
    value = (
        ((ms & _UUID_MS_MASK) << 80)
        | (0x7 << 76)
        | (rng.getrandbits(12) << 64)
        | (0b10 << 62)
        | rng.getrandbits(62)
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --------------------------------------------------------------------------- records


@attrs.define(slots=True)
class User:
    """An account of the emulated service: one API key is one user."""

    user_id: str
    api_key: str
    projects: frozenset[str] | None = None
    """Projects the user may see; ``None`` means every project."""

    def may_see(self, project_id: str) -> bool:
        """Whether requests for ``project_id`` are allowed (else 403)."""
        return self.projects is None or project_id in self.projects


@attrs.define(slots=True)
class Call:
    """A row of a project's calls table (what add-calls copies into an item)."""

    id: str
    project_id: str
    op_name: str
    trace_id: str
    started_at: int
    ended_at: int | None


@attrs.define(slots=True)
class Queue:
    """An annotation queue (soft-deleted when ``deleted_at`` is set)."""

    id: str
    project_id: str
    name: str
    description: str
    scorer_refs: list[str]
    created_at: int
    created_by: str
    updated_at: int
    deleted_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire form of the queue."""
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": self.name,
            "description": self.description,
            "scorer_refs": list(self.scorer_refs),
            "created_at": format_ms(self.created_at),
            "created_by": self.created_by,
            "updated_at": format_ms(self.updated_at),
            "deleted_at": format_ms_or_none(self.deleted_at),
        }


@attrs.frozen
class StateChange:
    """One applied progress write, in the order the emulator applied them."""

    at_ms: int
    queue_id: str
    item_id: str
    user_id: str
    state: str


class Item:
    """A queue item with its per-annotator progress and cached JSON encoding."""

    __slots__ = (
        "_json",
        "_prefix",
        "added_by",
        "annotator",
        "call_ended_at",
        "call_id",
        "call_op_name",
        "call_started_at",
        "call_trace_id",
        "created_at",
        "created_by",
        "deleted_at",
        "display_fields",
        "done",
        "id",
        "progress",
        "project_id",
        "queue_id",
        "state",
        "updated_at",
    )

    def __init__(
        self,
        *,
        id: str,
        project_id: str,
        queue_id: str,
        call: Call,
        display_fields: list[str],
        added_by: str,
        created_at: int,
    ) -> None:
        self.id = id
        self.project_id = project_id
        self.queue_id = queue_id
        self.call_id = call.id
        self.call_started_at = call.started_at
        self.call_ended_at = call.ended_at
        self.call_op_name = call.op_name
        self.call_trace_id = call.trace_id
        self.display_fields = display_fields
        self.added_by = added_by
        self.created_at = created_at
        self.created_by = added_by
        self.updated_at = created_at
        self.deleted_at: int | None = None
        self.state = UNSTARTED
        self.annotator = ""
        self.done = False
        self.progress: dict[str, str] = {}
        self._prefix: bytes | None = None
        self._json: bytes | None = None

    def to_json(self, position: int | None = None) -> dict[str, Any]:
        """The wire form of the item (``AnnotationQueueItemSchema``)."""
        return {
            "id": self.id,
            "project_id": self.project_id,
            "queue_id": self.queue_id,
            "call_id": self.call_id,
            "call_started_at": format_ms(self.call_started_at),
            "call_ended_at": format_ms_or_none(self.call_ended_at),
            "call_op_name": self.call_op_name,
            "call_trace_id": self.call_trace_id,
            "display_fields": list(self.display_fields),
            "added_by": self.added_by,
            "annotation_state": self.state,
            "annotator_user_id": self.annotator,
            "created_at": format_ms(self.created_at),
            "created_by": self.created_by,
            "updated_at": format_ms(self.updated_at),
            "deleted_at": format_ms_or_none(self.deleted_at),
            "position_in_queue": position,
        }

    def _encode_prefix(self) -> bytes:
        data = self.to_json()
        del data["position_in_queue"]
        encoded = orjson.dumps(data)
        self._prefix = encoded[:-1]
        return self._prefix

    def encoded(self) -> bytes:
        """Cached JSON bytes with ``position_in_queue: null``."""
        cached = self._json
        if cached is None:
            prefix = self._prefix or self._encode_prefix()
            cached = self._json = prefix + b',"position_in_queue":null}'
        return cached

    def encoded_at(self, position: int) -> bytes:
        """JSON bytes with the given ``position_in_queue``."""
        prefix = self._prefix or self._encode_prefix()
        return prefix + b',"position_in_queue":%d}' % position

    def invalidate(self) -> None:
        """Drop the cached encodings (after the displayed state changed)."""
        self._prefix = None
        self._json = None


@attrs.define(slots=True)
class _QueueItems:
    """The live items of one (project, queue id), in default order."""

    items: list[Item] = attrs.Factory(list)
    call_ids: set[str] = attrs.Factory(set)
    done_count: int = 0


@attrs.frozen
class ItemFilter:
    """The parsed ``filter`` of an items query (exact matches AND-ed, states IN)."""

    id: str | None = None
    call_id: str | None = None
    call_op_name: str | None = None
    call_trace_id: str | None = None
    added_by: str | None = None
    annotation_states: tuple[str, ...] | None = None

    def exact_pairs(self) -> list[tuple[str, str]]:
        """The (attribute, value) pairs of the exact-match filters that are set."""
        pairs = [
            ("id", self.id),
            ("call_id", self.call_id),
            ("call_op_name", self.call_op_name),
            ("call_trace_id", self.call_trace_id),
            ("added_by", self.added_by),
        ]
        return [(name, value) for name, value in pairs if value is not None]


@attrs.frozen
class SortSpec:
    """One ``sort_by`` entry (direction already validated: ``asc`` or ``desc``)."""

    field: str
    direction: str


@attrs.frozen
class AddCallsResult:
    """The outcome of add-calls, plus the ids of the created items."""

    added_count: int
    duplicates: int
    item_ids: tuple[str, ...]


def _valid_sorts(sort_by: Sequence[SortSpec] | None, allowed: frozenset[str]) -> list[SortSpec]:
    return [s for s in sort_by or () if s.field in allowed and s.direction in ("asc", "desc")]


def _stable_sort(rows: list[Any], sorts: list[SortSpec], key_of: Callable[[str], Any]) -> None:
    """Sort in place by ``sorts`` then ``id ASC`` (successive stable sorts)."""
    rows.sort(key=key_of("id"))
    for spec in reversed(sorts):
        rows.sort(key=key_of(spec.field), reverse=spec.direction == "desc")


def _item_key(field: str) -> Callable[[Item], Any]:
    def key(item: Item) -> Any:
        return getattr(item, field)

    return key


def _queue_key(field: str) -> Callable[[Queue], Any]:
    def key(queue: Queue) -> Any:
        return getattr(queue, field)

    return key


def _page(rows: list[Any], limit: int | None, offset: int | None) -> list[Any]:
    start = offset or 0
    if limit is None:
        return rows[start:]
    return rows[start : start + limit]


def _select(
    rows: list[Item], states: frozenset[str] | None, limit: int | None, offset: int | None
) -> list[tuple[int, Item]]:
    """The page of (1-based position, item) after the state filter; stops early."""
    start = offset or 0
    if states is None:
        stop = None if limit is None else start + limit
        return list(enumerate(rows[start:stop], start + 1))
    out: list[tuple[int, Item]] = []
    matched = 0
    wanted_end = None if limit is None else start + limit
    for position, item in enumerate(rows, 1):
        if item.state in states:
            if matched >= start:
                out.append((position, item))
            matched += 1
            if wanted_end is not None and matched >= wanted_end:
                break
    return out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while creating many objects (they hold no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_page_bounds(limit: int | None, offset: int | None) -> None:
    """Reject negative ``limit``/``offset`` with a 400 (the contract gives no bound)."""
    if limit is not None and limit < 0:
        raise EmulatorError.invalid(f"limit must be non-negative, got {limit}")
    if offset is not None and offset < 0:
        raise EmulatorError.invalid(f"offset must be non-negative, got {offset}")


# --------------------------------------------------------------------------- the store


class WeaveStore:
    """All state of one emulated Weave service.

    ``legacy_progress`` selects the older server without the same-state no-op (rule 2).
    ``seed`` makes ids and seeded data reproducible. ``clock`` returns wall time in
    milliseconds; tests may replace the attribute to freeze or move time (the store
    never lets it go backwards).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        legacy_progress: bool = False,
        clock: Callable[[], int] | Clock = wall_ms,
    ) -> None:
        self.rng = random.Random(seed)
        self.legacy_progress = legacy_progress
        self.time = clock if isinstance(clock, Clock) else Clock(clock)
        """The emulator's shared clock."""
        self.users: dict[str, User] = {}
        self._users_by_key: dict[str, User] = {}
        self.calls: dict[str, dict[str, Call]] = {}
        self.queues: dict[str, Queue] = {}
        self._queue_items: dict[tuple[str, str], _QueueItems] = {}
        self._items: dict[str, dict[str, Item]] = {}
        self.applied = Ledger()
        """Applied progress writes per ``(item_id, user_id)``."""
        self.state_log: list[StateChange] = []
        self.listeners: list[Callable[[StateChange], None]] = []
        """Called with each applied `StateChange`, right after it is applied."""

    # ------------------------------------------------------------------ basics

    @property
    def clock(self) -> Callable[[], int]:
        """The time source in ms (settable: tests freeze or move time with it)."""
        return self.time.source

    @clock.setter
    def clock(self, source: Callable[[], int]) -> None:
        self.time.source = source

    def now_ms(self) -> int:
        """The clock in ms, never going backwards."""
        return self.time.now_ms()

    def new_id(self, ms: int | None = None) -> str:
        """A fresh UUIDv7-like id for the given (default: current) millisecond."""
        return uuid7(self.now_ms() if ms is None else ms, self.rng)

    def add_user(
        self,
        user_id: str | None = None,
        api_key: str | None = None,
        projects: Iterable[str] | None = None,
    ) -> User:
        """Register (or replace) a user; missing id/key are generated."""
        uid = user_id if user_id is not None else f"user-{self.rng.getrandbits(40):010x}"
        key = api_key if api_key is not None else f"local-{self.rng.getrandbits(160):040x}"
        previous = self.users.get(uid)
        if previous is not None:
            self._users_by_key.pop(previous.api_key, None)
        user = User(uid, key, None if projects is None else frozenset(projects))
        self.users[uid] = user
        self._users_by_key[key] = user
        return user

    def authenticate(self, api_key: str) -> User | None:
        """The user owning ``api_key``, or ``None``."""
        return self._users_by_key.get(api_key)

    # ------------------------------------------------------------------ calls

    def add_call(self, call: Call) -> Call:
        """Insert (or replace) one row of the project's calls table."""
        self.calls.setdefault(call.project_id, {})[call.id] = call
        return call

    def create_calls(
        self,
        project_id: str,
        n: int,
        *,
        op_names: Sequence[str] = DEFAULT_OP_NAMES,
        start_ms: int | None = None,
        spacing_ms: int = 1000,
        calls_per_trace: int = 3,
    ) -> list[Call]:
        """Create ``n`` calls with cycling op names and start times spread in time.

        Call ``i`` starts ``spacing_ms`` (plus jitter) after call ``i-1``; about one in
        fifty has not ended (``ended_at`` is null); ``calls_per_trace`` consecutive calls
        share a trace id.
        """
        if not op_names:
            raise ValueError("op_names must not be empty")
        now = self.now_ms()
        base = start_ms if start_ms is not None else now - n * spacing_ms - 60_000
        table = self.calls.setdefault(project_id, {})
        made: list[Call] = []
        with _gc_paused():
            self._make_calls(
                n, base, spacing_ms, calls_per_trace, op_names, project_id, table, made
            )
        return made

    def _make_calls(
        self,
        n: int,
        base: int,
        spacing_ms: int,
        calls_per_trace: int,
        op_names: Sequence[str],
        project_id: str,
        table: dict[str, Call],
        made: list[Call],
    ) -> None:
        rng = self.rng
        getrandbits = rng.getrandbits
        n_ops = len(op_names)
        trace_id = ""
        for i in range(n):
            started = base + i * spacing_ms + getrandbits(9)
            if i % max(calls_per_trace, 1) == 0:
                trace_id = uuid7(started, rng)
            ended = None if getrandbits(6) == 0 else started + 50 + getrandbits(12)
            call = Call(
                uuid7(started, rng), project_id, op_names[i % n_ops], trace_id, started, ended
            )
            table[call.id] = call
            made.append(call)

    # ------------------------------------------------------------------ queues

    def create_queue(
        self,
        project_id: str,
        *,
        name: str,
        description: str | None,
        scorer_refs: Sequence[str],
        created_by: str,
    ) -> Queue:
        """Create a queue (``description`` null is stored as ``""``)."""
        now = self.now_ms()
        queue = Queue(
            id=self.new_id(now),
            project_id=project_id,
            name=name,
            description=description or "",
            scorer_refs=list(scorer_refs),
            created_at=now,
            created_by=created_by,
            updated_at=now,
        )
        self.queues[queue.id] = queue
        return queue

    def get_queue(self, project_id: str, queue_id: str) -> Queue:
        """The live queue, else 404 (missing, deleted or of another project)."""
        queue = self.queues.get(queue_id)
        if queue is None or queue.deleted_at is not None or queue.project_id != project_id:
            raise EmulatorError.not_found(f"Queue {queue_id} not found")
        return queue

    def list_queues(
        self,
        project_id: str,
        *,
        name: str | None = None,
        sort_by: Sequence[SortSpec] | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[Queue]:
        """Live queues of the project; ``name`` is a case-insensitive substring."""
        check_page_bounds(limit, offset)
        needle = None if name is None else name.lower()
        rows = [
            q
            for q in self.queues.values()
            if q.project_id == project_id
            and q.deleted_at is None
            and (needle is None or needle in q.name.lower())
        ]
        sorts = _valid_sorts(sort_by, QUEUE_SORT_FIELDS)
        if not sorts:
            sorts = [SortSpec("created_at", "desc")]
        _stable_sort(rows, sorts, _queue_key)
        return _page(rows, limit, offset)

    def update_queue(
        self,
        project_id: str,
        queue_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        scorer_refs: Sequence[str] | None = None,
    ) -> Queue:
        """Apply the given fields; all ``None`` returns the queue unchanged."""
        queue = self.get_queue(project_id, queue_id)
        if name is None and description is None and scorer_refs is None:
            return queue
        if name is not None:
            queue.name = name
        if description is not None:
            queue.description = description
        if scorer_refs is not None:
            queue.scorer_refs = list(scorer_refs)
        queue.updated_at = self.now_ms()
        return queue

    def delete_queue(self, project_id: str, queue_id: str) -> Queue:
        """Soft delete (items stay); a second delete is 404."""
        queue = self.get_queue(project_id, queue_id)
        now = self.now_ms()
        queue.deleted_at = now
        queue.updated_at = now
        return queue

    def stats(self, project_id: str, queue_ids: Sequence[str]) -> list[dict[str, Any]]:
        """One row per requested id, in request order; unknown ids give zeros."""
        rows = []
        for queue_id in queue_ids:
            qi = self._queue_items.get((project_id, queue_id))
            rows.append(
                {
                    "queue_id": queue_id,
                    "total_items": 0 if qi is None else len(qi.items),
                    "completed_items": 0 if qi is None else qi.done_count,
                }
            )
        return rows

    # ------------------------------------------------------------------ items

    def _queue_items_of(self, project_id: str, queue_id: str) -> _QueueItems:
        key = (project_id, queue_id)
        qi = self._queue_items.get(key)
        if qi is None:
            qi = self._queue_items[key] = _QueueItems()
        return qi

    def add_calls(
        self,
        project_id: str,
        queue_id: str,
        call_ids: Sequence[str],
        *,
        display_fields: Sequence[str],
        added_by: str,
    ) -> AddCallsResult:
        """Add calls as items, as the real service does.

        Does not check that the queue exists. Request ids already in the queue count as
        ``duplicates``; unknown call ids are silently dropped; an id repeated within one
        request is added once.
        """
        qi = self._queue_items_of(project_id, queue_id)
        table = self.calls.get(project_id, {})
        new_ids = [cid for cid in call_ids if cid not in qi.call_ids]
        duplicates = len(call_ids) - len(new_ids)
        seen: set[str] = set()
        calls: list[Call] = []
        for cid in new_ids:
            call = table.get(cid)
            if call is not None and cid not in seen:
                seen.add(cid)
                calls.append(call)
        if not calls:
            return AddCallsResult(0, duplicates, ())
        now = self.now_ms()
        fields = list(display_fields)
        rng = self.rng
        project_items = self._items.setdefault(project_id, {})
        batch = []
        with _gc_paused():
            for call in calls:
                item = Item(
                    id=uuid7(now, rng),
                    project_id=project_id,
                    queue_id=queue_id,
                    call=call,
                    display_fields=fields,
                    added_by=added_by,
                    created_at=now,
                )
                project_items[item.id] = item
                batch.append(item)
        batch.sort(key=_item_key("id"))
        items = qi.items
        # Items created in the same millisecond as the current tail sort among it by id.
        tail_start = len(items)
        while tail_start > 0 and items[tail_start - 1].created_at == now:
            tail_start -= 1
        if tail_start < len(items):
            merged = items[tail_start:] + batch
            merged.sort(key=_item_key("id"))
            del items[tail_start:]
            items.extend(merged)
        else:
            items.extend(batch)
        qi.call_ids.update(seen)
        return AddCallsResult(len(calls), duplicates, tuple(item.id for item in batch))

    def delete_items(self, project_id: str, queue_id: str, item_ids: Iterable[str]) -> int:
        """Soft-delete items (not reachable over HTTP; the service has no such endpoint)."""
        wanted = set(item_ids)
        qi = self._queue_items.get((project_id, queue_id))
        if qi is None or not wanted:
            return 0
        now = self.now_ms()
        kept: list[Item] = []
        removed = 0
        for item in qi.items:
            if item.id in wanted:
                item.deleted_at = now
                item.invalidate()
                qi.call_ids.discard(item.call_id)
                removed += 1
            else:
                kept.append(item)
        qi.items[:] = kept
        return removed

    def live_items(self, project_id: str, queue_id: str) -> list[Item]:
        """The queue's live items in default order (the list itself: do not mutate)."""
        qi = self._queue_items.get((project_id, queue_id))
        return [] if qi is None else qi.items

    def find_item(self, project_id: str, item_id: str) -> Item | None:
        """Any item of the project by id (live or deleted)."""
        return self._items.get(project_id, {}).get(item_id)

    def query_items(
        self,
        project_id: str,
        queue_id: str,
        *,
        filter: ItemFilter | None = None,
        sort_by: Sequence[SortSpec] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        include_position: bool = False,
    ) -> bytes:
        """The encoded ``{"items": [...]}`` body of an items query.

        ``position_in_queue`` is the 1-based row number after the exact-match filters
        and the sort, before the ``annotation_states`` filter and before limit/offset.
        """
        check_page_bounds(limit, offset)
        qi = self._queue_items.get((project_id, queue_id))
        if qi is None or limit == 0:
            return b'{"items":[]}'
        rows: list[Item] = qi.items
        exact = filter.exact_pairs() if filter is not None else []
        states = filter.annotation_states if filter is not None else None
        sorts = _valid_sorts(sort_by, ITEM_SORT_FIELDS)
        if not exact and not states and not sorts:
            page = _page(rows, limit, offset)
            if include_position:
                first = (offset or 0) + 1
                parts = [item.encoded_at(first + i) for i, item in enumerate(page)]
            else:
                parts = [item.encoded() for item in page]
            return b'{"items":[' + b",".join(parts) + b"]}"
        if exact:
            names = [name for name, _ in exact]
            values = tuple(value for _, value in exact)
            getter: Callable[[Item], Any] = attrgetter(*names)
            if len(names) == 1:
                rows = [it for it in rows if getter(it) == values[0]]
            else:
                rows = [it for it in rows if getter(it) == values]
        elif sorts:
            rows = list(rows)
        if sorts:
            _stable_sort(rows, sorts, _item_key)
        selected = _select(rows, frozenset(states) if states else None, limit, offset)
        if include_position:
            parts = [item.encoded_at(pos) for pos, item in selected]
        else:
            parts = [item.encoded() for _, item in selected]
        return b'{"items":[' + b",".join(parts) + b"]}"

    # ------------------------------------------------------------------ progress

    def update_progress(
        self, project_id: str, queue_id: str, item_id: str, state: str, user_id: str
    ) -> Item:
        """Apply annotator ``user_id``'s progress update, checking the rules in order.

        1. the state must be in_progress, completed or skipped (400);
        2. the same state as the annotator's current one is a no-op (not in legacy mode);
        3. in_progress when the annotator already has a record is a 400;
        4. from completed/skipped to anything else is a 400;
        5. an item that is not in that queue is a 400;
        6. otherwise the record is written (the item's own ``updated_at`` is unchanged).
        """
        if state not in SETTABLE_STATES:
            raise EmulatorError.invalid(
                f"Invalid annotation_state '{state}'. "
                "Must be one of: completed, in_progress, skipped"
            )
        item = self.find_item(project_id, item_id)
        current = None
        if item is not None and item.deleted_at is None:
            current = item.progress.get(user_id)
        in_queue = item is not None and item.deleted_at is None and item.queue_id == queue_id
        if current == state and not self.legacy_progress:
            if not in_queue:
                raise EmulatorError.invalid(
                    f"Queue item '{item_id}' not found in queue '{queue_id}'"
                )
            assert item is not None
            return item
        if state == IN_PROGRESS and current is not None:
            raise EmulatorError.invalid(
                "Cannot transition to 'in_progress' when a record already exists. "
                "'in_progress' can only be set on new items."
            )
        if current is not None and current in DONE_STATES:
            raise EmulatorError.invalid(
                f"Invalid state transition from '{current}' to '{state}'. "
                "Only transitions from 'in_progress' or 'unstarted' are allowed."
            )
        if not in_queue:
            raise EmulatorError.invalid(f"Queue item '{item_id}' not found in queue '{queue_id}'")
        assert item is not None
        now = self.now_ms()
        item.progress[user_id] = state
        item.state = state
        item.annotator = user_id
        item.invalidate()
        if state in DONE_STATES and not item.done:
            item.done = True
            qi = self._queue_items.get((project_id, queue_id))
            if qi is not None:
                qi.done_count += 1
        key = (item_id, user_id)
        self.applied.record(key)
        change = StateChange(now, queue_id, item_id, user_id, state)
        self.state_log.append(change)
        for listener in self.listeners:
            listener(change)
        return item
