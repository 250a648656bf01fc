"""Projects, organizations and members of the emulated Annofab as the API shows them:
the ``Project``, ``Organization`` and ``ProjectMember`` answers, and the project list
filters (``getMyProjects``, ``getProjectsOfOrganization``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from ._paging import bad
from ._records import AfProject, AnnofabError, AnnofabUser, format_jst

DEFAULT_ORGANIZATION: Final = "annofab-organization"
PROJECT_STATUSES: Final = ("active", "suspended", "initializing")
INPUT_DATA_TYPES: Final = ("image", "movie", "custom")


@attrs.define
class AfOrganization:
    """An organization: its projects refer to it by id."""

    organization_id: str
    organization_name: str
    created_ms: int
    price_plan: str = "business"

    def to_json(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "organization_name": self.organization_name,
            "email": f"{self.organization_name}@example.com",
            "price_plan": self.price_plan,
            "summary": {},
            "created_datetime": format_jst(self.created_ms),
            "updated_datetime": format_jst(self.created_ms),
        }


@attrs.define
class ProjectMeta:
    """What a project has besides tasks: title, organization, status, timestamps."""

    project_id: str
    organization: AfOrganization
    title: str
    created_ms: int
    updated_ms: int
    input_data_set_id: str
    overview: str = ""
    status: str = "active"
    input_data_type: str = "image"
    member_since_ms: dict[str, int] = attrs.Factory(dict)

    def to_json(self, project: AfProject, last_task_ms: int | None) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        if last_task_ms is not None:
            summary["last_tasks_updated_datetime"] = format_jst(last_task_ms)
        return {
            "project_id": self.project_id,
            "organization_id": self.organization.organization_id,
            "title": self.title,
            "overview": self.overview,
            "project_status": self.status,
            "input_data_type": self.input_data_type,
            "configuration": {
                "number_of_inspections": project.inspection_stages,
                "assignee_rule_of_resubmitted_task": "no_assignee",
                "task_assignment_type": "random_and_selection",
                "max_tasks_per_member": 10,
                "max_tasks_per_member_including_hold": 20,
                "input_data_set_id_list": [self.input_data_set_id],
                "use_beginner_navigation": False,
            },
            "created_datetime": format_jst(self.created_ms),
            "updated_datetime": format_jst(self.updated_ms),
            "summary": summary,
        }

    def member_json(self, user: AnnofabUser, role: str, default_ms: int) -> dict[str, Any]:
        since = format_jst(self.member_since_ms.get(user.account_id, default_ms))
        return {
            "project_id": self.project_id,
            "account_id": user.account_id,
            "user_id": user.user_id,
            "username": user.username,
            "member_status": "active",
            "member_role": "owner" if role == "owner" else role,
            "created_datetime": since,
            "updated_datetime": since,
        }


def project_filter(params: Mapping[str, str]) -> Any:
    """The predicate of a project list's filters (``title`` part, ``status``,
    ``input_data_type``, ``organization_id``); 400 on a bad value."""
    title = params.get("title")
    status = params.get("status")
    kind = params.get("input_data_type")
    organization = params.get("organization_id")
    if status is not None and status not in PROJECT_STATUSES:
        raise bad(f"status: {status!r} is not one of {', '.join(PROJECT_STATUSES)}")
    if kind is not None and kind not in INPUT_DATA_TYPES:
        raise bad(f"input_data_type: {kind!r} is not one of {', '.join(INPUT_DATA_TYPES)}")

    def keep(meta: ProjectMeta) -> bool:
        return (
            (title is None or title.lower() in meta.title.lower())
            and (status is None or meta.status == status)
            and (kind is None or meta.input_data_type == kind)
            and (organization is None or meta.organization.organization_id == organization)
        )

    return keep


def not_found(what: str) -> AnnofabError:
    """A 404 ``NOT_FOUND`` answer naming what is missing."""
    return AnnofabError(404, "NOT_FOUND", f"{what} was not found")


__all__ = [
    "DEFAULT_ORGANIZATION",
    "AfOrganization",
    "ProjectMeta",
    "not_found",
    "project_filter",
]
