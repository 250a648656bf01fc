"""How Annofab's error bodies read: a pure :func:`classify` the transport calls.

Annofab answers ``{"errors": [{"error_code", "message", "ext"?}], "context"?}`` (see
"Requests and errors" in docs/semantics/annofab.md); the first entry names the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import Classified, text_reason

__all__ = ["classify"]


def classify(status: int, body: Any) -> Classified:
    """Read an Annofab error body: the first error's message and code.

    >>> classify(404, {"errors": [{"error_code": "NOT_FOUND", "message": "no such task"}]})
    Classified(reason='no such task', error_type='NOT_FOUND', cls=None)
    """
    if isinstance(body, Mapping):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            first = errors[0]
            code = first.get("error_code")
            message = first.get("message")
            return Classified(
                "" if message is None else str(message), code if isinstance(code, str) else None
            )
        return Classified("")
    return Classified(text_reason(body))
