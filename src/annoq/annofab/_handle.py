"""``Project``: a cheap handle on one Annofab project: reading, walking and bulk
operations on its tasks."""

from __future__ import annotations

import functools
import warnings
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import orjson

from .. import _config
from .._args import (
    listing,
    require_choice,
    require_count,
    require_flag,
    require_id,
    require_page_size,
    require_prefetch,
    require_segment,
)
from .._bulk import BulkFailure, BulkProgress, BulkResult
from .._errors import InvalidArgumentError
from .._walk import SeenWindow
from . import _protocol as proto

# Typed records beyond tasks (h10): models and their readers.
from . import _protocol_data as pdata
from ._bulk_drivers import BulkImports
from ._decisions import (
    PHASE_DEPENDENT,
    Planner,
    describe_step,
    moved,
    moved_error,
    next_reassign_step,
    next_step,
    plan,
)
from ._driver import Origins, TaskDriver, check_work
from ._exports import local_only_problem
from ._jobs import JobWalk, check_wait, wait_for_job, walk_jobs
from ._models import (
    OnMoved,
    OnOverLimit,
    OperateAction,
    OperatePlan,
    OverLimitError,
    OverLimitWarning,
    Task,
    TaskHistory,
    TaskPage,
    TaskPhase,
    TaskQuery,
    TaskRef,
    TaskStateError,
    TaskStatus,
    WalkMode,
)
from ._models_data import (
    Comment,
    EditorAnnotation,
    EditorAnnotationDetail,
    InputData,
    Inspection,
    Job,
    JobPage,
    JobType,
    Page,
    ProjectInfo,
    ProjectMember,
    SingleAnnotation,
)
from ._models_specs import AnnotationSpecs
from ._project_exports import ProjectExports
from ._protocol_data import CommentPut, NewAnnotation
from ._walks import ListWalk, WholeList, check_list_walk, list_walk, numbered_pages
from ._walks import _State as _WalkState

if TYPE_CHECKING:
    from ._session import AnnofabSession

__all__ = ["Project", "TaskWalk"]


class TaskWalk(ListWalk[Any]):
    """An async iterator over a task walk (tasks or pages) that can be closed early.

        async with project.tasks(status="not_started") as walk:
            async for task in walk:
                ...
        print(walk.total_count, walk.over_limit)

    ``total_count`` and ``over_limit`` are the server's figures for the search it was
    sent (``None`` before the first page). Leaving early cancels prefetched requests;
    ``async with`` (or :meth:`aclose`) does it at once rather than when collected.
    """


def _task_id(task: Task) -> str:
    return task.task_id


def _tasks_in(page: TaskPage) -> tuple[Task, ...]:
    return page.tasks


def _work_key(work: object) -> str:
    """The bulk key of an input: its task id (anything else by its repr)."""
    if isinstance(work, Task | TaskRef):
        return work.task_id
    return work if isinstance(work, str) else repr(work)


class Project(BulkImports, ProjectExports):
    """A handle on one Annofab project. Made by ``AnnofabSession.project``; no I/O until
    used.

        project = af.project("prj-1")
        task = await project.task("task-000001")
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

        task = await project.task("task-000001")
        """
        response = await self._session.send(proto.task_request(self.id, task_id))
        return proto.read_task(response.content)

    async def tasks_by_ids(self, task_ids: Iterable[str]) -> list[Task]:
        """The tasks with these ids, 100 per request, in the order asked (a repeated id
        once). Ids that do not exist (the answer's ``failure`` list) are left out: compare
        the ids to find them.

            tasks = await project.tasks_by_ids(["t-1", "t-2"])
            missing = set(ids) - {t.task_id for t in tasks}
        """
        if isinstance(task_ids, str):
            raise InvalidArgumentError("task_ids must be a list of ids, not a single string")
        ids = list(dict.fromkeys(require_segment(t, "task_ids[]") for t in task_ids))
        size = _config.ANNOFAB_IDS_PER_REQUEST
        found: dict[str, Task] = {}
        for start in range(0, len(ids), size):
            request = proto.tasks_by_ids_request(self.id, ids[start : start + size])
            tasks, _ = proto.read_tasks_in_bulk((await self._session.send(request)).content)
            for task in tasks:
                found[task.task_id] = task
        return [found[t] for t in ids if t in found]

    async def task_histories(self, task_id: str) -> list[TaskHistory]:
        """Every work period on a task, oldest first.

        for h in await project.task_histories("task-000001"):
            print(h.phase, h.account_id, h.accumulated_labor_time_milliseconds)
        """
        response = await self._session.send(proto.task_histories_request(self.id, task_id))
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
        return proto.read_task_page((await self._session.send(request)).content)

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
        prefetch: int | None = None,
        previous_phase_stage: int | None = None,
        auto_accepted_only: bool = False,
        annotation: Mapping[str, Any] | str | None = None,
    ) -> TaskWalk:
        """Walk the project's tasks one by one, fetching pages ahead.

        Filters are AND-ed (see :class:`TaskQuery`). In the default ``mode="stable"``
        the filters that operations change (``phase``, ``phase_stage``, ``status``,
        ``account_id``, ``no_user``) are applied here while walking the server's list
        sorted by ``task_id``, so operations during the walk (yours or anyone's) never
        make it skip or repeat a task: each task that matches when its page is read is
        yielded exactly once. ``mode="fast"`` sends every filter to the server (fewer
        tasks on the wire) and is only right when nobody changes those tasks meanwhile.

        That exactness needs the default ``sort="task_id"`` (or ``"-task_id"``): task
        ids never change, so the order never moves. With another ``sort`` (say
        ``"-updated_datetime"`` or ``"status"``), or ``sort=None``, the server's order
        moves when a sort key changes: no task is ever yielded twice, but a task whose
        key changes during the walk (it moves to a page already read) may be missed.
        Sort the results yourself, or walk by ``task_id``, when every task matters.

        ``prefetch`` pages are requested ahead; the default (``None``) adapts as a
        Weave walk's does (from 2, deeper while you wait on pages, up to 16), a number
        fixes it (``0``: one page at a time).

        ``previous_phase_stage`` (with the history filters of :class:`TaskQuery`),
        ``auto_accepted_only`` and ``annotation`` (an ``AnnotationQuery`` mapping: tasks
        holding such an annotation) always go to the server.

        Annofab pages through 10,000 results at most. When the search the server gets
        matches more, ``on_over_limit="raise"`` (the default) raises
        :class:`OverLimitError` before yielding anything, and ``"warn"`` warns
        (:class:`OverLimitWarning`) and walks the first 10,000. Split a larger search by
        filters, each part under the cap:

            for phase in ("annotation", "inspection", "acceptance"):
                for status in ("not_started", "working", "break", "on_hold", "complete"):
                    async for task in project.tasks(phase=phase, status=status, mode="fast"):
                        ...
        """
        query = self._query(
            phase, phase_stage, status, account_id, no_user, task_id, input_data_ids, metadata, sort
        )
        query = attrs.evolve(
            query,
            previous_phase_stage=previous_phase_stage,
            auto_accepted_only=auto_accepted_only,
            annotation=annotation,
        )
        _check_walk(page_size, on_over_limit, mode, prefetch)
        state = _WalkState()
        if on_over_limit == "export":
            problem = local_only_problem(query)
            if problem is not None:
                raise InvalidArgumentError(
                    f"on_over_limit='export' applies phase, stage, status, assignee, task_id "
                    f"and input_data_ids locally; {problem} cannot be: drop it or split "
                    "the search instead"
                )
            return TaskWalk(self._tasks_or_export(query, page_size, mode, prefetch, state), state)
        pages = self._walk(query, page_size, on_over_limit, mode, prefetch, state)
        return TaskWalk(_tasks_of(pages), state)

    async def _tasks_or_export(
        self, query: TaskQuery, page_size: int, mode: str, prefetch: int | None, state: _WalkState
    ) -> AsyncIterator[Task]:
        local = mode == "stable" and query.has_volatile
        first = await self._page(query.stable_part() if local else query, page=1, limit=1)
        if not first.over_limit:
            pages = self._walk(query, page_size, "raise", mode, prefetch, state)
            async for task in _tasks_of(pages):
                yield task
            return
        state.total_count, state.over_limit = first.total_count, True
        async for task in self._export_tasks_walk(query):
            yield task

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
        prefetch: int | None = None,
        previous_phase_stage: int | None = None,
        auto_accepted_only: bool = False,
        annotation: Mapping[str, Any] | str | None = None,
    ) -> TaskWalk:
        """Walk page by page (:class:`TaskPage`); same options and guarantees as
        :meth:`tasks`. A page's ``tasks`` are those kept after local filtering.

            async for page in project.task_pages(status="complete"):
                print(page.page_no, len(page))
        """
        query = self._query(
            phase, phase_stage, status, account_id, no_user, task_id, input_data_ids, metadata, sort
        )
        query = attrs.evolve(
            query,
            previous_phase_stage=previous_phase_stage,
            auto_accepted_only=auto_accepted_only,
            annotation=annotation,
        )
        _check_walk(page_size, on_over_limit, mode, prefetch)
        if on_over_limit == "export":
            raise InvalidArgumentError("task_pages cannot read the export; use tasks()")
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
        prefetch: int | None,
        state: _WalkState,
    ) -> AsyncIterator[TaskPage]:
        cap = _config.ANNOFAB_RESULT_CAP
        local = mode == "stable" and query.has_volatile
        server_query = query.stable_part() if local else query

        async def fetch(page: int, limit: int) -> TaskPage:
            return await self._page(server_query, page=page, limit=limit)

        window = SeenWindow(2 * page_size if query.stable_sort else None)
        warned = False
        # A moving order (custom sort) can legitimately repeat a page; the 10,000 cap
        # bounds the walk anyway.
        moving = not query.stable_sort
        pages = numbered_pages(
            fetch, _tasks_in, _task_id, window,
            page_size=page_size, prefetch=prefetch, repeats_ok=moving,
        )  # fmt: skip
        async for _, meta, fresh in pages:
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
        tasks: BulkInputs,
        action: OperateAction | str,
        *,
        expected_phase: TaskPhase | str | None = None,
        expected_phase_stage: int | None = None,
        on_moved: OnMoved = "unchanged",
        force: bool = False,
        take_over: bool = True,
        concurrency: int = _config.ANNOFAB_BULK_CONCURRENCY,
        on_progress: Callable[[BulkProgress], object] | None = None,
        on_failure: Callable[[BulkFailure], object] | None = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Apply ``action`` to many tasks, ``concurrency`` at a time; one outcome each.

        ``action`` is ``start``, ``complete``, ``reject`` (``force=True``: a project
        owner sends any task back to annotation), ``break``, ``on_hold`` or ``cancel``.
        ``tasks`` are :class:`Task` objects, :class:`TaskRef` (an id and the phase it was
        chosen in) or bare ids, read lazily, any length.

        A rerun changes nothing: each task is acted on only where it was chosen (a Task's
        or TaskRef's phase and stage, else ``expected_phase`` / ``expected_phase_stage``).
        One that has moved on meanwhile (submitted, accepted, sent back) is
        ``unchanged``, or failed with reason ``phase_changed`` when
        ``on_moved="fail"``. ``complete``, ``reject`` and ``cancel`` act on the phase,
        so bare ids need ``expected_phase``: without it a list holding one raises
        :class:`~annoq.InvalidArgumentError` before any request, and a lazy input fails
        each bare id with reason ``phase_required``.

        Each task follows Annofab's own practice: read it (a given Task is used as is),
        skip it when already done (``unchanged``), take it over when someone else holds
        it (``take_over=False`` reports those as failed instead), start it, operate; each
        step quotes the previous answer's ``updated_datetime``. A 409 reads the task
        again and decides afresh. A failure, ``fail_fast`` or a cancellation after
        starting puts the task back to ``break``; inputs in flight when the run stops
        early are listed in ``result.abandoned``. ``on_failure`` is called with each
        failure as it happens (to stream them to a file). Failures carry a reason
        (``not_found``, ``permission_denied``, ``invalid_transition``, ``conflict``,
        ``wrong_phase``, ``task_complete``, ``phase_changed``, ...).

            result = await project.bulk_operate(ids, "complete", expected_phase="annotation")
            print(result.updated, result.unchanged, [f.reason for f in result.failures])
        """
        goal, planner, origins = await self._operate_plan(
            tasks, action, expected_phase, expected_phase_stage, on_moved, force, take_over
        )
        put_back = goal not in (OperateAction.START, OperateAction.CANCEL) and not force
        return await self._bulk(
            tasks, planner, put_back, origins, on_moved,
            concurrency, on_progress, on_failure, fail_fast, max_retries,
        )  # fmt: skip

    async def bulk_reassign(
        self,
        tasks: BulkInputs,
        account_id: str | None,
        *,
        expected_phase: TaskPhase | str | None = None,
        expected_phase_stage: int | None = None,
        on_moved: OnMoved = "unchanged",
        concurrency: int = _config.ANNOFAB_BULK_CONCURRENCY,
        on_progress: Callable[[BulkProgress], object] | None = None,
        on_failure: Callable[[BulkFailure], object] | None = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Assign many tasks to ``account_id`` (``None`` unassigns them); tasks already
        so are ``unchanged``. Needs the project owner or accepter role. As with
        :meth:`bulk_operate`, a task that moved on from where it was chosen (its
        Task's or TaskRef's phase, or ``expected_phase`` for bare ids; without one, the
        phase it is read in) is left alone.

            me = await af.account_id()
            result = await project.bulk_reassign(ids, me, expected_phase="annotation")
        """
        planner, origins = self._reassign_plan(
            tasks, account_id, expected_phase, expected_phase_stage, on_moved
        )
        return await self._bulk(
            tasks, planner, False, origins, on_moved,
            concurrency, on_progress, on_failure, fail_fast, max_retries,
        )  # fmt: skip

    # -- dry runs -------------------------------------------------------------------

    async def plan_operate(
        self,
        tasks: BulkInputs,
        action: OperateAction | str,
        *,
        expected_phase: TaskPhase | str | None = None,
        expected_phase_stage: int | None = None,
        on_moved: OnMoved = "unchanged",
        force: bool = False,
        take_over: bool = True,
    ) -> AsyncIterator[OperatePlan]:
        """What :meth:`bulk_operate` would do to each task, sending no write: one
        :class:`OperatePlan` per input, in order. Ids are read 100 per request.

            async for p in project.plan_operate(refs, "complete"):
                print(p.task_id, p.outcome, p.steps)   # ("take over", "start", "complete")
        """
        _, planner, origins = await self._operate_plan(
            tasks, action, expected_phase, expected_phase_stage, on_moved, force, take_over
        )
        me = await self._session.account_id()
        async for one in self._plans(tasks, planner, origins, on_moved, me):
            yield one

    async def plan_reassign(
        self,
        tasks: BulkInputs,
        account_id: str | None,
        *,
        expected_phase: TaskPhase | str | None = None,
        expected_phase_stage: int | None = None,
        on_moved: OnMoved = "unchanged",
    ) -> AsyncIterator[OperatePlan]:
        """What :meth:`bulk_reassign` would do to each task, sending no write.

        async for p in project.plan_reassign(ids, None): print(p.task_id, p.outcome)
        """
        planner, origins = self._reassign_plan(
            tasks, account_id, expected_phase, expected_phase_stage, on_moved
        )
        me = await self._session.account_id()
        async for one in self._plans(tasks, planner, origins, on_moved, me):
            yield one

    # -- shared ---------------------------------------------------------------------

    async def _operate_plan(
        self,
        tasks: object,
        action: object,
        expected_phase: TaskPhase | str | None,
        expected_phase_stage: int | None,
        on_moved: object,
        force: object,
        take_over: object,
    ) -> tuple[OperateAction, Planner, Origins]:
        _check_inputs(tasks)
        goal = OperateAction(require_choice(action, "action", [a.value for a in OperateAction]))
        if not isinstance(force, bool) or (force and goal is not OperateAction.REJECT):
            raise InvalidArgumentError("force=True goes with action='reject' only")
        take_over = require_flag(take_over, "take_over")
        expected = _expected(expected_phase, expected_phase_stage, on_moved)
        needs = goal.value if goal in PHASE_DEPENDENT and expected is None else None
        if needs is not None and isinstance(tasks, list | tuple):
            bare = next((t for t in tasks if isinstance(t, str)), None)
            if bare is not None:
                raise InvalidArgumentError(
                    f"{goal.value!r} acts on the task's phase, so bare ids need "
                    f"expected_phase= (one of 'annotation', 'inspection', 'acceptance': "
                    f"the phase they were chosen in), e.g. {bare!r}; or pass TaskRef or "
                    "Task inputs"
                )
        me = await self._session.account_id()
        planner = functools.partial(_plan, goal, me=me, force=force, take_over=take_over)
        return goal, planner, Origins(expected, needs)

    def _reassign_plan(
        self,
        tasks: object,
        account_id: str | None,
        expected_phase: TaskPhase | str | None,
        expected_phase_stage: int | None,
        on_moved: object,
    ) -> tuple[Planner, Origins]:
        _check_inputs(tasks)
        if account_id is not None:
            require_id(account_id, "account_id")
        expected = _expected(expected_phase, expected_phase_stage, on_moved)

        def planner(task: Task, origin: TaskRef) -> Any:
            return next_reassign_step(task, origin, account_id)

        return planner, Origins(expected, None)

    async def _bulk(
        self,
        tasks: BulkInputs,
        planner: Planner,
        put_back: bool,
        origins: Origins,
        on_moved: OnMoved,
        concurrency: int,
        on_progress: Callable[[BulkProgress], object] | None,
        on_failure: Callable[[BulkFailure], object] | None,
        fail_fast: bool,
        max_retries: int | None,
    ) -> BulkResult:
        session = self._session.bulk_view(max_retries)
        driver = TaskDriver(
            session, self.id, planner, put_back=put_back, origins=origins, on_moved=on_moved
        )
        return await session.run_bulk(
            tasks,
            driver.run,
            key=_work_key,
            concurrency=concurrency,
            on_progress=on_progress,
            on_failure=on_failure,
            fail_fast=fail_fast,
        )

    async def _plans(
        self,
        tasks: BulkInputs,
        planner: Planner,
        origins: Origins,
        on_moved: OnMoved,
        me: str,
    ) -> AsyncIterator[OperatePlan]:
        batch: list[str | TaskRef | Task] = []
        async for work in _each(tasks):
            batch.append(work)
            if len(batch) >= _config.ANNOFAB_IDS_PER_REQUEST:
                for one in await self._plan_batch(batch, planner, origins, on_moved, me):
                    yield one
                batch = []
        if batch:
            for one in await self._plan_batch(batch, planner, origins, on_moved, me):
                yield one

    async def _plan_batch(
        self,
        batch: list[str | TaskRef | Task],
        planner: Planner,
        origins: Origins,
        on_moved: OnMoved,
        me: str,
    ) -> list[OperatePlan]:
        wanted = [w if isinstance(w, str) else w.task_id for w in batch if _readable(w)]
        found = {t.task_id: t for t in await self.tasks_by_ids(wanted)} if wanted else {}
        plans: list[OperatePlan] = []
        for work in batch:
            key = _work_key(work)
            try:
                check_work(work)
                if isinstance(work, Task):
                    task, origin = work, TaskRef.of(work)
                else:
                    ref = work if isinstance(work, TaskRef) else origins.of_id(work)
                    now = found.get(key)
                    if now is None:
                        missing = f"task {key!r} was not found"
                        plans.append(OperatePlan(key, "fail", reason="not_found", message=missing))
                        continue
                    task, origin = now, ref or TaskRef.of(now)
                if moved(task, origin):
                    if on_moved == "fail":
                        raise moved_error(task, origin)
                    plans.append(OperatePlan(key, "unchanged", task=task))
                    continue
                steps = plan(planner, task, origin)
            except (TaskStateError, InvalidArgumentError) as error:
                reason = getattr(error, "failure_code", None) or "invalid_argument"
                plans.append(OperatePlan(key, "fail", reason=reason, message=str(error)))
                continue
            words = tuple(describe_step(s, me) for s in steps)
            plans.append(OperatePlan(key, "update" if steps else "unchanged", words, task=task))
        return plans

    # -- typed records beyond tasks (input data, annotations, specs, comments, members,
    # -- jobs, the project itself): one request each, answers decoded into models ------

    async def info(self) -> ProjectInfo:
        """The project itself: title, status, organization, configuration.

        info = await project.info()
        """
        return pdata.read(await self._session.api.get_project(self.id), ProjectInfo)

    async def input_data_item(self, input_data_id: str) -> InputData:
        """One input data; :class:`~annoq.NotFoundError` when it does not exist.

        item = await project.input_data_item("input-1")
        """
        data = await self._session.api.get_input_data(
            self.id, require_id(input_data_id, "input_data_id")
        )
        return pdata.read(data, InputData)

    async def input_data_page(
        self,
        *,
        page: int = 1,
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        input_data_id: str | None = None,
        input_data_name: str | None = None,
        input_data_path: str | None = None,
        task_id: str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
    ) -> Page[InputData]:
        """One page of the input data list (a single request). ``input_data_id``,
        ``input_data_name`` and ``input_data_path`` match part of the value;
        ``task_id`` keeps a task's input data; ``from_``/``to`` bound
        ``updated_datetime``. The order is the service's (it may move while input data
        changes).

            page = await project.input_data_page(input_data_name="frame-")
        """
        params: dict[str, Any] = _page_params(page, page_size)
        for name, value in (
            ("input_data_id", input_data_id),
            ("input_data_name", input_data_name),
            ("input_data_path", input_data_path),
            ("task_id", task_id),
        ):
            if value is not None:
                params[name] = require_id(value, name)
        for name, moment in (("from", from_), ("to", to)):
            text = pdata.lock_text(moment, "from_" if name == "from" else name)
            if text is not None:
                params[name] = text
        data = await self._session.api.get_input_data_list(self.id, query_params=params)  # type: ignore[arg-type]
        return pdata.read_page(data, InputData)

    async def input_data_by_ids(self, input_data_ids: Iterable[str]) -> list[InputData]:
        """The input data with these ids, 100 per request, in the order asked; ids that
        do not exist are left out."""
        if isinstance(input_data_ids, str):
            raise InvalidArgumentError("input_data_ids must be a list of ids, not a string")
        ids = list(dict.fromkeys(require_id(i, "input_data_ids[]") for i in input_data_ids))
        found: dict[str, InputData] = {}
        size = _config.ANNOFAB_IDS_PER_REQUEST
        for start in range(0, len(ids), size):
            data = await self._session.api.get_input_data_in_bulk(
                self.id, query_params={"input_data_id": ids[start : start + size]}
            )
            for item in pdata.read_in_bulk(data, InputData):
                found[item.input_data_id] = item
        return [found[i] for i in ids if i in found]

    async def put_input_data(
        self,
        input_data_id: str,
        input_data_name: str,
        input_data_path: str,
        *,
        metadata: Mapping[str, str] | None = None,
        sign_required: bool | None = None,
        last_updated_datetime: datetime | None = None,
    ) -> InputData:
        """Register an input data (or update it: quote its ``updated_datetime`` as
        ``last_updated_datetime``). A ZIP starts a job instead: use the low-level
        ``api.put_input_data`` for those.

            item = await project.put_input_data("in-1", "a.jpg", "s3://bucket/a.jpg")
        """
        body = pdata.input_data_body(
            input_data_name,
            input_data_path,
            metadata=metadata,
            sign_required=sign_required,
            last_updated_datetime=last_updated_datetime,
        )
        if input_data_name.lower().endswith(".zip") or input_data_path.lower().endswith(".zip"):
            raise InvalidArgumentError(
                "put_input_data registers one file; a ZIP starts a job: use "
                "api.put_input_data for it"
            )
        data = await self._session.api.put_input_data(
            self.id, require_id(input_data_id, "input_data_id"), request_body=body
        )
        return pdata.read(data, InputData)

    async def delete_input_data(self, input_data_id: str) -> InputData:
        """Delete one input data; returns it as it was."""
        data = await self._session.api.delete_input_data(
            self.id, require_id(input_data_id, "input_data_id")
        )
        return pdata.read(data, InputData)

    async def annotation_page(
        self,
        *,
        query: Mapping[str, Any] | None = None,
        page: int = 1,
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        sort: str | None = None,
    ) -> Page[SingleAnnotation]:
        """One page of the annotation list, one entry per annotation (v2 details).
        ``query`` is an ``AnnotationQuery``: ``task_id``, ``input_data_id``,
        ``label_id``, ``attributes``, ``updated_from``/``updated_to`` (dates).

            page = await project.annotation_page(query={"label_id": car.label_id})
        """
        params: dict[str, Any] = {**_page_params(page, page_size), "v": "2"}
        if query is not None:
            if not isinstance(query, Mapping):
                raise InvalidArgumentError("query must be a mapping (an AnnotationQuery)")
            params["query"] = orjson.dumps(dict(query)).decode()
        if sort is not None:
            params["sort"] = require_id(sort, "sort")
        data = await self._session.api.get_annotation_list(self.id, query_params=params)  # type: ignore[arg-type]
        return pdata.read_page(data, SingleAnnotation)

    async def editor_annotation(self, task_id: str, input_data_id: str) -> EditorAnnotation:
        """The annotations of one input data in a task (format 2.0.0).

        current = await project.editor_annotation("task-1", "input-1")
        """
        data = await self._session.api.get_editor_annotation(
            self.id,
            require_id(task_id, "task_id"),
            require_id(input_data_id, "input_data_id"),
            query_params={"v": "2"},
        )
        return pdata.read_editor_annotation(data)

    async def put_editor_annotation(
        self,
        task_id: str,
        input_data_id: str,
        details: Iterable[EditorAnnotationDetail | NewAnnotation],
        *,
        updated_datetime: datetime | None,
    ) -> EditorAnnotation:
        """Replace the annotations of one input data in a task. ``details`` are the
        ones to keep (read ones, sent as updates) and :class:`NewAnnotation` objects;
        ``updated_datetime`` is the lock: the value last read (``None`` while there is
        none). Someone else's save in between answers :class:`~annoq.ConflictError`
        (409): read again and decide.

            cur = await project.editor_annotation("t-1", "in-1")
            new = NewAnnotation(label_id=car.label_id, body=box)
            await project.put_editor_annotation("t-1", "in-1", [*cur.details, new],
                                                updated_datetime=cur.updated_datetime)
        """
        body = pdata.editor_annotation_body(
            self.id,
            require_id(task_id, "task_id"),
            require_id(input_data_id, "input_data_id"),
            details,
            updated_datetime,
        )
        data = await self._session.api.put_annotation(
            self.id, task_id, input_data_id, query_params={"v": "2"}, request_body=body
        )
        return pdata.read_editor_annotation(data)

    async def annotation_specs(self) -> AnnotationSpecs:
        """The annotation specs (format 3): labels, attributes, choices, with name and
        id lookups.

            specs = await project.annotation_specs()
            car = specs.label("car")
        """
        data = await self._session.api.get_annotation_specs(self.id, query_params={"v": "3"})
        return pdata.read(data, AnnotationSpecs)

    def members(self, *, include_inactive: bool = False) -> WholeList[ProjectMember]:
        """The project's members (one request: the service does not page them); await
        it for a list, or walk it.

            members = await project.members()
            async for member in project.members(include_inactive=True): ...
        """
        require_flag(include_inactive, "include_inactive")
        params: dict[str, Any] = {"include_inactive_member": ""} if include_inactive else {}

        async def fetch() -> list[ProjectMember]:
            data = await self._session.api.get_project_members(self.id, query_params=params)  # type: ignore[arg-type]
            return list(pdata.read_page(data, ProjectMember))

        return WholeList(fetch)

    async def member(self, user_id: str) -> ProjectMember:
        """One member by user id; :class:`~annoq.NotFoundError` when not a member."""
        data = await self._session.api.get_project_member(self.id, require_id(user_id, "user_id"))
        return pdata.read(data, ProjectMember)

    def comments(self, task_id: str, input_data_id: str) -> WholeList[Comment]:
        """The comments on one input data of a task (one request); await it for a
        list, or walk it.

            for c in await project.comments("task-1", "input-1"):
                print(c.comment_type, c.comment)
            async for c in project.comments("task-1", "input-1"): ...
        """
        task = require_id(task_id, "task_id")
        item = require_id(input_data_id, "input_data_id")

        async def fetch() -> list[Comment]:
            data = await self._session.api.get_comments(self.id, task, item)
            return pdata.read_list(data, Comment)

        return WholeList(fetch)

    async def batch_update_comments(
        self,
        task_id: str,
        input_data_id: str,
        *,
        put: Iterable[CommentPut] = (),
        delete: Iterable[str] = (),
    ) -> list[Comment]:
        """Add or replace (``put``) and delete (by id) comments of one input data, all
        in one request; returns the comments put.

            me = await af.account_id()
            await project.batch_update_comments("t-1", "in-1",
                                                put=[CommentPut(account_id=me, comment="?")])
        """
        items: list[dict[str, Any]] = []
        for entry in put:
            if not isinstance(entry, CommentPut):
                raise InvalidArgumentError(f"put takes CommentPut objects, got {entry!r}")
            items.append(entry.to_body())
        if isinstance(delete, str):
            raise InvalidArgumentError("delete must be a list of comment ids, not a string")
        items += [{"_type": "Delete", "comment_id": require_id(c, "delete[]")} for c in delete]
        if not items:
            raise InvalidArgumentError("give at least one comment to put or delete")
        data = await self._session.api.batch_update_comments(
            self.id,
            require_id(task_id, "task_id"),
            require_id(input_data_id, "input_data_id"),
            request_body=items,
        )
        return pdata.read_list(data, Comment)

    async def inspections(self, task_id: str, input_data_id: str) -> list[Inspection]:
        """The (legacy) inspections of one input data of a task."""
        data = await self._session.api.get_inspections(
            self.id, require_id(task_id, "task_id"), require_id(input_data_id, "input_data_id")
        )
        return pdata.read_list(data, Inspection)

    async def job_list(
        self,
        job_type: JobType | str | None = None,
        *,
        limit: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        before: datetime | None = None,
    ) -> JobPage:
        """One page of the project's jobs, newest first (of ``job_type`` when given);
        ``before`` continues after a page (its last job's ``created_datetime``).

            page = await project.job_list("gen-tasks-list")
        """
        params: dict[str, Any] = {"limit": _limit(limit)}
        if job_type is not None:
            params["type"] = _job_type(job_type)
        cursor = pdata.lock_text(before, "before")
        if cursor is not None:
            params["exclusive_start_created_datetime"] = cursor
        data = await self._session.api.get_project_job(self.id, query_params=params)  # type: ignore[arg-type]
        return pdata.read_job_page(data)

    async def delete_job(self, job_type: JobType | str, job_id: str) -> None:
        """Remove a job from the list."""
        await self._session.api.delete_project_job(
            self.id, _job_type(job_type), require_id(job_id, "job_id")
        )

    def jobs(
        self,
        job_type: JobType | str | None = None,
        *,
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
    ) -> JobWalk:
        """Walk the project's jobs, newest first (of ``job_type`` when given), page after
        page over the ``exclusive_start_created_datetime`` cursor, each job once: jobs
        sharing a page's last ``created_datetime`` are not skipped (each next page
        re-reads that instant; more than 200 jobs in one millisecond is the limit).

            async for job in project.jobs("gen-tasks-list"):
                print(job.job_id, job.job_status)
        """
        kind = None if job_type is None else _job_type(job_type)
        _limit(page_size, "page_size")

        def lister(*, limit: int, before: datetime | None) -> Awaitable[JobPage]:
            return self.job_list(kind, limit=limit, before=before)

        return JobWalk(walk_jobs(lister, page_size))

    async def wait_job(
        self,
        job_type: JobType | str,
        job_id: str | None = None,
        *,
        poll: float = _config.ANNOFAB_JOB_FIRST_POLL,
        poll_factor: float = _config.ANNOFAB_JOB_POLL_FACTOR,
        poll_cap: float = _config.ANNOFAB_JOB_POLL_CAP,
        timeout: float | None = _config.ANNOFAB_JOB_TIMEOUT,  # noqa: ASYNC109 (JobTimeoutError names the job)
        on_progress: Callable[[Job], object] | None = None,
    ) -> Job:
        """Wait for a job (the newest of ``job_type`` unless ``job_id`` is given) to
        finish and return it. Polls at once, then after ``poll`` seconds, each wait
        ``poll_factor`` times longer up to ``poll_cap``; ``on_progress(job)`` sees every
        poll. Raises :class:`~annoq.JobFailedError` (the job and its ``errors``),
        :class:`~annoq.JobTimeoutError` after ``timeout`` seconds (the job goes on) or
        :class:`~annoq.JobNotFoundError`. Cancelling the wait leaves nothing pending.

            job = await project.wait_job("gen-tasks-list", timeout=600)
        """
        kind = _job_type(job_type)
        wanted = None if job_id is None else require_id(job_id, "job_id")
        check_wait(poll, poll_factor, poll_cap, timeout)
        describe = f"{kind} job" + ("" if wanted is None else f" {wanted!r}")

        async def find() -> Job | None:
            async with self.jobs(kind) as walk:
                async for job in walk:
                    if wanted is None or job.job_id == wanted:
                        return job
            return None

        return await wait_for_job(
            find,
            describe,
            poll=poll,
            factor=poll_factor,
            cap=poll_cap,
            timeout=timeout,
            on_progress=on_progress,
        )

    # -- walks of the other lists (issue 15; see _walks.py) ---------------------------

    def input_data(
        self,
        *,
        input_data_id: str | None = None,
        input_data_name: str | None = None,
        input_data_path: str | None = None,
        task_id: str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        on_over_limit: OnOverLimit = "raise",
        prefetch: int | None = None,
    ) -> ListWalk[InputData]:
        """Walk the project's input data (filters as :meth:`input_data_page`), each once.

        The service lists latest updates first, so an item changed during the walk
        jumps onto pages already read; the walk then makes a catch-up pass over the
        items updated since it began, so each item is yielded exactly once while
        others are added or changed (an item deleted meanwhile can shift one unread
        item onto a page already read).

        Past 10,000 matches, ``on_over_limit="export"`` reads the whole-project input
        data export instead (the file as last rebuilt: see :meth:`export_input_data`),
        every filter applied locally, in constant memory; under the cap it walks the
        list as usual.

            async for item in project.input_data(input_data_name="frame-"):
                print(item.input_data_id)
        """
        filters: dict[str, Any] = {
            "input_data_id": input_data_id,
            "input_data_name": input_data_name,
            "input_data_path": input_data_path,
            "task_id": task_id,
            "to": to,
        }

        def fetch(start: datetime | None) -> Callable[[int, int], Awaitable[Page[InputData]]]:
            async def one(page: int, limit: int) -> Page[InputData]:
                return await self.input_data_page(
                    page=page, page_size=limit, from_=start, **filters
                )

            return one

        def catch_up(first: InputData) -> Callable[[int, int], Awaitable[Page[InputData]]]:
            start = first.updated_datetime
            return fetch(start if from_ is None else max(start, from_))

        pdata.lock_text(from_, "from_")
        pdata.lock_text(to, "to")
        for name in ("input_data_id", "input_data_name", "input_data_path", "task_id"):
            if filters[name] is not None:
                require_id(filters[name], name)
        if on_over_limit != "export":
            return list_walk(
                fetch(from_),
                _input_data_id,
                page_size=page_size,
                prefetch=prefetch,
                on_over_limit=on_over_limit,
                catch_up=catch_up,
            )
        check_list_walk(page_size, prefetch, "raise")
        state = _WalkState()

        async def items() -> AsyncIterator[InputData]:
            first = await fetch(from_)(1, 1)
            state.total_count, state.over_limit = first.total_count, first.over_limit
            if not first.over_limit:
                walk = list_walk(
                    fetch(from_),
                    _input_data_id,
                    page_size=page_size,
                    prefetch=prefetch,
                    catch_up=catch_up,
                )
                async with walk:
                    async for item in walk:
                        yield item
                return
            parts = {
                name: filters[name]
                for name in ("input_data_id", "input_data_name", "input_data_path")
                if filters[name] is not None
            }
            async for item in self._export_input_data_walk(parts, task_id, from_, to):
                yield item

        return ListWalk(items(), state)

    def annotations(
        self,
        *,
        query: Mapping[str, Any] | None = None,
        sort: str | None = None,
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        on_over_limit: OnOverLimit = "raise",
        prefetch: int | None = None,
    ) -> ListWalk[SingleAnnotation]:
        """Walk the annotation list (``query``/``sort`` as :meth:`annotation_page`),
        each annotation once (by annotation id, task and input data).

            async for a in project.annotations(query={"task_id": "task-1"}):
                print(a.detail.label_id)
        """
        if query is not None and not isinstance(query, Mapping):
            raise InvalidArgumentError("query must be a mapping (an AnnotationQuery)")

        async def one(page: int, limit: int) -> Page[SingleAnnotation]:
            return await self.annotation_page(query=query, page=page, page_size=limit, sort=sort)

        return list_walk(
            one,
            _annotation_key,
            page_size=page_size,
            prefetch=prefetch,
            on_over_limit=on_over_limit,
        )


BulkInputs = Iterable[str | TaskRef | Task] | AsyncIterable[str | TaskRef | Task]


def _input_data_id(item: InputData) -> str:
    return item.input_data_id


def _annotation_key(item: SingleAnnotation) -> tuple[str, str, str]:
    return (item.task_id, item.input_data_id, item.detail.annotation_id)


def _readable(work: object) -> bool:
    return isinstance(work, TaskRef) or (isinstance(work, str) and bool(work.strip()))


async def _each(tasks: BulkInputs) -> AsyncIterator[str | TaskRef | Task]:
    if isinstance(tasks, AsyncIterable):
        async for work in tasks:
            yield work
    else:
        for work in tasks:
            yield work


def _expected(
    phase: TaskPhase | str | None, stage: int | None, on_moved: object
) -> tuple[TaskPhase, int | None] | None:
    require_choice(on_moved, "on_moved", ("unchanged", "fail"))
    if phase is None:
        if stage is not None:
            raise InvalidArgumentError("expected_phase_stage needs expected_phase")
        return None
    ref = TaskRef("-", phase, stage)  # validates both
    return ref.phase, ref.phase_stage


def _check_inputs(tasks: object) -> None:
    if isinstance(tasks, str | Task | TaskRef):
        raise InvalidArgumentError("tasks must be a list (or iterable) of ids, TaskRefs or Tasks")


def _check_walk(page_size: int, on_over_limit: str, mode: str, prefetch: int | None) -> None:
    require_page_size(page_size, maximum=_config.ANNOFAB_MAX_PAGE_SIZE)
    require_prefetch(prefetch)
    require_choice(on_over_limit, "on_over_limit", ("raise", "warn", "export"))
    require_choice(mode, "mode", ("stable", "fast"))


def _plan(
    goal: OperateAction, task: Task, origin: TaskRef, *, me: str, force: bool, take_over: bool
) -> Any:
    return next_step(goal, task, origin, me, force=force, take_over=take_over)


async def _tasks_of(pages: AsyncIterator[TaskPage]) -> AsyncIterator[Task]:
    try:
        async for page in pages:
            for task in page.tasks:
                yield task
    finally:
        await pages.aclose()  # type: ignore[attr-defined]


def _page_params(page: int, page_size: int) -> dict[str, Any]:
    require_count(page, "page", minimum=1)
    return {"page": page, "limit": _limit(page_size, "page_size")}


def _limit(value: int, name: str = "limit") -> int:
    return require_page_size(value, name, maximum=_config.ANNOFAB_MAX_PAGE_SIZE)


def _job_type(value: JobType | str) -> str:
    member = JobType(value) if isinstance(value, str) else None
    if member is None or not member.is_known:
        names = listing(m.value for m in JobType.__members__.values())
        raise InvalidArgumentError(f"job_type={value!r} is not allowed; use {names}")
    return member.value
