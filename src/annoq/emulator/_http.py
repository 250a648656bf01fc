"""HTTP helpers every emulated service uses: JSON answers and JSON request bodies.

Example::

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await read_json(request, empty={})     # NotJson on a malformed body
        return json_response({"echo": body})
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from aiohttp import web

JSON: Final = "application/json"
NDJSON: Final = "application/x-ndjson"


class NotJson(ValueError):
    """A request body that is not JSON (the message is the decoder's)."""


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer encoded with orjson."""
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=headers)


def raw_json_response(body: bytes, status: int = 200) -> web.Response:
    """An answer with an already-encoded JSON body."""
    return web.Response(body=body, status=status, content_type=JSON)


async def read_json(request: web.Request, *, empty: Any = None) -> Any:
    """The request's decoded JSON body; ``empty`` for a blank one; `NotJson` otherwise."""
    raw = await request.read()
    if not raw.strip():
        return empty
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NotJson(str(exc)) from None


__all__ = ["JSON", "NDJSON", "NotJson", "json_response", "raw_json_response", "read_json"]
