"""The published Annofab spec facts (``tests/contract/annofab/``) for tests: operations,
schemas, and minimal answers synthesised from the response schemas."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

CONTRACT = Path(__file__).resolve().parent.parent / "contract" / "annofab"


@functools.cache
def _load(name: str) -> Any:
    return json.loads((CONTRACT / name).read_text("utf-8"))


def v1_operations() -> list[dict[str, Any]]:
    return list(_load("annofab-v1.operations.json")["operations"])


def v2_operations() -> list[dict[str, Any]]:
    return list(_load("annofab-v2.operations.json")["operations"])


def schemas() -> dict[str, Any]:
    return dict(_load("annofab-v1.schemas.json")["schemas"])


def seed_methods() -> list[dict[str, Any]]:
    return list(_load("seed-methods.json")["methods"])


def snake(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def resolve(schema: Any) -> dict[str, Any]:
    if isinstance(schema, str):
        schema = {"$ref": schema}
    while "$ref" in schema:
        schema = schemas()[schema["$ref"]]
    return dict(schema)


def sample(schema: Any, depth: int = 0) -> Any:
    """A small value the schema accepts: required fields only, first enum values."""
    s = resolve(schema)
    if "oneOf" in s or "anyOf" in s:
        return sample((s.get("oneOf") or s["anyOf"])[0], depth)
    if "allOf" in s:
        merged: dict[str, Any] = {}
        for part in s["allOf"]:
            value = sample(part, depth)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    if "enum" in s:
        return s["enum"][0]
    kind = s.get("type", "object" if "properties" in s else "string")
    if kind == "object":
        if depth > 6:
            return {}
        props = s.get("properties", {})
        return {name: sample(props.get(name, {}), depth + 1) for name in s.get("required", [])}
    if kind == "array":
        return [] if depth > 6 else [sample(s.get("items", {}), depth + 1)]
    if kind == "integer":
        return max(1, int(s.get("minimum", 1)))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if s.get("format") == "date-time":
        return "2026-11-24T12:00:00.000+09:00"
    return "x" * max(1, int(s.get("minLength", 1)))


def success(op: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The first 2xx answer of an operation: ``(status, response)``."""
    status = min(k for k in op["responses"] if k.startswith("2"))
    return int(status), op["responses"][status]


def query_sample(param: dict[str, Any]) -> tuple[Any, str]:
    """A value for a query parameter and how it goes on the wire."""
    s = resolve(param["schema"])
    kind = s.get("type", "string")
    if kind == "array":
        return ["id-1", "id-2"], "id-1,id-2"
    if kind == "integer":
        value = max(int(s.get("minimum", 1)), 1)
        return value, str(value)
    if kind == "boolean":
        return True, "true"
    if "enum" in s:
        return s["enum"][-1], s["enum"][-1]
    return "2026-11-01", "2026-11-01"


def _point_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (f"#/$defs/{v}" if k == "$ref" and isinstance(v, str) else _point_refs(v))
            for k, v in node.items()
            if k != "discriminator"
        }
    if isinstance(node, list):
        return [_point_refs(v) for v in node]
    return node


def validator(schema: Any) -> Any:
    """A jsonschema validator of ``schema`` (a name or an inline schema) with every
    component schema reachable by ``$ref``."""
    import jsonschema

    root = _point_refs({"$ref": schema} if isinstance(schema, str) else schema)
    root["$defs"] = _point_refs(schemas())
    return jsonschema.Draft202012Validator(root)


def validate(schema: Any, value: Any) -> None:
    """Raise ``jsonschema.ValidationError`` when ``value`` does not fit ``schema``."""
    error = next(iter(validator(schema).iter_errors(value)), None)
    if error is not None:
        raise error
