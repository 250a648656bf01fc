"""Weave's own ``/_emulator/`` control routes: users, seeding, items, progress, actors.

They pass the shared access checks (see ``annoq.emulator._control``); Weave's business
errors answer as the service would (``{"reason", "error_type"}``).

=========================================  =============================================
route                                      effect
=========================================  =============================================
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

from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

from .._control import BadRequest, Control
from .._http import json_response
from ._actor import Actor
from ._store import EmulatorError

if TYPE_CHECKING:
    from ._service import Weave


def _emulator_error(exc: Exception) -> web.StreamResponse:
    assert isinstance(exc, EmulatorError)
    return json_response({"reason": exc.reason, "error_type": exc.error_type}, exc.status)


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


def add_weave_control_routes(control: Control, service: Weave) -> None:
    """Register Weave's control routes on ``control``."""
    weave = service.weave
    store = weave.store
    control.on_error(EmulatorError, _emulator_error)

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
        body = await control.body(request)
        user = service.add_user(
            body.get("user_id"), api_key=body.get("api_key"), projects=body.get("projects")
        )
        projects = None if user.projects is None else sorted(user.projects)
        return json_response(
            {"user_id": user.user_id, "api_key": user.api_key, "projects": projects}
        )

    async def seed(request: web.Request) -> web.StreamResponse:
        body = await control.body(request)
        n_items = int(body.get("n_items", 1000))
        project = body.get("project") or weave.project
        kwargs: dict[str, Any] = {}
        if body.get("op_names"):
            kwargs["op_names"] = list(body["op_names"])
        queue_id = weave.seed_queue(
            n_items, project=project, name=str(body.get("name") or "seeded queue"), **kwargs
        )
        return json_response({"project_id": project, "queue_id": queue_id, "n_items": n_items})

    async def calls(request: web.Request) -> web.StreamResponse:
        body = await control.body(request)
        kwargs: dict[str, Any] = {}
        if body.get("op_names"):
            kwargs["op_names"] = list(body["op_names"])
        ids = weave.create_calls(int(body["n"]), project=body.get("project"), **kwargs)
        return json_response({"call_ids": ids})

    async def add_items(request: web.Request) -> web.StreamResponse:
        body = await control.body(request)
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
        project = request.query.get("project") or weave.project
        items = []
        for item in store.live_items(project, request.match_info["queue_id"]):
            data = item.to_json()
            data["progress"] = dict(item.progress)
            items.append(data)
        return json_response({"items": items})

    async def set_progress(request: web.Request) -> web.StreamResponse:
        body = await control.body(request)
        if "user_id" not in body or "annotation_state" not in body:
            raise BadRequest("user_id and annotation_state are required")
        item = weave.set_progress(
            request.match_info["queue_id"],
            request.match_info["item_id"],
            str(body["annotation_state"]),
            user_id=str(body["user_id"]),
            project=body.get("project"),
        )
        return json_response({"item": item})

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
        body = await control.body(request)
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
            raise BadRequest(f"unknown fields: {sorted(unknown)}")
        kwargs = {k: v for k, v in body.items() if k in known and v is not None}
        actor = weave.start_actor(str(body["queue_id"]), **kwargs)
        return json_response({"actor_id": weave.actors.index(actor)})

    async def wait_actor(request: web.Request) -> web.StreamResponse:
        body = await control.body(request)
        index = int(body.get("actor_id", len(weave.actors) - 1))
        if not 0 <= index < len(weave.actors):
            raise BadRequest(f"no actor {index}")
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

    control.add("GET", "/users", list_users)
    control.add("POST", "/users", add_user)
    control.add("POST", "/seed", seed)
    control.add("POST", "/calls", calls)
    control.add("POST", "/queues/{queue_id}/items", add_items)
    control.add("GET", "/queues/{queue_id}/items", list_items)
    control.add("POST", "/queues/{queue_id}/items/{item_id}/progress", set_progress)
    control.add("GET", "/applied", applied)
    control.add("GET", "/state_log", state_log)
    control.add("POST", "/actor/start", start_actor)
    control.add("POST", "/actor/wait", wait_actor)
    control.add("POST", "/actor/stop", stop_actors)
    control.add("GET", "/actor", get_actors)


__all__ = ["add_weave_control_routes"]
