"""cattrs converters between wire JSON and annoq's frozen attrs models.

The rules every backend shares live here once:

- scalars are strict: ``"5"`` is not an ``int`` and ``5`` is not a ``str`` (cattrs's
  defaults would coerce both and hide a broken server);
- datetimes are parsed with or without ``Z``, with any fraction of a second, and are
  always aware (naive ones are taken as UTC); they are written as RFC 3339;
- unknown response fields are ignored, so new server fields never break old clients;
- attributes left at their default (``None``) are omitted from request bodies.

A body that does not fit raises :class:`~annoq.ResponseDecodeError` naming the path of the
offending field. Each backend makes its converter with :func:`make_converter`, once, at
import; cattrs generates and caches the structuring code on first use.

Pages of items, the one body decoded per item, take a faster road with the same result:
:func:`make_list_reader` decodes the bytes straight into the attrs classes with msgspec
(in C, no intermediate dicts) and hands any body msgspec refuses, or whose values the
rules above would read differently, to the cattrs path, which then gives the exact
result or the exact error.
"""

from __future__ import annotations

import enum
import itertools
import operator
import re
import types
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args, get_origin

import attrs
import cattrs
import msgspec
import orjson
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory
from cattrs.gen import make_dict_unstructure_fn
from cattrs.preconf.orjson import make_converter as _make_orjson_converter

from ._errors import ResponseDecodeError

__all__ = [
    "OMIT_UNSET",
    "decode_json",
    "field",
    "format_datetime",
    "fromiso",
    "make_converter",
    "make_list_reader",
    "make_page_reader",
    "parse_datetime",
    "structure",
    "structure_list",
]

#: Set as a class attribute on request models: unset (default) fields are left out of bodies.
OMIT_UNSET = "__annoq_omit_unset__"

T = TypeVar("T")


# Where msgspec's RFC 3339 reading and ``datetime.fromisoformat`` differ: msgspec rounds a
# 7th fraction digit (Python truncates) and takes a lowercase ``t`` or ``z``.
_RFC3339_FIRST = re.compile(r"\.\d{7}|[tz]")


def fromiso(value: str) -> datetime:
    """A timestamp read the way both decoding paths read it (may be naive).

    Whatever msgspec accepts reads as msgspec reads it, so a page decoded by msgspec
    equals the same page decoded by cattrs; anything else as ``datetime.fromisoformat``.
    """
    if _RFC3339_FIRST.search(value) is not None:
        try:
            parsed: datetime = msgspec.convert(value, datetime)
            return parsed
        except msgspec.ValidationError:
            pass
    return datetime.fromisoformat(value)


def parse_datetime(value: object, *, to_utc: bool = True) -> datetime:
    """Parse an ISO 8601 / RFC 3339 timestamp into an aware datetime.

    >>> parse_datetime("2026-11-24T12:00:00.123Z")
    datetime.datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=datetime.timezone.utc)
    """
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 timestamp string, got {type(value).__name__}")
    try:
        parsed = fromiso(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC) if to_utc else parsed


def format_datetime(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z``; naive datetimes are taken as UTC.

    >>> format_datetime(datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=UTC))
    '2026-11-24T12:00:00.123000Z'
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z"


def _strict(kind: type, label: str) -> Callable[[Any, Any], Any]:
    def hook(value: Any, cls: Any) -> Any:
        # bool is an int subclass; a JSON true where a count belongs is a server bug.
        if type(value) is kind or (kind is float and type(value) is int):
            # cattrs dispatches subclasses of ``kind`` here too (a StrEnum is a str):
            # build the requested class rather than hand back the bare scalar.
            return value if cls is kind else cls(value)
        raise TypeError(f"expected {label}, got {type(value).__name__}")

    return hook


def _is_array_type(t: Any) -> bool:
    """``list[X]`` or ``tuple[X, ...]``: what a JSON array structures into."""
    origin, args = get_origin(t), get_args(t)
    return origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis)


def _array_hook(t: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # cattrs turns any iterable into a sequence: "ab" would become ("a", "b") and a dict
    # its keys. Only a JSON array is an array.
    if get_origin(t) is list:
        inner = list_structure_factory(t, converter)
    else:
        inner = homogenous_tuple_structure_factory(t, converter)

    def hook(value: Any, cls: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected an array, got {type(value).__name__}")
        return inner(value, cls)

    return hook


def _strict_optional(kind: type, label: str) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _: Any) -> Any:
        if value is None or type(value) is kind:
            return value
        raise TypeError(f"expected {label} or null, got {type(value).__name__}")

    return hook


def make_converter(*, datetimes_to_utc: bool = True) -> cattrs.Converter:
    """A converter with annoq's strict, forward-compatible rules.

    ``datetimes_to_utc=False`` keeps a timestamp's own offset (Annofab's ``+09:00``).
    """
    converter = _make_orjson_converter(forbid_extra_keys=False, omit_if_default=False)
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(float, _strict(float, "a number"))
    converter.register_structure_hook(bool, _strict(bool, "a boolean"))
    converter.register_structure_hook(
        datetime, lambda value, _: parse_datetime(value, to_utc=datetimes_to_utc)
    )
    # Direct hooks for the optional scalars: cattrs's generic Optional dispatch is the
    # largest cost of decoding a page after the JSON parse itself.
    for kind, label in ((str, "a string"), (int, "an integer"), (bool, "a boolean")):
        converter.register_structure_hook(kind | None, _strict_optional(kind, label))
    converter.register_structure_hook(
        datetime | None,
        lambda value, _: None if value is None else parse_datetime(value, to_utc=datetimes_to_utc),
    )
    converter.register_unstructure_hook(datetime, format_datetime)

    def _enum_hook(value: Any, cls: type[enum.Enum]) -> enum.Enum:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return cls(value)

    converter.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum_hook
    )
    converter.register_structure_hook_factory(_is_array_type, _array_hook)
    # Request bodies: what the caller did not set (None defaults) is left out. Response
    # models keep every field, so a dumped item reads back the same.
    converter.register_unstructure_hook_factory(
        lambda cls: attrs.has(cls) and getattr(cls, "__annoq_omit_unset__", False),
        lambda cls: make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True),
    )
    return converter


def decode_json(content: bytes) -> Any:
    """Parse a response body, raising :class:`ResponseDecodeError` if it is not JSON."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        snippet = content[:60].decode("utf-8", "replace")
        raise ResponseDecodeError(f"response is not JSON ({exc.msg})", snippet=snippet) from None


def field(data: Any, name: str, kind: type | tuple[type, ...] | None = None) -> Any:
    """``data[name]`` of a decoded JSON object (of type ``kind`` when given; a bool is
    not an int); else :class:`ResponseDecodeError` naming the field."""
    if not isinstance(data, dict):
        raise ResponseDecodeError(f"expected a JSON object, got {type(data).__name__}")
    if name not in data:
        raise ResponseDecodeError("required field is missing", path=f"$.{name}")
    value = data[name]
    if kind is not None and (
        not isinstance(value, kind) or (isinstance(value, bool) and kind is int)
    ):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(k.__name__ for k in kinds)
        raise ResponseDecodeError(
            f"expected {expected}, got {type(value).__name__}", path=f"$.{name}"
        )
    return value


def _describe(exc: BaseException, path: str) -> tuple[str, str]:
    """The first leaf problem of a cattrs error tree, with its JSON path."""
    if isinstance(exc, cattrs.ClassValidationError | cattrs.IterableValidationError):
        for sub in exc.exceptions:
            note = getattr(sub, "__notes__", None) or []
            detail = next((n for n in note if isinstance(n, cattrs.AttributeValidationNote)), None)
            if detail is not None:
                return _describe(sub, f"{path}.{detail.name}")
            index = next((n for n in note if isinstance(n, cattrs.IterableValidationNote)), None)
            if index is not None:
                return _describe(sub, f"{path}[{index.index!r}]")
            return _describe(sub, path)
    if isinstance(exc, KeyError):
        return "required field is missing", path
    return str(exc) or type(exc).__name__, path


def structure(converter: cattrs.Converter, data: Any, cls: type[T], *, path: str = "$") -> T:
    """``converter.structure`` that raises :class:`ResponseDecodeError` with a field path."""
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs raises many types; all mean "the body is wrong"
        message, where = _describe(exc, path)
        raise ResponseDecodeError(message, path=where) from None


def structure_list(
    converter: cattrs.Converter, data: Any, cls: type[T], *, path: str = "$"
) -> list[T]:
    """Structure a JSON array of ``cls`` with the hook built once for ``cls`` (hot path)."""
    if not isinstance(data, list):
        raise ResponseDecodeError(f"expected a list, got {type(data).__name__}", path=path)
    hook = converter.get_structure_hook(cls)
    try:
        return [hook(entry, cls) for entry in data]
    except Exception:
        # Find the bad entry for the message; only the failing page pays for this.
        for index, entry in enumerate(data):
            structure(converter, entry, cls, path=f"{path}[{index}]")
        raise  # pragma: no cover - the loop above always raises


# orjson reads integers outside these bounds as floats, which the strict rules refuse.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


_SCALAR_MAP = dict[str, str | int | float | bool]


def _column(name: str) -> Callable[[list[Any]], Any]:
    """``items -> iterator of item.<name>`` (``name`` may be dotted)."""
    get = operator.attrgetter(name)
    return lambda items: map(get, items)


def _nested(t: Any) -> Any:
    """``C`` for ``tuple[C, ...]`` with ``C`` an attrs class, else None."""
    args = get_args(t)
    if get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis and attrs.has(args[0]):
        return args[0]
    return None


def _check_fast_fit(cls: type) -> None:
    allowed = {str, int, bool, datetime}
    for f in attrs.fields(cls):
        t = f.type
        args = get_args(t)
        plain = t in allowed or (isinstance(t, types.UnionType) and args[1:] == (type(None),))
        plain = plain and (not args or args[0] in allowed)
        enum_type = isinstance(t, type) and issubclass(t, enum.Enum)
        nested = _nested(t)
        if nested is not None:
            _check_fast_fit(nested)
        fits = plain or enum_type or nested is not None or t in (tuple[str, ...], _SCALAR_MAP)
        if not fits or f.validator or f.converter:
            raise TypeError(f"{cls.__name__}.{f.name}: {t!r} has no fast decoding path")


def _rules_check(cls: type, datetimes_to_utc: bool) -> Callable[[list[Any]], bool]:
    """Whether decoded ``cls`` objects hold what the cattrs rules would have made of the
    same JSON: column by column, each one pass in C (map over attrgetter)."""
    names = {f.name: f.type for f in attrs.fields(cls)}
    zones_of = [_column(f"{n}.tzinfo") for n, t in names.items() if t is datetime]
    optional_dates = [_column(n) for n, t in names.items() if t == datetime | None]
    int_columns = [_column(n) for n, t in names.items() if t in (int, int | None)]
    maps = [_column(n) for n, t in names.items() if t == _SCALAR_MAP]
    nested = [(_column(n), _rules_check(_nested(t), datetimes_to_utc)) for n, t in names.items()
              if _nested(t) is not None]  # fmt: skip
    tzinfo = operator.attrgetter("tzinfo")
    utc_only = {UTC}

    def check(items: list[Any]) -> bool:
        zones: set[Any] = set()
        for column in zones_of:
            zones.update(column(items))
        for column in optional_dates:
            # (not a set of the values: equal instants in different zones hash alike)
            zones.update(map(tzinfo, filter(None, column(items))))  # datetimes are truthy
        if (zones - utc_only) if datetimes_to_utc else (None in zones):
            return False  # an offset to move to UTC, or a naive time
        for column in int_columns:
            values = set(column(items))
            values.discard(None)
            if values and (min(values) < _INT_MIN or max(values) > _INT_MAX):
                return False
        for column in maps:
            if any(column(items)):
                return False  # a non-empty map of scalars: cattrs reads its values
        for column, inner in nested:
            if not inner(list(itertools.chain.from_iterable(column(items)))):
                return False
        return True

    return check


def make_page_reader(
    field: str,
    cls: type[T],
    others: tuple[str, ...] = (),
    *,
    datetimes_to_utc: bool = True,
) -> Callable[[bytes], tuple[list[T], dict[str, Any]] | None]:
    """A msgspec reader of ``{field: [cls, ...], other: ..., ...}`` bodies.

    Returns the items and a dict of the ``others`` fields present (plain JSON values),
    or ``None`` when the body must take the cattrs path instead (msgspec refuses it, or
    the rules would read its values differently): the caller's cattrs reader then
    gives the exact result or the exact :class:`ResponseDecodeError`. ``cls`` must be an
    attrs class of strings, integers, booleans, datetimes, enums, string tuples, maps of
    scalars and tuples of such classes, without validators or converters; anything
    else raises ``TypeError`` here, at import.
    """
    _check_fast_fit(cls)
    spec: list[Any] = [(field, list[cls])]  # type: ignore[valid-type]
    spec += [(name, Any, msgspec.UNSET) for name in others]
    envelope = msgspec.defstruct(f"_{cls.__name__}Page", spec)
    decode = msgspec.json.Decoder(envelope).decode
    take = operator.attrgetter(field)
    rest = operator.attrgetter(*others) if len(others) > 1 else None
    fits = _rules_check(cls, datetimes_to_utc)
    unset = msgspec.UNSET

    def read(content: bytes) -> tuple[list[T], dict[str, Any]] | None:
        try:
            body = decode(content)
        except Exception:  # any refusal (or msgspec's nesting limit): cattrs decides
            return None
        items: list[T] = take(body)
        if not fits(items):
            return None
        if not others:
            return items, {}
        values = rest(body) if rest is not None else (getattr(body, others[0]),)
        return items, {k: v for k, v in zip(others, values, strict=True) if v is not unset}

    return read


def make_list_reader(
    field: str,
    cls: type[T],
    fallback: Callable[[bytes], list[T]],
    *,
    datetimes_to_utc: bool = True,
) -> Callable[[bytes], list[T]]:
    """A reader of ``{field: [cls, ...]}`` bodies, equal to ``fallback`` but faster.

    ``fallback`` is the cattrs reader of the same body (made with the converter of the
    same ``datetimes_to_utc``); see :func:`make_page_reader` for what ``cls`` may hold.
    """
    fast = make_page_reader(field, cls, datetimes_to_utc=datetimes_to_utc)

    def read(content: bytes) -> list[T]:
        page = fast(content)
        return fallback(content) if page is None else page[0]

    return read
