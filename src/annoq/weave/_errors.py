"""How Weave's error bodies read: a pure :func:`classify` the transport calls.

Weave answers ``{"reason": ..., "error_type"?: ...}``, or FastAPI's ``{"detail": ...}``
(a string, or a list of ``{"loc", "msg", "type"}`` for a 422). A 400 whose wording is a
refused state change, or an item id that is not in the queue, gets its own class (rules
1, 3, 4 and 5 of "Progress updates" in docs/semantics/weave.md): older servers send no
``error_type``, so the reason text is what distinguishes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _config
from .._errors import (
    APIError,
    Classified,
    InvalidTransitionError,
    ItemNotInQueueError,
    text_reason,
)

__all__ = ["classify"]

_TRANSITION_MARKERS = (
    "invalid state transition",
    "cannot transition to",
    "invalid annotation state",
)
_NOT_IN_QUEUE_MARKER = "not found in queue"


def classify(status: int, body: Any) -> Classified:
    """Read a Weave error body: its reason, error type and class.

    >>> found = classify(400, {"reason": "Invalid state transition from 'completed'"})
    >>> found.cls.__name__, found.error_type
    ('InvalidTransitionError', None)
    """
    reason, error_type = _read(body)
    cls: type[APIError] | None = None
    if status == 400:
        lowered = reason.lower()
        if any(marker in lowered for marker in _TRANSITION_MARKERS):
            cls = InvalidTransitionError
        elif _NOT_IN_QUEUE_MARKER in lowered:
            cls = ItemNotInQueueError
    return Classified(reason, error_type, cls)


def _read(body: Any) -> tuple[str, str | None]:
    if isinstance(body, Mapping):
        reason = body.get("reason")
        error_type = body.get("error_type")
        if isinstance(reason, str):
            return reason, error_type if isinstance(error_type, str) else None
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail, None
        if isinstance(detail, list) and detail:
            parts = []
            for entry in detail[: _config.ERROR_DETAIL_ENTRIES]:
                if isinstance(entry, Mapping):
                    loc = ".".join(str(p) for p in entry.get("loc", []) or [])
                    msg = str(entry.get("msg", ""))
                    parts.append(f"{loc}: {msg}" if loc else msg)
            if parts:
                return "; ".join(parts), None
        return "", None
    return text_reason(body), None
