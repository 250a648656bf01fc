"""The floor: a bare ``aiohttp.ClientSession`` + ``orjson.loads`` producing plain dicts.

No models, no retries, no validation: the cheapest a Python client can be.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp
import orjson
from _harness import Target, run_each


def _session(t: Target) -> aiohttp.ClientSession:
    headers = {**t.auth_headers(), "Content-Type": "application/json"}
    return aiohttp.ClientSession(headers=headers)


async def stream(t: Target) -> int:
    """A limit/offset loop, one page at a time; every item is a dict."""
    url = t.base_url + t.query_path
    count = offset = 0
    async with _session(t) as http:
        while True:
            body = orjson.dumps({"project_id": t.project, "limit": t.page_size, "offset": offset})
            async with http.post(url, data=body) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"items query answered {resp.status}")
                items = orjson.loads(await resp.read())["items"]
            for _item in items:
                count += 1
            if len(items) < t.page_size:
                return count
            offset += t.page_size


async def bulk(t: Target, ids: Iterable[str], concurrency: int) -> int:
    """One POST per id; sequential (concurrency 1) or gathered under a semaphore."""
    body = orjson.dumps({"project_id": t.project, "annotation_state": "completed"})
    async with _session(t) as http:

        async def update(item_id: str) -> bool:
            async with http.post(t.base_url + t.progress_path(item_id), data=body) as resp:
                item = orjson.loads(await resp.read())["item"]
                return resp.status == 200 and item["annotation_state"] == "completed"

        return await run_each(ids, update, concurrency)


def decode(raw: bytes) -> list[dict[str, object]]:
    """orjson to plain dicts."""
    return orjson.loads(raw)["items"]  # type: ignore[no-any-return]
