"""Helpers shared by the emulator tests (raw JSON calls over aiohttp)."""

from __future__ import annotations

import json as jsonlib
from typing import Any

import aiohttp

from annoq.emulator import Emulator


class Api:
    """Raw JSON calls to a served emulator (status and decoded body)."""

    def __init__(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.http = http
        self.project = emu.project

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if data is not None:
            kwargs["data"] = data
        elif json is not None:
            kwargs["json"] = json
        async with self.http.request(method, self.emu.url(path), **kwargs) as resp:
            raw = await resp.read()
            if resp.content_type == "application/x-ndjson":
                body: Any = [jsonlib.loads(line) for line in raw.splitlines() if line]
            else:
                body = jsonlib.loads(raw) if raw else None
            return resp.status, body

    async def query(self, queue_id: str, **body: Any) -> tuple[int, Any]:
        body.setdefault("project_id", self.project)
        return await self.call("POST", f"/annotation_queues/{queue_id}/items/query", body)

    async def items(self, queue_id: str, **body: Any) -> list[dict[str, Any]]:
        status, data = await self.query(queue_id, **body)
        assert status == 200, data
        items: list[dict[str, Any]] = data["items"]
        return items

    async def progress(
        self, queue_id: str, item_id: str, state: Any, *, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        return await self.call(
            "POST",
            f"/annotation_queues/{queue_id}/items/{item_id}/progress",
            {"project_id": self.project, "annotation_state": state},
            headers=headers,
        )
