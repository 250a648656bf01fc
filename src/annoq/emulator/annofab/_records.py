"""Records and constants of the emulated Annofab: users, tasks, projects, histories,
applied operations, and Annofab's timestamps (``+09:00``, milliseconds)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Final

import attrs
import orjson

JST: Final = timezone(timedelta(hours=9))

PHASES: Final = ("annotation", "inspection", "acceptance")
STATUSES: Final = ("not_started", "working", "on_hold", "break", "complete")
OPERATE_STATUSES: Final = frozenset(
    {"not_started", "working", "on_hold", "break", "complete", "rejected", "cancelled"}
)
ROLES: Final = ("owner", "accepter", "worker")


class AnnofabError(Exception):
    """An error answer of the emulated API: ``status`` and Annofab's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """``{"errors": [{"error_code", "message"}], "context": {}}``."""
        return {"errors": [{"error_code": self.code, "message": self.message}], "context": {}}


def format_jst(ms: int) -> str:
    """``2026-11-24T21:00:00.123+09:00``: Annofab's timestamp form."""
    moment = datetime.fromtimestamp(ms / 1000, JST)
    return moment.isoformat(timespec="milliseconds")


def parse_ms(text: object) -> int | None:
    """Milliseconds since the epoch of an ISO 8601 timestamp; ``None`` if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=JST)
    return round(parsed.timestamp() * 1000)


# --------------------------------------------------------------------------- records


@attrs.define
class AnnofabUser:
    """An account: log in with ``user_id`` and ``password`` or send ``pat``."""

    user_id: str
    account_id: str
    password: str
    pat: str
    username: str
    mfa: bool = False

    def __repr__(self) -> str:
        return f"AnnofabUser(user_id={self.user_id!r}, account_id={self.account_id!r})"

    def to_json(self) -> dict[str, Any]:
        """The ``/my/account`` answer."""
        return {
            "account_id": self.account_id,
            "user_id": self.user_id,
            "username": self.username,
            "email": f"{self.user_id}@example.com",
            "lang": "en-US",
            "keylayout": "ja-JP",
            "authority": "user",
            "account_type": "annofab",
            "updated_datetime": "2026-01-05T09:00:00.000+09:00",
            "errors": [],
        }


@attrs.define
class PhaseEntry:
    """One entry of a task's ``histories_by_phase``."""

    phase: str
    phase_stage: int
    account_id: str | None
    worked: bool

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"phase": self.phase, "phase_stage": self.phase_stage}
        if self.account_id is not None:
            data["account_id"] = self.account_id
        data["worked"] = self.worked
        return data


@attrs.define
class History:
    """One work period (a ``TaskHistory``)."""

    task_history_id: str
    phase: str
    phase_stage: int
    account_id: str | None
    started_ms: int | None = None
    ended_ms: int | None = None

    def to_json(self, project_id: str, task_id: str) -> dict[str, Any]:
        labor = 0.0
        if self.started_ms is not None and self.ended_ms is not None:
            labor = (self.ended_ms - self.started_ms) / 1000
        data: dict[str, Any] = {
            "project_id": project_id,
            "task_id": task_id,
            "task_history_id": self.task_history_id,
            "phase": self.phase,
            "phase_stage": self.phase_stage,
            "accumulated_labor_time_milliseconds": f"PT{labor:.3f}S",
        }
        if self.account_id is not None:
            data["account_id"] = self.account_id
        if self.started_ms is not None:
            data["started_datetime"] = format_jst(self.started_ms)
        if self.ended_ms is not None:
            data["ended_datetime"] = format_jst(self.ended_ms)
        return data


@attrs.define(eq=False)
class AfTask:
    """A task and its workflow bookkeeping; ``encoded()`` caches its JSON."""

    project_id: str
    task_id: str
    phase: str
    phase_stage: int
    status: str
    account_id: str | None
    input_data_id_list: list[str]
    updated_ms: int
    metadata: dict[str, Any] = attrs.Factory(dict)
    histories_by_phase: list[PhaseEntry] = attrs.Factory(list)
    histories: list[History] = attrs.Factory(list)
    work_time_span: int = 0
    number_of_rejections: int = 0
    started_ms: int | None = None
    operation_updated_ms: int | None = None
    submitted_by: str | None = None
    submitted_from: tuple[str, int] | None = None
    worked_since_submit: bool = False
    _json: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire form (``account_id`` absent when unassigned)."""
        data: dict[str, Any] = {
            "project_id": self.project_id,
            "task_id": self.task_id,
            "phase": self.phase,
            "phase_stage": self.phase_stage,
            "status": self.status,
            "input_data_id_list": list(self.input_data_id_list),
            "histories_by_phase": [h.to_json() for h in self.histories_by_phase],
            "work_time_span": self.work_time_span,
            "number_of_rejections": self.number_of_rejections,
            "updated_datetime": format_jst(self.updated_ms),
            "metadata": dict(self.metadata),
        }
        if self.account_id is not None:
            data["account_id"] = self.account_id
        if self.started_ms is not None:
            data["started_datetime"] = format_jst(self.started_ms)
        if self.operation_updated_ms is not None:
            data["operation_updated_datetime"] = format_jst(self.operation_updated_ms)
        return data

    def encoded(self) -> bytes:
        if self._json is None:
            self._json = orjson.dumps(self.to_json())
        return self._json

    def changed(self, at_ms: int) -> None:
        """Record a change at ``at_ms``: new ``updated_datetime``, cache dropped."""
        self.updated_ms = at_ms
        self._json = None

    def position(self) -> tuple[int, int]:
        return PHASES.index(self.phase), self.phase_stage

    @property
    def auto_accepted(self) -> bool:
        """Accepted without an accepter (Annofab's automatic acceptance): complete in
        acceptance, whose phase entry names nobody and no work."""
        if self.phase != "acceptance" or self.status != "complete":
            return False
        entry = next(
            (h for h in reversed(self.histories_by_phase) if h.phase == "acceptance"), None
        )
        return entry is not None and entry.account_id is None and not entry.worked


@attrs.define
class AfProject:
    """A project: members with roles, workflow shape, tasks."""

    project_id: str
    members: dict[str, str]
    inspection_stages: int = 0
    tasks: dict[str, AfTask] = attrs.Factory(dict)
    _by_id: list[AfTask] | None = None

    def sorted_tasks(self) -> list[AfTask]:
        """Tasks by ``task_id`` (cached until a task is added)."""
        if self._by_id is None:
            self._by_id = sorted(self.tasks.values(), key=lambda t: t.task_id)
        return self._by_id

    def added(self) -> None:
        self._by_id = None


@attrs.frozen
class Operation:
    """One applied operate request, in the order applied."""

    at_ms: int
    project_id: str
    task_id: str
    account_id: str
    request: str
    force: bool
    before: tuple[str, int, str, str | None]
    after: tuple[str, int, str, str | None]


__all__ = [
    "JST",
    "OPERATE_STATUSES",
    "PHASES",
    "ROLES",
    "STATUSES",
    "AfProject",
    "AfTask",
    "AnnofabError",
    "AnnofabUser",
    "History",
    "Operation",
    "PhaseEntry",
    "format_jst",
    "parse_ms",
]
