"""aiohttp.web routes of the emulated Annofab API, under ``/api/v1``.

Each handler authenticates (``Authorization: Bearer PAT`` or the raw id token of a
login), reads the request, calls the store and encodes the answer with orjson. Errors
are Annofab's ``{"errors": [{"error_code", "message"}]}`` bodies. Routes are named
(``annofab.tasks``, ``annofab.operate``, ...; see `ANNOFAB_ROUTE_NAMES`) so that the
emulator's fault rules target them like any other route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from .._http import NotJson, json_response, raw_json_response, read_json
from ._bulk import BULK_ROUTE_NAMES, BulkService
from ._records import AnnofabError, AnnofabUser
from ._routes import DATA_ROUTE_NAMES, DataService
from ._store import AnnofabStore

API: Final = "/api/v1"

ANNOFAB_ROUTE_NAMES: Final = (
    "annofab.login",
    "annofab.login_challenge",
    "annofab.logout",
    "annofab.refresh",
    "annofab.my_account",
    "annofab.tasks",
    "annofab.task",
    "annofab.tasks_in_bulk",
    "annofab.histories",
    "annofab.operate",
    "annofab.assign",
    *DATA_ROUTE_NAMES,
    *BULK_ROUTE_NAMES,
)
"""Names of the Annofab routes, as fault rules refer to them."""

_Handler = Callable[["AnnofabService", web.Request], Awaitable[web.StreamResponse]]
_Plain = Callable[[web.Request], Awaitable[web.StreamResponse]]


_json = json_response
_raw = raw_json_response


def _endpoint(func: _Handler) -> _Handler:
    """Turn `AnnofabError` into Annofab's error answer."""

    async def wrapper(self: AnnofabService, request: web.Request) -> web.StreamResponse:
        try:
            return await func(self, request)
        except AnnofabError as exc:
            return _json(exc.body(), exc.status)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await read_json(request)
    except NotJson:
        data = None
    if not isinstance(data, dict):
        raise AnnofabError(400, "INVALID_ARGUMENT", "the body must be a JSON object")
    return data


class AnnofabService:
    """The HTTP face of an `AnnofabStore`."""

    def __init__(self, store: AnnofabStore) -> None:
        self.store = store

    def user_of(self, request: web.Request) -> AnnofabUser:
        """The authenticated user, else a 401."""
        user = self.store.authenticate(request.headers.get("Authorization"))
        if user is None:
            raise AnnofabError(401, "UNAUTHORIZED", "authentication is required or expired")
        return user

    @_endpoint
    async def login(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/v1/login``."""
        body = await _body(request)
        return _json(self.store.login(body.get("user_id"), body.get("password")))

    @_endpoint
    async def login_challenge(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/v1/login-respond-to-auth-challenge``."""
        body = await _body(request)
        return _json(
            self.store.respond_to_auth_challenge(
                body.get("user_id"), body.get("mfa_code"), body.get("session")
            )
        )

    @_endpoint
    async def logout(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/v1/logout`` with the Token to revoke."""
        return _json(self.store.logout(await _body(request)))

    @_endpoint
    async def refresh(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/v1/refresh-token``."""
        body = await _body(request)
        return _json(self.store.refresh(body.get("refresh_token")))

    @_endpoint
    async def my_account(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/v1/my/account``."""
        user = self.user_of(request)
        self.store.account_reads += 1
        return _json(user.to_json())

    @_endpoint
    async def tasks(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/v1/projects/{project_id}/tasks``."""
        user = self.user_of(request)
        project_id = request.match_info["project_id"]
        self.store.member_project(project_id, user)
        return _raw(self.store.search(project_id, request.query))

    @_endpoint
    async def task(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/v1/projects/{project_id}/tasks/{task_id}``."""
        user = self.user_of(request)
        project_id = request.match_info["project_id"]
        self.store.member_project(project_id, user)
        return _raw(self.store.task(project_id, request.match_info["task_id"]).encoded())

    @_endpoint
    async def tasks_in_bulk(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/v1/projects/{project_id}/tasks-in-bulk?task_id=a,b``."""
        user = self.user_of(request)
        project_id = request.match_info["project_id"]
        self.store.member_project(project_id, user)
        ids = [t for t in request.query.get("task_id", "").split(",") if t]
        return _raw(self.store.tasks_in_bulk(project_id, ids))

    @_endpoint
    async def histories(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/v1/projects/{project_id}/tasks/{task_id}/histories``."""
        user = self.user_of(request)
        project_id = request.match_info["project_id"]
        self.store.member_project(project_id, user)
        task = self.store.task(project_id, request.match_info["task_id"])
        return _json([h.to_json(project_id, task.task_id) for h in task.histories])

    @_endpoint
    async def operate(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/v1/projects/{project_id}/tasks/{task_id}/operate``."""
        user = self.user_of(request)
        body = await _body(request)
        task = self.store.operate(
            request.match_info["project_id"],
            request.match_info["task_id"],
            user,
            status=body.get("status"),
            last_updated_datetime=body.get("last_updated_datetime"),
            account_id=body.get("account_id"),
            force=body.get("force", False),
        )
        return _raw(task.encoded())

    @_endpoint
    async def assign(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/v1/projects/{project_id}/assign-tasks``."""
        user = self.user_of(request)
        body = await _body(request)
        tasks = self.store.assign(request.match_info["project_id"], user, body.get("request_type"))
        return _raw(b"[" + b",".join(t.encoded() for t in tasks) + b"]")

    def add_routes(self, app: web.Application) -> None:
        """Register the endpoints, named as in `ANNOFAB_ROUTE_NAMES`."""
        router = app.router
        project = API + "/projects/{project_id}"
        router.add_post(f"{API}/login", self.login, name="annofab.login")
        router.add_post(
            f"{API}/login-respond-to-auth-challenge",
            self.login_challenge,
            name="annofab.login_challenge",
        )
        router.add_post(f"{API}/logout", self.logout, name="annofab.logout")
        router.add_post(f"{API}/refresh-token", self.refresh, name="annofab.refresh")
        router.add_get(
            f"{API}/my/account", self.my_account, name="annofab.my_account", allow_head=False
        )
        router.add_get(f"{project}/tasks", self.tasks, name="annofab.tasks", allow_head=False)
        router.add_get(
            f"{project}/tasks-in-bulk",
            self.tasks_in_bulk,
            name="annofab.tasks_in_bulk",
            allow_head=False,
        )
        router.add_get(
            project + "/tasks/{task_id}", self.task, name="annofab.task", allow_head=False
        )
        router.add_get(
            project + "/tasks/{task_id}/histories",
            self.histories,
            name="annofab.histories",
            allow_head=False,
        )
        router.add_post(project + "/tasks/{task_id}/operate", self.operate, name="annofab.operate")
        router.add_post(f"{project}/assign-tasks", self.assign, name="annofab.assign")
        DataService(self.store, self.store.data).add_routes(app)
        BulkService(self.store, self.store.data).add_bulk_routes(app)
        add_not_implemented(app)


def add_not_implemented(app: web.Application) -> None:
    """Answer 501 to every operation of the published API that no route above serves.

    Call it after the served routes are added: a request that matches one of them never
    reaches these (aiohttp tries resources in order and skips a method mismatch).
    """
    from ...annofab._api import OPERATIONS, OPERATIONS_V2

    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }
    for op in (*OPERATIONS, *OPERATIONS_V2):
        path = op.base + op.path
        if (op.method, path) in served:
            continue
        served.add((op.method, path))
        app.router.add_route(op.method, path, _not_implemented(op.operation_id, op.method, path))


def _not_implemented(operation_id: str, method: str, path: str) -> _Plain:
    message = (
        f"annoq's emulator does not serve {operation_id} ({method} {path}) yet; "
        "the real service does"
    )

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        return _json({"errors": [{"error_code": "NOT_IMPLEMENTED", "message": message}]}, 501)

    return handler


__all__ = ["ANNOFAB_ROUTE_NAMES", "AnnofabService"]
