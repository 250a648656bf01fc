"""Annotations, annotation specs and comments of the emulated Annofab.

An input data's annotation in a task (the "editor annotation") is a list of details kept
in the v2 form (``body``, ``additional_data_list`` of ``{definition_id, value}``); the v1
forms (``data``, ``additional_data_list`` of ``{additional_data_definition_id, flag,
integer, comment, choice}``) are derived from it. ``updated_datetime`` is the lock of a
``PUT``: quote the current one (or none while there is no annotation yet), else 409.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final

import attrs
import orjson

from ._paging import bad
from ._records import AnnofabError, format_jst, parse_ms

FORMAT_V2: Final = "2.0.0"
SPECS_FORMAT: Final = "3.0.0"
_V1_KEY: Final = {
    "Flag": "flag",
    "Integer": "integer",
    "Comment": "comment",
    "Text": "comment",
    "Tracking": "comment",
    "Choice": "choice",
    "Select": "choice",
}


@attrs.define
class AfDetail:
    """One annotation (a detail of an editor annotation), v2 form."""

    annotation_id: str
    account_id: str
    label_id: str
    body: dict[str, Any]
    additional_data_list: list[dict[str, Any]]
    editor_props: dict[str, Any]
    created_ms: int
    updated_ms: int

    def v2(self) -> dict[str, Any]:
        """``AnnotationDetailV2Get``."""
        return {
            "_type": "Get",
            "annotation_id": self.annotation_id,
            "account_id": self.account_id,
            "label_id": self.label_id,
            "body": self.body,
            "additional_data_list": self.additional_data_list,
            "editor_props": self.editor_props,
            "created_datetime": format_jst(self.created_ms),
            "updated_datetime": format_jst(self.updated_ms),
        }

    def v1_additionals(self) -> list[dict[str, Any]]:
        out = []
        for entry in self.additional_data_list:
            item: dict[str, Any] = {"additional_data_definition_id": entry["definition_id"]}
            value = entry.get("value")
            if isinstance(value, dict) and value.get("_type") in _V1_KEY:
                key = _V1_KEY[value["_type"]]
                item[key] = value.get("choice_id" if key == "choice" else "value")
            out.append(item)
        return out

    def v1(self) -> dict[str, Any]:
        """``AnnotationDetailV1`` (editor annotation, v1)."""
        data: dict[str, Any] = {
            "annotation_id": self.annotation_id,
            "account_id": self.account_id,
            "label_id": self.label_id,
            "is_protected": False,
            "data_holding_type": "inner" if self.body.get("_type") == "Inner" else "outer",
            "additional_data_list": self.v1_additionals(),
            "created_datetime": format_jst(self.created_ms),
            "updated_datetime": format_jst(self.updated_ms),
        }
        if self.body.get("_type") == "Inner":
            data["data"] = self.body["data"]
        return data

    def single_detail(self, version: str) -> dict[str, Any]:
        """The ``detail`` of a ``SingleAnnotationV1`` / ``V2`` (annotation list)."""
        common = {
            "annotation_id": self.annotation_id,
            "account_id": self.account_id,
            "label_id": self.label_id,
            "created_datetime": format_jst(self.created_ms),
            "updated_datetime": format_jst(self.updated_ms),
        }
        if version == "2":
            return {**common, "body": self.body, "additional_data_list": self.additional_data_list}
        data: dict[str, Any] = {
            **common,
            "data_holding_type": "inner" if self.body.get("_type") == "Inner" else "outer",
            "additional_data_list": self.v1_additionals(),
        }
        if self.body.get("_type") == "Inner":
            data["data"] = self.body["data"]
        return data


@attrs.define
class AfAnnotation:
    """The editor annotation of one input data in one task."""

    project_id: str
    task_id: str
    input_data_id: str
    details: list[AfDetail] = attrs.Factory(list)
    updated_ms: int | None = None
    _singles: dict[str, list[bytes]] = attrs.Factory(dict)

    def to_json(self, version: str) -> dict[str, Any]:
        """``AnnotationV2Output`` (``version="2"``) or ``AnnotationV1``."""
        data: dict[str, Any] = {
            "project_id": self.project_id,
            "task_id": self.task_id,
            "input_data_id": self.input_data_id,
        }
        if version == "2":
            data["details"] = [d.v2() for d in self.details]
            data["format_version"] = FORMAT_V2
        else:
            data["details"] = [d.v1() for d in self.details]
        if self.updated_ms is not None:
            data["updated_datetime"] = format_jst(self.updated_ms)
        return data

    def singles(self, version: str) -> list[bytes]:
        """Each detail as an encoded ``SingleAnnotation`` (cached until changed)."""
        cached = self._singles.get(version)
        if cached is None:
            head = {
                "project_id": self.project_id,
                "task_id": self.task_id,
                "input_data_id": self.input_data_id,
                "updated_datetime": format_jst(self.updated_ms or 0),
            }
            cached = [
                orjson.dumps({**head, "detail": d.single_detail(version)}) for d in self.details
            ]
            self._singles[version] = cached
        return cached

    def replace(self, details: list[AfDetail], at_ms: int) -> None:
        self.details = details
        self.updated_ms = at_ms
        self._singles = {}


def _require(item: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = item.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise bad(f"{where}.{name} is required ({getattr(kind, '__name__', 'value')})")
    return value


def apply_put(current: AfAnnotation, body: Mapping[str, Any], account_id: str, now: int) -> None:
    """Apply an ``AnnotationV2Input`` to ``current`` under its lock (409 if stale)."""
    if body.get("format_version") != FORMAT_V2:
        raise bad("the emulator takes annotation bodies of format_version 2.0.0 (v=2)")
    for name in ("project_id", "task_id", "input_data_id"):
        if body.get(name) != getattr(current, name):
            raise bad(f"{name} of the body does not match the path")
    quoted = body.get("updated_datetime")
    if current.updated_ms is None:
        if quoted is not None:
            raise AnnofabError(409, "CONFLICT", "there is no annotation to update yet")
    elif parse_ms(quoted) != current.updated_ms:
        raise AnnofabError(
            409,
            "CONFLICT",
            "the annotation was updated by someone else: read it again and quote its "
            "updated_datetime",
        )
    details = body.get("details")
    if not isinstance(details, list):
        raise bad("details must be a list")
    before = {d.annotation_id: d for d in current.details}
    out: list[AfDetail] = []
    for index, item in enumerate(details):
        where = f"details[{index}]"
        if not isinstance(item, dict):
            raise bad(f"{where} must be an object")
        kind = item.get("_type")
        annotation_id = _require(item, "annotation_id", str, where)
        label_id = _require(item, "label_id", str, where)
        additionals = _require(item, "additional_data_list", list, where)
        props = item.get("editor_props", {})
        old = before.get(annotation_id)
        if kind == "Create" or kind == "Update":
            body_in = item.get("body")
            if body_in is None and kind == "Update" and old is not None:
                content = old.body
            else:
                content = _content(body_in, where)
            created = old.created_ms if old is not None else now
            owner = old.account_id if old is not None else account_id
            out.append(
                AfDetail(annotation_id, owner, label_id, content, additionals, props, created, now)
            )
        elif kind == "Import":
            made = parse_ms(item.get("created_datetime"))
            updated = parse_ms(item.get("updated_datetime"))
            if made is None or updated is None:
                raise bad(f"{where}: Import needs created_datetime and updated_datetime")
            created = made
            owner = _require(item, "account_id", str, where)
            content = _content(item.get("body"), where)
            out.append(
                AfDetail(
                    annotation_id, owner, label_id, content, additionals, props, created, updated
                )
            )
        else:
            raise bad(f"{where}._type must be Create, Update or Import, got {kind!r}")
    if len({d.annotation_id for d in out}) != len(out):
        raise bad("details: annotation_id values must be unique")
    current.replace(out, now)


def _content(body: Any, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad(f"{where}.body is required")
    if body.get("_type") == "Inner" and isinstance(body.get("data"), dict | str):
        return {"_type": "Inner", "data": body["data"]}
    if body.get("_type") == "Outer" and isinstance(body.get("path"), str):
        return {"_type": "OuterUnresolved"}
    raise bad(f"{where}.body must be Inner (data) or Outer (path)")


# --------------------------------------------------------------------------- the list


_Check = Callable[[AfAnnotation, AfDetail], bool]


def _id_check(name: str, value: str, *, exact: bool) -> _Check:
    if exact:
        return lambda a, d: getattr(a, name) == value
    lowered = value.lower()
    return lambda a, d: lowered in str(getattr(a, name)).lower()


def _day_check(day: str, *, after: bool) -> _Check:
    if after:
        return lambda a, d: format_jst(d.updated_ms)[:10] >= day
    return lambda a, d: format_jst(d.updated_ms)[:10] <= day


def annotation_filter(raw: str | None) -> Callable[[AfAnnotation, AfDetail], bool]:
    """The predicate of ``/annotations?query=`` (an ``AnnotationQuery`` as JSON)."""
    if raw is None:
        return lambda a, d: True
    try:
        query = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad("query must be an AnnotationQuery as JSON") from None
    if not isinstance(query, dict):
        raise bad("query must be a JSON object")
    checks: list[Callable[[AfAnnotation, AfDetail], bool]] = []
    for name in ("task_id", "input_data_id"):
        value = query.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise bad(f"query.{name} must be a string")
        checks.append(_id_check(name, value, exact=bool(query.get(f"exact_match_{name}", True))))
    label = query.get("label_id")
    if label is not None:
        checks.append(lambda a, d: d.label_id == label)
    attributes = query.get("attributes")
    if attributes is not None:
        if not isinstance(attributes, list):
            raise bad("query.attributes must be a list")
        wanted = [a for a in attributes if isinstance(a, dict)]

        def has_attributes(a: AfAnnotation, d: AfDetail) -> bool:
            mine = {x["additional_data_definition_id"]: x for x in d.v1_additionals()}
            for want in wanted:
                have = mine.get(want.get("additional_data_definition_id"))
                if have is None:
                    return False
                for key in ("flag", "integer", "comment", "choice"):
                    if key in want and have.get(key) != want[key]:
                        return False
            return True

        checks.append(has_attributes)
    for name, after in (("updated_from", True), ("updated_to", False)):
        value = query.get(name)
        if value is None:
            continue
        try:
            day = date.fromisoformat(value)
        except (TypeError, ValueError):
            raise bad(f"query.{name} must be a date (YYYY-MM-DD)") from None
        checks.append(_day_check(day.isoformat(), after=after))
    return lambda a, d: all(check(a, d) for check in checks)


# --------------------------------------------------------------------------- specs


def _i18n(name: str, names: Mapping[str, str]) -> dict[str, Any]:
    messages = [{"lang": "en-US", "message": name}]
    messages += [{"lang": lang, "message": text} for lang, text in names.items()]
    return {"messages": messages, "default_lang": "en-US"}


def build_specs(
    project_id: str,
    labels: Mapping[str, Mapping[str, str]],
    attributes: Mapping[str, str | tuple[str, Sequence[str]]],
) -> dict[str, Any]:
    """A v3 annotation specs body: each label (English name -> other languages' names)
    a bounding box with every attribute (name -> type, or ``(type, choice names)``)."""
    additionals = []
    for name, kind in attributes.items():
        type_name, choices = (kind, ()) if isinstance(kind, str) else kind
        entry: dict[str, Any] = {
            "additional_data_definition_id": f"attr-{name}",
            "read_only": False,
            "name": _i18n(name, {"ja-JP": f"{name}-ja"}),
            "type": type_name,
            "keybind": [],
            "choices": [
                {
                    "choice_id": f"choice-{name}-{choice}",
                    "name": _i18n(choice, {"ja-JP": f"{choice}-ja"}),
                    "keybind": [],
                }
                for choice in choices
            ],
            "metadata": {},
        }
        if type_name == "flag":
            entry["default"] = False
        additionals.append(entry)
    label_list = [
        {
            "label_id": f"label-{name}",
            "label_name": _i18n(name, names),
            "keybind": [],
            "annotation_type": "bounding_box",
            "field_values": {},
            "additional_data_definitions": [
                a["additional_data_definition_id"] for a in additionals
            ],
            "color": {"red": 255, "green": 0, "blue": 0},
            "annotation_editor_feature": {
                "append": False,
                "erase": False,
                "freehand": False,
                "rectangle_fill": False,
                "polygon_fill": False,
                "fill_near": False,
            },
            "metadata": {},
        }
        for name, names in labels.items()
    ]
    return {
        "project_id": project_id,
        "labels": label_list,
        "additionals": additionals,
        "restrictions": [],
        "inspection_phrases": [],
        "format_version": SPECS_FORMAT,
        "metadata": {},
    }


def put_specs(project_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of an ``AnnotationSpecsRequestV3`` (400 if it is not one)."""
    for name in ("labels", "additionals", "restrictions", "inspection_phrases"):
        if not isinstance(body.get(name), list):
            raise bad(f"{name} must be a list")
    if body.get("format_version", SPECS_FORMAT) != SPECS_FORMAT:
        raise bad("the emulator keeps annotation specs of format_version 3.0.0 (v=3)")
    stored = {
        "project_id": project_id,
        "labels": body["labels"],
        "additionals": body["additionals"],
        "restrictions": body["restrictions"],
        "inspection_phrases": body["inspection_phrases"],
        "format_version": SPECS_FORMAT,
        "metadata": body.get("metadata", {}),
    }
    for name in ("annotation_type_version", "option"):
        if name in body:
            stored[name] = body[name]
    return stored


# --------------------------------------------------------------------------- comments

_PUT_FIELDS: Final = ("comment_id", "phase", "account_id", "comment_type", "comment")


def put_comment(
    item: Mapping[str, Any], key: tuple[str, str, str], old: Mapping[str, Any] | None, now: int
) -> dict[str, Any]:
    """The stored ``Comment`` of a ``BatchCommentRequestItemPut``."""
    for name in _PUT_FIELDS:
        if not isinstance(item.get(name), str):
            raise bad(f"{name} is required (a string)")
    if item["phase"] not in ("annotation", "inspection", "acceptance"):
        raise bad(f"phase: {item['phase']!r} is not a phase")
    if item["comment_type"] not in ("onhold", "inspection"):
        raise bad(f"comment_type: {item['comment_type']!r} is not onhold or inspection")
    stage = item.get("phase_stage", 1)
    if not isinstance(stage, int) or isinstance(stage, bool) or stage < 1:
        raise bad("phase_stage must be an integer >= 1")
    node = item.get("comment_node")
    if not isinstance(node, dict) or node.get("_type") not in ("Root", "Reply"):
        raise bad("comment_node must be a Root or Reply comment node")
    project_id, task_id, input_data_id = key
    created = old["created_datetime"] if old is not None else format_jst(now)
    sorting = item.get("datetime_for_sorting") or created
    comment = {
        "project_id": project_id,
        "task_id": task_id,
        "input_data_id": input_data_id,
        "comment_id": item["comment_id"],
        "phase": item["phase"],
        "phase_stage": stage,
        "account_id": item["account_id"],
        "comment_type": item["comment_type"],
        "phrases": list(item.get("phrases") or []),
        "comment": item["comment"],
        "comment_node": node,
        "datetime_for_sorting": sorting,
        "created_datetime": created,
        "updated_datetime": format_jst(now),
    }
    return comment


__all__ = [
    "FORMAT_V2",
    "AfAnnotation",
    "AfDetail",
    "annotation_filter",
    "apply_put",
    "build_specs",
    "put_comment",
    "put_specs",
    "simple_archive",
]


def simple_archive(annotations: Iterable[AfAnnotation], task_of: Callable[[str], Any]) -> bytes:
    """The annotation ZIP (``archive/simple``): ``{task_id}/{input_data_id}.json`` per
    annotated input data, each a simple annotation (label, id, data, attributes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for annotation in annotations:
            task = task_of(annotation.task_id)
            if task is None:
                continue
            simple = {
                "annotation_format_version": "1.2.0",
                "project_id": annotation.project_id,
                "task_id": annotation.task_id,
                "task_phase": task.phase,
                "task_phase_stage": task.phase_stage,
                "task_status": task.status,
                "input_data_id": annotation.input_data_id,
                "details": [
                    {
                        "label": d.label_id,
                        "annotation_id": d.annotation_id,
                        "data": d.body.get("data", d.body),
                        "attributes": {},
                    }
                    for d in annotation.details
                ],
                "updated_datetime": format_jst(annotation.updated_ms or 0),
            }
            name = f"{annotation.task_id}/{annotation.input_data_id}.json"
            archive.writestr(name, orjson.dumps(simple))
    return buffer.getvalue()
