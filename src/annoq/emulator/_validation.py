"""Request-body validation with FastAPI/pydantic-shaped 422 errors.

The emulated services are FastAPI applications: a malformed body answers 422 with
``{"detail": [{"type", "loc", "msg", "input"}, ...]}``. This module reproduces the
common cases (non-JSON, not an object, missing field, wrong type, value outside a
literal set, extra field when the server forbids them) in pydantic's lax mode: an int
field takes ``5``, ``5.0`` and ``"5"``; a bool field takes ``true``, ``1`` and ``"yes"``.
JSON ``null`` in an optional field means "not given".
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import orjson

Loc = tuple[str | int, ...]

_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class ValidationFailed(Exception):
    """The body is malformed; ``errors`` is the ``detail`` list of the 422 answer."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


def error(kind: str, loc: Loc, msg: str, value: Any) -> dict[str, Any]:
    """One ``detail`` entry."""
    return {"type": kind, "loc": list(loc), "msg": msg, "input": value}


def _literal_msg(allowed: Sequence[str]) -> str:
    quoted = [f"'{a}'" for a in allowed]
    if len(quoted) == 1:
        return f"Input should be {quoted[0]}"
    return f"Input should be {', '.join(quoted[:-1])} or {quoted[-1]}"


def parse_body(raw: bytes) -> Any:
    """Decode a JSON body, or raise the 422 FastAPI gives for non-JSON / empty bodies."""
    if not raw.strip():
        raise ValidationFailed([error("missing", ("body",), "Field required", None)])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        entry = error("json_invalid", ("body", exc.pos), "JSON decode error", {})
        entry["ctx"] = {"error": exc.msg}
        raise ValidationFailed([entry]) from None


class Fields:
    """Typed reads from one JSON object, collecting errors instead of raising.

    Usage::

        body = Fields.root(data)
        project_id = body.string("project_id", required=True)
        limit = body.integer("limit")
        body.done(forbid_extra=False)  # raises ValidationFailed if anything was wrong
    """

    def __init__(self, data: dict[str, Any], loc: Loc, errors: list[dict[str, Any]]) -> None:
        self.data = data
        self.loc = loc
        self.errors = errors
        self._seen: set[str] = set()

    @classmethod
    def root(cls, data: Any) -> Fields:
        """Wrap a decoded body; a non-object body is a 422 at ``["body"]``."""
        if not isinstance(data, dict):
            raise ValidationFailed(
                [
                    error(
                        "model_attributes_type",
                        ("body",),
                        "Input should be a valid dictionary or object to extract fields from",
                        data,
                    )
                ]
            )
        return cls(data, ("body",), [])

    def _get(self, name: str, required: bool) -> tuple[bool, Any]:
        self._seen.add(name)
        if name not in self.data or (self.data[name] is None and not required):
            if required:
                self.errors.append(error("missing", (*self.loc, name), "Field required", self.data))
            return False, None
        return True, self.data[name]

    def _check_str(self, loc: Loc, value: Any) -> str | None:
        if isinstance(value, str):
            return value
        self.errors.append(error("string_type", loc, "Input should be a valid string", value))
        return None

    def string(self, name: str, *, required: bool = False) -> str | None:
        """A string field (``null`` is "not given" unless required)."""
        present, value = self._get(name, required)
        if not present:
            return None
        return self._check_str((*self.loc, name), value)

    def literal(self, name: str, allowed: Sequence[str], *, required: bool = False) -> str | None:
        """A string field restricted to ``allowed``."""
        present, value = self._get(name, required)
        if not present:
            return None
        if isinstance(value, str) and value in allowed:
            return value
        self.errors.append(error("literal_error", (*self.loc, name), _literal_msg(allowed), value))
        return None

    def integer(self, name: str) -> int | None:
        """An optional int field in pydantic's lax mode."""
        present, value = self._get(name, False)
        if not present:
            return None
        loc = (*self.loc, name)
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if value.is_integer():
                return int(value)
            self.errors.append(
                error(
                    "int_from_float",
                    loc,
                    "Input should be a valid integer, got a number with a fractional part",
                    value,
                )
            )
            return None
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                self.errors.append(
                    error(
                        "int_parsing",
                        loc,
                        "Input should be a valid integer, unable to parse string as an integer",
                        value,
                    )
                )
                return None
        self.errors.append(error("int_type", loc, "Input should be a valid integer", value))
        return None

    def boolean(self, name: str, *, default: bool = False) -> bool:
        """A bool field with a default (``null`` gives the default)."""
        present, value = self._get(name, False)
        if not present:
            return default
        loc = (*self.loc, name)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        kind = "bool_parsing" if isinstance(value, str | int | float) else "bool_type"
        msg = (
            "Input should be a valid boolean, unable to interpret input"
            if kind == "bool_parsing"
            else "Input should be a valid boolean"
        )
        self.errors.append(error(kind, loc, msg, value))
        return default

    def _list(self, name: str, required: bool) -> list[Any] | None:
        present, value = self._get(name, required)
        if not present:
            return None
        if isinstance(value, list):
            return value
        self.errors.append(
            error("list_type", (*self.loc, name), "Input should be a valid list", value)
        )
        return None

    def string_list(self, name: str, *, required: bool = False) -> list[str] | None:
        """A list-of-strings field."""
        values = self._list(name, required)
        if values is None:
            return None
        out: list[str] = []
        ok = True
        for i, value in enumerate(values):
            checked = self._check_str((*self.loc, name, i), value)
            if checked is None:
                ok = False
            else:
                out.append(checked)
        return out if ok else None

    def literal_list(self, name: str, allowed: Sequence[str]) -> list[str] | None:
        """An optional list whose entries must be in ``allowed``."""
        values = self._list(name, False)
        if values is None:
            return None
        out: list[str] = []
        ok = True
        for i, value in enumerate(values):
            if isinstance(value, str) and value in allowed:
                out.append(value)
            else:
                ok = False
                self.errors.append(
                    error("literal_error", (*self.loc, name, i), _literal_msg(allowed), value)
                )
        return out if ok else None

    def _as_object(self, loc: Loc, value: Any) -> Fields | None:
        if isinstance(value, dict):
            return Fields(value, loc, self.errors)
        self.errors.append(
            error(
                "model_attributes_type",
                loc,
                "Input should be a valid dictionary or object to extract fields from",
                value,
            )
        )
        return None

    def obj(self, name: str) -> Fields | None:
        """An optional nested object (its errors go to the same list)."""
        present, value = self._get(name, False)
        if not present:
            return None
        return self._as_object((*self.loc, name), value)

    def obj_list(self, name: str) -> list[Fields] | None:
        """An optional list of nested objects."""
        values = self._list(name, False)
        if values is None:
            return None
        out = []
        for i, value in enumerate(values):
            nested = self._as_object((*self.loc, name, i), value)
            if nested is not None:
                out.append(nested)
        return out

    def forbid_extra(self, known: Collection[str] | None = None) -> None:
        """Record ``extra_forbidden`` for fields not read (or not in ``known``)."""
        allowed = set(known) if known is not None else self._seen
        for key, value in self.data.items():
            if key not in allowed:
                self.errors.append(
                    error(
                        "extra_forbidden", (*self.loc, key), "Extra inputs are not permitted", value
                    )
                )

    def done(self, *, forbid_extra: bool) -> None:
        """Finish the root object: raise `ValidationFailed` if any error was recorded."""
        if forbid_extra:
            self.forbid_extra()
        if self.errors:
            raise ValidationFailed(self.errors)
