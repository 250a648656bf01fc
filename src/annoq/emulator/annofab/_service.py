"""The emulated Annofab as one `Service`: its store, state, routes and banner."""

from __future__ import annotations

import http
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs
from aiohttp import web

from .._service import ServiceBase, ServiceContext, ServiceSpec
from ._app import ANNOFAB_ROUTE_NAMES, AnnofabService
from ._bulk import OBJECTS
from ._routes import EXPORT_FILES
from ._state import DEFAULT_PASSWORD, DEFAULT_PROJECT_ID, DEFAULT_USER_ID, AnnofabState
from ._store import AnnofabStore


@attrs.frozen(kw_only=True)
class AnnofabOptions:
    """Options of the emulated Annofab: its default project and user.

    Example::

        Emulator(annofab=AnnofabOptions(project_id="prj-1", pat="my-pat"))

    Parameters:
        project_id: the default project (owned by the default user).
        user_id: the default user.
        password: its password (``None``: a fixed one when seeded, else random).
        pat: its personal access token (``None``: generated).
    """

    project_id: str = DEFAULT_PROJECT_ID
    user_id: str = DEFAULT_USER_ID
    password: str | None = attrs.field(default=None, repr=False)
    pat: str | None = attrs.field(default=None, repr=False)


def error_code(status: int) -> str:
    """Annofab's ``error_code`` spelling of an HTTP status: ``TOO_MANY_REQUESTS``."""
    try:
        return http.HTTPStatus(status).name
    except ValueError:
        return "INTERNAL_SERVER_ERROR"


class Annofab(ServiceBase):
    """The Annofab task API and its data surface, under ``/api/v1`` (and ``/api/v2``).

    Its state is reached as ``emu.annofab`` (`AnnofabState`).
    """

    name: ClassVar[str] = "annofab"
    path_prefixes: ClassVar[tuple[str, ...]] = ("/api/", f"{EXPORT_FILES}/", f"{OBJECTS}/")
    """The API, and the signed export and upload URLs it hands out."""

    def __init__(self, context: ServiceContext, options: AnnofabOptions) -> None:
        self._options = options
        password = options.password
        if password is None:
            password = (
                DEFAULT_PASSWORD if context.secrets is None else f"pw-{secrets.token_hex(16)}"
            )
        store = AnnofabStore(seed=context.data_seed, secrets=context.secrets, clock=context.clock)
        self.annofab = AnnofabState(
            store,
            project_id=options.project_id,
            user_id=options.user_id,
            password=password,
            pat=options.pat,
        )

    @property
    def route_names(self) -> tuple[str, ...]:
        return ANNOFAB_ROUTE_NAMES

    @property
    def route_aliases(self) -> Mapping[str, str]:
        """The names of earlier releases: ``annofab_operate`` for ``annofab.operate``."""
        return {name.replace(".", "_", 1): name for name in ANNOFAB_ROUTE_NAMES}

    @property
    def state(self) -> AnnofabState:
        return self.annofab

    @property
    def options(self) -> AnnofabOptions:
        return self._options

    def add_routes(self, app: web.Application) -> None:
        AnnofabService(self.annofab.store).add_routes(app)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """``{"errors": [{"error_code", "message"}], "context": {}}``."""
        return {"errors": [{"error_code": error_code(status), "message": message}], "context": {}}

    def describe(self, base_url: str) -> list[str]:
        return self.annofab.describe(base_url)

    def seed(self, count: int) -> dict[str, Any]:
        """``count`` tasks in the default project."""
        ids = self.annofab.seed_tasks(count)
        return {"project_id": self.annofab.project_id, "task_ids": ids, "n_tasks": count}

    def snapshot(self) -> dict[str, Any]:
        store = self.annofab.store
        return {
            "users": sorted(store.users),
            "projects": {
                project_id: sorted(project.tasks) for project_id, project in store.projects.items()
            },
            "applied": self.annofab.applied(),
        }


ANNOFAB: Final = ServiceSpec("annofab", Annofab, AnnofabOptions)
"""The registry entry of the emulated Annofab."""


__all__ = ["ANNOFAB", "Annofab", "AnnofabOptions"]
