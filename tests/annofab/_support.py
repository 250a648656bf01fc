"""Helpers for driving the emulated Annofab over HTTP as different users."""

from __future__ import annotations

from typing import Any

import aiohttp

from annoq.emulator import AnnofabUser, Emulator


class Client:
    """Raw HTTP calls to the emulator's Annofab routes, as one user (its PAT)."""

    def __init__(self, emu: Emulator, http: aiohttp.ClientSession, user: AnnofabUser) -> None:
        self.emu = emu
        self.http = http
        self.user = user
        self.project = emu.annofab.project_id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.user.pat}"}

    def url(self, path: str) -> str:
        return f"{self.emu.base_url}/api/v1{path}"

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        async with self.http.get(self.url(path), params=params, headers=self.headers) as resp:
            return resp.status, await resp.json()

    async def operate(
        self,
        task_id: str,
        status: str,
        *,
        account_id: str | None = None,
        force: bool | None = None,
        last_updated: str | None = None,
        omit_account: bool = False,
    ) -> tuple[int, Any]:
        """POST operate, quoting the task's current ``updated_datetime`` by default and
        the caller's own account id unless another (or none) is given."""
        current = self.emu.annofab.task(task_id)
        body: dict[str, Any] = {
            "status": status,
            "last_updated_datetime": last_updated or current["updated_datetime"],
        }
        if not omit_account:
            body["account_id"] = account_id or self.user.account_id
        if force is not None:
            body["force"] = force
        path = f"/projects/{self.project}/tasks/{task_id}/operate"
        async with self.http.post(self.url(path), json=body, headers=self.headers) as resp:
            return resp.status, await resp.json()


def error_code(body: Any) -> str:
    """The ``error_code`` of an Annofab error body."""
    return str(body["errors"][0]["error_code"])
