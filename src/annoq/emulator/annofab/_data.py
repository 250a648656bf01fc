"""The emulated Annofab beyond tasks: input data, annotations, specs, comments,
inspections, members, projects, organizations, jobs and exports.

``AnnofabData`` sits next to the task store (``store.data``, ``emu.annofab.data``): its
methods are what the routes of `._routes` call (pure, synchronous, raising
`AnnofabError` for error answers) and the seed helpers tests use::

    data = emu.annofab.data
    data.seed_input_data(500)                         # input-000001 ... input-000500
    data.seed_inputs_for_tasks()                       # the input data tasks refer to
    data.seed_annotation_specs(labels={"car": {"ja-JP": "車"}}, attributes={"occluded": "flag"})
    data.seed_annotations(task_ids, label="car")       # one box per task's input data
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from ._annotations import (
    AfAnnotation,
    AfDetail,
    annotation_filter,
    apply_put,
    build_specs,
    put_comment,
    put_specs,
    simple_archive,
)
from ._inputs import AfInput, input_filter, ordered
from ._jobs import EXPORT_JOBS, AfJob, Exports, Jobs
from ._paging import bad, int_param, page_of, whole_list
from ._projects import (
    DEFAULT_ORGANIZATION,
    AfOrganization,
    ProjectMeta,
    not_found,
    project_filter,
)
from ._records import AfProject, AnnofabError, AnnofabUser, format_jst, parse_ms

if TYPE_CHECKING:
    from ._store import AnnofabStore

_WRITERS = ("owner",)
_COMMENT_CONTENT = (
    "phase", "phase_stage", "account_id", "comment_type", "phrases", "comment", "comment_node"
)  # fmt: skip
_EXPORTERS = ("owner", "accepter")


class AnnofabData:
    """Everything of the emulated Annofab but tasks and accounts (see the module)."""

    def __init__(self, store: AnnofabStore) -> None:
        self.store = store
        self._epoch = store.tick()
        self.organizations: dict[str, AfOrganization] = {}
        self.meta: dict[str, ProjectMeta] = {}
        self.inputs: dict[str, dict[str, AfInput]] = {}
        self.annotations: dict[tuple[str, str, str], AfAnnotation] = {}
        self.specs: dict[str, dict[str, Any]] = {}
        self.specs_updated: dict[str, int] = {}
        self.comments: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        self.inspections: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.jobs = Jobs(store.tick, self._uuid)
        """Jobs: ``jobs.duration`` (seconds in progress), ``fail_jobs()`` to fail some."""
        self.exports = Exports(lambda: f"{store.rng.getrandbits(128):032x}")
        self.export_busy_conflict = False
        """While a rebuild runs, an export GET answers 409 (``True``) or the previous file
        (``False``, the default: the spec lists no 409 for it; the service may do either).
        The annotation ZIP's GET answers 409 during its rebuild either way (specified)."""

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.store.rng.getrandbits(128), version=4))

    # ------------------------------------------------------------------ projects

    def organization(self, name: str = DEFAULT_ORGANIZATION) -> AfOrganization:
        """The organization named so (created on first use)."""
        org = self.organizations.get(name)
        if org is None:
            org = AfOrganization(self._uuid(), name, self._epoch)
            self.organizations[name] = org
        return org

    def project_meta(self, project_id: str) -> ProjectMeta:
        """A project's title, organization, ... (defaults made on first use)."""
        meta = self.meta.get(project_id)
        if meta is None:
            self.store.project(project_id)  # 404 for an unknown project
            meta = ProjectMeta(
                project_id,
                self.organization(),
                title=project_id,
                created_ms=self._epoch,
                updated_ms=self._epoch,
                input_data_set_id=self._uuid(),
            )
            self.meta[project_id] = meta
        return meta

    def set_project(
        self,
        project_id: str,
        *,
        title: str | None = None,
        organization: str | None = None,
        status: str | None = None,
        input_data_type: str | None = None,
    ) -> None:
        """Set what ``getProject`` says of a project."""
        meta = self.project_meta(project_id)
        if title is not None:
            meta.title = title
        if organization is not None:
            meta.organization = self.organization(organization)
        if status is not None:
            meta.status = status
        if input_data_type is not None:
            meta.input_data_type = input_data_type
        meta.updated_ms = self.store.tick()

    def project_json(self, project_id: str) -> dict[str, Any]:
        project = self.store.project(project_id)
        last = max((t.updated_ms for t in project.tasks.values()), default=None)
        return self.project_meta(project_id).to_json(project, last)

    def my_projects(self, user: AnnofabUser, params: Mapping[str, str]) -> bytes:
        keep = project_filter(params)
        ids = sorted(
            p for p, proj in self.store.projects.items() if user.account_id in proj.members
        )
        chosen = [p for p in ids if keep(self.project_meta(p))]
        return page_of([orjson.dumps(self.project_json(p)) for p in chosen], params)

    def organization_projects(
        self, name: str, user: AnnofabUser, params: Mapping[str, str]
    ) -> bytes:
        if name not in self.organizations:
            raise not_found(f"organization {name}")
        keep = project_filter(params)
        member_of = params.get("account_id")
        except_of = params.get("except_account_id")
        chosen = []
        for project_id in sorted(self.store.projects):
            meta = self.project_meta(project_id)
            members = self.store.projects[project_id].members
            if meta.organization.organization_name != name or not keep(meta):
                continue
            if member_of is not None and member_of not in members:
                continue
            if except_of is not None and except_of in members:
                continue
            chosen.append(project_id)
        return page_of([orjson.dumps(self.project_json(p)) for p in chosen], params)

    def organization_json(self, name: str) -> dict[str, Any]:
        org = self.organizations.get(name)
        if org is None:
            raise not_found(f"organization {name}")
        return org.to_json()

    # ------------------------------------------------------------------ members

    def members(self, project_id: str) -> bytes:
        project = self.store.project(project_id)
        meta = self.project_meta(project_id)
        rows = []
        for account_id, role in project.members.items():
            user = self.store.user_by_account(account_id)
            rows.append((user.user_id, meta.member_json(user, role, self._epoch)))
        return whole_list([orjson.dumps(row) for _, row in sorted(rows, key=lambda r: r[0])])

    def member(self, project_id: str, user_id: str) -> dict[str, Any]:
        project = self.store.project(project_id)
        user = self.store.users.get(user_id)
        if user is None or user.account_id not in project.members:
            raise not_found(f"member {user_id}")
        role = project.members[user.account_id]
        return self.project_meta(project_id).member_json(user, role, self._epoch)

    # ------------------------------------------------------------------ input data

    def _inputs(self, project_id: str) -> dict[str, AfInput]:
        self.store.project(project_id)
        return self.inputs.setdefault(project_id, {})

    def seed_input_data(
        self,
        n: int | None = None,
        *,
        ids: Iterable[str] | None = None,
        project: str | None = None,
        prefix: str = "input",
        metadata: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Add input data: ``n`` numbered ``{prefix}-{number:06d}``, or the given ``ids``;
        returns the ids. 100,000 take about a second."""
        project_id = project or self._default_project()
        table = self._inputs(project_id)
        meta = self.project_meta(project_id)
        if ids is None:
            if n is None:
                raise ValueError("give n or ids")
            first = len(table) + 1
            ids = [f"{prefix}-{number:06d}" for number in range(first, first + n)]
        now = self.store.tick()
        out = []
        org = meta.organization.organization_id
        for input_id in ids:
            if input_id in table:
                raise ValueError(f"input data {input_id!r} exists")
            table[input_id] = AfInput(
                project_id,
                org,
                meta.input_data_set_id,
                input_id,
                f"{input_id}.jpg",
                f"s3://annofab-emulator/{project_id}/{input_id}.jpg",
                now,
                metadata=dict(metadata or {}),
            )
            out.append(input_id)
        return out

    def seed_inputs_for_tasks(self, project: str | None = None) -> list[str]:
        """Register the input data every task of the project refers to (those missing)."""
        project_id = project or self._default_project()
        table = self._inputs(project_id)
        wanted = dict.fromkeys(
            i for t in self.store.project(project_id).tasks.values() for i in t.input_data_id_list
        )
        return self.seed_input_data(ids=[i for i in wanted if i not in table], project=project_id)

    def input_data_list(self, project_id: str, params: Mapping[str, str]) -> bytes:
        tasks = self.store.project(project_id).tasks
        keep = input_filter(params, tasks.get)
        chosen = [i for i in ordered(self._inputs(project_id).values()) if keep(i)]
        return page_of(chosen, params, AfInput.encoded)

    def input_data(self, project_id: str, input_data_id: str) -> AfInput:
        found = self._inputs(project_id).get(input_data_id)
        if found is None:
            raise not_found(f"input data {input_data_id}")
        return found

    def input_data_in_bulk(self, project_id: str, ids: Sequence[str]) -> dict[str, Any]:
        if not 1 <= len(ids) <= 100:
            raise bad(f"input_data_id: give 1 to 100 ids, got {len(ids)}")
        table = self._inputs(project_id)
        unique = list(dict.fromkeys(ids))
        return {
            "success": [table[i].to_json() for i in unique if i in table],
            "failure": [
                {"project_id": project_id, "input_data_id": i} for i in unique if i not in table
            ],
        }

    def put_input_data(
        self, project_id: str, input_data_id: str, body: Mapping[str, Any], role: str
    ) -> tuple[int, dict[str, Any]]:
        """Register or update one input data; a ZIP starts a ``gen-inputs`` job (202)."""
        if role not in _WRITERS:
            raise AnnofabError(403, "FORBIDDEN", "only project owners register input data")
        name, path = body.get("input_data_name"), body.get("input_data_path")
        if not isinstance(name, str) or not isinstance(path, str) or not name or not path:
            raise bad("input_data_name and input_data_path are required")
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise bad("metadata must map names to strings")
        sign = body.get("sign_required", False)
        if not isinstance(sign, bool):
            raise bad("sign_required must be a boolean")
        if name.lower().endswith(".zip") or path.lower().endswith(".zip"):
            job = self.jobs.start(project_id, "gen-inputs")
            return 202, job.to_json()
        table = self._inputs(project_id)
        current = table.get(input_data_id)
        quoted = body.get("last_updated_datetime")
        if current is None:
            if quoted is not None:
                raise AnnofabError(409, "CONFLICT", "there is no input data to update")
            meta = self.project_meta(project_id)
            current = AfInput(
                project_id,
                meta.organization.organization_id,
                meta.input_data_set_id,
                input_data_id,
                name,
                path,
                self.store.tick(),
            )
            table[input_data_id] = current
        elif parse_ms(quoted) != current.updated_ms:
            raise AnnofabError(
                409,
                "CONFLICT",
                "the input data exists or was updated: quote its updated_datetime as "
                "last_updated_datetime",
            )
        current.input_data_name, current.input_data_path = name, path
        current.metadata, current.sign_required = dict(metadata), sign
        current.changed(self.store.tick())
        self.store.bulk.writes[("input_data", input_data_id)] += 1
        return 200, current.to_json()

    def delete_input_data(self, project_id: str, input_data_id: str, role: str) -> AfInput:
        if role not in _WRITERS:
            raise AnnofabError(403, "FORBIDDEN", "only project owners delete input data")
        found = self.input_data(project_id, input_data_id)
        del self._inputs(project_id)[input_data_id]
        return found

    # ------------------------------------------------------------------ annotations

    def _annotation(self, project_id: str, task_id: str, input_data_id: str) -> AfAnnotation:
        task = self.store.task(project_id, task_id)
        if input_data_id not in task.input_data_id_list:
            raise not_found(f"input data {input_data_id} of task {task_id}")
        key = (project_id, task_id, input_data_id)
        found = self.annotations.get(key)
        if found is None:
            found = AfAnnotation(project_id, task_id, input_data_id)
            self.annotations[key] = found
        return found

    def editor_annotation(
        self, project_id: str, task_id: str, input_data_id: str, version: str
    ) -> dict[str, Any]:
        return self._annotation(project_id, task_id, input_data_id).to_json(version)

    def put_annotation(
        self,
        project_id: str,
        task_id: str,
        input_data_id: str,
        body: Mapping[str, Any],
        user: AnnofabUser,
    ) -> dict[str, Any]:
        current = self._annotation(project_id, task_id, input_data_id)
        if self.store.bulk.interfere_annotations > 0:  # someone else saves just before
            self.store.bulk.interfere_annotations -= 1
            current.replace(list(current.details), self.store.tick())
        apply_put(current, body, user.account_id, self.store.tick())
        self.store.bulk.writes[("annotation", task_id, input_data_id)] += 1
        return current.to_json("2")

    def annotation_list(self, project_id: str, params: Mapping[str, str]) -> bytes:
        self.store.project(project_id)
        version = params.get("v", "1")
        if version not in ("1", "2"):
            raise bad("v must be 1 or 2")
        keep = annotation_filter(params.get("query"))
        sort = params.get("sort")
        if sort not in (None, "task_id", "-task_id"):
            raise bad("sort: the emulator sorts annotations by task_id only")
        rows: list[tuple[AfAnnotation, int]] = []
        keys = sorted(k for k in self.annotations if k[0] == project_id)
        if sort == "-task_id":
            keys.reverse()
        for key in keys:
            annotation = self.annotations[key]
            rows.extend(
                (annotation, index)
                for index, detail in enumerate(annotation.details)
                if keep(annotation, detail)
            )
        return page_of(rows, params, lambda row: row[0].singles(version)[row[1]])

    def tasks_with_annotation(self, project_id: str, query: str) -> frozenset[str]:
        """The tasks holding an annotation that matches ``query`` (an ``AnnotationQuery``
        as JSON: the ``annotation`` filter of the task search)."""
        keep = annotation_filter(query)
        return frozenset(
            key[1]
            for key, annotation in self.annotations.items()
            if key[0] == project_id and any(keep(annotation, d) for d in annotation.details)
        )

    def seed_annotations(
        self,
        task_ids: Iterable[str],
        *,
        label: str = "car",
        per_input: int = 1,
        project: str | None = None,
        account: AnnofabUser | None = None,
    ) -> int:
        """Give every input data of these tasks ``per_input`` bounding boxes of label id
        ``label-{label}``; returns how many annotations were made."""
        project_id = project or self._default_project()
        owner = (account or self._default_user()).account_id
        now = self.store.tick()
        made = 0
        for task_id in task_ids:
            task = self.store.task(project_id, task_id)
            for input_id in task.input_data_id_list:
                annotation = self._annotation(project_id, task_id, input_id)
                details = [
                    AfDetail(
                        f"{task_id}-{input_id}-{k}",
                        owner,
                        f"label-{label}",
                        {
                            "_type": "Inner",
                            "data": {
                                "_type": "BoundingBox",
                                "left_top": {"x": k, "y": k},
                                "right_bottom": {"x": k + 10, "y": k + 10},
                            },
                        },
                        [],
                        {},
                        now,
                        now,
                    )
                    for k in range(per_input)
                ]
                annotation.replace(details, now)
                made += per_input
        return made

    # ------------------------------------------------------------------ specs

    def seed_annotation_specs(
        self,
        *,
        labels: Mapping[str, Mapping[str, str]],
        attributes: Mapping[str, str | tuple[str, Sequence[str]]] | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        """Set the specs: labels (English name -> ``{lang: name}`` of other languages;
        ids ``label-{name}``), each with every attribute (name -> type, or ``(type,
        choice names)``; ids ``attr-{name}``, ``choice-{name}-{choice}``)."""
        project_id = project or self._default_project()
        self.specs[project_id] = build_specs(project_id, labels, attributes or {})
        self.specs_updated[project_id] = self.store.tick()
        return self.annotation_specs(project_id)

    def annotation_specs(self, project_id: str) -> dict[str, Any]:
        self.store.project(project_id)
        specs = self.specs.get(project_id)
        if specs is None:
            specs = build_specs(project_id, {}, {})
        answer = dict(specs)
        if project_id in self.specs_updated:
            answer["updated_datetime"] = format_jst(self.specs_updated[project_id])
        return answer

    def put_annotation_specs(
        self, project_id: str, body: Mapping[str, Any], role: str
    ) -> dict[str, Any]:
        if role not in _WRITERS:
            raise AnnofabError(403, "FORBIDDEN", "only project owners change annotation specs")
        self.store.project(project_id)
        quoted = body.get("last_updated_datetime")
        current = self.specs_updated.get(project_id)
        if (current is None) != (quoted is None) or (
            current is not None and parse_ms(quoted) != current
        ):
            raise AnnofabError(
                409,
                "CONFLICT",
                "the annotation specs were updated: quote their updated_datetime as "
                "last_updated_datetime",
            )
        self.specs[project_id] = put_specs(project_id, body)
        self.specs_updated[project_id] = self.store.tick()
        return self.annotation_specs(project_id)

    # ------------------------------------------------------------------ comments

    def _comment_key(self, project_id: str, task_id: str, input_data_id: str) -> Any:
        task = self.store.task(project_id, task_id)
        if input_data_id not in task.input_data_id_list:
            raise not_found(f"input data {input_data_id} of task {task_id}")
        return (project_id, task_id, input_data_id)

    def comments_of(self, project_id: str, task_id: str, input_data_id: str) -> list[Any]:
        key = self._comment_key(project_id, task_id, input_data_id)
        found = self.comments.get(key, {})
        return sorted(found.values(), key=lambda c: (c["datetime_for_sorting"], c["comment_id"]))

    def batch_update_comments(
        self, project_id: str, task_id: str, input_data_id: str, body: Any
    ) -> list[dict[str, Any]]:
        """Apply Put / Delete items all or nothing; the Put comments as stored."""
        key = self._comment_key(project_id, task_id, input_data_id)
        if not isinstance(body, list):
            raise bad("the body must be a list of Put / Delete items")
        table = dict(self.comments.get(key, {}))
        now = self.store.tick()
        out = []
        changes: list[tuple[str, str]] = []
        for item in body:
            if not isinstance(item, dict) or item.get("_type") not in ("Put", "Delete"):
                raise bad("each item must be an object with _type Put or Delete")
            comment_id = item.get("comment_id")
            if not isinstance(comment_id, str) or not comment_id:
                raise bad("comment_id is required")
            if item["_type"] == "Delete":
                if table.pop(comment_id, None) is None:
                    raise not_found(f"comment {comment_id}")
                changes.append(("comment_delete", comment_id))
                continue
            old = table.get(comment_id)
            comment = put_comment(item, key, old, now)
            if old is None or any(old[k] != comment[k] for k in _COMMENT_CONTENT):
                changes.append(("comment", comment_id))
            table[comment_id] = comment
            out.append(comment)
        self.comments[key] = table
        self.store.bulk.writes.update(changes)
        return out

    def add_inspection(
        self, task_id: str, input_data_id: str, comment: str, *, project: str | None = None
    ) -> dict[str, Any]:
        """Seed one (legacy) inspection on a task's input data."""
        project_id = project or self._default_project()
        key = self._comment_key(project_id, task_id, input_data_id)
        inspection = {
            "project_id": project_id,
            "task_id": task_id,
            "input_data_id": input_data_id,
            "inspection_id": self._uuid(),
            "phase": "inspection",
            "phase_stage": 1,
            "commenter_account_id": self._default_user().account_id,
            "data": {"x": 1, "y": 1, "_type": "Point"},
            "status": "annotator_action_required",
            "comment": comment,
            "created_datetime": format_jst(self.store.tick()),
        }
        self.inspections.setdefault(key, []).append(inspection)
        return inspection

    def inspections_of(self, project_id: str, task_id: str, input_data_id: str) -> list[Any]:
        return list(self.inspections.get(self._comment_key(project_id, task_id, input_data_id), []))

    # ------------------------------------------------------------------ jobs, exports

    def fail_jobs(self, count: int = 1, message: str = "the job failed (emulated)") -> None:
        """The next ``count`` jobs started fail with this error."""
        self.jobs.failures_left = count
        self.jobs.failure_errors = [{"error_code": "INTERNAL_SERVER_ERROR", "message": message}]

    def seed_jobs(
        self,
        n: int,
        job_type: str = "gen-tasks-list",
        *,
        same_instant: bool = False,
        project: str | None = None,
    ) -> list[str]:
        """Add ``n`` finished jobs (newest last in the returned ids); with
        ``same_instant`` they share one ``created_datetime``, as jobs started together
        on the service can (the cursor excludes that instant once it is a page's end)."""
        project_id = project or self._default_project()
        self.store.project(project_id)
        at = self.store.tick() if same_instant else None
        return [
            self.jobs.add_finished(project_id, job_type, created_ms=at).job_id for _ in range(n)
        ]

    def job_list(self, project_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        self.store.project(project_id)
        limit = int_param(params, "limit", 30, 0, 200)
        return self.jobs.page(project_id, params, limit)

    def _export_content(self, project_id: str, kind: str) -> bytes:
        if kind == "annotations":
            tasks = self.store.project(project_id).tasks
            chosen = (a for k, a in sorted(self.annotations.items()) if k[0] == project_id)
            return simple_archive(chosen, tasks.get)
        if kind == "tasks":
            project: AfProject = self.store.project(project_id)
            rows = [t.encoded() for t in project.sorted_tasks()]
        else:
            rows = [i.encoded() for i in sorted(self._inputs(project_id).values(), key=_by_id)]
        return b"[" + b",".join(rows) + b"]"

    def export_token(self, project_id: str, kind: str) -> str:
        """The signed token of a project's ``tasks``, ``inputs`` or ``annotations``
        file (the annotation ZIP)."""
        self.store.project(project_id)
        busy_answers_409 = self.export_busy_conflict or kind == "annotations"  # as specified
        if busy_answers_409 and self.jobs.running(project_id, EXPORT_JOBS[kind]):
            raise AnnofabError(409, "CONFLICT", f"the {kind} export is being rebuilt")
        self.jobs.settle(project_id)
        return self.exports.token(project_id, kind, lambda: self._export_content(project_id, kind))

    def start_export(self, project_id: str, kind: str, role: str) -> AfJob:
        """A job rebuilding the file from the state at the moment the job finishes."""
        if role not in _EXPORTERS:
            raise AnnofabError(403, "FORBIDDEN", "only owners and accepters rebuild exports")
        self.store.project(project_id)

        def rebuild() -> None:
            self.exports.put(project_id, kind, self._export_content(project_id, kind))

        return self.jobs.start(project_id, EXPORT_JOBS[kind], on_success=rebuild)

    def finish_jobs(self, project: str | None = None) -> None:
        """Finish every running job now (instead of after ``jobs.duration``)."""
        self.jobs.settle(project or self._default_project(), force=True)

    # ------------------------------------------------------------------ defaults

    default_project: str | None = None
    default_user: AnnofabUser | None = None

    def _default_project(self) -> str:
        if self.default_project is None:
            raise ValueError("give project=")
        return self.default_project

    def _default_user(self) -> AnnofabUser:
        if self.default_user is None:
            raise ValueError("give account=")
        return self.default_user


def _by_id(item: AfInput) -> str:
    return item.input_data_id


__all__ = ["AnnofabData"]
