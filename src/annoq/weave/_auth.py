"""Weave credentials: where they come from and the header that carries them."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from yarl import URL

from .. import _config
from .._args import netrc_entry, require_credential
from .._errors import InvalidArgumentError, MissingCredentialsError

if TYPE_CHECKING:
    from .._transport import Transport

__all__ = ["WeaveAuth", "netrc_hosts", "resolve_base_url", "resolve_weave_auth", "wandb_base_url"]


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
        require_credential(bearer_token, "bearer_token", header=True)
        return WeaveAuth(f"Bearer {bearer_token}", scheme="bearer", source="argument")
    environ = os.environ if env is None else env
    source = "argument"
    key = api_key
    if key is None:
        key, source = environ.get("WANDB_API_KEY") or None, "WANDB_API_KEY"
    hosts = netrc_hosts(host, environ)
    if key is None:
        key, source = _netrc_password(hosts, netrc_path), "netrc"
    if key is None:
        raise MissingCredentialsError(
            "no W&B API key: pass api_key=..., set WANDB_API_KEY, or add "
            f"'machine {hosts[0] if wandb_base_url(environ) else _config.WANDB_NETRC_HOST} "
            "login user password KEY' to ~/.netrc"
        )
    require_credential(
        key, "api_key" if source == "argument" else f"the API key from {source}", header=False
    )
    token = base64.b64encode(f"api:{key}".encode()).decode("ascii")
    return WeaveAuth(f"Basic {token}", scheme="basic", source=source)


def wandb_base_url(env: Mapping[str, str] | None = None) -> str | None:
    """``WANDB_BASE_URL`` without trailing slashes, or ``None`` when unset or empty."""
    environ = os.environ if env is None else env
    value = (environ.get("WANDB_BASE_URL") or "").strip().rstrip("/")
    return value or None


def netrc_hosts(trace_host: str | None, env: Mapping[str, str] | None = None) -> list[str]:
    """The netrc machines to look the API key up under, in order.

    First the one the official clients use: the host (and port) of ``WANDB_BASE_URL``,
    which is where ``wandb login`` writes the key; then the trace server's own host; then
    ``api.wandb.ai``.

        >>> netrc_hosts("trace.wandb.ai", {})
        ['trace.wandb.ai', 'api.wandb.ai']
        >>> netrc_hosts("w.corp", {"WANDB_BASE_URL": "https://w.corp:8443/"})
        ['w.corp:8443', 'w.corp', 'api.wandb.ai']
    """
    hosts: list[str] = []
    wandb = wandb_base_url(env)
    if wandb is not None:
        try:
            parsed = URL(wandb)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.host:
            port = parsed.explicit_port
            hosts.append(parsed.host if port is None else f"{parsed.host}:{port}")
    for candidate in (trace_host, _config.WANDB_NETRC_HOST):
        if candidate and candidate not in hosts:
            hosts.append(candidate)
    return hosts


def resolve_base_url(base_url: str | None, env: Mapping[str, str] | None = None) -> str:
    """The trace server, with the official clients' precedence (annoq adds the first two):

    1. the ``base_url`` argument;
    2. ``WF_TRACE_SERVER_URL``, then annoq's older ``WEAVE_TRACE_BASE_URL``;
    3. from ``WANDB_PUBLIC_BASE_URL``, else ``WANDB_BASE_URL``: ``<that URL>/traces``
       (a dedicated or self-hosted W&B), except W&B's own ``https://api.wandb.ai``;
    4. ``https://trace.wandb.ai``.

        >>> resolve_base_url(None, {"WANDB_BASE_URL": "https://wandb.corp.example/"})
        'https://wandb.corp.example/traces'
    """
    if base_url is not None:
        return base_url  # checked by check_base_url; "" is an error, not "unset"
    environ = os.environ if env is None else env
    for name in ("WF_TRACE_SERVER_URL", "WEAVE_TRACE_BASE_URL"):
        value = environ.get(name)
        if value:
            return value
    public = (environ.get("WANDB_PUBLIC_BASE_URL") or "").strip().rstrip("/")
    wandb = public or wandb_base_url(environ)
    if wandb is not None and wandb != _config.DEFAULT_WANDB_BASE_URL:
        return f"{wandb}/traces"
    return _config.DEFAULT_WEAVE_BASE_URL
