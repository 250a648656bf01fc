"""Weave credentials: where they come from and the header that carries them."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _config
from .._args import netrc_entry
from .._errors import InvalidArgumentError, MissingCredentialsError

if TYPE_CHECKING:
    from .._transport import Transport

__all__ = ["WeaveAuth", "resolve_base_url", "resolve_weave_auth"]


class WeaveAuth:
    """A fixed ``Authorization`` header; its repr never shows the secret."""

    __slots__ = ("_header", "scheme", "source")

    def __init__(self, header: str, *, scheme: str, source: str) -> None:
        self._header = {"Authorization": header}
        self.scheme = scheme
        self.source = source

    def __repr__(self) -> str:
        return f"WeaveAuth(scheme={self.scheme!r}, source={self.source!r})"

    async def headers(self, transport: Transport) -> Mapping[str, str]:
        return self._header

    async def refresh(self, transport: Transport, stale: Mapping[str, str]) -> bool:
        return False  # API keys do not expire mid-session; a 401 is final


def _netrc_password(hosts: list[str], path: Path | None) -> str | None:
    entry = netrc_entry(hosts, path)
    return None if entry is None else entry[1]


def resolve_weave_auth(
    api_key: str | None,
    bearer_token: str | None,
    *,
    host: str | None,
    env: Mapping[str, str] | None = None,
    netrc_path: Path | None = None,
) -> WeaveAuth:
    """Credentials in the documented order: argument, ``WANDB_API_KEY``, ``~/.netrc``.

    The key travels as ``Basic base64("api:KEY")``; a bearer token as ``Bearer TOKEN``.
    """
    if api_key is not None and bearer_token is not None:
        raise InvalidArgumentError("pass api_key or bearer_token, not both")
    if bearer_token is not None:
        if not bearer_token.strip():
            raise InvalidArgumentError("bearer_token must not be empty")
        return WeaveAuth(f"Bearer {bearer_token}", scheme="bearer", source="argument")
    environ = os.environ if env is None else env
    source = "argument"
    key = api_key
    if key is None:
        key, source = environ.get("WANDB_API_KEY") or None, "WANDB_API_KEY"
    if key is None:
        hosts = [h for h in (host, _config.WANDB_NETRC_HOST) if h]
        key, source = _netrc_password(hosts, netrc_path), "netrc"
    if key is None:
        raise MissingCredentialsError(
            "no W&B API key: pass api_key=..., set WANDB_API_KEY, or add "
            f"'machine {_config.WANDB_NETRC_HOST} login user password KEY' to ~/.netrc"
        )
    if not key.strip():
        raise InvalidArgumentError("api_key must not be empty")
    token = base64.b64encode(f"api:{key}".encode()).decode("ascii")
    return WeaveAuth(f"Basic {token}", scheme="basic", source=source)


def resolve_base_url(base_url: str | None, env: Mapping[str, str] | None = None) -> str:
    """Argument, else ``WF_TRACE_SERVER_URL``, else ``WEAVE_TRACE_BASE_URL``, else the default."""
    environ = os.environ if env is None else env
    return (
        base_url
        or environ.get("WF_TRACE_SERVER_URL")
        or environ.get("WEAVE_TRACE_BASE_URL")
        or _config.DEFAULT_WEAVE_BASE_URL
    )
