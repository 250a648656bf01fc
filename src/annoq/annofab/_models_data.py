"""Typed Annofab records beyond tasks: input data, annotations (single and editor),
comments, inspections, jobs, projects, members, organizations, and list pages with
their aggregations.

Field names follow the Web API's schemas; unknown fields are ignored, unknown enum
values decode to a pseudo-member (``is_known`` is ``False``), wrong types raise
:class:`~annoq.ResponseDecodeError` with the field's path. Parts whose shape depends on
a ``_type`` (annotation data, attribute values, job details) stay JSON dicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from ._models import Aggregation, AggregationCount, TaskPhase, _TolerantEnum

__all__ = [
    "AdditionalDataV1",
    "AdditionalDataV2",
    "Aggregation",
    "AggregationCount",
    "AnnotationDetailV1",
    "AnnotationDetailV2",
    "Comment",
    "CommentType",
    "EditorAnnotation",
    "EditorAnnotationDetail",
    "InputData",
    "Inspection",
    "InspectionStatus",
    "Job",
    "JobError",
    "JobPage",
    "JobStatus",
    "JobType",
    "MemberRole",
    "MemberStatus",
    "Organization",
    "Page",
    "ProjectConfiguration",
    "ProjectInfo",
    "ProjectMember",
    "ProjectStatus",
    "SingleAnnotation",
]

T = TypeVar("T")


class CommentType(_TolerantEnum):
    """``onhold`` (a question while working) or ``inspection`` (a reviewer's finding)."""

    ONHOLD = "onhold"
    INSPECTION = "inspection"


class InspectionStatus(_TolerantEnum):
    """The state of a (legacy) inspection comment."""

    ANNOTATOR_ACTION_REQUIRED = "annotator_action_required"
    NO_CORRECTION_REQUIRED = "no_correction_required"
    ERROR_CORRECTED = "error_corrected"


class JobStatus(_TolerantEnum):
    """``progress``, then ``succeeded`` or ``failed``."""

    PROGRESS = "progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobType(_TolerantEnum):
    """What a project job does (``gen-tasks-list`` rebuilds the tasks export, ...)."""

    COPY_PROJECT = "copy-project"
    GEN_INPUTS = "gen-inputs"
    GEN_TASKS = "gen-tasks"
    GEN_ANNOTATION = "gen-annotation"
    GEN_TASKS_LIST = "gen-tasks-list"
    GEN_INPUTS_LIST = "gen-inputs-list"
    DELETE_PROJECT = "delete-project"
    INVOKE_HOOK = "invoke-hook"
    MOVE_PROJECT = "move-project"


class MemberRole(_TolerantEnum):
    """A project member's role."""

    OWNER = "owner"
    WORKER = "worker"
    ACCEPTER = "accepter"
    TRAINING_DATA_USER = "training_data_user"


class MemberStatus(_TolerantEnum):
    """Whether a project member is active."""

    ACTIVE = "active"
    INACTIVE = "inactive"


class ProjectStatus(_TolerantEnum):
    """A project's status."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    INITIALIZING = "initializing"


# -- lists ---------------------------------------------------------------------------


@attrs.frozen
class Page(Generic[T]):
    """One page of a paged list, as the server counted it (``over_limit``: more than
    the 10,000 Annofab pages through).

        page = await project.input_data_page(page=1)
        print(len(page), page.total_count, page.over_limit)
    """

    items: tuple[T, ...]
    page_no: int
    total_page_no: int
    total_count: int
    over_limit: bool
    aggregations: tuple[Aggregation, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)


# -- input data ----------------------------------------------------------------------


@attrs.frozen
class InputData:
    """One input data (a file registered in the project).

    item = await project.input_data_item("input-1")
    print(item.input_data_name, item.metadata)
    """

    input_data_id: str
    project_id: str
    input_data_name: str
    input_data_path: str
    updated_datetime: datetime
    organization_id: str | None = None
    input_data_set_id: str | None = None
    sign_required: bool = False
    url: str | None = None
    etag: str | None = None
    original_input_data_path: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, hash=False)
    system_metadata: dict[str, Any] = attrs.field(factory=dict, hash=False)


# -- annotations ---------------------------------------------------------------------


@attrs.frozen
class AdditionalDataV1:
    """An attribute value, v1 form: one of ``flag``, ``integer``, ``comment``, ``choice``."""

    additional_data_definition_id: str
    flag: bool | None = None
    integer: int | None = None
    comment: str | None = None
    choice: str | None = None


@attrs.frozen
class AdditionalDataV2:
    """An attribute value, v2 form: ``value`` is ``{"_type": "Flag", "value": True}``,
    ``{"_type": "Choice", "choice_id": ...}``, ... (``None``: no value)."""

    definition_id: str
    value: dict[str, Any] | None = attrs.field(default=None, hash=False)


@attrs.frozen
class AnnotationDetailV1:
    """The annotation of a v1 annotation list entry; ``data`` is the shape (inner)."""

    annotation_id: str
    account_id: str
    label_id: str
    data_holding_type: str
    created_datetime: datetime
    updated_datetime: datetime
    additional_data_list: tuple[AdditionalDataV1, ...] = ()
    data: dict[str, Any] | None = attrs.field(default=None, hash=False)
    etag: str | None = None
    url: str | None = None


@attrs.frozen
class AnnotationDetailV2:
    """The annotation of a v2 annotation list entry; ``body`` is ``{"_type": "Inner",
    "data": ...}`` or an outer file's ``{"_type": "Outer", "url", "etag"}``."""

    annotation_id: str
    account_id: str
    label_id: str
    created_datetime: datetime
    updated_datetime: datetime
    body: dict[str, Any] = attrs.field(factory=dict, hash=False)
    additional_data_list: tuple[AdditionalDataV2, ...] = ()


@attrs.frozen
class SingleAnnotation:
    """One annotation of the annotation list (``GET .../annotations``); ``detail`` is
    :class:`AnnotationDetailV2` (``v=2``, annoq's default) or :class:`AnnotationDetailV1`.

        page = await project.annotation_page(query={"label_id": car.label_id})
        for a in page:
            print(a.task_id, a.input_data_id, a.detail.label_id)
    """

    project_id: str
    task_id: str
    input_data_id: str
    detail: AnnotationDetailV2 | AnnotationDetailV1
    updated_datetime: datetime


@attrs.frozen
class EditorAnnotationDetail:
    """One annotation of an editor annotation (``AnnotationDetailV2Get``)."""

    annotation_id: str
    account_id: str
    label_id: str
    created_datetime: datetime
    updated_datetime: datetime
    body: dict[str, Any] = attrs.field(factory=dict, hash=False)
    additional_data_list: tuple[AdditionalDataV2, ...] = ()
    editor_props: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen
class EditorAnnotation:
    """The annotations of one input data in one task (format 2.0.0).

    ``updated_datetime`` is the lock a later PUT quotes (``None``: nothing saved yet).

        current = await project.editor_annotation("task-1", "input-1")
        await project.put_editor_annotation("task-1", "input-1", current.details,
                                            updated_datetime=current.updated_datetime)
    """

    project_id: str
    task_id: str
    input_data_id: str
    details: tuple[EditorAnnotationDetail, ...] = ()
    updated_datetime: datetime | None = None
    format_version: str = "2.0.0"


# -- comments, inspections -----------------------------------------------------------


@attrs.frozen
class Comment:
    """A comment on one input data of a task (inspection finding or on-hold question).

    ``comment_node`` is ``{"_type": "Root", "status": ...}`` or ``{"_type": "Reply",
    "root_comment_id": ...}``.
    """

    project_id: str
    task_id: str
    input_data_id: str
    comment_id: str
    phase: TaskPhase
    phase_stage: int
    account_id: str
    comment_type: CommentType
    comment: str
    comment_node: dict[str, Any] = attrs.field(hash=False)
    datetime_for_sorting: datetime
    created_datetime: datetime
    updated_datetime: datetime
    phrases: tuple[str, ...] = ()

    @property
    def is_reply(self) -> bool:
        """Whether this comment answers another (``root_comment_id``)."""
        return self.comment_node.get("_type") == "Reply"

    @property
    def status(self) -> str | None:
        """A root comment's ``open`` / ``resolved`` / ``closed`` (``None`` for replies)."""
        value = self.comment_node.get("status")
        return value if isinstance(value, str) else None


@attrs.frozen
class Inspection:
    """A (legacy) inspection comment of one input data."""

    project_id: str
    task_id: str
    input_data_id: str
    inspection_id: str
    phase: TaskPhase
    phase_stage: int
    commenter_account_id: str
    status: InspectionStatus
    comment: str
    created_datetime: datetime
    data: dict[str, Any] = attrs.field(factory=dict, hash=False)
    annotation_id: str | None = None
    label_id: str | None = None
    parent_inspection_id: str | None = None
    phrases: tuple[str, ...] = ()
    updated_datetime: datetime | None = None


# -- jobs ----------------------------------------------------------------------------


@attrs.frozen
class JobError:
    """One error of a failed job."""

    error_code: str | None = None
    message: str | None = None
    ext: dict[str, Any] | None = attrs.field(default=None, hash=False)


@attrs.frozen
class Job:
    """A project job (an export rebuild, a ZIP registration, a copy, ...).

    page = await project.job_list("gen-tasks-list")
    latest = page.jobs[0] if page.jobs else None
    """

    project_id: str
    job_type: JobType
    job_id: str
    job_status: JobStatus
    created_datetime: datetime
    updated_datetime: datetime
    errors: tuple[JobError, ...] = ()
    job_execution: dict[str, Any] | None = attrs.field(default=None, hash=False)
    job_detail: dict[str, Any] | None = attrs.field(default=None, hash=False)

    @property
    def finished(self) -> bool:
        """Whether the job is over (succeeded or failed)."""
        return self.job_status is not JobStatus.PROGRESS


@attrs.frozen
class JobPage:
    """One page of the job list, newest first; ``has_next``: older jobs remain (ask
    again with ``before=jobs[-1].created_datetime``)."""

    jobs: tuple[Job, ...]
    has_next: bool

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)


# -- projects, members, organizations ------------------------------------------------


@attrs.frozen
class ProjectConfiguration:
    """The main settings of a project (``configuration``); others are ignored."""

    number_of_inspections: int = 0
    assignee_rule_of_resubmitted_task: str | None = None
    task_assignment_type: str | None = None
    max_tasks_per_member: int | None = None
    max_tasks_per_member_including_hold: int | None = None
    input_data_set_id_list: tuple[str, ...] = ()
    input_data_max_long_side_length: int | None = None
    sampling_inspection_rate: int | None = None
    sampling_acceptance_rate: int | None = None
    use_beginner_navigation: bool = False
    plugin_id: str | None = None
    editor_version: str | None = None


@attrs.frozen
class ProjectInfo:
    """A project as ``GET /projects/{project_id}`` describes it.

    info = await project.info()
    print(info.title, info.project_status, info.configuration.number_of_inspections)
    """

    project_id: str
    organization_id: str
    title: str
    project_status: ProjectStatus
    input_data_type: str
    created_datetime: datetime
    updated_datetime: datetime
    configuration: ProjectConfiguration = ProjectConfiguration()
    overview: str | None = None
    summary: dict[str, Any] = attrs.field(factory=dict, hash=False)


@attrs.frozen
class ProjectMember:
    """A member of a project, with role and status.

    owners = [m.user_id for m in await project.members() if m.member_role == "owner"]
    """

    project_id: str
    account_id: str
    user_id: str
    username: str
    member_status: MemberStatus
    member_role: MemberRole
    created_datetime: datetime
    updated_datetime: datetime
    biography: str | None = None
    sampling_inspection_rate: int | None = None
    sampling_acceptance_rate: int | None = None


@attrs.frozen
class Organization:
    """An organization (``GET /organizations/{organization_name}``)."""

    organization_id: str
    organization_name: str
    email: str
    price_plan: str
    created_datetime: datetime
    updated_datetime: datetime
    summary: dict[str, Any] = attrs.field(factory=dict, hash=False)


for _cls in (
    Page,
    InputData,
    AdditionalDataV1,
    AdditionalDataV2,
    AnnotationDetailV1,
    AnnotationDetailV2,
    SingleAnnotation,
    EditorAnnotationDetail,
    EditorAnnotation,
    Comment,
    Inspection,
    JobError,
    Job,
    JobPage,
    ProjectConfiguration,
    ProjectInfo,
    ProjectMember,
    Organization,
):
    attrs.resolve_types(_cls)
del _cls
