"""Annofab credentials: where they come from, and the two ways they travel.

A personal access token goes as ``Authorization: Bearer PAT`` and is never renewed. A
user id and password log in lazily (``POST /login``) and send the raw ``id_token``; on a
401 the tokens are renewed once, under one lock shared by every concurrent request (the
first renews, the others wait and resend with the result), falling back to a fresh login
when the refresh token has expired. The transport resends a request once after a 401 and
then gives up, so nothing recurses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from .. import _config
from .._args import netrc_entry
from .._errors import AuthenticationError, InvalidArgumentError, MissingCredentialsError
from .._transport import RequestOptions
from . import _protocol as proto

if TYPE_CHECKING:
    from .._transport import Transport

__all__ = ["AnnofabAuth", "LoginAuth", "PatAuth", "resolve_annofab_auth", "resolve_endpoint"]

log = logging.getLogger("annoq")


class PatAuth:
    """``Authorization: Bearer <personal access token>``; a 401 is final.

    AnnofabSession(pat="...")        # or ANNOFAB_PAT in the environment
    """

    __slots__ = ("_header", "source")

    scheme = "pat"

    def __init__(self, pat: str, *, source: str) -> None:
        self._header = {"Authorization": f"Bearer {pat}"}
        self.source = source

    def __repr__(self) -> str:
        return f"PatAuth(source={self.source!r})"

    async def headers(self, transport: Transport) -> Mapping[str, str]:
        return self._header

    async def refresh(self, transport: Transport, stale: Mapping[str, str]) -> bool:
        return False


class LoginAuth:
    """User id and password: lazy login, single-flight refresh, re-login as fallback.

    ``logins`` and ``refreshes`` count what was sent (for tests and diagnostics).

        af = AnnofabSession(user_id="alice", password=os.environ["PW"])
        await af.account_id(); print(af.auth.logins)      # 1: logged in on first use
    """

    __slots__ = (
        "_failure",
        "_lock",
        "_password",
        "_token",
        "logins",
        "options",
        "refreshes",
        "source",
        "user_id",
    )

    scheme = "login"

    def __init__(self, user_id: str, password: str, *, source: str) -> None:
        self.user_id = user_id
        self._password = password
        self.source = source
        self.options = RequestOptions()
        """Time limits and retries of login and refresh requests (the session's)."""
        self._token: proto.Token | None = None
        self._lock = anyio.Lock()
        self._failure: AuthenticationError | None = None
        self.logins = 0
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"LoginAuth(user_id={self.user_id!r}, source={self.source!r})"

    async def headers(self, transport: Transport) -> Mapping[str, str]:
        token = self._token
        if token is None:
            async with self._lock:
                if self._token is None:
                    self._token = await self._login(transport)
                token = self._token
        return {"Authorization": token.id_token}

    async def refresh(self, transport: Transport, stale: Mapping[str, str]) -> bool:
        async with self._lock:
            current = self._token
            if current is not None and stale.get("Authorization") != current.id_token:
                return True  # another request renewed the tokens while this one waited
            if current is not None:
                try:
                    self.refreshes += 1
                    response = await transport.send(
                        proto.refresh_request(current.refresh_token), self.options
                    )
                    self._token = proto.read_refresh(response.content)
                    return True
                except AuthenticationError:
                    log.debug("Annofab refresh token expired; logging in again")
            self._token = None
            self._token = await self._login(transport)
            return True

    async def _login(self, transport: Transport) -> proto.Token:
        """Called with the lock held. A refused login is remembered: every later
        request fails the same way at once instead of sending the password again."""
        if self._failure is not None:
            raise self._failure
        log.debug("logging in to Annofab as %r", self.user_id)
        request = proto.login_request(self.user_id, self._password)
        self.logins += 1
        try:
            response = await transport.send(request, self.options)
            return proto.read_login(response.content, url=transport.url_for(request))
        except AuthenticationError as error:
            self._failure = error
            raise


AnnofabAuth = PatAuth | LoginAuth


def resolve_endpoint(endpoint: str | None, env: Mapping[str, str] | None = None) -> str:
    """Argument, else ``ANNOFAB_ENDPOINT_URL``, else ``https://annofab.com``."""
    environ = os.environ if env is None else env
    return endpoint or environ.get("ANNOFAB_ENDPOINT_URL") or _config.DEFAULT_ANNOFAB_ENDPOINT


def _nonempty(value: str, argument: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{argument} must be a non-empty string")
    return value


def resolve_annofab_auth(
    pat: str | None,
    user_id: str | None,
    password: str | None,
    *,
    host: str | None,
    env: Mapping[str, str] | None = None,
    netrc_path: Path | None = None,
) -> AnnofabAuth:
    """Credentials in the documented order: arguments, ``ANNOFAB_PAT``,
    ``ANNOFAB_USER_ID`` + ``ANNOFAB_PASSWORD``, then ``~/.netrc`` for ``host``.

    >>> resolve_annofab_auth("my-pat", None, None, host="annofab.com", env={})
    PatAuth(source='argument')
    """
    if pat is not None:
        if user_id is not None or password is not None:
            raise InvalidArgumentError("pass pat, or user_id and password, not both")
        return PatAuth(_nonempty(pat, "pat"), source="argument")
    if user_id is not None or password is not None:
        if user_id is None or password is None:
            missing = "password" if password is None else "user_id"
            raise InvalidArgumentError(f"user_id and password go together; {missing} is missing")
        return LoginAuth(
            _nonempty(user_id, "user_id"), _nonempty(password, "password"), source="argument"
        )
    environ = os.environ if env is None else env
    env_pat = environ.get("ANNOFAB_PAT")
    if env_pat:
        return PatAuth(env_pat, source="ANNOFAB_PAT")
    env_user, env_password = environ.get("ANNOFAB_USER_ID"), environ.get("ANNOFAB_PASSWORD")
    if env_user and env_password:
        return LoginAuth(env_user, env_password, source="ANNOFAB_USER_ID")
    entry = netrc_entry([host], netrc_path) if host else None
    if entry is not None and entry[0]:
        return LoginAuth(entry[0], entry[1], source="netrc")
    raise MissingCredentialsError(
        "no Annofab credentials: pass pat=... (or user_id=... and password=...), set "
        "ANNOFAB_PAT (or ANNOFAB_USER_ID and ANNOFAB_PASSWORD), or add "
        f"'machine {host or 'annofab.com'} login USER_ID password PASSWORD' to ~/.netrc"
    )
