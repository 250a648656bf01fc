"""aiohttp routes of the emulated Annofab beyond tasks: input data, annotations, specs,
comments, inspections, members, projects, organizations, jobs and the rawdata exports.

Each route is named ``annofab.`` + the operation id in snake case (``annofab.get_input_data_list``,
see `DATA_ROUTE_NAMES`) so fault rules target it. Paths are the spec's exactly, so the
501 catch-all registered after them leaves these operations alone. The export files are
served under `EXPORT_FILES` without Annofab's authorization, as signed object-store URLs
are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from .._http import NotJson, json_response, raw_json_response, read_json
from ._data import AnnofabData
from ._records import AnnofabError, AnnofabUser
from ._store import AnnofabStore

API: Final = "/api/v1"
EXPORT_FILES: Final = "/_annoq/annofab-files"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_json = json_response
_raw = raw_json_response


async def _body(request: web.Request) -> Any:
    try:
        return await read_json(request)
    except NotJson:
        raise AnnofabError(400, "INVALID_ARGUMENT", "the body must be JSON") from None


async def _object(request: web.Request) -> dict[str, Any]:
    data = await _body(request)
    if not isinstance(data, dict):
        raise AnnofabError(400, "INVALID_ARGUMENT", "the body must be a JSON object")
    return data


class DataService:
    """The HTTP face of an `AnnofabData`."""

    def __init__(self, store: AnnofabStore, data: AnnofabData) -> None:
        self.store = store
        self.data = data

    def _user(self, request: web.Request) -> AnnofabUser:
        user = self.store.authenticate(request.headers.get("Authorization"))
        if user is None:
            raise AnnofabError(401, "UNAUTHORIZED", "authentication is required or expired")
        return user

    def _member(self, request: web.Request) -> tuple[AnnofabUser, str, str]:
        """The caller, the project id of the path and the caller's role there."""
        user = self._user(request)
        project_id = request.match_info["project_id"]
        project = self.store.member_project(project_id, user)
        return user, project_id, project.members[user.account_id]

    # -- projects, organizations, members -------------------------------------------

    async def get_project(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        return _json(self.data.project_json(project_id))

    async def get_my_projects(self, request: web.Request) -> web.StreamResponse:
        return _raw(self.data.my_projects(self._user(request), request.query))

    async def get_projects_of_organization(self, request: web.Request) -> web.StreamResponse:
        user = self._user(request)
        name = request.match_info["organization_name"]
        return _raw(self.data.organization_projects(name, user, request.query))

    async def get_organization(self, request: web.Request) -> web.StreamResponse:
        self._user(request)
        return _json(self.data.organization_json(request.match_info["organization_name"]))

    async def get_organization_of_project(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        return _json(self.data.project_meta(project_id).organization.to_json())

    async def get_project_members(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        return _raw(self.data.members(project_id))

    async def get_project_member(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        return _json(self.data.member(project_id, request.match_info["user_id"]))

    async def get_my_member_in_project(self, request: web.Request) -> web.StreamResponse:
        user, project_id, _ = self._member(request)
        return _json(self.data.member(project_id, user.user_id))

    # -- input data -------------------------------------------------------------------

    async def get_input_data_list(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        return _raw(self.data.input_data_list(project_id, request.query))

    async def get_input_data(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        return _raw(self.data.input_data(project_id, request.match_info["input_data_id"]).encoded())

    async def get_input_data_in_bulk(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        ids = [i for i in request.query.get("input_data_id", "").split(",") if i]
        return _json(self.data.input_data_in_bulk(project_id, ids))

    async def put_input_data(self, request: web.Request) -> web.StreamResponse:
        _, project_id, role = self._member(request)
        body = await _object(request)
        status, answer = self.data.put_input_data(
            project_id, request.match_info["input_data_id"], body, role
        )
        return _json(answer, status)

    async def delete_input_data(self, request: web.Request) -> web.StreamResponse:
        _, project_id, role = self._member(request)
        found = self.data.delete_input_data(project_id, request.match_info["input_data_id"], role)
        return _json(found.to_json())

    # -- annotations, specs ---------------------------------------------------------

    async def get_annotation_list(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        return _raw(self.data.annotation_list(project_id, request.query))

    async def get_editor_annotation(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        version = request.query.get("v", "1")
        if version not in ("1", "2"):
            raise AnnofabError(400, "INVALID_ARGUMENT", "v must be 1 or 2")
        info = request.match_info
        return _json(
            self.data.editor_annotation(project_id, info["task_id"], info["input_data_id"], version)
        )

    async def put_annotation(self, request: web.Request) -> web.StreamResponse:
        user, project_id, _ = self._member(request)
        body = await _object(request)
        info = request.match_info
        return _json(
            self.data.put_annotation(project_id, info["task_id"], info["input_data_id"], body, user)
        )

    async def get_annotation_specs(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        return _json(self.data.annotation_specs(project_id))

    async def put_annotation_specs(self, request: web.Request) -> web.StreamResponse:
        _, project_id, role = self._member(request)
        body = await _object(request)
        return _json(self.data.put_annotation_specs(project_id, body, role))

    # -- comments, inspections ------------------------------------------------------

    async def get_comments(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        info = request.match_info
        return _json(self.data.comments_of(project_id, info["task_id"], info["input_data_id"]))

    async def batch_update_comments(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        body = await _body(request)
        info = request.match_info
        return _json(
            self.data.batch_update_comments(
                project_id, info["task_id"], info["input_data_id"], body
            )
        )

    async def get_inspections(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        info = request.match_info
        return _json(self.data.inspections_of(project_id, info["task_id"], info["input_data_id"]))

    # -- jobs, exports --------------------------------------------------------------

    async def get_project_job(self, request: web.Request) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        return _json(self.data.job_list(project_id, request.query))

    async def delete_project_job(self, request: web.Request) -> web.StreamResponse:
        _, project_id, role = self._member(request)
        if role != "owner":
            raise AnnofabError(403, "FORBIDDEN", "only project owners delete jobs")
        info = request.match_info
        self.data.jobs.delete(project_id, info["job_type"], info["job_id"])
        return web.Response(status=200)

    def _export_url(self, request: web.Request, kind: str) -> web.StreamResponse:
        _, project_id, _ = self._member(request)
        token = self.data.export_token(project_id, kind)
        url = str(request.url.origin()) + f"{EXPORT_FILES}/{token}"
        return _json({"url": url}, 201, headers={"Location": url})

    async def get_project_tasks_url(self, request: web.Request) -> web.StreamResponse:
        return self._export_url(request, "tasks")

    async def get_project_inputs_url(self, request: web.Request) -> web.StreamResponse:
        return self._export_url(request, "inputs")

    async def post_project_tasks_update(self, request: web.Request) -> web.StreamResponse:
        _, project_id, role = self._member(request)
        await request.read()
        return _json({"job": self.data.start_export(project_id, "tasks", role).to_json()}, 202)

    async def post_project_inputs_update(self, request: web.Request) -> web.StreamResponse:
        _, project_id, role = self._member(request)
        await request.read()
        return _json({"job": self.data.start_export(project_id, "inputs", role).to_json()}, 202)

    async def get_annotation_archive(self, request: web.Request) -> web.StreamResponse:
        return self._export_url(request, "annotations")

    async def post_annotation_archive_update(self, request: web.Request) -> web.StreamResponse:
        _, project_id, role = self._member(request)
        await request.read()
        job = self.data.start_export(project_id, "annotations", role)
        return _json({"job": job.to_json()}, 202)

    async def export_file(self, request: web.Request) -> web.StreamResponse:
        """A signed export file: no Annofab authorization (and none is read)."""
        content = self.data.exports.read(request.match_info["token"])
        if content.startswith(b"PK"):  # the annotation ZIP
            return web.Response(body=content, content_type="application/zip")
        return _raw(content)

    # -- registration -----------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, _Handler, str]]:
        """``(method, path, handler, operation id)`` of every route here."""
        p = API + "/projects/{project_id}"
        org = API + "/organizations/{organization_name}"
        ann = p + "/tasks/{task_id}/inputs/{input_data_id}"
        return [
            ("GET", p, self.get_project, "getProject"),
            ("GET", API + "/my/projects", self.get_my_projects, "getMyProjects"),
            (
                "GET",
                org + "/projects",
                self.get_projects_of_organization,
                "getProjectsOfOrganization",
            ),
            ("GET", org, self.get_organization, "getOrganization"),
            (
                "GET",
                p + "/organization",
                self.get_organization_of_project,
                "getOrganizationOfProject",
            ),
            ("GET", p + "/members", self.get_project_members, "getProjectMembers"),
            ("GET", p + "/members/{user_id}", self.get_project_member, "getProjectMember"),
            (
                "GET",
                API + "/my/projects/{project_id}/member",
                self.get_my_member_in_project,
                "getMyMemberInProject",
            ),
            ("GET", p + "/inputs", self.get_input_data_list, "getInputDataList"),
            ("GET", p + "/input-data-in-bulk", self.get_input_data_in_bulk, "getInputDataInBulk"),
            ("GET", p + "/inputs/{input_data_id}", self.get_input_data, "getInputData"),
            ("PUT", p + "/inputs/{input_data_id}", self.put_input_data, "putInputData"),
            ("DELETE", p + "/inputs/{input_data_id}", self.delete_input_data, "deleteInputData"),
            ("GET", p + "/annotations", self.get_annotation_list, "getAnnotationList"),
            ("GET", ann + "/annotation", self.get_editor_annotation, "getEditorAnnotation"),
            ("PUT", ann + "/annotation", self.put_annotation, "putAnnotation"),
            ("GET", p + "/annotation-specs", self.get_annotation_specs, "getAnnotationSpecs"),
            ("PUT", p + "/annotation-specs", self.put_annotation_specs, "putAnnotationSpecs"),
            ("GET", ann + "/comments", self.get_comments, "getComments"),
            ("POST", ann + "/comments", self.batch_update_comments, "batchUpdateComments"),
            ("GET", ann + "/inspections", self.get_inspections, "getInspections"),
            ("GET", p + "/jobs", self.get_project_job, "getProjectJob"),
            (
                "DELETE",
                p + "/jobs/{job_type}/{job_id}",
                self.delete_project_job,
                "deleteProjectJob",
            ),
            ("GET", p + "/rawdata/tasks", self.get_project_tasks_url, "getProjectTasksUrl"),
            (
                "POST",
                p + "/rawdata/tasks",
                self.post_project_tasks_update,
                "postProjectTasksUpdate",
            ),
            ("GET", p + "/rawdata/inputs", self.get_project_inputs_url, "getProjectInputsUrl"),
            (
                "POST",
                p + "/rawdata/inputs",
                self.post_project_inputs_update,
                "postProjectInputsUpdate",
            ),
            (
                "GET",
                p + "/archive/simple",
                self.get_annotation_archive,
                "getAnnotationArchive",
            ),
            (
                "POST",
                p + "/archive/update",
                self.post_annotation_archive_update,
                "postAnnotationArchiveUpdate",
            ),
        ]

    def add_routes(self, app: web.Application) -> None:
        """Register every route (before the 501 catch-all)."""
        for method, path, handler, operation_id in self.routes():
            app.router.add_route(
                method, path, _answering_errors(handler), name=route_name(operation_id)
            )
        app.router.add_get(
            EXPORT_FILES + "/{token}",
            _answering_errors(self.export_file),
            name="annofab.export_file",
            allow_head=False,
        )


def route_name(operation_id: str) -> str:
    """``getInputDataList`` -> ``annofab.get_input_data_list``."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in operation_id)
    return "annofab." + snake.lstrip("_")


def _answering_errors(handler: _Handler) -> _Handler:
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AnnofabError as exc:
            return _json(exc.body(), exc.status)

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


SERVED_OPERATIONS: Final = tuple(
    op
    for _, _, _, op in DataService(None, None).routes()  # type: ignore[arg-type]
)
"""The operation ids these routes serve."""

DATA_ROUTE_NAMES: Final = (*(route_name(op) for op in SERVED_OPERATIONS), "annofab.export_file")
"""Names of these routes, as fault rules refer to them."""


__all__ = ["DATA_ROUTE_NAMES", "EXPORT_FILES", "SERVED_OPERATIONS", "DataService", "route_name"]
