"""The emulated Annofab writes behind the bulk imports: task metadata, task deletion,
temporary upload paths and the object store they point at.

``PATCH /tasks/metadata`` replaces each named task's metadata; ``DELETE /tasks/{id}``
removes a task (project owners); ``POST /create-temp-path`` hands out ``{url, path}``
where ``url`` is this emulator's own object store (outside ``/api/v1``, like S3: a
request carrying an ``Authorization`` header is refused, as a presigned URL is) that
answers a PUT with the MD5 of the bytes as its ``ETag``. ``BulkState.writes`` counts
every applied write by ``(kind, key...)`` so tests can check each landed exactly once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from typing import Any, Final

import attrs
from aiohttp import web

from ._records import AnnofabError
from ._routes import DataService, _answering_errors, _json, _object, route_name

OBJECTS: Final = "/_emulator/objects"
"""Where the emulated object store takes uploads (``PUT OBJECTS/{token}``)."""

BULK_OPERATIONS: Final = ("patchTasksMetadata", "deleteTask", "createTempPath")
BULK_ROUTE_NAMES: Final = (*(route_name(op) for op in BULK_OPERATIONS), "annofab.object_put")
"""Names of these routes, as fault rules refer to them."""


@attrs.define
class BulkState:
    """Uploaded objects by token, their content types, and counts of applied writes."""

    objects: dict[str, bytes] = attrs.Factory(dict)
    content_types: dict[str, str] = attrs.Factory(dict)
    paths: dict[str, str] = attrs.Factory(dict)  # input_data_path -> token
    writes: Counter[tuple[str, ...]] = attrs.Factory(Counter)
    #: the next this-many uploads answer a wrong ETag (a corrupted transfer)
    corrupt_uploads: int = 0
    #: the next this-many annotation PUTs meet someone else's save just before them
    interfere_annotations: int = 0
    #: operation ids that answer a mis-shaped body (after applying), to test decoding
    hostile: set[str] = attrs.Factory(set)
    #: a temporary upload URL to hand out instead of this emulator's own
    upload_url: str | None = None

    def count(self, kind: str) -> int:
        """Applied writes of one kind (``metadata``, ``delete_task``, ``annotation``,
        ``input_data``, ``upload``)."""
        return sum(n for key, n in self.writes.items() if key[0] == kind)

    def object_at(self, input_data_path: str) -> bytes | None:
        """The bytes uploaded to a temporary path, ``None`` if nothing was."""
        token = self.paths.get(input_data_path)
        return None if token is None else self.objects.get(token)


class BulkService(DataService):
    """The HTTP face of the bulk writes (routes named like the operations)."""

    async def patch_tasks_metadata(self, request: web.Request) -> web.StreamResponse:
        _, project_id, role = self._member(request)
        if role not in ("owner", "accepter"):
            raise AnnofabError(403, "FORBIDDEN", "only project owners and accepters do that")
        body = await _object(request)
        project = self.store.project(project_id)
        for task_id, metadata in body.items():
            if not isinstance(metadata, dict) or not all(
                isinstance(v, str | int | float | bool) for v in metadata.values()
            ):
                raise AnnofabError(400, "INVALID_ARGUMENT", f"metadata of {task_id} is invalid")
            if task_id not in project.tasks:
                raise AnnofabError(404, "NOT_FOUND", f"task {task_id} was not found")
        for task_id, metadata in body.items():
            task = project.tasks[task_id]
            if task.metadata != metadata:  # counted when it changes anything
                self.store.bulk.writes[("metadata", task_id)] += 1
            task.metadata = dict(metadata)
            task.changed(self.store.tick())
        return _json({"message": f"{len(body)} tasks updated"})

    async def delete_task(self, request: web.Request) -> web.StreamResponse:
        _, project_id, role = self._member(request)
        if role != "owner":
            raise AnnofabError(403, "FORBIDDEN", "only project owners delete tasks")
        task_id = request.match_info["task_id"]
        task = self.store.task(project_id, task_id)
        project = self.store.project(project_id)
        del project.tasks[task_id]
        project.added()
        self.store.bulk.writes[("delete_task", task_id)] += 1
        if "deleteTask" in self.store.bulk.hostile:
            return _json({"task_id": 5, "phase": []})
        return _json(task.to_json())

    async def create_temp_path(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        token = uuid.UUID(int=self.store.rng.getrandbits(128)).hex
        path = f"s3://annoq-emulator-temp/{project_id}/{token}"
        self.store.bulk.paths[path] = token
        url = f"{request.url.origin()}{OBJECTS}/{token}?X-Amz-Signature=emulated"
        if self.store.bulk.upload_url is not None:
            url = self.store.bulk.upload_url
        if "createTempPath" in self.store.bulk.hostile:
            return _json({"url": 5, "path": None})
        return _json({"url": url, "path": path})

    async def put_object(self, request: web.Request) -> web.StreamResponse:
        """``PUT /_emulator/objects/{token}``: the object store of a temporary path."""
        state = self.store.bulk
        token = request.match_info["token"]
        content = await request.read()
        if "Authorization" in request.headers:
            return web.Response(status=400, text="only one auth mechanism allowed")
        if token not in state.paths.values():
            return web.Response(status=403, text="the signature does not match")
        state.objects[token] = content
        state.content_types[token] = request.headers.get("Content-Type", "")
        state.writes[("upload", token)] += 1
        digest = hashlib.md5(content, usedforsecurity=False).hexdigest()
        if state.corrupt_uploads > 0:
            state.corrupt_uploads -= 1
            digest = hashlib.md5(content + b"!", usedforsecurity=False).hexdigest()
        return web.Response(status=200, headers={"ETag": f'"{digest}"'})

    def bulk_routes(self) -> list[tuple[str, str, Any, str]]:
        p = "/api/v1/projects/{project_id}"
        return [
            ("PATCH", p + "/tasks/metadata", self.patch_tasks_metadata, "patchTasksMetadata"),
            ("DELETE", p + "/tasks/{task_id}", self.delete_task, "deleteTask"),
            ("POST", p + "/create-temp-path", self.create_temp_path, "createTempPath"),
        ]

    def add_bulk_routes(self, app: web.Application) -> None:
        """Register these routes (before the 501 catch-all)."""
        for method, path, handler, operation_id in self.bulk_routes():
            app.router.add_route(
                method, path, _answering_errors(handler), name=route_name(operation_id)
            )
        app.router.add_put(OBJECTS + "/{token}", self.put_object, name="annofab.object_put")


__all__ = ["BULK_ROUTE_NAMES", "OBJECTS", "BulkService", "BulkState"]
