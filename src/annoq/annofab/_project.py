"""``Project``: a cheap handle on one Annofab project: reading, walking and bulk
operations on its tasks."""

from __future__ import annotations

import functools
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from .. import _config
from .._args import require_count, require_id, require_prefetch, require_segment
from .._bulk import BulkProgress, BulkResult, key_by, run_bulk
from .._errors import InvalidArgumentError
from .._walk import PageData, SeenWindow, Walk, dedupe, walk_pages
from . import _protocol as proto
from ._models import (
    OnOverLimit,
    OperateAction,
    OverLimitError,
    OverLimitWarning,
    Task,
    TaskHistory,
    TaskPage,
    TaskPhase,
    TaskQuery,
    TaskStatus,
    WalkMode,
)
from ._operate import TaskDriver, next_reassign_step, next_step

if TYPE_CHECKING:
    from ._session import AnnofabSession

__all__ = ["Project", "TaskWalk"]


class TaskWalk(Walk[Any]):
    """An async iterator over a task walk (tasks or pages) that can be closed early.

        async with project.tasks(status="not_started") as walk:
            async for task in walk:
                ...
        print(walk.total_count, walk.over_limit)

    ``total_count`` and ``over_limit`` are the server's figures for the search it was
    sent (``None`` before the first page). Leaving early cancels prefetched requests;
    ``async with`` (or :meth:`aclose`) does it at once rather than when collected.
    """

    def __init__(self, source: AsyncIterator[Any], state: _WalkState) -> None:
        super().__init__(source)
        self._state = state

    @property
    def total_count(self) -> int | None:
        """Tasks the server search matches (``None`` before the first page)."""
        return self._state.total_count

    @property
    def over_limit(self) -> bool | None:
        """Whether the server search matches more than Annofab pages through."""
        return self._state.over_limit


class _WalkState:
    __slots__ = ("over_limit", "total_count")

    def __init__(self) -> None:
        self.total_count: int | None = None
        self.over_limit: bool | None = None


def _task_id(task: Task) -> str:
    return task.task_id


_work_key = key_by(Task, "task_id")


class Project:
    """A handle on one Annofab project. Made by ``AnnofabSession.project``; no I/O until
    used.

        project = af.project("prj-1")
        task = await project.task("task-0001")
        async for task in project.tasks(phase="annotation", status="not_started"): ...
        result = await project.bulk_operate(task_ids, "complete")
    """

    def __init__(self, session: AnnofabSession, project_id: str) -> None:
        self._session = session
        self.id = project_id

    def __repr__(self) -> str:
        return f"Project(id={self.id!r})"

    # -- one request ----------------------------------------------------------------

    async def task(self, task_id: str) -> Task:
        """One task; :class:`~annoq.NotFoundError` when it does not exist.

        task = await project.task("task-0001")
        """
        response = await self._session._send(proto.task_request(self.id, task_id))
        return proto.read_task(response.content)

    async def tasks_by_ids(self, task_ids: Iterable[str]) -> list[Task]:
        """The tasks with these ids, 100 per request, in the order asked; ids that do not
        exist are left out.

            tasks = await project.tasks_by_ids(["t-1", "t-2"])
        """
        if isinstance(task_ids, str):
            raise InvalidArgumentError("task_ids must be a list of ids, not a single string")
        ids = list(dict.fromkeys(require_segment(t, "task_ids[]") for t in task_ids))
        size = _config.ANNOFAB_IDS_PER_REQUEST
        found: dict[str, Task] = {}
        for start in range(0, len(ids), size):
            request = proto.tasks_by_ids_request(self.id, ids[start : start + size])
            for task in proto.read_tasks((await self._session._send(request)).content):
                found[task.task_id] = task
        return [found[t] for t in ids if t in found]

    async def task_histories(self, task_id: str) -> list[TaskHistory]:
        """Every work period on a task, oldest first.

        for h in await project.task_histories("task-0001"):
            print(h.phase, h.account_id, h.accumulated_labor_time_milliseconds)
        """
        response = await self._session._send(proto.task_histories_request(self.id, task_id))
        return proto.read_histories(response.content)

    async def task_page(
        self, *, page: int = 1, page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE, **filters: Any
    ) -> TaskPage:
        """One page of a task search, exactly as the API does it (a single request).

        ``filters`` are those of :meth:`tasks` (and of :class:`TaskQuery`).

            page = await project.task_page(page=1, phase="annotation")
        """
        query = TaskQuery(**filters)
        return await self._page(query, page=page, limit=page_size)

    async def _page(self, query: TaskQuery, *, page: int, limit: int) -> TaskPage:
        request = proto.tasks_request(self.id, query, page=page, limit=limit)
        return proto.read_task_page((await self._session._send(request)).content)

    # -- walking --------------------------------------------------------------------

    def tasks(
        self,
        *,
        phase: TaskPhase | str | None = None,
        phase_stage: int | None = None,
        status: TaskStatus | str | None = None,
        account_id: str | None = None,
        no_user: bool = False,
        task_id: str | None = None,
        input_data_ids: Iterable[str] | None = None,
        metadata: str | None = None,
        sort: str | None = "task_id",
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        on_over_limit: OnOverLimit = "raise",
        mode: WalkMode = "stable",
        prefetch: int = _config.DEFAULT_PREFETCH,
    ) -> TaskWalk:
        """Walk the project's tasks one by one, fetching pages ahead.

        Filters are AND-ed (see :class:`TaskQuery`). In the default ``mode="stable"``
        the filters that operations change (``phase``, ``phase_stage``, ``status``,
        ``account_id``, ``no_user``) are applied here while walking the server's list
        sorted by ``task_id``, so operations during the walk (yours or anyone's) never
        make it skip or repeat a task: each task that matches when its page is read is
        yielded exactly once. ``mode="fast"`` sends every filter to the server (fewer
        tasks on the wire) and is only right when nobody changes those tasks meanwhile.

        Annofab pages through 10,000 results at most. When the search the server gets
        matches more, ``on_over_limit="raise"`` (the default) raises
        :class:`OverLimitError` before yielding anything, and ``"warn"`` warns
        (:class:`OverLimitWarning`) and walks the first 10,000. Split a larger search by
        filters, each part under the cap::

            for phase in ("annotation", "inspection", "acceptance"):
                for status in ("not_started", "working", "break", "on_hold", "complete"):
                    async for task in project.tasks(phase=phase, status=status, mode="fast"):
                        ...
        """
        query = self._query(
            phase, phase_stage, status, account_id, no_user, task_id, input_data_ids, metadata, sort
        )
        _check_walk(page_size, on_over_limit, mode, prefetch)
        state = _WalkState()
        pages = self._walk(query, page_size, on_over_limit, mode, prefetch, state)
        return TaskWalk(_tasks_of(pages), state)

    def task_pages(
        self,
        *,
        phase: TaskPhase | str | None = None,
        phase_stage: int | None = None,
        status: TaskStatus | str | None = None,
        account_id: str | None = None,
        no_user: bool = False,
        task_id: str | None = None,
        input_data_ids: Iterable[str] | None = None,
        metadata: str | None = None,
        sort: str | None = "task_id",
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        on_over_limit: OnOverLimit = "raise",
        mode: WalkMode = "stable",
        prefetch: int = _config.DEFAULT_PREFETCH,
    ) -> TaskWalk:
        """Walk page by page (:class:`TaskPage`); same options and guarantees as
        :meth:`tasks`. A page's ``tasks`` are those kept after local filtering.

            async for page in project.task_pages(status="complete"):
                print(page.page_no, len(page))
        """
        query = self._query(
            phase, phase_stage, status, account_id, no_user, task_id, input_data_ids, metadata, sort
        )
        _check_walk(page_size, on_over_limit, mode, prefetch)
        state = _WalkState()
        return TaskWalk(self._walk(query, page_size, on_over_limit, mode, prefetch, state), state)

    @staticmethod
    def _query(
        phase: TaskPhase | str | None,
        phase_stage: int | None,
        status: TaskStatus | str | None,
        account_id: str | None,
        no_user: bool,
        task_id: str | None,
        input_data_ids: Iterable[str] | None,
        metadata: str | None,
        sort: str | None,
    ) -> TaskQuery:
        return TaskQuery(
            phase=phase,
            phase_stage=phase_stage,
            status=status,
            account_id=account_id,
            no_user=no_user,
            task_id=task_id,
            input_data_ids=None if input_data_ids is None else tuple(input_data_ids),
            metadata=metadata,
            sort=sort,
        )

    async def _walk(
        self,
        query: TaskQuery,
        page_size: int,
        on_over_limit: str,
        mode: str,
        prefetch: int,
        state: _WalkState,
    ) -> AsyncIterator[TaskPage]:
        cap = _config.ANNOFAB_RESULT_CAP
        local = mode == "stable" and query.has_volatile
        server_query = query.stable_part() if local else query
        metas: dict[int, TaskPage] = {}

        async def fetch(index: int) -> PageData[Task]:
            page = await self._page(server_query, page=index + 1, limit=page_size)
            metas[index] = page
            reachable = (index + 1) * page_size < cap
            last = not page.tasks or page.page_no >= page.total_page_no or not reachable
            return PageData(page.tasks, is_last=last)

        window = SeenWindow(2 * page_size if query.stable_sort else None)
        warned = False
        pages = dedupe(walk_pages(fetch, prefetch=prefetch), _task_id, window)
        async for index, _, fresh in pages:
            meta = metas.pop(index)
            state.total_count, state.over_limit = meta.total_count, meta.over_limit
            if meta.over_limit and not warned:
                if on_over_limit == "raise":
                    raise OverLimitError(meta.total_count, cap, local_filters=local)
                warned = True
                warnings.warn(
                    f"the task search matches {meta.total_count} tasks; Annofab pages through "
                    f"the first {cap} only, so this walk stops there (split the search by "
                    "filters to reach the rest)",
                    OverLimitWarning,
                    stacklevel=2,
                )
            kept = tuple(t for t in fresh if query.matches(t)) if local else tuple(fresh)
            yield TaskPage(
                kept, meta.page_no, meta.total_page_no, meta.total_count, meta.over_limit
            )

    # -- bulk -----------------------------------------------------------------------

    async def bulk_operate(
        self,
        tasks: Iterable[str | Task] | AsyncIterable[str | Task],
        action: OperateAction | str,
        *,
        force: bool = False,
        take_over: bool = True,
        concurrency: int = _config.ANNOFAB_BULK_CONCURRENCY,
        on_progress: Callable[[BulkProgress], object] | None = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Apply ``action`` to many tasks, ``concurrency`` at a time; one outcome each.

        ``action`` is ``start``, ``complete``, ``reject`` (``force=True``: a project
        owner sends any task back to annotation), ``break``, ``on_hold`` or ``cancel``.
        ``tasks`` are ids or :class:`Task` objects (read lazily, any length). Each task
        follows Annofab's own practice: read it (a given Task is used as is), skip it
        when already done (``unchanged``), take it over when someone else holds it
        (``take_over=False`` reports those as failed instead), start it, operate; each
        step quotes the previous answer's ``updated_datetime``. A 409 reads the task
        again and decides afresh; a failure after starting puts the task back to
        ``break``. Failures carry a reason (``not_found``, ``permission_denied``,
        ``invalid_transition``, ``conflict``, ``wrong_phase``, ``task_complete``, ...).

            result = await project.bulk_operate(ids, "complete")
            print(result.updated, result.unchanged, [f.reason for f in result.failures])
        """
        _check_inputs(tasks)
        try:
            goal = OperateAction(action)
        except ValueError:
            names = ", ".join(repr(a.value) for a in OperateAction)
            raise InvalidArgumentError(
                f"action={action!r} is not allowed; use one of {names}"
            ) from None
        if not isinstance(force, bool) or (force and goal is not OperateAction.REJECT):
            raise InvalidArgumentError("force=True goes with action='reject' only")
        me = await self._session.account_id()
        planner = functools.partial(_plan, goal, me=me, force=force, take_over=take_over)
        put_back = goal not in (OperateAction.START, OperateAction.CANCEL) and not force
        return await self._bulk(
            tasks, planner, put_back, concurrency, on_progress, fail_fast, max_retries
        )

    async def bulk_reassign(
        self,
        tasks: Iterable[str | Task] | AsyncIterable[str | Task],
        account_id: str | None,
        *,
        concurrency: int = _config.ANNOFAB_BULK_CONCURRENCY,
        on_progress: Callable[[BulkProgress], object] | None = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Assign many tasks to ``account_id`` (``None`` unassigns them); tasks already
        so are ``unchanged``. Needs the project owner or accepter role.

            me = await af.account_id()
            result = await project.bulk_reassign(ids, me)
        """
        _check_inputs(tasks)
        if account_id is not None:
            require_id(account_id, "account_id")

        def planner(task: Task, origin: Task) -> Any:
            return next_reassign_step(task, account_id)

        return await self._bulk(
            tasks, planner, False, concurrency, on_progress, fail_fast, max_retries
        )

    async def _bulk(
        self,
        tasks: Iterable[str | Task] | AsyncIterable[str | Task],
        planner: Callable[[Task, Task], Any],
        put_back: bool,
        concurrency: int,
        on_progress: Callable[[BulkProgress], object] | None,
        fail_fast: bool,
        max_retries: int | None,
    ) -> BulkResult:
        retries = _config.DEFAULT_BULK_MAX_RETRIES if max_retries is None else max_retries
        session = self._session.with_options(max_retries=retries)
        driver = TaskDriver(session, self.id, planner, put_back=put_back)
        stats = session.stats
        return await run_bulk(
            tasks,
            driver.run,
            key=_work_key,
            concurrency=concurrency,
            on_progress=on_progress,
            throttle_count=lambda: stats.rate_limited,
            retry_count=lambda: stats.retries,
            fail_fast=fail_fast,
        )


def _check_inputs(tasks: object) -> None:
    if isinstance(tasks, str | Task):
        raise InvalidArgumentError("tasks must be a list (or iterable) of ids or Tasks")


def _check_walk(page_size: int, on_over_limit: str, mode: str, prefetch: int) -> None:
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
    if mode not in ("stable", "fast"):
        raise InvalidArgumentError(f"mode={mode!r} is not allowed; use 'stable' or 'fast'")


def _plan(
    goal: OperateAction, task: Task, origin: Task, *, me: str, force: bool, take_over: bool
) -> Any:
    return next_step(goal, task, origin, me, force=force, take_over=take_over)


async def _tasks_of(pages: AsyncIterator[TaskPage]) -> AsyncIterator[Task]:
    try:
        async for page in pages:
            for task in page.tasks:
                yield task
    finally:
        await pages.aclose()  # type: ignore[attr-defined]
