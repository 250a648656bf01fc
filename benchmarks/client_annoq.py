"""annoq through its public API: ``queue.items()`` (with its prefetch),
``queue.bulk_update_progress()`` and ``queue.mark_all()``."""

from __future__ import annotations

from collections.abc import Iterable

from _harness import Target

from annoq import WeaveSession
from annoq.weave._protocol import read_items

MARK_ALL_CONCURRENCY = 32


def _session(t: Target) -> WeaveSession:
    return WeaveSession(t.api_key, base_url=t.base_url, user_id=t.user_id)


async def stream(t: Target) -> int:
    count = 0
    async with _session(t) as weave:
        async for _item in weave.queue(t.project, t.queue_id).items(page_size=t.page_size):
            count += 1
    return count


async def bulk(t: Target, ids: Iterable[str], concurrency: int) -> int:
    async with _session(t) as weave:
        queue = weave.queue(t.project, t.queue_id)
        result = await queue.bulk_update_progress(ids, "completed", concurrency=concurrency)
    if not result.ok:
        raise RuntimeError(f"bulk failed: {result.failed} failures, e.g. {result.failures[:3]}")
    return result.updated


async def mark_all(t: Target) -> int:
    """Walk + update every item of the queue (nothing collected first)."""
    async with _session(t) as weave:
        queue = weave.queue(t.project, t.queue_id)
        result = await queue.mark_all(
            "completed", concurrency=MARK_ALL_CONCURRENCY, page_size=t.page_size
        )
    if not result.ok:
        raise RuntimeError(f"mark_all failed: {result.failed} failures")
    return result.updated


def decode(raw: bytes) -> list[object]:
    """One page into ``QueueItem`` objects as a walk does it (msgspec into attrs)."""
    return read_items(raw)  # type: ignore[return-value]


def decode_cattrs(raw: bytes) -> list[object]:
    """The same through the cattrs path (the reference, and the fallback)."""
    # Imported here so that older annoq versions (without it) still run the other rows.
    from annoq.weave._protocol import read_items_cattrs

    return read_items_cattrs(raw)  # type: ignore[return-value]
