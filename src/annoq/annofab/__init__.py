"""The Annofab backend: walk a project's tasks and operate on many tasks at once.

    from annoq.annofab import AnnofabSession

    async with AnnofabSession() as af:               # ANNOFAB_PAT, user/password or netrc
        project = af.project("prj-1")
        async for task in project.tasks(phase="annotation", status="not_started"):
            print(task.task_id, task.account_id)
        result = await project.bulk_operate(["t-1", "t-2"], "complete")

Walks and bulk operations run on annoq's shared engines (prefetching walker, bounded
bulk runner, retrying transport); only the Annofab adapter lives here.
"""

from .._public import relabel as _relabel
from ._auth import LoginAuth, PatAuth
from ._bulk_models import AnnotationImport, CommentImport, InputDataImport, UploadError
from ._handle import Project, TaskWalk
from ._jobs import JobWalk
from ._models import (
    Account,
    Aggregation,
    AggregationCount,
    OnMoved,
    OperateAction,
    OperatePlan,
    OverLimitError,
    OverLimitWarning,
    PhaseHistory,
    Task,
    TaskHistory,
    TaskPage,
    TaskPhase,
    TaskQuery,
    TaskRef,
    TaskStateError,
    TaskStatus,
)
from ._models_data import (
    AdditionalDataV1,
    AdditionalDataV2,
    AnnotationDetailV1,
    AnnotationDetailV2,
    Comment,
    CommentType,
    EditorAnnotation,
    EditorAnnotationDetail,
    InputData,
    Inspection,
    InspectionStatus,
    Job,
    JobError,
    JobPage,
    JobStatus,
    JobType,
    MemberRole,
    MemberStatus,
    Organization,
    Page,
    ProjectConfiguration,
    ProjectInfo,
    ProjectMember,
    ProjectStatus,
    SingleAnnotation,
)
from ._models_specs import (
    AnnotationSpecs,
    AttributeSpec,
    AttributeType,
    Choice,
    Color,
    InspectionPhrase,
    Label,
    LangMessage,
    Message,
)
from ._protocol_data import CommentPut, NewAnnotation
from ._session import AnnofabSession
from ._walks import ListWalk, WholeList

__all__ = [
    "Account",
    "AdditionalDataV1",
    "AdditionalDataV2",
    "Aggregation",
    "AggregationCount",
    "AnnofabSession",
    "AnnotationDetailV1",
    "AnnotationDetailV2",
    "AnnotationImport",
    "AnnotationSpecs",
    "AttributeSpec",
    "AttributeType",
    "Choice",
    "Color",
    "Comment",
    "CommentImport",
    "CommentPut",
    "CommentType",
    "EditorAnnotation",
    "EditorAnnotationDetail",
    "InputData",
    "InputDataImport",
    "Inspection",
    "InspectionPhrase",
    "InspectionStatus",
    "Job",
    "JobError",
    "JobPage",
    "JobStatus",
    "JobType",
    "JobWalk",
    "Label",
    "LangMessage",
    "ListWalk",
    "LoginAuth",
    "MemberRole",
    "MemberStatus",
    "Message",
    "NewAnnotation",
    "OnMoved",
    "OperateAction",
    "OperatePlan",
    "Organization",
    "OverLimitError",
    "OverLimitWarning",
    "Page",
    "PatAuth",
    "PhaseHistory",
    "Project",
    "ProjectConfiguration",
    "ProjectInfo",
    "ProjectMember",
    "ProjectStatus",
    "SingleAnnotation",
    "Task",
    "TaskHistory",
    "TaskPage",
    "TaskPhase",
    "TaskQuery",
    "TaskRef",
    "TaskStateError",
    "TaskStatus",
    "TaskWalk",
    "UploadError",
    "WholeList",
]

# Show public names as ``annoq.annofab.X`` in reprs, tracebacks and docs (type hints
# still resolve).
_relabel(globals(), __all__, module=__name__)
del _relabel
