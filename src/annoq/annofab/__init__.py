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
from ._models import (
    Account,
    OperateAction,
    OverLimitError,
    OverLimitWarning,
    PhaseHistory,
    Task,
    TaskHistory,
    TaskPage,
    TaskPhase,
    TaskQuery,
    TaskStateError,
    TaskStatus,
)
from ._project import Project, TaskWalk
from ._session import AnnofabSession

__all__ = [
    "Account",
    "AnnofabSession",
    "LoginAuth",
    "OperateAction",
    "OverLimitError",
    "OverLimitWarning",
    "PatAuth",
    "PhaseHistory",
    "Project",
    "Task",
    "TaskHistory",
    "TaskPage",
    "TaskPhase",
    "TaskQuery",
    "TaskStateError",
    "TaskStatus",
    "TaskWalk",
]

# Show public names as ``annoq.annofab.X`` in reprs, tracebacks and docs (type hints
# still resolve).
_relabel(globals(), __all__, module=__name__)
del _relabel
