"""aiohttp.web routes of the nine Weave annotation-queue endpoints.

Each handler: authenticate, parse and validate the body (422 on malformed input),
check project access (403), call the store, encode with orjson. Business errors become
400/404 ``{"reason", "error_type"}`` bodies. Routes are named (``weave.items_query``,
``weave.progress``, ...) so that fault rules can target them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs
import orjson
from aiohttp import web

from .._http import NDJSON, json_response, raw_json_response
from .._validation import Fields, ValidationFailed, error, parse_body
from ._store import (
    ALL_STATES,
    EmulatorError,
    ItemFilter,
    SortSpec,
    User,
    WeaveStore,
)

ROUTE_NAMES: Final = (
    "weave.create_queue",
    "weave.list_queues",
    "weave.read_queue",
    "weave.update_queue",
    "weave.delete_queue",
    "weave.stats",
    "weave.add_calls",
    "weave.items_query",
    "weave.progress",
)
"""Names of the Weave routes, as fault rules refer to them."""


@attrs.frozen(kw_only=True)
class WeaveOptions:
    """Options of the emulated Weave: its default project and user, and server
    behaviours that changed over the service's history.

    Example::

        Emulator(weave=WeaveOptions(legacy_progress=True, project="team/x"))

    Parameters:
        project: the default project of the in-process API and the control routes.
        user_id, api_key: the default user (``api_key`` generated when ``None``).
        legacy_progress: the older server without the same-state no-op: a repeated
            ``completed``/``skipped`` answers 400 "Invalid state transition", a repeated
            ``in_progress`` answers 400 "Cannot transition to 'in_progress' ...".
        reject_unknown_fields: the older server that answers 422 ``extra_forbidden`` to
            unknown body fields (newer servers ignore them).
        legacy_error_bodies: 400/404 bodies carry only ``reason`` (no ``error_type``).
    """

    project: str = "entity/project"
    user_id: str = "local-user"
    api_key: str | None = attrs.field(default=None, repr=False)
    legacy_progress: bool = False
    reject_unknown_fields: bool = False
    legacy_error_bodies: bool = False

    def behaviours(self) -> dict[str, bool]:
        """The server behaviours alone (what ``/_emulator/info`` reports as options)."""
        return {
            "legacy_progress": self.legacy_progress,
            "reject_unknown_fields": self.reject_unknown_fields,
            "legacy_error_bodies": self.legacy_error_bodies,
        }


class HttpError(Exception):
    """An error answer decided by the HTTP layer (401, 403, ...)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("reason", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def api_key_of(request: web.Request) -> str | None:
    """The API key of ``Authorization: Basic base64(api:KEY)`` or ``Bearer KEY``."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, colon, key = decoded.partition(":")
        return key if colon and key else None
    return None


Handler = Callable[["WeaveService", web.Request], Awaitable[web.StreamResponse]]


def _endpoint(func: Handler) -> Handler:
    """Turn `HttpError`, `ValidationFailed` and `EmulatorError` into answers."""

    async def wrapper(self: WeaveService, request: web.Request) -> web.StreamResponse:
        try:
            return await func(self, request)
        except HttpError as exc:
            return json_response(exc.body, exc.status, exc.headers)
        except web.HTTPRequestEntityTooLarge:
            return json_response({"reason": "Request too large"}, 413)
        except ValidationFailed as exc:
            return json_response({"detail": exc.errors}, 422)
        except EmulatorError as exc:
            return json_response(self.error_body(exc.reason, exc.error_type), exc.status)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _sort_specs(fields: list[Fields] | None, forbid_extra: bool) -> list[SortSpec] | None:
    if fields is None:
        return None
    specs = []
    for entry in fields:
        field = entry.string("field", required=True)
        direction = entry.literal("direction", ("asc", "desc"), required=True)
        if forbid_extra:
            entry.forbid_extra()
        if field is not None and direction is not None:
            specs.append(SortSpec(field, direction))
    return specs


class WeaveService:
    """The HTTP face of a `WeaveStore`."""

    def __init__(self, store: WeaveStore, options: WeaveOptions) -> None:
        self.store = store
        self.options = options

    # ------------------------------------------------------------------ helpers

    def error_body(self, reason: str, error_type: str) -> dict[str, str]:
        """A 400/404 body in the configured form."""
        if self.options.legacy_error_bodies:
            return {"reason": reason}
        return {"reason": reason, "error_type": error_type}

    def user_of(self, request: web.Request) -> User:
        """The authenticated user, else a 401."""
        key = api_key_of(request)
        user = None if key is None else self.store.authenticate(key)
        if user is None:
            reason = "Missing API key" if key is None else "Invalid API key"
            raise HttpError(
                401,
                self.error_body(f"Unauthorized: {reason}", "Unauthorized"),
                {"WWW-Authenticate": 'Basic realm="weave"'},
            )
        return user

    def check_project(self, user: User, project_id: str) -> None:
        """403 when the user may not see ``project_id``."""
        if not user.may_see(project_id):
            raise HttpError(403, self.error_body("Forbidden", "Forbidden"))

    async def body(self, request: web.Request) -> Fields:
        """The request's JSON object, wrapped for typed reads."""
        return Fields.root(parse_body(await request.read()))

    def query_project(self, request: web.Request) -> str:
        """``project_id`` from the query string (422 when missing)."""
        project_id = request.query.get("project_id")
        if project_id is None:
            raise ValidationFailed(
                [error("missing", ("query", "project_id"), "Field required", None)]
            )
        return project_id

    # ------------------------------------------------------------------ queues

    @_endpoint
    async def create_queue(self, request: web.Request) -> web.StreamResponse:
        """``POST /annotation_queues``."""
        user = self.user_of(request)
        body = await self.body(request)
        project_id = body.string("project_id", required=True)
        name = body.string("name", required=True)
        description = body.string("description")
        scorer_refs = body.string_list("scorer_refs", required=True)
        body.done(forbid_extra=self.options.reject_unknown_fields)
        assert project_id is not None
        assert name is not None
        assert scorer_refs is not None
        self.check_project(user, project_id)
        queue = self.store.create_queue(
            project_id,
            name=name,
            description=description,
            scorer_refs=scorer_refs,
            created_by=user.user_id,
        )
        return json_response({"id": queue.id})

    @_endpoint
    async def list_queues(self, request: web.Request) -> web.StreamResponse:
        """``POST /annotation_queues/query``: an NDJSON stream, one queue per line."""
        user = self.user_of(request)
        body = await self.body(request)
        forbid = self.options.reject_unknown_fields
        project_id = body.string("project_id", required=True)
        name = body.string("name")
        sort_by = _sort_specs(body.obj_list("sort_by"), forbid)
        limit = body.integer("limit")
        offset = body.integer("offset")
        body.done(forbid_extra=forbid)
        assert project_id is not None
        self.check_project(user, project_id)
        queues = self.store.list_queues(
            project_id, name=name, sort_by=sort_by, limit=limit, offset=offset
        )
        response = web.StreamResponse(headers={"Content-Type": NDJSON})
        await response.prepare(request)
        chunk: list[bytes] = []
        for queue in queues:
            chunk.append(orjson.dumps(queue.to_json()) + b"\n")
            if len(chunk) >= 256:
                await response.write(b"".join(chunk))
                chunk.clear()
        if chunk:
            await response.write(b"".join(chunk))
        await response.write_eof()
        return response

    @_endpoint
    async def read_queue(self, request: web.Request) -> web.StreamResponse:
        """``GET /annotation_queues/{queue_id}?project_id=...``."""
        user = self.user_of(request)
        project_id = self.query_project(request)
        self.check_project(user, project_id)
        queue = self.store.get_queue(project_id, request.match_info["queue_id"])
        return json_response({"queue": queue.to_json()})

    @_endpoint
    async def update_queue(self, request: web.Request) -> web.StreamResponse:
        """``PUT /annotation_queues/{queue_id}``; all-null fields change nothing."""
        user = self.user_of(request)
        body = await self.body(request)
        project_id = body.string("project_id", required=True)
        name = body.string("name")
        description = body.string("description")
        scorer_refs = body.string_list("scorer_refs")
        body.done(forbid_extra=self.options.reject_unknown_fields)
        assert project_id is not None
        self.check_project(user, project_id)
        queue = self.store.update_queue(
            project_id,
            request.match_info["queue_id"],
            name=name,
            description=description,
            scorer_refs=scorer_refs,
        )
        return json_response({"queue": queue.to_json()})

    @_endpoint
    async def delete_queue(self, request: web.Request) -> web.StreamResponse:
        """``DELETE /annotation_queues/{queue_id}?project_id=...`` (soft, no cascade)."""
        user = self.user_of(request)
        project_id = self.query_project(request)
        self.check_project(user, project_id)
        queue = self.store.delete_queue(project_id, request.match_info["queue_id"])
        return json_response({"queue": queue.to_json()})

    @_endpoint
    async def stats(self, request: web.Request) -> web.StreamResponse:
        """``POST /annotation_queues/stats``."""
        user = self.user_of(request)
        body = await self.body(request)
        project_id = body.string("project_id", required=True)
        queue_ids = body.string_list("queue_ids", required=True)
        body.done(forbid_extra=self.options.reject_unknown_fields)
        assert project_id is not None
        assert queue_ids is not None
        self.check_project(user, project_id)
        return json_response({"stats": self.store.stats(project_id, queue_ids)})

    # ------------------------------------------------------------------ items

    @_endpoint
    async def add_calls(self, request: web.Request) -> web.StreamResponse:
        """``POST /annotation_queues/{queue_id}/items`` (no queue existence check)."""
        user = self.user_of(request)
        body = await self.body(request)
        project_id = body.string("project_id", required=True)
        call_ids = body.string_list("call_ids", required=True)
        display_fields = body.string_list("display_fields", required=True)
        body.done(forbid_extra=self.options.reject_unknown_fields)
        assert project_id is not None
        assert call_ids is not None
        assert display_fields is not None
        self.check_project(user, project_id)
        result = self.store.add_calls(
            project_id,
            request.match_info["queue_id"],
            call_ids,
            display_fields=display_fields,
            added_by=user.user_id,
        )
        return json_response({"added_count": result.added_count, "duplicates": result.duplicates})

    @_endpoint
    async def items_query(self, request: web.Request) -> web.StreamResponse:
        """``POST /annotation_queues/{queue_id}/items/query`` (plain JSON)."""
        user = self.user_of(request)
        body = await self.body(request)
        forbid = self.options.reject_unknown_fields
        project_id = body.string("project_id", required=True)
        item_filter = None
        filter_fields = body.obj("filter")
        if filter_fields is not None:
            states = filter_fields.literal_list("annotation_states", ALL_STATES)
            item_filter = ItemFilter(
                id=filter_fields.string("id"),
                call_id=filter_fields.string("call_id"),
                call_op_name=filter_fields.string("call_op_name"),
                call_trace_id=filter_fields.string("call_trace_id"),
                added_by=filter_fields.string("added_by"),
                annotation_states=None if states is None else tuple(states),
            )
            if forbid:
                filter_fields.forbid_extra()
        sort_by = _sort_specs(body.obj_list("sort_by"), forbid)
        limit = body.integer("limit")
        offset = body.integer("offset")
        include_position = body.boolean("include_position")
        body.done(forbid_extra=forbid)
        assert project_id is not None
        self.check_project(user, project_id)
        encoded = self.store.query_items(
            project_id,
            request.match_info["queue_id"],
            filter=item_filter,
            sort_by=sort_by,
            limit=limit,
            offset=offset,
            include_position=include_position,
        )
        return raw_json_response(encoded)

    @_endpoint
    async def progress(self, request: web.Request) -> web.StreamResponse:
        """``POST /annotation_queues/{queue_id}/items/{item_id}/progress``."""
        user = self.user_of(request)
        body = await self.body(request)
        project_id = body.string("project_id", required=True)
        state = body.string("annotation_state", required=True)
        body.done(forbid_extra=self.options.reject_unknown_fields)
        assert project_id is not None
        assert state is not None
        self.check_project(user, project_id)
        item = self.store.update_progress(
            project_id,
            request.match_info["queue_id"],
            request.match_info["item_id"],
            state,
            user.user_id,
        )
        return raw_json_response(b'{"item":' + item.encoded() + b"}")

    # ------------------------------------------------------------------ wiring

    def add_routes(self, app: web.Application) -> None:
        """Register the nine endpoints, named as in `ROUTE_NAMES`."""
        router = app.router
        router.add_post("/annotation_queues", self.create_queue, name="weave.create_queue")
        router.add_post("/annotation_queues/query", self.list_queues, name="weave.list_queues")
        router.add_post("/annotation_queues/stats", self.stats, name="weave.stats")
        router.add_get(
            "/annotation_queues/{queue_id}",
            self.read_queue,
            name="weave.read_queue",
            allow_head=False,
        )
        router.add_put(
            "/annotation_queues/{queue_id}", self.update_queue, name="weave.update_queue"
        )
        router.add_delete(
            "/annotation_queues/{queue_id}", self.delete_queue, name="weave.delete_queue"
        )
        router.add_post(
            "/annotation_queues/{queue_id}/items", self.add_calls, name="weave.add_calls"
        )
        router.add_post(
            "/annotation_queues/{queue_id}/items/query", self.items_query, name="weave.items_query"
        )
        router.add_post(
            "/annotation_queues/{queue_id}/items/{item_id}/progress",
            self.progress,
            name="weave.progress",
        )
