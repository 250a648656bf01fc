"""Paging helpers the emulated Annofab lists share: ``page``/``limit`` parsing, the
10,000-result cap and the ``{list, page_no, total_page_no, total_count, over_limit,
aggregations}`` answer, built from already-encoded items."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeVar

import orjson

from ._records import AnnofabError

T = TypeVar("T")

RESULT_CAP: Final = 10_000
MAX_LIMIT: Final = 200
DEFAULT_LIMIT: Final = 30


def bad(message: str) -> AnnofabError:
    """A 400 ``INVALID_ARGUMENT`` answer."""
    return AnnofabError(400, "INVALID_ARGUMENT", message)


def int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within ``[low, high]`` (400 otherwise)."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise bad(f"{name} must be between {low} and {high}, got {value}")
    return value


def _same(item: bytes) -> bytes:
    return item


def page_of(
    items: Sequence[T],
    params: Mapping[str, str],
    encode: Callable[[T], bytes] = _same,  # type: ignore[assignment]
) -> bytes:
    """One page of ``items`` (every match, in order) as a list answer; only the page's
    items are encoded."""
    page = int_param(params, "page", 1, 1, 10**9)
    limit = int_param(params, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    total = len(items)
    reachable = min(total, RESULT_CAP)
    chosen = items[(page - 1) * limit : min(page * limit, reachable)] if limit else []
    chunk = [encode(item) for item in chosen]
    head = orjson.dumps(
        {
            "page_no": page,
            "total_page_no": max(1, math.ceil(reachable / limit)) if limit else 1,
            "total_count": total,
            "over_limit": total > RESULT_CAP,
            "aggregations": [],
        }
    )
    return b'{"list":[' + b",".join(chunk) + b"]," + head[1:]


def whole_list(encoded: Sequence[bytes]) -> bytes:
    """Every item as one page (lists the service does not page, such as members)."""
    head = orjson.dumps(
        {
            "page_no": 1,
            "total_page_no": 1,
            "total_count": len(encoded),
            "over_limit": False,
            "aggregations": [],
        }
    )
    return b'{"list":[' + b",".join(encoded) + b"]," + head[1:]


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "RESULT_CAP", "bad", "int_param", "page_of", "whole_list"]
