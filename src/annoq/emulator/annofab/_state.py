"""``emu.annofab``: seed, act in and inspect the emulated Annofab, in process."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from ._data import AnnofabData
from ._records import ROLES, AnnofabUser, Operation, PhaseEntry, format_jst
from ._store import AnnofabStore

DEFAULT_USER_ID: Final = "annofab-user"
DEFAULT_PASSWORD: Final = "annofab-password"
DEFAULT_PROJECT_ID: Final = "annofab-project"


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
        store.data.default_project = project_id
        store.data.default_user = self.user

    @property
    def data(self) -> AnnofabData:
        """Input data, annotations, specs, comments, members, projects, jobs and exports:
        seed helpers (``seed_input_data``, ``seed_annotation_specs``, ...) and state."""
        return self.store.data

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

    def auto_accept(self, task_ids: Iterable[str], *, project: str | None = None) -> None:
        """Complete these tasks in acceptance without an accepter, as Annofab's automatic
        acceptance does (``auto_accepted_only`` finds them)."""
        store = self.store
        project_id = self._project(project)
        for task_id in task_ids:
            task = store.task(project_id, task_id)
            task.phase, task.phase_stage, task.status, task.account_id = (
                "acceptance",
                1,
                "complete",
                None,
            )
            task.histories_by_phase.append(PhaseEntry("acceptance", 1, None, False))
            task.changed(store.tick())

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
        return self.store.applied.total(task_id, status)

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


__all__ = ["DEFAULT_PASSWORD", "DEFAULT_PROJECT_ID", "DEFAULT_USER_ID", "AnnofabState"]
