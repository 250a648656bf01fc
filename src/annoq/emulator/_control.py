"""The ``/_emulator/`` control routes: seed, act, inject faults, inspect.

They are never faulted (they are unnamed routes). Bodies and answers are JSON; a bad
request answers 400 ``{"reason": ...}``. Because they hand out every credential and change
any state, each request is checked before its handler runs:

- ``Host`` must name this machine (``localhost``, a loopback address, the address the
  request arrived on, the machine's host name, the bound host, or one of the emulator's
  ``allowed_hosts``); anything else answers 403. This defeats DNS rebinding: a web page
  whose name was re-pointed at 127.0.0.1 still sends its own name as ``Host``.
- With a control token (always when the emulator is bound off loopback, or when one is
  given), the ``X-Annoq-Emulator-Token`` header must carry it; else 401.
- ``POST`` and ``PUT`` need ``Content-Type: application/json``; else 415. A browser sends
  a cross-origin request without a preflight only with form or ``text/plain`` bodies (or
  none), so a web page cannot drive the control routes.

=========================================  =============================================
route                                      effect
=========================================  =============================================
``GET /_emulator/info``                    project, default user and key, options,
                                           route names
``GET /_emulator/users``                   every user ``{user_id, api_key, projects}``
``POST /_emulator/users``                  add one: ``{user_id?, api_key?, projects?}``
``POST /_emulator/seed``                   ``{n_items, project?, name?, op_names?}`` ->
                                           ``{project_id, queue_id, n_items}``
``POST /_emulator/calls``                  ``{n, project?, op_names?}`` -> ``{call_ids}``
``POST /_emulator/queues/{qid}/items``     ``{n? | call_ids?, project?, added_by?,
                                           display_fields?}`` -> ``{item_ids}``
``GET /_emulator/queues/{qid}/items``      ``?project=`` -> ``{items}`` (default order,
                                           each with its per-annotator ``progress``)
``POST /_emulator/queues/{qid}/items/      ``{user_id, annotation_state, project?}`` ->
{iid}/progress``                           ``{item}`` (act as any annotator; 400 as the
                                           service would)
``GET /_emulator/faults``                  ``{rules, counters, requests, seed}``
``PUT /_emulator/faults``                  ``{rules: [rule...], seed?}`` replaces rules
``POST /_emulator/faults``                 one rule (see `FaultRule`) appended
``DELETE /_emulator/faults``               clear rules; ``?reset_counters=1`` also
                                           zeroes counters
``GET /_emulator/applied``                 ``?item_id=&user_id=`` -> ``{total, writes}``
``GET /_emulator/state_log``               ``?since=N`` -> ``{changes, next}``
``POST /_emulator/actor/start``            ``{queue_id, project?, user_id?, rate?,
                                           state?, complete_weight?, add_weight?,
                                           add_batch?, max_actions?, seed?}`` ->
                                           ``{actor_id}``
``POST /_emulator/actor/wait``             ``{actions, actor_id?}``: answer once the
                                           actor (default: the last) has done that many
                                           actions (409 if it ended before)
``POST /_emulator/actor/stop``             ``{}``: stop every actor -> ``{actors}``
``GET /_emulator/actor``                   ``{actors: [{actor_id, running, actions,
                                           log}]}``
=========================================  =============================================
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson
from aiohttp import web

from ._faults import FaultRule
from ._http import json_response
from .weave._actor import Actor
from .weave._app import ROUTE_NAMES
from .weave._store import EmulatorError

if TYPE_CHECKING:
    from ._emulator import Emulator

PREFIX = "/_emulator"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BadRequest(Exception):
    pass


TOKEN_HEADER: Final = "X-Annoq-Emulator-Token"
"""The request header that carries the control token."""

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or address, brackets allowed) is this machine's loopback."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""


def _host_name(header: str) -> str:
    """The host part of a ``Host`` header (no port, no brackets), lowercased."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


@functools.cache
def _this_machine() -> frozenset[str]:
    """This machine's host name, in full and without its domain."""
    full = socket.gethostname().lower().rstrip(".")
    return frozenset(n for n in (full, full.split(".", 1)[0]) if n)


def host_allowed(header: str | None, *, local_address: str | None, allowed: Iterable[str]) -> bool:
    """Whether a request whose ``Host`` is ``header`` may use the control routes.

    Allowed: loopback names and addresses, the address the request arrived on
    (``local_address``), this machine's host name, and ``allowed`` (the bound host and
    the emulator's ``allowed_hosts``). A missing ``Host`` is refused.
    """
    if not header:
        return False
    name = _host_name(header)
    if is_loopback_host(name) or name in _this_machine():
        return True
    if local_address is not None and name == local_address.split("%", 1)[0].lower():
        return True
    return any(name == _host_name(a) for a in allowed)


def _check_access(request: web.Request, emu: Emulator) -> web.Response | None:
    """The refusal of a control request that fails a check, else ``None``."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    local_address = str(sockname[0]) if sockname else None
    allowed = list(emu.allowed_hosts)
    if emu.bound_host is not None and not _is_unspecified(emu.bound_host):
        allowed.append(emu.bound_host)
    host = request.headers.get("Host")
    if not host_allowed(host, local_address=local_address, allowed=allowed):
        return json_response(
            {
                "reason": f"Host {host!r} is not this machine; control routes answer only "
                "requests addressed to localhost, a loopback address, this machine's name "
                "or address, or an allowed host"
            },
            403,
        )
    token = emu.control_token
    if token is not None:
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return json_response(
                {
                    "reason": f"control routes need the {TOKEN_HEADER} header with the "
                    "control token the emulator printed at start"
                },
                401,
            )
    if request.method in _BODY_METHODS and request.content_type != "application/json":
        return json_response(
            {"reason": "control requests need Content-Type: application/json"}, 415
        )
    return None


def _guard(func: _Handler, emu: Emulator) -> _Handler:
    async def wrapper(request: web.Request) -> web.StreamResponse:
        refusal = _check_access(request, emu)
        if refusal is not None:
            return refusal
        try:
            return await func(request)
        except EmulatorError as exc:
            return json_response({"reason": exc.reason, "error_type": exc.error_type}, exc.status)
        except (_BadRequest, ValueError, TypeError, KeyError) as exc:
            return json_response({"reason": f"{type(exc).__name__}: {exc}"}, 400)

    return wrapper


async def _json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _BadRequest("body must be a JSON object")
    return data


def _actor_json(index: int, actor: Actor) -> dict[str, Any]:
    return {
        "actor_id": index,
        "queue_id": actor.queue_id,
        "user_id": actor.user_id,
        "running": actor.running,
        "actions": actor.actions,
        "error": None if actor.error is None else repr(actor.error),
        "log": [a.to_json() for a in actor.log],
    }


def add_control_routes(app: web.Application, emu: Emulator) -> None:
    """Register the control routes of ``emu`` on ``app`` (unnamed: never faulted)."""
    weave = emu.weave
    store = weave.store
    faults = emu.faults

    async def info(request: web.Request) -> web.StreamResponse:
        return json_response(
            {
                "project": emu.project,
                "user_id": emu.user_id,
                "api_key": emu.api_key,
                "options": attrs.asdict(emu.options),
                "routes": list(ROUTE_NAMES),
            }
        )

    async def list_users(request: web.Request) -> web.StreamResponse:
        users = [
            {
                "user_id": u.user_id,
                "api_key": u.api_key,
                "projects": None if u.projects is None else sorted(u.projects),
            }
            for u in store.users.values()
        ]
        return json_response({"users": users})

    async def add_user(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        user = emu.add_user(
            body.get("user_id"), api_key=body.get("api_key"), projects=body.get("projects")
        )
        projects = None if user.projects is None else sorted(user.projects)
        return json_response(
            {"user_id": user.user_id, "api_key": user.api_key, "projects": projects}
        )

    async def seed(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        n_items = int(body.get("n_items", 1000))
        project = body.get("project") or emu.project
        kwargs: dict[str, Any] = {}
        if body.get("op_names"):
            kwargs["op_names"] = list(body["op_names"])
        queue_id = weave.seed_queue(
            n_items, project=project, name=str(body.get("name") or "seeded queue"), **kwargs
        )
        return json_response({"project_id": project, "queue_id": queue_id, "n_items": n_items})

    async def calls(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        kwargs: dict[str, Any] = {}
        if body.get("op_names"):
            kwargs["op_names"] = list(body["op_names"])
        ids = weave.create_calls(int(body["n"]), project=body.get("project"), **kwargs)
        return json_response({"call_ids": ids})

    async def add_items(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        n = body.get("n")
        ids = weave.add_items(
            request.match_info["queue_id"],
            None if n is None else int(n),
            call_ids=body.get("call_ids"),
            project=body.get("project"),
            added_by=body.get("added_by"),
            display_fields=body.get("display_fields") or ("inputs", "output"),
        )
        return json_response({"item_ids": ids})

    async def list_items(request: web.Request) -> web.StreamResponse:
        project = request.query.get("project") or emu.project
        items = []
        for item in store.live_items(project, request.match_info["queue_id"]):
            data = item.to_json()
            data["progress"] = dict(item.progress)
            items.append(data)
        return json_response({"items": items})

    async def set_progress(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        if "user_id" not in body or "annotation_state" not in body:
            raise _BadRequest("user_id and annotation_state are required")
        item = weave.set_progress(
            request.match_info["queue_id"],
            request.match_info["item_id"],
            str(body["annotation_state"]),
            user_id=str(body["user_id"]),
            project=body.get("project"),
        )
        return json_response({"item": item})

    def faults_state() -> dict[str, Any]:
        return {
            "rules": [r.to_json() for r in faults.rules],
            "counters": faults.counters(),
            "requests": faults.requests_seen(),
            "seed": faults.seed,
        }

    async def get_faults(request: web.Request) -> web.StreamResponse:
        return json_response(faults_state())

    async def put_faults(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        rules = [FaultRule.from_json(r) for r in body.get("rules", [])]
        seed_value = body.get("seed")
        faults.set_rules(rules, seed=None if seed_value is None else int(seed_value))
        return json_response(faults_state())

    async def add_fault(request: web.Request) -> web.StreamResponse:
        faults.add(FaultRule.from_json(await _json(request)))
        return json_response(faults_state())

    async def clear_faults(request: web.Request) -> web.StreamResponse:
        faults.clear()
        if request.query.get("reset_counters") in ("1", "true", "yes"):
            faults.reset_counters()
        return json_response(faults_state())

    async def applied(request: web.Request) -> web.StreamResponse:
        item_id = request.query.get("item_id")
        user_id = request.query.get("user_id")
        writes = [
            {"item_id": iid, "user_id": uid, "count": n}
            for iid, uid, n in store.applied.rows(item_id, user_id)
        ]
        return json_response({"total": sum(w["count"] for w in writes), "writes": writes})

    async def state_log(request: web.Request) -> web.StreamResponse:
        since = int(request.query.get("since", "0"))
        log = store.state_log
        return json_response({"changes": [attrs.asdict(c) for c in log[since:]], "next": len(log)})

    async def start_actor(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        known = {
            "project",
            "user_id",
            "rate",
            "state",
            "complete_weight",
            "add_weight",
            "add_batch",
            "max_actions",
            "seed",
        }
        unknown = set(body) - known - {"queue_id"}
        if unknown:
            raise _BadRequest(f"unknown fields: {sorted(unknown)}")
        kwargs = {k: v for k, v in body.items() if k in known and v is not None}
        actor = weave.start_actor(str(body["queue_id"]), **kwargs)
        return json_response({"actor_id": weave.actors.index(actor)})

    async def wait_actor(request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        index = int(body.get("actor_id", len(weave.actors) - 1))
        if not 0 <= index < len(weave.actors):
            raise _BadRequest(f"no actor {index}")
        actor = weave.actors[index]
        try:
            await actor.wait_actions(int(body["actions"]))
        except RuntimeError as exc:
            return json_response({"reason": str(exc), **_actor_json(index, actor)}, 409)
        return json_response(_actor_json(index, actor))

    async def stop_actors(request: web.Request) -> web.StreamResponse:
        await weave.stop_actors()
        return json_response({"actors": [_actor_json(i, a) for i, a in enumerate(weave.actors)]})

    async def get_actors(request: web.Request) -> web.StreamResponse:
        return json_response({"actors": [_actor_json(i, a) for i, a in enumerate(weave.actors)]})

    router = app.router
    router.add_get(f"{PREFIX}/info", _guard(info, emu))
    router.add_get(f"{PREFIX}/users", _guard(list_users, emu))
    router.add_post(f"{PREFIX}/users", _guard(add_user, emu))
    router.add_post(f"{PREFIX}/seed", _guard(seed, emu))
    router.add_post(f"{PREFIX}/calls", _guard(calls, emu))
    router.add_post(PREFIX + "/queues/{queue_id}/items", _guard(add_items, emu))
    router.add_get(PREFIX + "/queues/{queue_id}/items", _guard(list_items, emu))
    router.add_post(
        PREFIX + "/queues/{queue_id}/items/{item_id}/progress", _guard(set_progress, emu)
    )
    router.add_get(f"{PREFIX}/faults", _guard(get_faults, emu))
    router.add_put(f"{PREFIX}/faults", _guard(put_faults, emu))
    router.add_post(f"{PREFIX}/faults", _guard(add_fault, emu))
    router.add_delete(f"{PREFIX}/faults", _guard(clear_faults, emu))
    router.add_get(f"{PREFIX}/applied", _guard(applied, emu))
    router.add_get(f"{PREFIX}/state_log", _guard(state_log, emu))
    router.add_post(f"{PREFIX}/actor/start", _guard(start_actor, emu))
    router.add_post(f"{PREFIX}/actor/wait", _guard(wait_actor, emu))
    router.add_post(f"{PREFIX}/actor/stop", _guard(stop_actors, emu))
    router.add_get(f"{PREFIX}/actor", _guard(get_actors, emu))
