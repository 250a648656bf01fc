"""A small JSON Schema checker for the subset annotation specs use.

Annotation specs (the ``field_schema`` of a Weave AnnotationSpec) are short schemas:
``{"type": "number", "minimum": 0, "maximum": 5}``, ``{"type": "string", "enum": [...]}``,
``{"type": "boolean"}``, an object with ``properties``/``required``, an array with
``items``. This module checks a value against those keywords, so annoq needs no JSON
Schema dependency:

``type`` (one name or a list), ``enum``, ``const``, ``minimum``, ``maximum``,
``exclusiveMinimum``, ``exclusiveMaximum``, ``multipleOf``, ``minLength``, ``maxLength``,
``pattern``, ``properties``, ``required``, ``additionalProperties`` (a bool or a schema),
``items`` (a schema), ``minItems``, ``maxItems``, ``anyOf``, ``oneOf``, ``allOf``, ``not``.

Other keywords (``title``, ``description``, ``format``, ``default``, ...) are annotations
and ignored, as a JSON Schema validator without format checking does. The test suite
proves the checker agrees with the reference ``jsonschema`` package on these keywords.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SchemaProblem", "check_value"]

_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list | tuple),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and math.isfinite(v) and v.is_integer())
    ),
}


class SchemaProblem(ValueError):
    """Why a value does not fit a schema; ``path`` is where (``$``, ``$.a``, ``$[2]``)."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{message} (at {path})" if path != "$" else message)
        self.message = message
        self.path = path


def _equal(a: Any, b: Any) -> bool:
    # JSON equality: 1 == 1.0, but True is not 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b) and (isinstance(a, int | float) == isinstance(b, int | float))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_value(value: Any, schema: Any, path: str = "$") -> None:
    """Raise :class:`SchemaProblem` if ``value`` does not fit ``schema``.

    >>> check_value(3, {"type": "integer", "minimum": 1, "maximum": 5})
    >>> check_value(9, {"type": "integer", "maximum": 5})
    Traceback (most recent call last):
    ...
    annoq._json_schema.SchemaProblem: 9 is greater than the maximum of 5
    """
    if schema is True or schema == {}:
        return
    if schema is False:
        raise SchemaProblem("no value is allowed here", path)
    if not isinstance(schema, Mapping):
        raise SchemaProblem(f"the schema is not an object: {_short(schema)}", path)
    _check_type(value, schema, path)
    if "enum" in schema and not any(_equal(value, option) for option in schema["enum"]):
        raise SchemaProblem(f"{_short(value)} is not one of {_short(list(schema['enum']))}", path)
    if "const" in schema and not _equal(value, schema["const"]):
        raise SchemaProblem(f"{_short(value)} is not {_short(schema['const'])}", path)
    if _TYPES["number"](value):
        _check_number(value, schema, path)
    elif isinstance(value, str):
        _check_string(value, schema, path)
    elif isinstance(value, dict):
        _check_object(value, schema, path)
    elif isinstance(value, list | tuple):
        _check_array(value, schema, path)
    _check_combinators(value, schema, path)


def _check_type(value: Any, schema: Mapping[str, Any], path: str) -> None:
    if "type" not in schema:
        return
    wanted = schema["type"]
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    for name in names:
        test = _TYPES.get(name)
        if test is None:
            raise SchemaProblem(f"the schema names an unknown type {name!r}", path)
        if test(value):
            return
    shown = names[0] if len(names) == 1 else " or ".join(names)
    raise SchemaProblem(f"{_short(value)} is not of type {shown}", path)


def _check_number(value: float, schema: Mapping[str, Any], path: str) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        raise SchemaProblem(f"{value} is less than the minimum of {schema['minimum']}", path)
    if "maximum" in schema and value > schema["maximum"]:
        raise SchemaProblem(f"{value} is greater than the maximum of {schema['maximum']}", path)
    low = schema.get("exclusiveMinimum")
    if isinstance(low, int | float) and not isinstance(low, bool) and value <= low:
        raise SchemaProblem(f"{value} is not greater than {low}", path)
    high = schema.get("exclusiveMaximum")
    if isinstance(high, int | float) and not isinstance(high, bool) and value >= high:
        raise SchemaProblem(f"{value} is not less than {high}", path)
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
        if isinstance(value, int) and isinstance(step, int):
            fits = value % step == 0
        else:
            quotient = value / step
            fits = math.isfinite(quotient) and quotient == int(quotient)
        if not fits:
            raise SchemaProblem(f"{value} is not a multiple of {step}", path)


def _check_string(value: str, schema: Mapping[str, Any], path: str) -> None:
    length = len(value)
    if "minLength" in schema and length < schema["minLength"]:
        raise SchemaProblem(f"{_short(value)} is shorter than {schema['minLength']}", path)
    if "maxLength" in schema and length > schema["maxLength"]:
        raise SchemaProblem(
            f"{_short(value)} is longer than {schema['maxLength']} characters", path
        )
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        raise SchemaProblem(f"{_short(value)} does not match {schema['pattern']!r}", path)


def _check_object(value: dict[str, Any], schema: Mapping[str, Any], path: str) -> None:
    for name in schema.get("required", ()):
        if name not in value:
            raise SchemaProblem(f"{name!r} is a required property", path)
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, member in value.items():
        where = f"{path}.{name}"
        if name in properties:
            check_value(member, properties[name], where)
        elif extra is False:
            raise SchemaProblem(f"additional property {name!r} is not allowed", path)
        elif extra is not True:
            check_value(member, extra, where)


def _check_array(value: list[Any] | tuple[Any, ...], schema: Mapping[str, Any], path: str) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        raise SchemaProblem(f"fewer than {schema['minItems']} items", path)
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise SchemaProblem(f"more than {schema['maxItems']} items", path)
    items = schema.get("items")
    if isinstance(items, Mapping | bool):
        for index, member in enumerate(value):
            check_value(member, items, f"{path}[{index}]")


def _fits(value: Any, schema: Any, path: str) -> bool:
    try:
        check_value(value, schema, path)
    except SchemaProblem:
        return False
    return True


def _check_combinators(value: Any, schema: Mapping[str, Any], path: str) -> None:
    for sub in schema.get("allOf", ()):
        check_value(value, sub, path)
    if "anyOf" in schema and not any(_fits(value, sub, path) for sub in schema["anyOf"]):
        raise SchemaProblem(f"{_short(value)} fits none of the allowed forms", path)
    if "oneOf" in schema:
        matches = sum(1 for sub in schema["oneOf"] if _fits(value, sub, path))
        if matches != 1:
            raise SchemaProblem(f"{_short(value)} must fit exactly one form ({matches} fit)", path)
    if "not" in schema and _fits(value, schema["not"], path):
        raise SchemaProblem(f"{_short(value)} fits a form that is not allowed", path)
