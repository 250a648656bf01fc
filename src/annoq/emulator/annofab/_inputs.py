"""Input data of the emulated Annofab: records, the ``getInputDataList`` filters and
order, and the ``InputData`` answer (cached encoded, as tasks are)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import orjson

from ._paging import bad
from ._records import AfTask, format_jst, parse_ms


@attrs.define(eq=False)
class AfInput:
    """One input data (a file registered in a project)."""

    project_id: str
    organization_id: str
    input_data_set_id: str
    input_data_id: str
    input_data_name: str
    input_data_path: str
    updated_ms: int
    sign_required: bool = False
    metadata: dict[str, str] = attrs.Factory(dict)
    _json: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "input_data_id": self.input_data_id,
            "project_id": self.project_id,
            "organization_id": self.organization_id,
            "input_data_set_id": self.input_data_set_id,
            "input_data_name": self.input_data_name,
            "input_data_path": self.input_data_path,
            "updated_datetime": format_jst(self.updated_ms),
            "sign_required": self.sign_required,
            "metadata": dict(self.metadata),
            "system_metadata": {"_type": "Image"},
        }

    def encoded(self) -> bytes:
        if self._json is None:
            self._json = orjson.dumps(self.to_json())
        return self._json

    def changed(self, at_ms: int) -> None:
        self.updated_ms = at_ms
        self._json = None


def _part(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not 1 <= len(value) <= 300:
        raise bad(f"{name} must be 1 to 300 characters long")
    return value.lower()


def _contains(name: str, part: str) -> Callable[[AfInput], bool]:
    return lambda i: part in str(getattr(i, name)).lower()


def _bounded(bound: int, *, after: bool) -> Callable[[AfInput], bool]:
    if after:
        return lambda i: i.updated_ms >= bound
    return lambda i: i.updated_ms <= bound


def input_filter(
    params: Mapping[str, str], task_of: Callable[[str], AfTask | None]
) -> Callable[[AfInput], bool]:
    """The predicate of ``getInputDataList``'s filters: ``input_data_id``,
    ``input_data_name`` and ``input_data_path`` match part of the value (any case),
    ``task_id`` keeps the task's input data, ``from``/``to`` bound ``updated_datetime``."""
    checks: list[Callable[[AfInput], bool]] = []
    for name in ("input_data_id", "input_data_name", "input_data_path"):
        part = _part(params, name)
        if part is not None:
            checks.append(_contains(name, part))
    if "task_id" in params:
        task = task_of(params["task_id"])
        wanted = set() if task is None else set(task.input_data_id_list)
        checks.append(lambda i: i.input_data_id in wanted)
    for name, keep_after in (("from", True), ("to", False)):
        if name in params:
            bound = parse_ms(params[name])
            if bound is None:
                raise bad(f"{name} must be a date-time, got {params[name]!r}")
            checks.append(_bounded(bound, after=keep_after))
    return lambda i: all(check(i) for check in checks)


def ordered(inputs: Iterable[AfInput]) -> list[AfInput]:
    """The list's order: latest update first (then by id), so it moves while input
    data changes, as the service's does (it cannot be sorted)."""
    return sorted(inputs, key=lambda i: (-i.updated_ms, i.input_data_id))


__all__ = ["AfInput", "input_filter", "ordered"]
