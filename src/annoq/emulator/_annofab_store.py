"""In-memory state and rules of the emulated Annofab task API.

Pure and synchronous: no I/O, no asyncio. The HTTP layer (`_annofab_app`) parses
requests, calls one method here and encodes the result. The task state machine is the
table of ``contract/ANNOFAB_NOTES.md``:

==========================  ===============================================================
operate ``status``          who, from where -> effect
==========================  ===============================================================
``working``                 the assignee; not_started, break, on_hold -> working
``break`` / ``on_hold``     the assignee; working -> break / on_hold
``complete``                the assignee; working -> next phase (not_started, unassigned),
                            or ``complete`` in acceptance
``rejected``                the assignee; working, inspection/acceptance -> annotation,
                            not_started, the last annotator; ``number_of_rejections`` + 1
``rejected`` + ``force``    a project owner; any state -> the same, not counted
``cancelled``               the submitter; not_started in inspection/acceptance, nobody
                            worked it since -> back to the submitter's phase, not_started
``not_started``             an owner or accepter; reassign (``account_id``) or unassign;
                            a complete task only by an owner (cancels the acceptance)
==========================  ===============================================================

Every operation quotes ``last_updated_datetime``; anything but the task's current
``updated_datetime`` is refused with 409 before any rule is looked at. Times are in
``+09:00`` with milliseconds, strictly increasing across the store, so each update gives
the task a new ``updated_datetime``.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import attrs
import orjson

JST: Final = timezone(timedelta(hours=9))
RESULT_CAP: Final = 10_000
MAX_LIMIT: Final = 200
DEFAULT_LIMIT: Final = 30
IDS_PER_BULK: Final = 100

PHASES: Final = ("annotation", "inspection", "acceptance")
STATUSES: Final = ("not_started", "working", "on_hold", "break", "complete")
OPERATE_STATUSES: Final = frozenset(
    {"not_started", "working", "on_hold", "break", "complete", "rejected", "cancelled"}
)
ROLES: Final = ("owner", "accepter", "worker")
SORT_KEYS: Final = frozenset(
    {
        "task_id",
        "updated_datetime",
        "number_of_rejections",
        "phase",
        "phase_stage",
        "status",
        "account_id",
    }
)

DEFAULT_USER_ID: Final = "annofab-user"
DEFAULT_PASSWORD: Final = "annofab-password"
DEFAULT_PROJECT_ID: Final = "annofab-project"


class AnnofabError(Exception):
    """An error answer of the emulated API: ``status`` and Annofab's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """``{"errors": [{"error_code", "message"}]}``."""
        return {"errors": [{"error_code": self.code, "message": self.message}]}


def _bad(message: str, code: str = "INVALID_ARGUMENT") -> AnnofabError:
    return AnnofabError(400, code, message)


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


# --------------------------------------------------------------------------- search


def _metadata_matcher(expression: str) -> Callable[[Mapping[str, Any]], bool]:
    """Annofab's metadata search: space-separated ``[-]key:[op]value`` terms, AND-ed."""
    terms: list[tuple[bool, str, str, str]] = []
    for raw in expression.split():
        negate = raw.startswith("-")
        key, colon, rest = raw.lstrip("-").partition(":")
        if not colon or not key:
            raise _bad(f"metadata: cannot read {raw!r} (use key:value)")
        op = next((o for o in (">=", "<=", ">", "<") if rest.startswith(o)), "=")
        terms.append((negate, key, op, rest[len(op) :] if op != "=" else rest))

    def compare(value: Any, op: str, wanted: str) -> bool:
        if isinstance(value, bool):
            return op == "=" and str(value).lower() == wanted.lower()
        if isinstance(value, int | float):
            try:
                number = float(wanted)
            except ValueError:
                return False
            return {
                "=": value == number,
                ">=": value >= number,
                "<=": value <= number,
                ">": value > number,
                "<": value < number,
            }[op]
        return op == "=" and str(value) == wanted

    def matches(metadata: Mapping[str, Any]) -> bool:
        for negate, key, op, wanted in terms:
            hit = key in metadata and compare(metadata[key], op, wanted)
            if hit == negate:
                return False
        return True

    return matches


def _sort_key(name: str) -> Callable[[AfTask], Any]:
    if name.startswith("metadata."):
        meta = name[len("metadata.") :]

        def by_meta(t: AfTask) -> Any:
            value = t.metadata.get(meta)
            if value is None:
                return (2, "")
            if isinstance(value, int | float) and not isinstance(value, bool):
                return (0, value)
            return (1, str(value))

        return by_meta
    if name not in SORT_KEYS:
        raise _bad(f"sort: unknown key {name!r}")
    if name == "phase":
        return lambda t: PHASES.index(t.phase)
    if name == "status":
        return lambda t: STATUSES.index(t.status)
    if name == "account_id":
        return lambda t: t.account_id or ""
    if name == "updated_datetime":
        return lambda t: t.updated_ms
    return lambda t: getattr(t, name)


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise _bad(f"{name} must be between {low} and {high}, got {value}")
    return value


def task_filter(params: Mapping[str, str]) -> Callable[[AfTask], bool]:
    """The predicate of a task search's query parameters (400 on a malformed one)."""
    checks: list[Callable[[AfTask], bool]] = []
    if params.get("task_id"):
        part = params["task_id"].lower()
        checks.append(lambda t: part in t.task_id.lower())
    if params.get("input_data_ids"):
        wanted = {i.lower() for i in params["input_data_ids"].split(",") if i}
        checks.append(lambda t: any(i.lower() in wanted for i in t.input_data_id_list))
    for name, allowed in (("phase", PHASES), ("status", STATUSES), ("previous_phase", PHASES)):
        value = params.get(name)
        if value is not None and value not in allowed:
            raise _bad(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    if "phase" in params:
        phase = params["phase"]
        checks.append(lambda t: t.phase == phase)
    if "phase_stage" in params:
        stage = _int_param(params, "phase_stage", 1, 1, 1_000)
        checks.append(lambda t: t.phase_stage == stage)
    if "status" in params:
        status = params["status"]
        checks.append(lambda t: t.status == status)
    if params.get("account_id"):
        account = params["account_id"]
        checks.append(lambda t: t.account_id == account)
    if "no_user" in params:
        checks.append(lambda t: t.account_id is None)
    if params.get("previous_account_id"):
        previous = params["previous_account_id"]
        checks.append(
            lambda t: (
                t.account_id == previous
                or any(h.account_id == previous for h in t.histories_by_phase)
            )
        )
    if "previous_phase" in params:
        earlier = params["previous_phase"]
        checks.append(
            lambda t: t.phase == earlier or any(h.phase == earlier for h in t.histories_by_phase)
        )
    if "rejected_only" in params:
        checks.append(lambda t: t.number_of_rejections > 0)
    if params.get("metadata"):
        meta = _metadata_matcher(params["metadata"])
        checks.append(lambda t: meta(t.metadata))
    if not checks:
        return lambda t: True
    if len(checks) == 1:
        return checks[0]
    return lambda t: all(check(t) for check in checks)


# --------------------------------------------------------------------------- the store


class AnnofabStore:
    """Users, tokens, projects and tasks of the emulated Annofab, with counters.

    ``logins``, ``refreshes`` and ``account_reads`` count requests that reached those
    endpoints; ``applied`` counts applied operations per ``(task_id, status)``;
    ``operations`` lists them in order.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.users: dict[str, AnnofabUser] = {}
        self._by_account: dict[str, AnnofabUser] = {}
        self._by_pat: dict[str, AnnofabUser] = {}
        self.id_tokens: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.projects: dict[str, AfProject] = {}
        self.logins = 0
        self.failed_logins = 0
        self.refreshes = 0
        self.account_reads = 0
        self.applied: Counter[tuple[str, str]] = Counter()
        self.operations: list[Operation] = []
        self.edits = 0
        self._edit_rate = 0.0
        self._edits_left: int | None = None
        self._edit_statuses: frozenset[str] | None = None
        self._edits_per_task: int | None = None
        self._edited: Counter[str] = Counter()
        self._clock = 0
        self._search_cache: dict[tuple[str, tuple[tuple[str, str], ...], int], list[AfTask]] = {}

    # ------------------------------------------------------------------ time, ids

    def tick(self) -> int:
        """Now in ms, strictly after every earlier tick."""
        self._clock = max(time.time_ns() // 1_000_000, self._clock + 1)
        return self._clock

    def _token(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(128):032x}"

    # ------------------------------------------------------------------ accounts

    def add_user(
        self,
        user_id: str | None = None,
        *,
        password: str | None = None,
        pat: str | None = None,
        mfa: bool = False,
        username: str | None = None,
    ) -> AnnofabUser:
        """A new account (ids and secrets generated when not given)."""
        uid = user_id or f"user-{len(self.users) + 1}"
        if uid in self.users:
            raise ValueError(f"user {uid!r} exists")
        account_id = f"{self.rng.getrandbits(128):032x}"
        account_id = "-".join(
            (
                account_id[:8],
                account_id[8:12],
                account_id[12:16],
                account_id[16:20],
                account_id[20:],
            )
        )
        user = AnnofabUser(
            user_id=uid,
            account_id=account_id,
            password=password or self._token("pw"),
            pat=pat or self._token("pat"),
            username=username or uid,
            mfa=mfa,
        )
        self.users[uid] = user
        self._by_account[account_id] = user
        self._by_pat[user.pat] = user
        return user

    def user_by_account(self, account_id: str) -> AnnofabUser:
        return self._by_account[account_id]

    def _issue(self, account_id: str) -> dict[str, str]:
        id_token, refresh = self._token("id"), self._token("refresh")
        self.id_tokens[id_token] = account_id
        self.refresh_tokens[refresh] = account_id
        return {
            "id_token": id_token,
            "access_token": self._token("access"),
            "refresh_token": refresh,
        }

    def login(self, user_id: object, password: object) -> dict[str, Any]:
        """``{"token": {...}}``, or ``{"session": ...}`` for an MFA account; 401 if wrong."""
        self.logins += 1
        user = self.users.get(user_id) if isinstance(user_id, str) else None
        if user is None or password != user.password:
            self.failed_logins += 1
            raise AnnofabError(401, "UNAUTHORIZED", "Incorrect user ID or password.")
        if user.mfa:
            return {"session": self._token("mfa-session")}
        return {"token": self._issue(user.account_id)}

    def refresh(self, refresh_token: object) -> dict[str, str]:
        """A new Token for a live refresh token (the old one is used up); else 401."""
        self.refreshes += 1
        account = (
            self.refresh_tokens.pop(refresh_token, None) if isinstance(refresh_token, str) else None
        )
        if account is None:
            raise AnnofabError(401, "EXPIRED_TOKEN", "The refresh token is invalid or expired.")
        return self._issue(account)

    def authenticate(self, header: str | None) -> AnnofabUser | None:
        """The user of an ``Authorization`` header (``Bearer PAT`` or a raw id token)."""
        if not header:
            return None
        scheme, _, rest = header.partition(" ")
        if scheme == "Bearer" and rest:
            return self._by_pat.get(rest.strip())
        account = self.id_tokens.get(header.strip())
        return None if account is None else self._by_account.get(account)

    def expire_id_tokens(self) -> int:
        """Every id token issued so far stops working (401); returns how many."""
        count = len(self.id_tokens)
        self.id_tokens.clear()
        return count

    def expire_refresh_tokens(self) -> int:
        """Every refresh token issued so far stops working; returns how many."""
        count = len(self.refresh_tokens)
        self.refresh_tokens.clear()
        return count

    # ------------------------------------------------------------------ projects

    def create_project(
        self,
        project_id: str,
        owner: str,
        *,
        members: Mapping[str, str] | None = None,
        inspection_stages: int = 0,
    ) -> AfProject:
        """A project owned by account ``owner``; ``members`` maps account ids to roles."""
        if project_id in self.projects:
            raise ValueError(f"project {project_id!r} exists")
        roles = {owner: "owner", **(members or {})}
        for role in roles.values():
            if role not in ROLES:
                raise ValueError(f"role {role!r} is not one of {ROLES}")
        project = AfProject(project_id, dict(roles), inspection_stages)
        self.projects[project_id] = project
        return project

    def project(self, project_id: str) -> AfProject:
        """The project, else a 404."""
        project = self.projects.get(project_id)
        if project is None:
            raise AnnofabError(404, "NOT_FOUND", f"project {project_id} was not found")
        return project

    def member_project(self, project_id: str, user: AnnofabUser) -> AfProject:
        """The project if ``user`` is a member (403 otherwise, 404 if missing)."""
        project = self.project(project_id)
        if user.account_id not in project.members:
            raise AnnofabError(403, "FORBIDDEN", "you are not a member of this project")
        return project

    def add_tasks(
        self,
        project_id: str,
        n: int,
        *,
        phase: str = "annotation",
        phase_stage: int = 1,
        status: str = "not_started",
        account_id: str | None = None,
        prefix: str = "task",
        start: int | None = None,
        metadata: Mapping[str, Any] | Callable[[int], Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Add ``n`` tasks in the given state (set directly, not by operations); ids are
        ``{prefix}-{number:06d}``, numbered on from ``start`` (default: after the last)."""
        if phase not in PHASES or status not in STATUSES:
            raise ValueError(f"unknown phase {phase!r} or status {status!r}")
        project = self.project(project_id)
        first = len(project.tasks) + 1 if start is None else start
        ids = []
        for number in range(first, first + n):
            task_id = f"{prefix}-{number:06d}"
            if task_id in project.tasks:
                raise ValueError(f"task {task_id!r} exists")
            now = self.tick()
            meta = metadata(number) if callable(metadata) else (metadata or {})
            task = AfTask(
                project_id=project_id,
                task_id=task_id,
                phase=phase,
                phase_stage=phase_stage,
                status=status,
                account_id=account_id,
                input_data_id_list=[f"input-{task_id}"],
                updated_ms=now,
                metadata=dict(meta),
            )
            if phase != "annotation" or status != "not_started":
                worked = status != "not_started"
                task.histories_by_phase.append(
                    PhaseEntry("annotation", 1, account_id if phase == "annotation" else None, True)
                )
                if phase != "annotation":
                    task.histories_by_phase.append(
                        PhaseEntry(phase, phase_stage, account_id, worked)
                    )
                if worked:
                    task.started_ms = now
            project.tasks[task_id] = task
            ids.append(task_id)
        project.added()
        return ids

    def task(self, project_id: str, task_id: str) -> AfTask:
        """The task, else a 404."""
        task = self.project(project_id).tasks.get(task_id)
        if task is None:
            raise AnnofabError(404, "NOT_FOUND", f"task {task_id} was not found")
        return task

    # ------------------------------------------------------------------ reading

    def search(self, project_id: str, params: Mapping[str, str]) -> bytes:
        """A page of a task search, encoded: ``{list, page_no, total_page_no,
        total_count, over_limit, aggregations}``."""
        project = self.project(project_id)
        page = _int_param(params, "page", 1, 1, 10**9)
        limit = _int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        matches = self._matches(project, params)
        total = len(matches)
        reachable = min(total, RESULT_CAP)
        chunk = matches[(page - 1) * limit : min(page * limit, reachable)]
        head = orjson.dumps(
            {
                "page_no": page,
                "total_page_no": max(1, math.ceil(reachable / limit)),
                "total_count": total,
                "over_limit": total > RESULT_CAP,
                "aggregations": [],
            }
        )
        return b'{"list":[' + b",".join(t.encoded() for t in chunk) + b"]," + head[1:]

    def _matches(self, project: AfProject, params: Mapping[str, str]) -> list[AfTask]:
        """The search's matches in order; reused by the next page while nothing changed
        (every change ticks the clock)."""
        query = tuple(sorted((k, v) for k, v in params.items() if k not in ("page", "limit")))
        key = (project.project_id, query, self._clock)
        cached = self._search_cache.get(key)
        if cached is not None:
            return cached
        keep = task_filter(params)
        sort = params.get("sort")
        if sort == "task_id" or sort is None:
            ordered = project.sorted_tasks()
        elif sort == "-task_id":
            ordered = project.sorted_tasks()[::-1]
        else:
            ordered = list(project.tasks.values())
            for part in reversed([p for p in sort.split(",") if p]):
                ordered.sort(key=_sort_key(part.lstrip("-")), reverse=part.startswith("-"))
        if sort is None:  # unspecified: latest change first, so it moves while tasks change
            ordered = sorted(ordered, key=lambda t: -t.updated_ms)
        matches = [t for t in ordered if keep(t)]
        if len(self._search_cache) >= 8:
            self._search_cache.clear()
        self._search_cache[key] = matches
        return matches

    def tasks_in_bulk(self, project_id: str, task_ids: Sequence[str]) -> bytes:
        """The tasks among ``task_ids`` that exist, as a JSON array (400 past 100 ids)."""
        if not task_ids:
            raise _bad("task_id: give at least one task id")
        if len(task_ids) > IDS_PER_BULK:
            raise _bad(f"task_id: at most {IDS_PER_BULK} ids, got {len(task_ids)}")
        tasks = self.project(project_id).tasks
        found = [tasks[t].encoded() for t in dict.fromkeys(task_ids) if t in tasks]
        return b"[" + b",".join(found) + b"]"

    # ------------------------------------------------------------------ interference

    def set_concurrent_edits(
        self,
        rate: float,
        *,
        times: int | None = None,
        statuses: Iterable[str] | None = None,
        per_task: int | None = None,
    ) -> None:
        """Before an operation is checked, with probability ``rate`` (seeded), another
        client edits the task (a new ``updated_datetime``, nothing else), so the operation
        meets a 409 exactly as it would on the real service. ``times`` caps how many;
        ``statuses`` limits it to operations requesting those; ``per_task`` caps the edits
        of any one task. ``rate=0`` stops it."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        self._edit_rate = rate
        self._edits_left = times
        self._edit_statuses = None if statuses is None else frozenset(statuses)
        self._edits_per_task = per_task
        self._edited = Counter()

    def touch(self, project_id: str, task_id: str) -> None:
        """Another client edits the task: only its ``updated_datetime`` changes."""
        self.task(project_id, task_id).changed(self.tick())
        self.edits += 1

    def _maybe_interfere(self, task: AfTask, status: str) -> None:
        if self._edit_rate <= 0.0 or self._edits_left == 0:
            return
        if self._edit_statuses is not None and status not in self._edit_statuses:
            return
        cap = self._edits_per_task
        if cap is not None and self._edited[task.task_id] >= cap:
            return
        if self.rng.random() < self._edit_rate:
            task.changed(self.tick())
            self.edits += 1
            self._edited[task.task_id] += 1
            if self._edits_left is not None:
                self._edits_left -= 1

    # ------------------------------------------------------------------ operating

    def operate(
        self,
        project_id: str,
        task_id: str,
        caller: AnnofabUser,
        *,
        status: object,
        last_updated_datetime: object,
        account_id: object = None,
        force: object = False,
    ) -> AfTask:
        """Apply one operate request under the state machine; the updated task."""
        project = self.member_project(project_id, caller)
        task = self.task(project_id, task_id)
        if status not in OPERATE_STATUSES:
            raise _bad(f"status: {status!r} is not an operation")
        if account_id is not None and not isinstance(account_id, str):
            raise _bad("account_id must be a string")
        if not isinstance(force, bool):
            raise _bad("force must be a boolean")
        quoted = parse_ms(last_updated_datetime)
        if quoted is None:
            raise _bad("last_updated_datetime is required (the task's updated_datetime)")
        self._maybe_interfere(task, status)
        if quoted != task.updated_ms:
            raise AnnofabError(
                409,
                "CONFLICT",
                "the task was updated by someone else: read it again and retry with its "
                "updated_datetime",
            )
        assert isinstance(status, str)
        me = caller.account_id
        role = project.members[me]
        before = (task.phase, task.phase_stage, task.status, task.account_id)
        now = self.tick()
        Rules(project, task, me, role, now).apply(status, account_id, force)
        task.operation_updated_ms = now
        task.changed(now)
        self.applied[(task_id, status)] += 1
        self.operations.append(
            Operation(
                now,
                project_id,
                task_id,
                me,
                status,
                force,
                before,
                (task.phase, task.phase_stage, task.status, task.account_id),
            )
        )
        return task

    def assign(self, project_id: str, caller: AnnofabUser, request_type: Any) -> list[AfTask]:
        """``POST /assign-tasks``: ``Random`` (``phase``, ``task_count``) gives the caller
        unassigned not-started tasks; ``Selection`` (``user_id``, ``task_ids``) assigns
        those tasks (owner or accepter)."""
        project = self.member_project(project_id, caller)
        if not isinstance(request_type, dict):
            raise _bad("request_type is required")
        kind = request_type.get("_type")
        now = self.tick()
        chosen: list[AfTask] = []
        if kind == "Random":
            phase = request_type.get("phase", "annotation")
            count = request_type.get("task_count", 1)
            if phase not in PHASES or not isinstance(count, int) or count < 1:
                raise _bad("Random needs a phase and task_count >= 1")
            for task in project.sorted_tasks():
                if len(chosen) >= count:
                    break
                if task.phase == phase and task.status == "not_started" and task.account_id is None:
                    chosen.append(task)
            target = caller.account_id
        elif kind == "Selection":
            if project.members[caller.account_id] not in ("owner", "accepter"):
                raise AnnofabError(403, "FORBIDDEN", "only owners and accepters assign others")
            user = self.users.get(request_type.get("user_id", ""))
            ids = request_type.get("task_ids")
            if user is None or user.account_id not in project.members:
                raise _bad("user_id is not a member of this project")
            if not isinstance(ids, list):
                raise _bad("task_ids must be a list")
            chosen = [self.task(project_id, t) for t in ids]
            if any(t.status == "working" or t.status == "complete" for t in chosen):
                raise _bad("working or complete tasks cannot be assigned")
            target = user.account_id
        else:
            raise _bad(f"request_type._type {kind!r} is not supported by the emulator")
        for task in chosen:
            task.account_id = target
            task.status = "not_started"
            task.changed(now)
        return chosen


class Rules:
    """The state machine applied to one task by one caller (see the module table)."""

    def __init__(self, project: AfProject, task: AfTask, me: str, role: str, now: int) -> None:
        self.project = project
        self.task = task
        self.me = me
        self.role = role
        self.now = now

    def _refuse(self, message: str) -> AnnofabError:
        return AnnofabError(400, "INVALID_TASK_OPERATION", message)

    def _assignee(self) -> None:
        if self.task.account_id != self.me:
            raise AnnofabError(403, "NOT_ASSIGNED", "only the task's assignee may do this")

    def _from(self, *statuses: str) -> None:
        if self.task.status not in statuses:
            raise self._refuse(
                f"a {self.task.status} task cannot do this (needs {' or '.join(statuses)})"
            )

    def apply(self, status: str, account_id: str | None, force: bool) -> None:
        handler = {
            "working": self.start,
            "break": self.pause,
            "on_hold": self.pause,
            "complete": self.complete,
            "rejected": self.force_reject if force else self.reject,
            "cancelled": self.cancel,
            "not_started": self.reassign,
        }[status]
        handler(status, account_id)

    def start(self, status: str, account_id: str | None) -> None:
        self._assignee()
        self._from("not_started", "break", "on_hold")
        task = self.task
        last = task.histories_by_phase[-1] if task.histories_by_phase else None
        if last and (last.phase, last.phase_stage, last.account_id) == (
            task.phase,
            task.phase_stage,
            self.me,
        ):
            last.worked = True
        else:
            task.histories_by_phase.append(PhaseEntry(task.phase, task.phase_stage, self.me, True))
        if task.started_ms is None:
            task.started_ms = self.now
        history_id = f"{task.task_id}-h{len(task.histories) + 1}"
        task.histories.append(
            History(history_id, task.phase, task.phase_stage, self.me, started_ms=self.now)
        )
        task.status = "working"
        task.worked_since_submit = True

    def _stop_clock(self) -> None:
        task = self.task
        if task.histories and task.histories[-1].ended_ms is None:
            current = task.histories[-1]
            current.ended_ms = self.now
            task.work_time_span += self.now - (current.started_ms or self.now)

    def pause(self, status: str, account_id: str | None) -> None:
        self._assignee()
        self._from("working")
        self._stop_clock()
        self.task.status = status

    def complete(self, status: str, account_id: str | None) -> None:
        self._assignee()
        self._from("working")
        self._stop_clock()
        task = self.task
        if task.phase == "acceptance":
            task.status = "complete"
            return
        task.submitted_by = self.me
        task.submitted_from = (task.phase, task.phase_stage)
        task.worked_since_submit = False
        if task.phase == "annotation" and self.project.inspection_stages > 0:
            task.phase, task.phase_stage = "inspection", 1
        elif task.phase == "inspection" and task.phase_stage < self.project.inspection_stages:
            task.phase_stage += 1
        else:
            task.phase, task.phase_stage = "acceptance", 1
        task.status, task.account_id = "not_started", None

    def _back_to_annotation(self) -> None:
        task = self.task
        annotators = [h.account_id for h in task.histories_by_phase if h.phase == "annotation"]
        task.phase, task.phase_stage, task.status = "annotation", 1, "not_started"
        task.account_id = next((a for a in reversed(annotators) if a), None)
        task.submitted_by = None
        task.submitted_from = None

    def reject(self, status: str, account_id: str | None) -> None:
        self._assignee()
        self._from("working")
        if self.task.phase == "annotation":
            raise self._refuse("only inspection or acceptance tasks can be rejected")
        self._stop_clock()
        self.task.number_of_rejections += 1
        self._back_to_annotation()

    def force_reject(self, status: str, account_id: str | None) -> None:
        if self.role != "owner":
            raise AnnofabError(403, "FORBIDDEN", "only a project owner may force a rejection")
        self._stop_clock()
        self._back_to_annotation()

    def cancel(self, status: str, account_id: str | None) -> None:
        task = self.task
        if task.submitted_by != self.me:
            raise AnnofabError(403, "FORBIDDEN", "only the submitter may cancel a submission")
        self._from("not_started")
        if task.phase == "annotation" or task.submitted_from is None:
            raise self._refuse("only tasks in inspection or acceptance have a submission")
        if task.worked_since_submit:
            raise self._refuse("the task was worked on since it was submitted")
        task.phase, task.phase_stage = task.submitted_from
        task.status, task.account_id = "not_started", self.me
        task.submitted_by = None
        task.submitted_from = None

    def reassign(self, status: str, account_id: str | None) -> None:
        task = self.task
        if self.role not in ("owner", "accepter"):
            raise AnnofabError(403, "FORBIDDEN", "only owners and accepters reassign tasks")
        if account_id is not None and account_id not in self.project.members:
            raise self._refuse(f"account {account_id} is not a member of this project")
        if task.status == "complete":
            if self.role != "owner" or task.phase != "acceptance":
                raise AnnofabError(
                    403, "FORBIDDEN", "only a project owner may cancel an acceptance"
                )
            if account_id is None:
                raise self._refuse("cancelling an acceptance needs the account_id to assign")
        self._stop_clock()
        task.status, task.account_id = "not_started", account_id


class AnnofabState:
    """In-process access to the emulated Annofab: seed it, act in it, inspect it.

    Reached as ``emu.annofab``. A default user (``user_id``, ``password``, ``pat``) owns a
    default project (``project_id``); methods act on it unless told otherwise. Nothing
    here goes through HTTP or faults.

    Example::

        other = emu.annofab.add_user("annotator-2")            # a worker of the project
        ids = emu.annofab.seed_tasks(2000, assignee=other)      # not_started, theirs
        emu.annofab.operate(ids[0], "working", as_user=other)   # act as them
        emu.annofab.expire_id_tokens()                          # the next request gets 401
        assert emu.annofab.applied(ids[0], "working") == 1
    """

    def __init__(
        self,
        store: AnnofabStore,
        *,
        project_id: str = DEFAULT_PROJECT_ID,
        user_id: str = DEFAULT_USER_ID,
        password: str = DEFAULT_PASSWORD,
        pat: str | None = None,
    ) -> None:
        self.store = store
        """The underlying store (an escape hatch; prefer the methods)."""
        self.user = store.add_user(user_id, password=password, pat=pat)
        self.project_id = project_id
        store.create_project(project_id, self.user.account_id)

    @property
    def user_id(self) -> str:
        return self.user.user_id

    @property
    def password(self) -> str:
        return self.user.password

    @property
    def pat(self) -> str:
        """The default user's personal access token."""
        return self.user.pat

    @property
    def account_id(self) -> str:
        return self.user.account_id

    def _project(self, project: str | None) -> str:
        return self.project_id if project is None else project

    @staticmethod
    def _account(who: AnnofabUser | str | None) -> str | None:
        return who.account_id if isinstance(who, AnnofabUser) else who

    # ------------------------------------------------------------------ seeding

    def add_user(
        self,
        user_id: str | None = None,
        *,
        password: str | None = None,
        pat: str | None = None,
        mfa: bool = False,
        role: str | None = "worker",
        project: str | None = None,
    ) -> AnnofabUser:
        """A new account, a member of the (default) project with ``role`` (``owner``,
        ``accepter``, ``worker``; ``None``: not a member)."""
        user = self.store.add_user(user_id, password=password, pat=pat, mfa=mfa)
        if role is not None:
            self.add_member(user, role, project=project)
        return user

    def add_member(self, who: AnnofabUser | str, role: str, *, project: str | None = None) -> None:
        """Give an account (user or account id) a role in a project."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {ROLES}")
        account = self._account(who)
        assert account is not None
        self.store.project(self._project(project)).members[account] = role

    def create_project(
        self,
        project_id: str,
        *,
        owner: AnnofabUser | str | None = None,
        inspection_stages: int = 0,
    ) -> str:
        """A new project (owned by the default user unless told otherwise)."""
        account = self._account(owner) or self.user.account_id
        self.store.create_project(project_id, account, inspection_stages=inspection_stages)
        return project_id

    def set_inspection_stages(self, stages: int, *, project: str | None = None) -> None:
        """How many inspection stages tasks pass between annotation and acceptance."""
        self.store.project(self._project(project)).inspection_stages = stages

    def seed_tasks(
        self,
        n: int,
        *,
        project: str | None = None,
        phase: str = "annotation",
        phase_stage: int = 1,
        status: str = "not_started",
        assignee: AnnofabUser | str | None = None,
        prefix: str = "task",
        metadata: Mapping[str, Any] | Callable[[int], Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Add ``n`` tasks in the given phase, status and assignee; returns their ids.

        12,000 tasks take well under a second.
        """
        return self.store.add_tasks(
            self._project(project),
            n,
            phase=phase,
            phase_stage=phase_stage,
            status=status,
            account_id=self._account(assignee),
            prefix=prefix,
            metadata=metadata,
        )

    # ------------------------------------------------------------------ acting

    def operate(
        self,
        task_id: str,
        status: str,
        *,
        as_user: AnnofabUser | str | None = None,
        account_id: AnnofabUser | str | None = None,
        force: bool = False,
        project: str | None = None,
    ) -> dict[str, Any]:
        """Operate on a task as ``as_user`` (default: the default user), quoting its
        current ``updated_datetime``; returns its JSON. Raises `AnnofabError` where the
        API would answer an error."""
        user = as_user if isinstance(as_user, AnnofabUser) else self.user
        if isinstance(as_user, str):
            user = self.store.users[as_user]
        pid = self._project(project)
        current = self.store.task(pid, task_id)
        task = self.store.operate(
            pid,
            task_id,
            user,
            status=status,
            last_updated_datetime=format_jst(current.updated_ms),
            account_id=self._account(account_id),
            force=force,
        )
        return task.to_json()

    def touch(self, task_id: str, *, project: str | None = None) -> None:
        """Another client edits the task: a new ``updated_datetime``, nothing else."""
        self.store.touch(self._project(project), task_id)

    def concurrent_edits(
        self,
        rate: float,
        *,
        times: int | None = None,
        statuses: Iterable[str] | None = None,
        per_task: int | None = None,
    ) -> None:
        """Make some operations meet a concurrent edit (409) first; see
        `AnnofabStore.set_concurrent_edits`."""
        self.store.set_concurrent_edits(rate, times=times, statuses=statuses, per_task=per_task)

    def expire_id_tokens(self) -> int:
        """Every id token issued so far answers 401 from now on."""
        return self.store.expire_id_tokens()

    def expire_refresh_tokens(self) -> int:
        """Every refresh token issued so far is refused from now on."""
        return self.store.expire_refresh_tokens()

    # ------------------------------------------------------------------ inspecting

    def describe(self, base_url: str) -> list[str]:
        """Lines telling a person how to reach this Annofab (``annoq serve --annofab``)."""
        count = len(self.store.project(self.project_id).tasks)
        return [
            f"Annofab emulator: {base_url}/api/v1",
            f"Annofab project: {self.project_id} ({count} tasks)",
            f"Annofab user: {self.user_id} (password {self.password}, account {self.account_id})",
            f"Annofab PAT: {self.pat}",
            f"Use: ANNOFAB_ENDPOINT_URL={base_url} ANNOFAB_PAT={self.pat}",
        ]

    def task(self, task_id: str, *, project: str | None = None) -> dict[str, Any]:
        """A task's JSON (``AnnofabError`` 404 if missing)."""
        return self.store.task(self._project(project), task_id).to_json()

    def tasks(self, *, project: str | None = None) -> list[dict[str, Any]]:
        """Every task's JSON, by task id."""
        return [t.to_json() for t in self.store.project(self._project(project)).sorted_tasks()]

    def applied(self, task_id: str | None = None, status: str | None = None) -> int:
        """Applied operations, optionally of one task and/or one requested status."""
        if task_id is not None and status is not None:
            return self.store.applied.get((task_id, status), 0)
        return sum(
            n
            for (tid, st), n in self.store.applied.items()
            if (task_id is None or tid == task_id) and (status is None or st == status)
        )

    @property
    def operations(self) -> list[Operation]:
        """Every applied operation in order (the live list: do not mutate)."""
        return self.store.operations

    @property
    def logins(self) -> int:
        """Login requests received (accepted or not)."""
        return self.store.logins

    @property
    def refreshes(self) -> int:
        """Refresh requests received (accepted or not)."""
        return self.store.refreshes

    @property
    def account_reads(self) -> int:
        """``GET /my/account`` requests received."""
        return self.store.account_reads


__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_USER_ID",
    "AfProject",
    "AfTask",
    "AnnofabError",
    "AnnofabState",
    "AnnofabStore",
    "AnnofabUser",
    "Operation",
    "format_jst",
    "parse_ms",
    "task_filter",
]
