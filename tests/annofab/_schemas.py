"""A jsonschema check of values against the spec's schemas that reads ``discriminator``
as OpenAPI means it (the ``_type`` picks the branch), so that overlapping ``oneOf``
branches (a bounding box also fits "classification", which needs only ``_type``) do not
make a valid value fail."""

from __future__ import annotations

from typing import Any

import jsonschema

from . import _spec


def _with_discriminators(node: Any) -> Any:
    """The spec's schemas for jsonschema: a ``discriminator`` picks its branch by
    ``_type`` (as OpenAPI means it), other ``oneOf`` lists accept any branch (the spec's
    own branches overlap, e.g. an annotation with no details fits v1 and v2), and
    ``nullable`` admits null."""
    if isinstance(node, list):
        return [_with_discriminators(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _with_discriminators(v) for k, v in node.items() if k != "discriminator"}
    if isinstance(out.get("$ref"), str):
        out["$ref"] = f"#/$defs/{out['$ref']}"
    disc = node.get("discriminator")
    if disc is not None and "oneOf" in out:
        prop = disc["propertyName"]
        cases = {k: v.rsplit("/", 1)[-1] for k, v in disc["mapping"].items()}
        del out["oneOf"]
        out["required"] = [*out.get("required", []), prop]
        out["properties"] = {**out.get("properties", {}), prop: {"enum": list(cases)}}
        out["allOf"] = [
            {"if": {"properties": {prop: {"const": k}}}, "then": {"$ref": f"#/$defs/{ref}"}}
            for k, ref in cases.items()
        ]
    elif "oneOf" in out:
        out["anyOf"] = out.pop("oneOf")
    if out.pop("nullable", False):  # OpenAPI 3.0: null is allowed too
        return {"anyOf": [{"type": "null"}, out]}
    return out


_DEFS = {name: _with_discriminators(s) for name, s in _spec.schemas().items()}


def validate(schema: Any, value: Any) -> None:
    root = _with_discriminators({"$ref": schema} if isinstance(schema, str) else schema)
    root["$defs"] = _DEFS
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(root).iter_errors(value)
    )
    if error is not None:
        raise error
