"""What every test directory shares: the one fast retry policy, and the helpers of the
aioresponses-based tests (a mocked HTTP layer, canned Weave bodies).

``MockHTTP`` is ``aioresponses`` with one compatibility shim: aiohttp 3.14 made
``ClientResponse(stream_writer=...)`` a required argument and aioresponses 0.7.9 does not
pass it, so every mocked response would fail to build. The shim supplies a stand-in
writer only when the installed aiohttp asks for one.
"""

from __future__ import annotations

import base64
import inspect
import json
from types import SimpleNamespace
from typing import Any

from aiohttp import ClientResponse
from aioresponses import aioresponses
from yarl import URL

from annoq import RetryPolicy

BASE = "https://trace.example"
API_KEY = "wandb-test-key-0123456789abcdef0123456789"
BASIC = "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode()
KEY_B64 = base64.b64encode(f"api:{API_KEY}".encode()).decode()
PROJECT = "entity/project"

#: Retries that do not slow the suite down (short backoff, a capped Retry-After); the retry
#: *decisions* are the real ones. The one policy of the whole suite.
FAST_RETRIES = RetryPolicy(
    max_retries=10, backoff_base=0.001, backoff_cap=0.02, max_retry_after=0.05
)

_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


class _CompatResponse(ClientResponse):
    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class MockHTTP(aioresponses):  # type: ignore[misc]
    """``aioresponses`` whose mocked responses build on the installed aiohttp."""

    def add(self, url: Any, method: str = "GET", **kwargs: Any) -> None:
        kwargs.setdefault("response_class", _CompatResponse)
        super().add(url, method, **kwargs)


def url(path: str) -> str:
    return BASE + path


def calls(mock: aioresponses) -> list[tuple[str, URL, Any]]:
    """Every request the mock saw, as ``(method, url, call)``."""
    return [(method, u, call) for (method, u), sent in mock.requests.items() for call in sent]


def only_call(mock: aioresponses) -> tuple[str, URL, Any]:
    """The single request the mock saw (fails if there were more or none)."""
    seen = calls(mock)
    assert len(seen) == 1, [(m, str(u)) for m, u, _ in seen]
    return seen[0]


def request_count(mock: aioresponses) -> int:
    return len(calls(mock))


def sent_json(call: Any) -> Any:
    """The JSON body a recorded request carried (``None`` when it had no body)."""
    data = call.kwargs.get("data")
    return None if data is None else json.loads(data)


def item_json(**overrides: Any) -> dict[str, Any]:
    """A realistic item as the Weave server sends it."""
    item: dict[str, Any] = {
        "id": "0193a1b2-0000-7000-8000-000000000001",
        "project_id": PROJECT,
        "queue_id": "0193a1b2-0000-7000-8000-0000000000aa",
        "call_id": "0193a1b2-0000-7000-8000-00000000c001",
        "call_started_at": "2026-11-24T12:00:00.123Z",
        "call_ended_at": "2026-11-24T12:00:01.456789Z",
        "call_op_name": "weave:///entity/project/op/predict:v3",
        "call_trace_id": "0193a1b2-0000-7000-8000-00000000t001",
        "display_fields": ["inputs.prompt", "output"],
        "added_by": "user-adder",
        "annotation_state": "unstarted",
        "annotator_user_id": "",
        "created_at": "2026-11-24T12:05:00.001Z",
        "created_by": "user-adder",
        "updated_at": "2026-11-24T12:05:00.001Z",
        "deleted_at": None,
    }
    item.update(overrides)
    return item


def queue_json(**overrides: Any) -> dict[str, Any]:
    """A realistic queue as the Weave server sends it."""
    queue: dict[str, Any] = {
        "id": "0193a1b2-0000-7000-8000-0000000000aa",
        "project_id": PROJECT,
        "name": "triage",
        "description": "first pass",
        "scorer_refs": ["weave:///entity/project/object/Quality:v1"],
        "created_at": "2026-11-24T11:00:00Z",
        "created_by": "user-owner",
        "updated_at": "2026-11-24T11:30:00.5Z",
        "deleted_at": None,
    }
    queue.update(overrides)
    return queue
