"""Annofab task models: frozen, slotted attrs classes, plus the walk's filters.

Field names and optionality follow the Annofab Web API's ``Task``, ``TaskHistory`` and
``TaskList`` schemas. Unknown fields are ignored; timestamps keep the offset the server
sends (``+09:00``) as aware datetimes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

import attrs
import orjson

from .._args import listing, require_flag
from .._errors import AnnoqError, InvalidArgumentError

__all__ = [
    "Account",
    "Aggregation",
    "AggregationCount",
    "OnMoved",
    "OnOverLimit",
    "OperateAction",
    "OperatePlan",
    "OverLimitError",
    "OverLimitWarning",
    "PhaseHistory",
    "Task",
    "TaskHistory",
    "TaskPage",
    "TaskPhase",
    "TaskQuery",
    "TaskRef",
    "TaskStateError",
    "TaskStatus",
    "WalkMode",
]

OnOverLimit = Literal["raise", "warn", "export"]
WalkMode = Literal["stable", "fast"]
OnMoved = Literal["unchanged", "fail"]


class _TolerantEnum(enum.StrEnum):
    """A str enum that decodes values the server adds later to a pseudo-member
    (``is_known`` is ``False``) instead of failing the whole page."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """Whether annoq knows this value."""
        return self._name_ != "UNKNOWN"


class TaskPhase(_TolerantEnum):
    """The phase a task is in; they follow one another in this order.

    >>> TaskPhase("inspection") == "inspection"
    True
    """

    ANNOTATION = "annotation"
    INSPECTION = "inspection"
    ACCEPTANCE = "acceptance"


class TaskStatus(_TolerantEnum):
    """A task's status within its phase.

    >>> TaskStatus.NOT_STARTED.value
    'not_started'
    """

    NOT_STARTED = "not_started"
    WORKING = "working"
    ON_HOLD = "on_hold"
    BREAK = "break"
    COMPLETE = "complete"


class OperateAction(enum.StrEnum):
    """What ``Project.bulk_operate`` does to each task.

    ``start`` (to ``working``), ``complete`` (submit the phase), ``reject`` (send back
    to annotation; ``force=True`` lets a project owner do it from any state), ``break``,
    ``on_hold``, ``cancel`` (take back one's own submission).

    >>> OperateAction("on_hold")
    <OperateAction.ON_HOLD: 'on_hold'>
    """

    START = "start"
    COMPLETE = "complete"
    REJECT = "reject"
    BREAK = "break"
    ON_HOLD = "on_hold"
    CANCEL = "cancel"


PHASE_ORDER: Mapping[str, int] = {"annotation": 0, "inspection": 1, "acceptance": 2}


@attrs.frozen
class PhaseHistory:
    """One entry of ``Task.histories_by_phase``: who worked a phase (stage).

    annotators = [h.account_id for h in task.histories_by_phase if h.phase == "annotation"]
    """

    phase: TaskPhase
    phase_stage: int
    account_id: str | None = None
    worked: bool = False


@attrs.frozen
class Task:
    """One Annofab task.

    ``account_id`` is the assignee (``None`` when unassigned). ``updated_datetime`` is
    the optimistic lock: an operation must quote it, and annoq chains each response's
    value into the next operation.

        task = await project.task("task-000001")
        print(task.phase, task.status, task.account_id)
    """

    project_id: str
    task_id: str
    phase: TaskPhase
    phase_stage: int
    status: TaskStatus
    updated_datetime: datetime
    input_data_id_list: tuple[str, ...] = ()
    account_id: str | None = None
    histories_by_phase: tuple[PhaseHistory, ...] = ()
    work_time_span: int = 0
    number_of_rejections: int = 0
    started_datetime: datetime | None = None
    operation_updated_datetime: datetime | None = None
    sampling: str | None = None
    metadata: dict[str, str | int | float | bool] = attrs.field(factory=dict, hash=False)

    @property
    def position(self) -> tuple[int, int]:
        """``(phase order, stage)``: how far along the workflow the task is."""
        return PHASE_ORDER.get(self.phase.value, -1), self.phase_stage


@attrs.frozen
class OperatePlan:
    """What a bulk operation would do to one task, from a dry run
    (``Project.plan_operate``); nothing was sent.

    ``outcome`` is ``"update"`` (``steps`` are the requests, in words: ``take over``,
    ``start``, ``complete``, ...), ``"unchanged"`` (done already, or moved on from where
    it was chosen) or ``"fail"`` (``reason`` and ``message`` say why). ``task`` is the
    task as read (``None`` when it could not be).

        async for p in project.plan_operate(refs, "complete"):
            print(p.task_id, p.outcome, ", ".join(p.steps) or p.reason)
    """

    task_id: str
    outcome: Literal["update", "unchanged", "fail"]
    steps: tuple[str, ...] = ()
    reason: str | None = None
    message: str | None = None
    task: Task | None = attrs.field(default=None, repr=False)


@attrs.frozen
class TaskHistory:
    """One work period on a task (``GET .../tasks/{task_id}/histories``).

    for h in await project.task_histories("task-000001"):
        print(h.account_id, h.started_datetime, h.ended_datetime)
    """

    task_history_id: str
    project_id: str
    task_id: str
    phase: TaskPhase
    phase_stage: int
    account_id: str | None = None
    started_datetime: datetime | None = None
    ended_datetime: datetime | None = None
    accumulated_labor_time_milliseconds: str | None = None


@attrs.frozen
class Account:
    """The caller's account (``GET /my/account``, every field of ``MyAccount``);
    ``account_id`` names it in tasks.

        me = await af.my_account()
        mine = project.tasks(account_id=me.account_id)
    """

    account_id: str
    user_id: str
    username: str | None = None
    email: str | None = None
    lang: str | None = None
    keylayout: str | None = None
    authority: str | None = None
    account_type: str | None = None
    biography: str | None = None
    updated_datetime: datetime | None = None
    reset_requested_email: str | None = None
    errors: tuple[str, ...] = ()


@attrs.frozen
class AggregationCount:
    """One bucket of an aggregation: a ``key`` and how many items have it."""

    key: str | None = None
    count: int | None = None
    aggregations: tuple[Aggregation, ...] = ()


@attrs.frozen
class Aggregation:
    """A count aggregation of a list answer (``CountResult``)."""

    name: str
    field: str
    items: tuple[AggregationCount, ...] = ()
    doc_count: int | None = None


@attrs.frozen
class TaskPage:
    """One page of a task search, as the server counted it.

    ``total_count`` counts every match, ``over_limit`` says it is more than Annofab pages
    through (10,000): results past the 10,000th cannot be reached by paging.

        page = await project.task_page(page=1, status="not_started")
        print(len(page), page.total_count, page.over_limit)
    """

    tasks: tuple[Task, ...]
    page_no: int
    total_page_no: int
    total_count: int
    over_limit: bool
    aggregations: tuple[Aggregation, ...] = ()

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)


_SORT_KEY = re.compile(
    r"^-?(task_id|updated_datetime|number_of_rejections|phase|phase_stage|status|account_id"
    r"|metadata\.[^,\s]+)$"
)


def _enum_or_none(kind: type[_TolerantEnum], name: str, value: object) -> Any:
    if value is None:
        return None
    member = kind(value) if isinstance(value, str) else None
    if member is None or not member.is_known:
        names = listing(m.value for m in kind.__members__.values())
        raise InvalidArgumentError(f"{name}={value!r} is not allowed; use {names}")
    return member


def _str_or_none(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _flag(name: str, value: object) -> bool:
    return require_flag(value, name)


# Named converters (attrs' mypy plugin reads their parameter types).
def _phase(value: TaskPhase | str | None) -> TaskPhase | None:
    return _enum_or_none(TaskPhase, "phase", value)  # type: ignore[no-any-return]


def _previous_phase(value: TaskPhase | str | None) -> TaskPhase | None:
    return _enum_or_none(TaskPhase, "previous_phase", value)  # type: ignore[no-any-return]


def _status(value: TaskStatus | str | None) -> TaskStatus | None:
    return _enum_or_none(TaskStatus, "status", value)  # type: ignore[no-any-return]


def _account(value: str | None) -> str | None:
    return _str_or_none("account_id", value)


def _previous_account(value: str | None) -> str | None:
    return _str_or_none("previous_account_id", value)


def _task_id_part(value: str | None) -> str | None:
    return _str_or_none("task_id", value)


def _metadata(value: str | None) -> str | None:
    return _str_or_none("metadata", value)


def _no_user(value: bool) -> bool:
    return _flag("no_user", value)


def _rejected_only(value: bool) -> bool:
    return _flag("rejected_only", value)


def _auto_accepted_only(value: bool) -> bool:
    return _flag("auto_accepted_only", value)


def _previous_stage(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"previous_phase_stage must be an integer >= 1, got {value!r}")
    return value


def _annotation_query(value: Mapping[str, Any] | str | None) -> str | None:
    """An ``AnnotationQuery`` as the JSON text the task search takes."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise InvalidArgumentError("annotation must be an AnnotationQuery (a JSON object)")
        return value
    if not isinstance(value, Mapping):
        raise InvalidArgumentError("annotation must be an AnnotationQuery mapping")
    return orjson.dumps(dict(value)).decode()


def _ref_stage(value: int | None) -> int | None:
    return _opt_stage(value)


def _opt_stage(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"phase_stage must be an integer >= 1, got {value!r}")
    return value


def _sort(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not all(_SORT_KEY.match(k) for k in value.split(",")):
        raise InvalidArgumentError(
            f"sort={value!r} is not allowed; use comma-separated keys among task_id, "
            "updated_datetime, number_of_rejections, phase, phase_stage, status, "
            "account_id, metadata.KEY, each optionally prefixed with '-' (descending)"
        )
    return value


def _ids(value: Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple | set | frozenset):
        raise InvalidArgumentError(f"input_data_ids must be a list of strings, got {value!r}")
    out = tuple(value)
    for entry in out:
        if not isinstance(entry, str) or not entry or "," in entry:
            raise InvalidArgumentError(f"input_data_ids has an invalid id: {entry!r}")
    return out


def _ref_phase(value: TaskPhase | str) -> TaskPhase:
    member = _enum_or_none(TaskPhase, "phase", value)
    if member is None:
        raise InvalidArgumentError("phase is required: the phase the task was chosen in")
    return member  # type: ignore[no-any-return]


def _ref_task_id(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"task_id must be a non-empty string, got {value!r}")
    return value


def _opt_rejections(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"number_of_rejections must be an integer >= 0, got {value!r}")
    return value


@attrs.frozen
class TaskRef:
    """A task id with where the task was when it was chosen, as a bulk input.

    ``Project.bulk_operate`` acts on the task only while it is still there: one that has
    moved to another phase (or stage) meanwhile, or was sent back and came round again
    (its ``number_of_rejections`` grew), is left alone and reported ``unchanged`` (or
    failed, with ``on_moved="fail"``). That is what makes a rerun change nothing.
    ``phase_stage=None`` accepts any stage of the phase; ``number_of_rejections=None``
    skips the came-round check.

        refs = [TaskRef("task-000001", "annotation", 1, number_of_rejections=0)]
        result = await project.bulk_operate(refs, "complete")
    """

    task_id: str = attrs.field(converter=_ref_task_id)
    phase: TaskPhase = attrs.field(converter=_ref_phase)
    phase_stage: int | None = attrs.field(default=None, converter=_ref_stage)
    number_of_rejections: int | None = attrs.field(default=None, converter=_opt_rejections)

    @classmethod
    def of(cls, task: Task) -> TaskRef:
        """Where ``task`` is now (its id, phase, stage and rejection count)."""
        return cls(task.task_id, task.phase, task.phase_stage, task.number_of_rejections)


@attrs.frozen(kw_only=True)
class TaskQuery:
    """The filters of a task search (all AND-ed), validated when built.

    ``task_id`` matches part of the id, case-insensitively. ``no_user=True`` keeps
    unassigned tasks. ``metadata`` uses Annofab's syntax: ``"priority:>=1 assignable:true"``.
    ``sort`` is Annofab's: ``"task_id"``, ``"-updated_datetime,task_id"``, ``"metadata.KEY"``.

        query = TaskQuery(phase="annotation", status="not_started", no_user=True)
    """

    phase: TaskPhase | None = attrs.field(default=None, converter=_phase)
    phase_stage: int | None = attrs.field(default=None, converter=_opt_stage)
    status: TaskStatus | None = attrs.field(default=None, converter=_status)
    account_id: str | None = attrs.field(default=None, converter=_account)
    no_user: bool = attrs.field(default=False, converter=_no_user)
    task_id: str | None = attrs.field(default=None, converter=_task_id_part)
    input_data_ids: tuple[str, ...] | None = attrs.field(default=None, converter=_ids)
    previous_account_id: str | None = attrs.field(default=None, converter=_previous_account)
    previous_phase: TaskPhase | None = attrs.field(default=None, converter=_previous_phase)
    rejected_only: bool = attrs.field(default=False, converter=_rejected_only)
    previous_phase_stage: int | None = attrs.field(default=None, converter=_previous_stage)
    auto_accepted_only: bool = attrs.field(default=False, converter=_auto_accepted_only)
    annotation: str | None = attrs.field(default=None, converter=_annotation_query)
    metadata: str | None = attrs.field(default=None, converter=_metadata)
    sort: str | None = attrs.field(default="task_id", converter=_sort)

    def __attrs_post_init__(self) -> None:
        if self.no_user and self.account_id is not None:
            raise InvalidArgumentError("no_user=True and account_id exclude each other")

    def volatile_part(self) -> TaskQuery:
        """Only the filters that task operations change (phase, stage, status, assignee)."""
        return TaskQuery(
            phase=self.phase,
            phase_stage=self.phase_stage,
            status=self.status,
            account_id=self.account_id,
            no_user=self.no_user,
            sort=None,
        )

    def stable_part(self) -> TaskQuery:
        """The other filters and the sort: ids, history, rejections, metadata."""
        return attrs.evolve(
            self, phase=None, phase_stage=None, status=None, account_id=None, no_user=False
        )

    @property
    def has_volatile(self) -> bool:
        """Whether any filter that operations change is set."""
        return self.volatile_part() != TaskQuery(sort=None)

    def matches(self, task: Task) -> bool:
        """Whether ``task`` passes the volatile filters (applied locally in stable walks)."""
        return (
            (self.phase is None or task.phase == self.phase)
            and (self.phase_stage is None or task.phase_stage == self.phase_stage)
            and (self.status is None or task.status == self.status)
            and (self.account_id is None or task.account_id == self.account_id)
            and (not self.no_user or task.account_id is None)
        )

    @property
    def stable_sort(self) -> bool:
        """Whether the order cannot change while tasks are operated (only ``task_id``)."""
        return self.sort is not None and self.sort.lstrip("-") == "task_id"


class OverLimitError(AnnoqError):
    """A task search matches more than Annofab pages through (10,000 results).

    ``total_count`` is the server's count. Split the search by filters so that each part
    stays under the cap, e.g. one walk per phase and status, or by ``input_data_ids`` or
    ``metadata``; or pass ``on_over_limit="warn"`` to take the first 10,000.
    """

    def __init__(self, total_count: int, cap: int, *, local_filters: bool) -> None:
        self.total_count = total_count
        self.cap = cap
        self.local_filters = local_filters
        hint = (
            " In mode='stable' the phase/status/assignee filters are applied by annoq, so "
            "the server query is wider: use mode='fast' if nothing changes those tasks "
            "during the walk."
            if local_filters
            else ""
        )
        super().__init__(
            f"the task search matches {total_count} tasks, but Annofab pages through only "
            f"the first {cap}: the walk would miss {total_count - cap}. Split it by filters "
            "into searches of fewer than "
            f"{cap} tasks each (e.g. one per phase and status, or by metadata or "
            "input_data_ids), or pass on_over_limit='warn' to accept the first "
            f"{cap}.{hint}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_over_limit, (self.total_count, self.cap, self.local_filters))


def _rebuild_over_limit(total_count: int, cap: int, local_filters: bool) -> OverLimitError:
    return OverLimitError(total_count, cap, local_filters=local_filters)


class OverLimitWarning(UserWarning):
    """A task walk stopped at Annofab's 10,000-result cap (``on_over_limit="warn"``)."""


class TaskStateError(AnnoqError):
    """A task is in no state to take the operation, decided before sending anything.

    ``failure_code`` is the reason code bulk results report (``wrong_phase``,
    ``phase_changed``, ``assigned_to_other``, ``task_complete``).
    """

    def __init__(self, task_id: str, failure_code: str, message: str) -> None:
        self.task_id = task_id
        self.failure_code = failure_code
        super().__init__(f"task {task_id!r}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_state_error, (self.task_id, self.failure_code, self.args[0]))


def _rebuild_state_error(task_id: str, code: str, text: str) -> TaskStateError:
    error = TaskStateError(task_id, code, "")
    error.args = (text,)
    return error


for _cls in (
    PhaseHistory,
    Task,
    TaskRef,
    OperatePlan,
    TaskHistory,
    Account,
    AggregationCount,
    Aggregation,
    TaskPage,
    TaskQuery,
):
    attrs.resolve_types(_cls)
del _cls
