"""The Annofab Web API as pure functions: requests out, models in.

Each ``*_request`` function validates its arguments and returns a
:class:`~annoq._transport.Request` (paths under ``/api/v1``); each ``read_*`` function
turns a response body into models. Nothing here does I/O, so the wire format is tested
without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from .. import _config
from .._args import require_choice, require_count, require_id, require_segment, segment
from .._convert import (
    decode_json,
    field,
    make_converter,
    make_page_reader,
    structure,
    structure_list,
)
from .._errors import InvalidArgumentError, MFARequiredError, ResponseDecodeError
from .._transport import Request
from ._models import Account, Aggregation, Task, TaskHistory, TaskPage, TaskQuery

API = "/api/v1"

#: Annofab timestamps keep their offset (``+09:00``): the converter does not move them.
converter = make_converter(datetimes_to_utc=False)

#: The wire status each operation sends.
OPERATE_STATUSES = frozenset(
    {"not_started", "working", "on_hold", "break", "complete", "rejected", "cancelled"}
)


def _project_path(project_id: str) -> str:
    return f"{API}/projects/{segment(project_id, 'project_id')}"


def _task_path(project_id: str, task_id: str) -> str:
    return f"{_project_path(project_id)}/tasks/{segment(task_id, 'task_id')}"


# -- auth -----------------------------------------------------------------------------


@attrs.frozen
class Token:
    """The tokens of a login or refresh; never shown in reprs."""

    id_token: str = attrs.field(repr=False)
    access_token: str = attrs.field(repr=False)
    refresh_token: str = attrs.field(repr=False)


def login_request(user_id: str, password: str) -> Request:
    """``POST /api/v1/login`` (sent without credentials)."""
    body = {"user_id": require_id(user_id, "user_id"), "password": password}
    return Request("POST", f"{API}/login", json=body, authenticated=False)


def refresh_request(refresh_token: str) -> Request:
    """``POST /api/v1/refresh-token`` (sent without credentials)."""
    return Request(
        "POST", f"{API}/refresh-token", json={"refresh_token": refresh_token}, authenticated=False
    )


def my_account_request() -> Request:
    """``GET /api/v1/my/account``."""
    return Request("GET", f"{API}/my/account")


def _read_token(data: Any, path: str) -> Token:
    return structure(converter, data, Token, path=path)


def read_login(content: bytes, *, url: str = "") -> Token:
    """``{"token": {...}}`` -> Token; an MFA challenge raises MFARequiredError."""
    data = decode_json(content)
    if isinstance(data, dict) and "token" not in data and "session" in data:
        raise MFARequiredError(
            401,
            "this account uses multi-factor authentication, which annoq cannot answer: "
            "use a personal access token instead (pat=... or ANNOFAB_PAT)",
            error_type="MFA_REQUIRED",
            method="POST",
            url=url,
        )
    return _read_token(field(data, "token"), "$.token")


def read_refresh(content: bytes) -> Token:
    """A bare Token (the refresh answer)."""
    return _read_token(decode_json(content), "$")


def read_account(content: bytes) -> Account:
    return structure(converter, decode_json(content), Account)


# -- tasks ----------------------------------------------------------------------------


def tasks_params(query: TaskQuery, *, page: int, limit: int) -> dict[str, str]:
    """The query string of a task search: ``page`` (1-based), ``limit``, filters, sort."""
    require_count(page, "page", minimum=1)
    require_count(limit, "limit", minimum=1)
    if limit > _config.ANNOFAB_MAX_PAGE_SIZE:
        raise InvalidArgumentError(
            f"limit must be at most {_config.ANNOFAB_MAX_PAGE_SIZE} (Annofab's largest page), "
            f"got {limit}"
        )
    params = {"page": str(page), "limit": str(limit)}
    for name in ("task_id", "account_id", "previous_account_id", "metadata", "sort"):
        value = getattr(query, name)
        if value is not None:
            params[name] = value
    for name in ("phase", "status", "previous_phase"):
        value = getattr(query, name)
        if value is not None:
            params[name] = value.value
    if query.phase_stage is not None:
        params["phase_stage"] = str(query.phase_stage)
    if query.input_data_ids is not None:
        params["input_data_ids"] = ",".join(query.input_data_ids)
    if query.no_user:
        params["no_user"] = ""  # Annofab reads the key only
    if query.rejected_only:
        params["rejected_only"] = ""
    if query.previous_phase_stage is not None:
        params["previous_phase_stage"] = str(query.previous_phase_stage)
    if query.auto_accepted_only:
        params["auto_accepted_only"] = ""
    if query.annotation is not None:
        params["annotation"] = query.annotation
    return params


def tasks_request(project_id: str, query: TaskQuery, *, page: int, limit: int) -> Request:
    """``GET /api/v1/projects/{project_id}/tasks?page=&limit=&...``."""
    return Request(
        "GET",
        f"{_project_path(project_id)}/tasks",
        params=tasks_params(query, page=page, limit=limit),
    )


def task_request(project_id: str, task_id: str) -> Request:
    """``GET /api/v1/projects/{project_id}/tasks/{task_id}``."""
    return Request("GET", _task_path(project_id, task_id))


def tasks_by_ids_request(project_id: str, task_ids: Sequence[str]) -> Request:
    """``GET /api/v1/projects/{project_id}/tasks-in-bulk?task_id=a,b`` (1 to 100 ids)."""
    if not 1 <= len(task_ids) <= _config.ANNOFAB_IDS_PER_REQUEST:
        raise InvalidArgumentError(
            f"tasks-in-bulk takes 1 to {_config.ANNOFAB_IDS_PER_REQUEST} ids, got {len(task_ids)}"
        )
    for task_id in task_ids:
        if "," in require_segment(task_id, "task_ids[]"):
            raise InvalidArgumentError(f"task_ids[] must not contain a comma: {task_id!r}")
    return Request(
        "GET",
        f"{_project_path(project_id)}/tasks-in-bulk",
        params={"task_id": ",".join(task_ids)},
    )


def task_histories_request(project_id: str, task_id: str) -> Request:
    """``GET /api/v1/projects/{project_id}/tasks/{task_id}/histories``."""
    return Request("GET", f"{_task_path(project_id, task_id)}/histories")


def format_lock(value: datetime) -> str:
    """A task's ``updated_datetime`` as Annofab writes it (milliseconds, own offset).

    >>> from datetime import timedelta, timezone
    >>> format_lock(datetime(2018, 8, 14, 19, 1, 51, 775000, timezone(timedelta(hours=9))))
    '2018-08-14T19:01:51.775+09:00'
    """
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.isoformat(timespec=spec)


def operate_request(
    project_id: str,
    task_id: str,
    *,
    status: str,
    last_updated_datetime: datetime,
    account_id: str | None = None,
    force: bool = False,
) -> Request:
    """``POST .../tasks/{task_id}/operate`` ``{status, last_updated_datetime, account_id?,
    force?}``. ``account_id`` omitted with ``not_started`` unassigns the task."""
    require_choice(status, "status", sorted(OPERATE_STATUSES))
    if not isinstance(last_updated_datetime, datetime) or last_updated_datetime.tzinfo is None:
        raise InvalidArgumentError("last_updated_datetime must be an aware datetime")
    body: dict[str, Any] = {
        "status": status,
        "last_updated_datetime": format_lock(last_updated_datetime),
    }
    if account_id is not None:
        body["account_id"] = require_id(account_id, "account_id")
    if force:
        body["force"] = True
    return Request("POST", f"{_task_path(project_id, task_id)}/operate", json=body)


# -- responses ------------------------------------------------------------------------


def read_task(content: bytes) -> Task:
    """A Task object."""
    return structure(converter, decode_json(content), Task)


def read_tasks_in_bulk(content: bytes) -> tuple[list[Task], list[str]]:
    """``{"success": [Task, ...], "failure": [{"project_id", "task_id"}, ...]}`` (the
    tasks-in-bulk answer, see docs/semantics/annofab.md) -> the tasks found and the ids
    of those that were not."""
    data = decode_json(content)
    tasks = structure_list(converter, field(data, "success"), Task, path="$.success")
    failure = field(data, "failure")
    if not isinstance(failure, list):
        raise ResponseDecodeError(
            f"expected a list, got {type(failure).__name__}", path="$.failure"
        )
    missing: list[str] = []
    for index, entry in enumerate(failure):
        task_id = entry.get("task_id") if isinstance(entry, dict) else None
        if not isinstance(task_id, str):
            raise ResponseDecodeError(
                "expected an object with a string task_id", path=f"$.failure[{index}]"
            )
        missing.append(task_id)
    return tasks, missing


_PAGE_FIELDS = ("page_no", "total_page_no", "total_count", "over_limit", "aggregations")
_read_task_page_fast = make_page_reader("list", Task, _PAGE_FIELDS, datetimes_to_utc=False)


def read_task_page(content: bytes) -> TaskPage:
    """``{list, page_no, total_page_no, total_count, over_limit, ...}`` -> TaskPage.

    The tasks are decoded by msgspec straight into ``Task`` objects; a body it refuses
    (or that the converter's rules would read differently) takes the cattrs road,
    which gives the same result or the same :class:`ResponseDecodeError`.
    """
    fast = _read_task_page_fast(content)
    if fast is not None:
        task_list, data = fast
        return _task_page(task_list, data)
    return read_task_page_cattrs(content)


def read_task_page_cattrs(content: bytes) -> TaskPage:
    """``read_task_page`` through cattrs alone (the reference the fast road equals)."""
    data = decode_json(content)
    tasks = structure_list(converter, field(data, "list"), Task, path="$.list")
    return _task_page(tasks, data)


def _task_page(tasks: list[Task], data: dict[str, Any]) -> TaskPage:
    return TaskPage(tuple(tasks), **page_fields(data))


def page_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Where a ``{list, page_no, total_page_no, total_count, over_limit, aggregations}``
    answer stands in its list (every page+limit list answers so)."""
    return {
        "page_no": field(data, "page_no", int),
        "total_page_no": field(data, "total_page_no", int),
        "total_count": field(data, "total_count", int),
        "over_limit": field(data, "over_limit", bool),
        "aggregations": structure(
            converter, data.get("aggregations", []), tuple[Aggregation, ...], path="$.aggregations"
        ),
    }


def read_histories(content: bytes) -> list[TaskHistory]:
    """A JSON array of task histories."""
    return structure_list(converter, decode_json(content), TaskHistory)
