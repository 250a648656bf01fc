"""In-memory state of the emulated Annofab task API: accounts and tokens, projects and
tasks, the task search, operations (under `Rules`), and the counters tests read.

Pure and synchronous: no I/O, no asyncio. The HTTP layer (`._app`) parses
requests, calls one method here and encodes the result. Every operation quotes
``last_updated_datetime``; anything but the task's current ``updated_datetime`` is
refused with 409 before any rule is looked at. Times are strictly increasing across the
store, so each update gives the task a new ``updated_datetime``.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

from .._clock import Clock
from .._ledger import Ledger
from ._data import AnnofabData
from ._records import (
    OPERATE_STATUSES,
    PHASES,
    ROLES,
    STATUSES,
    AfProject,
    AfTask,
    AnnofabError,
    AnnofabUser,
    Operation,
    PhaseEntry,
    format_jst,
    parse_ms,
)
from ._rules import Rules

RESULT_CAP: Final = 10_000
MAX_LIMIT: Final = 200
DEFAULT_LIMIT: Final = 30
IDS_PER_BULK: Final = 100
MFA_CODE: Final = "123456"
"""The one-time code every emulated MFA account accepts (the emulator's authenticator)."""
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


def _bad(message: str, code: str = "INVALID_ARGUMENT") -> AnnofabError:
    return AnnofabError(400, code, message)


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
    if "previous_phase_stage" in params:
        was = _int_param(params, "previous_phase_stage", 1, 1, 1_000)
        of = params.get("previous_phase")
        checks.append(
            lambda t: any(
                h.phase_stage == was and (of is None or h.phase == of) for h in t.histories_by_phase
            )
        )
    if "rejected_only" in params:
        checks.append(lambda t: t.number_of_rejections > 0)
    if "auto_accepted_only" in params:
        checks.append(lambda t: t.auto_accepted)
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

    def __init__(
        self, *, seed: int = 0, secrets: random.Random | None = None, clock: Clock | None = None
    ) -> None:
        self.rng = random.Random(seed)
        self.clock = Clock() if clock is None else clock
        """The emulator's shared clock."""
        # Passwords and tokens: from the seeded sequence, or from ``secrets`` (for
        # example ``random.SystemRandom()``) so that they differ on every run.
        self._secrets = self.rng if secrets is None else secrets
        self.users: dict[str, AnnofabUser] = {}
        self._by_account: dict[str, AnnofabUser] = {}
        self._by_pat: dict[str, AnnofabUser] = {}
        self.id_tokens: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.mfa_sessions: dict[str, str] = {}  # challenge session -> user_id
        self.logouts = 0
        self.projects: dict[str, AfProject] = {}
        self.logins = 0
        self.failed_logins = 0
        self.refreshes = 0
        self.account_reads = 0
        self.applied = Ledger()
        self.operations: list[Operation] = []
        self.edits = 0
        self._edit_rate = 0.0
        self._edits_left: int | None = None
        self._edit_statuses: frozenset[str] | None = None
        self._edits_per_task: int | None = None
        self._edited: Counter[str] = Counter()
        self._search_cache: dict[tuple[str, tuple[tuple[str, str], ...], int], list[AfTask]] = {}
        self.data = AnnofabData(self)
        from ._bulk import BulkState  # here: its routes import this module

        self.bulk = BulkState()
        """Input data, annotations, specs, comments, members, projects, jobs, exports."""

    # ------------------------------------------------------------------ time, ids

    def tick(self) -> int:
        """Now in ms, strictly after every earlier tick."""
        return self.clock.tick()

    def _token(self, prefix: str) -> str:
        return f"{prefix}-{self._secrets.getrandbits(128):032x}"

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
            session = self._token("mfa-session")
            self.mfa_sessions[session] = user.user_id
            return {"session": session}
        return {"token": self._issue(user.account_id)}

    def respond_to_auth_challenge(
        self, user_id: object, mfa_code: object, session: object
    ) -> dict[str, Any]:
        """``{"token": {...}}`` for the right code to a live challenge (used up); else 401."""
        owner = self.mfa_sessions.pop(session, None) if isinstance(session, str) else None
        if owner is None or owner != user_id:
            raise AnnofabError(401, "UNAUTHORIZED", "The MFA session is invalid or expired.")
        if mfa_code != MFA_CODE:
            self.failed_logins += 1
            raise AnnofabError(401, "UNAUTHORIZED", "Incorrect MFA code.")
        return {"token": self._issue(self.users[owner].account_id)}

    def logout(self, token: object) -> dict[str, Any]:
        """Revoke a login's id and refresh tokens (``POST /logout`` with the Token)."""
        if not isinstance(token, dict):
            raise _bad("the body must be a Token")
        self.logouts += 1
        self.id_tokens.pop(str(token.get("id_token")), None)
        self.refresh_tokens.pop(str(token.get("refresh_token")), None)
        return {"message": "logged out"}

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
        key = (project.project_id, query, self.clock.last_ms)
        cached = self._search_cache.get(key)
        if cached is not None:
            return cached
        keep = task_filter(params)
        if "annotation" in params:  # tasks holding an annotation that matches the query
            holding = self.data.tasks_with_annotation(project.project_id, params["annotation"])
            plain = keep

            def keep(t: AfTask) -> bool:
                return t.task_id in holding and plain(t)

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
        """``{"success": [Task, ...], "failure": [{"project_id", "task_id"}, ...]}``:
        the tasks among ``task_ids`` that exist, and the ids that do not (400 past 100
        ids), as the service answers ``GET .../tasks-in-bulk``."""
        if not task_ids:
            raise _bad("task_id: give at least one task id")
        if len(task_ids) > IDS_PER_BULK:
            raise _bad(f"task_id: at most {IDS_PER_BULK} ids, got {len(task_ids)}")
        tasks = self.project(project_id).tasks
        asked = list(dict.fromkeys(task_ids))
        found = [tasks[t].encoded() for t in asked if t in tasks]
        missing = [{"project_id": project_id, "task_id": t} for t in asked if t not in tasks]
        return b'{"success":[' + b",".join(found) + b'],"failure":' + orjson.dumps(missing) + b"}"

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
        self.applied.record((task_id, status))
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


__all__ = ["AnnofabStore", "format_jst", "task_filter"]
