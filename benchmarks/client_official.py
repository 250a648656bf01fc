"""The official client: the Stainless-generated SDK vendored in ``weave``
(``weave.vendor.weave_server_sdk``), used as documented, with its defaults (httpx
transport, 2 retries, non-validating model construction).

Importing this module fails with ImportError when ``weave`` is not installed; the
worker then reports the rows as unavailable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from _harness import Target, run_each
from weave.vendor.weave_server_sdk import AsyncWeaveTrace, WeaveTrace
from weave.vendor.weave_server_sdk._models import construct_type, validate_type
from weave.vendor.weave_server_sdk.types.annotation_queues.item_query_response import (
    ItemQueryResponse,
)


def _options(t: Target) -> dict[str, Any]:
    # The service's Basic auth is base64("api:" + API_KEY): username "api".
    return {"username": "api", "password": t.api_key, "base_url": t.base_url}


async def stream_async(t: Target) -> int:
    """A manual limit/offset loop over ``annotation_queues.items.query`` (it has no
    pagination iterator)."""
    count = offset = 0
    async with AsyncWeaveTrace(**_options(t)) as client:
        items_api = client.annotation_queues.items
        while True:
            page = await items_api.query(
                t.queue_id, project_id=t.project, limit=t.page_size, offset=offset
            )
            for _item in page.items:
                count += 1
            if len(page.items) < t.page_size:
                return count
            offset += t.page_size


def stream_sync(t: Target) -> int:
    """The same loop with the synchronous client."""
    count = offset = 0
    with WeaveTrace(**_options(t)) as client:
        items_api = client.annotation_queues.items
        while True:
            page = items_api.query(
                t.queue_id, project_id=t.project, limit=t.page_size, offset=offset
            )
            for _item in page.items:
                count += 1
            if len(page.items) < t.page_size:
                return count
            offset += t.page_size


async def bulk_async(t: Target, ids: Iterable[str], concurrency: int) -> int:
    """``items.update_progress`` per id: sequential, or gathered under a semaphore (it
    has no bulk operation)."""
    async with AsyncWeaveTrace(**_options(t)) as client:
        items_api = client.annotation_queues.items

        async def update(item_id: str) -> bool:
            answer = await items_api.update_progress(
                item_id, queue_id=t.queue_id, annotation_state="completed", project_id=t.project
            )
            return answer.item.annotation_state == "completed"

        return await run_each(ids, update, concurrency)


def decode(raw: bytes) -> list[Any]:
    """What the client does with a response body by default: httpx ``Response.json()``
    (stdlib ``json.loads``) then ``construct_type`` (see ``_process_response_data`` in
    its ``_base_client.py``)."""
    return construct_type(type_=ItemQueryResponse, value=json.loads(raw)).items  # type: ignore[no-any-return,union-attr]


def decode_strict(raw: bytes) -> list[Any]:
    """The same with ``_strict_response_validation=True`` (pydantic validation)."""
    return validate_type(type_=ItemQueryResponse, value=json.loads(raw)).items  # type: ignore[no-any-return,union-attr]
