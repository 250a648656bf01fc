"""The runtime of the generated low-level API (``_api.py``): operations as data.

Each Annofab operation is one :class:`Operation` (method, path, parameters, body and
answer kinds, retry class), written out by ``scripts/generate_annofab_api.py`` from the
published spec. :func:`build_request` checks the arguments of a call against it and
returns a :class:`~annoq._transport.Request`, raising :class:`~annoq.InvalidArgumentError`
before anything is sent; :func:`read_answer` decodes what came back. Only the ``call_*``
coroutines do I/O, through the session's transport (auth, refresh, retries, timeouts).

    >>> op = Operation("getTask", "GET", "/projects/{project_id}/tasks/{task_id}",
    ...                path_params=("project_id", "task_id"))
    >>> build_request(op, ("prj 1", "t 1")).path
    '/api/v1/projects/prj%201/tasks/t%201'
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import attrs

from .._args import require_segment
from .._convert import decode_json
from .._errors import InvalidArgumentError, ResponseDecodeError
from .._transport import Request, Response

__all__ = [
    "RETRY_ASSIGN",
    "RETRY_INPUT_ZIP",
    "RETRY_SAFE",
    "RETRY_UNSAFE",
    "Operation",
    "Param",
    "Send",
    "build_request",
    "call_array",
    "call_bytes",
    "call_json",
    "call_none",
    "call_object",
    "is_retry_unsafe",
    "read_answer",
]

Send = Callable[[Request], Awaitable[Response]]
"""What the generated classes send through: a session's ``send`` (its view's options)."""

#: Retry classes (see the table in the generator). Safe: reads, and writes that a repeat
#: cannot apply twice (optimistic locks, ids the client chooses).
RETRY_SAFE: Final = "safe"
#: Never re-sent once the request may have reached the server.
RETRY_UNSAFE: Final = "unsafe"
#: ``assign_tasks``: unsafe for ``Random`` and ``TaskProperty`` (the server picks tasks),
#: safe for ``Selection`` (the ids are named).
RETRY_ASSIGN: Final = "assign"
#: ``put_input_data``: unsafe for a ZIP (it starts a ``gen-inputs`` job), else an upsert.
RETRY_INPUT_ZIP: Final = "input-zip"

_KINDS: Final = frozenset({"string", "integer", "boolean", "array"})


@attrs.frozen
class Param:
    """A query parameter: its name, kind (string, integer, boolean, array of strings)
    and the spec's constraints."""

    name: str
    kind: str
    required: bool = False
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    min_items: int | None = None
    max_items: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}")

    def encode(self, value: object, operation: str) -> str:
        """The wire form of ``value`` (arrays comma-separated), or InvalidArgumentError."""
        where = f"query_params[{self.name!r}] of {operation}"
        if self.kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgumentError(f"{where} must be an integer, got {value!r}")
            low, high = self.minimum, self.maximum
            if (low is not None and value < low) or (high is not None and value > high):
                bounds = f"{'' if low is None else low}..{'' if high is None else high}"
                raise InvalidArgumentError(f"{where} must be in {bounds}, got {value!r}")
            return str(value)
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise InvalidArgumentError(f"{where} must be True or False, got {value!r}")
            return "true" if value else "false"
        if self.kind == "array":
            return self._encode_array(value, where)
        if not isinstance(value, str):
            raise InvalidArgumentError(f"{where} must be a string, got {value!r}")
        if self.enum and value not in self.enum:
            raise InvalidArgumentError(
                f"{where} must be one of {', '.join(self.enum)}, got {value!r}"
            )
        return value

    def _encode_array(self, value: object, where: str) -> str:
        # style: form, explode: false -> one comma-separated value. A string passes as the
        # caller wrote it (the official client's callers join the ids themselves).
        if isinstance(value, str):
            if not value:
                raise InvalidArgumentError(f"{where} must not be empty")
            return value
        if not isinstance(value, list | tuple):
            raise InvalidArgumentError(f"{where} must be a list of strings, got {value!r}")
        for item in value:
            if not isinstance(item, str) or not item or "," in item:
                raise InvalidArgumentError(
                    f"{where} items must be non-empty strings without commas, got {item!r}"
                )
        count = len(value)
        if (self.min_items is not None and count < self.min_items) or (
            self.max_items is not None and count > self.max_items
        ):
            raise InvalidArgumentError(
                f"{where} takes {self.min_items or 0} to {self.max_items or 'any number of'} "
                f"items, got {count}"
            )
        return ",".join(value)


@attrs.frozen
class Operation:
    """One operation of the published spec, as the generated method calls it.

    ``body`` is ``"object"``, ``"array"``, ``"any"`` or ``None`` (no body);
    ``answer`` is ``"object"``, ``"array"``, ``"json"``, ``"bytes"`` or ``"none"``;
    ``path`` is the spec's, under ``base``.
    """

    operation_id: str
    method: str
    path: str
    base: str = "/api/v1"
    path_params: tuple[str, ...] = ()
    query: tuple[Param, ...] = ()
    body: str | None = None
    body_required: bool = False
    answer: str = "json"
    authenticated: bool = True
    retry: str = RETRY_SAFE

    def param(self, name: str) -> Param | None:
        """The query parameter called ``name``, if the operation has one."""
        for param in self.query:
            if param.name == name:
                return param
        return None


def _path(op: Operation, path_args: Sequence[object]) -> str:
    if len(path_args) != len(op.path_params):  # only a hand-made call can get this wrong
        raise InvalidArgumentError(
            f"{op.operation_id} takes {len(op.path_params)} path parameters "
            f"({', '.join(op.path_params)}), got {len(path_args)}"
        )
    segments = {}
    for name, value in zip(op.path_params, path_args, strict=True):
        # Not empty, not "." or "..", no "/", "?", "#": one path segment, as named.
        segments[name] = quote(require_segment(value, f"{name} of {op.operation_id}"), safe="")
    return op.base + op.path.format_map(segments)


def _params(op: Operation, query_params: object) -> dict[str, str] | None:
    if query_params is None:
        query_params = {}
    if not isinstance(query_params, Mapping):
        raise InvalidArgumentError(
            f"query_params of {op.operation_id} must be a mapping, got {query_params!r}"
        )
    encoded: dict[str, str] = {}
    for name, value in query_params.items():
        param = op.param(name) if isinstance(name, str) else None
        if param is None:
            allowed = ", ".join(p.name for p in op.query) or "none"
            raise InvalidArgumentError(
                f"{op.operation_id} has no query parameter {name!r} (allowed: {allowed})"
            )
        if value is not None:
            encoded[name] = param.encode(value, op.operation_id)
    for param in op.query:
        if param.required and param.name not in encoded:
            raise InvalidArgumentError(
                f"query_params[{param.name!r}] is required by {op.operation_id}"
            )
    return encoded or None


def _body(op: Operation, request_body: object) -> Any:
    if op.body is None:
        if request_body is not None:
            raise InvalidArgumentError(f"{op.operation_id} takes no request_body")
        return None
    if request_body is None:
        if op.body_required:
            raise InvalidArgumentError(f"request_body is required by {op.operation_id}")
        return None
    if op.body == "object":
        if not isinstance(request_body, Mapping):
            raise InvalidArgumentError(
                f"request_body of {op.operation_id} must be a JSON object (a mapping), "
                f"got {type(request_body).__name__}"
            )
        return request_body if isinstance(request_body, dict) else dict(request_body)
    if op.body == "array":
        if not isinstance(request_body, list | tuple):
            raise InvalidArgumentError(
                f"request_body of {op.operation_id} must be a JSON array (a list), "
                f"got {type(request_body).__name__}"
            )
        return list(request_body)
    return request_body


def is_retry_unsafe(op: Operation, body: object) -> bool:
    """Whether a repeat of this request could apply twice (so it is never re-sent).

    >>> assign = Operation("assignTasks", "POST", "/x", retry=RETRY_ASSIGN, body="object")
    >>> is_retry_unsafe(assign, {"request_type": {"_type": "Selection"}})
    False
    >>> is_retry_unsafe(assign, {"request_type": {"_type": "Random", "phase": "annotation"}})
    True
    """
    if op.retry == RETRY_SAFE:
        return False
    if op.retry == RETRY_ASSIGN:
        kind = body.get("request_type") if isinstance(body, Mapping) else None
        return not (isinstance(kind, Mapping) and kind.get("_type") == "Selection")
    if op.retry == RETRY_INPUT_ZIP:
        if not isinstance(body, Mapping):
            return True
        names = (body.get("input_data_name"), body.get("input_data_path"))
        return any(isinstance(n, str) and n.lower().endswith(".zip") for n in names)
    return True


def build_request(
    op: Operation,
    path_args: Sequence[object],
    query_params: object = None,
    request_body: object = None,
) -> Request:
    """The checked :class:`Request` of one call (InvalidArgumentError before sending)."""
    path = _path(op, path_args)
    params = _params(op, query_params)
    body = _body(op, request_body)
    return Request(
        op.method,
        path,
        params=params,
        json=body,
        authenticated=op.authenticated,
        retry_unsafe=is_retry_unsafe(op, body),
    )


def read_answer(op: Operation, response: Response) -> Any:
    """The decoded answer: JSON (checked to be an object or array where the spec says
    so), the raw bytes of a binary answer, or ``None`` where the spec has no body."""
    if op.answer == "none":
        return None
    if op.answer == "bytes":
        return response.content
    data = decode_json(response.content)
    if op.answer == "object" and not isinstance(data, dict):
        raise ResponseDecodeError(
            f"{op.operation_id}: expected a JSON object, got {type(data).__name__}"
        )
    if op.answer == "array" and not isinstance(data, list):
        raise ResponseDecodeError(
            f"{op.operation_id}: expected a JSON array, got {type(data).__name__}"
        )
    return data


async def _call(
    send: Send,
    op: Operation,
    path_args: Sequence[object],
    query_params: object,
    request_body: object,
) -> Any:
    request = build_request(op, path_args, query_params, request_body)
    return read_answer(op, await send(request))


async def call_object(
    send: Send,
    op: Operation,
    path_args: Sequence[object] = (),
    query_params: object = None,
    request_body: object = None,
) -> dict[str, Any]:
    """Send one call whose answer is a JSON object."""
    data: dict[str, Any] = await _call(send, op, path_args, query_params, request_body)
    return data


async def call_array(
    send: Send,
    op: Operation,
    path_args: Sequence[object] = (),
    query_params: object = None,
    request_body: object = None,
) -> list[Any]:
    """Send one call whose answer is a JSON array."""
    data: list[Any] = await _call(send, op, path_args, query_params, request_body)
    return data


async def call_json(
    send: Send,
    op: Operation,
    path_args: Sequence[object] = (),
    query_params: object = None,
    request_body: object = None,
) -> Any:
    """Send one call whose answer is any JSON value."""
    return await _call(send, op, path_args, query_params, request_body)


async def call_bytes(
    send: Send,
    op: Operation,
    path_args: Sequence[object] = (),
    query_params: object = None,
    request_body: object = None,
) -> bytes:
    """Send one call whose answer is binary."""
    data: bytes = await _call(send, op, path_args, query_params, request_body)
    return data


async def call_none(
    send: Send,
    op: Operation,
    path_args: Sequence[object] = (),
    query_params: object = None,
    request_body: object = None,
) -> None:
    """Send one call whose answer has no body."""
    await _call(send, op, path_args, query_params, request_body)
