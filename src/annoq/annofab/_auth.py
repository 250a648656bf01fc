"""Annofab credentials: where they come from, and the two ways they travel.

A personal access token goes as ``Authorization: Bearer PAT`` and is never renewed. A
user id and password log in lazily (``POST /login``) and send the raw ``id_token``; on a
401 the tokens are renewed once, under one lock shared by every concurrent request (the
first renews, the others wait and resend with the result), falling back to a fresh login
when the refresh token has expired. The transport resends a request once after a 401 and
then gives up, so nothing recurses. An account with multi-factor authentication answers
the login with a challenge, which is answered with the code ``mfa_code`` gives
(``POST /login-respond-to-auth-challenge``). Every one of these calls is the generated
low-level operation (``api.login``, ``api.refresh_token``, ...).
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .. import _config
from .._args import netrc_entry
from .._convert import field, structure
from .._errors import (
    AuthenticationError,
    InvalidArgumentError,
    MFARequiredError,
    MissingCredentialsError,
    ResponseDecodeError,
)
from .._transport import Request, RequestOptions, Response
from . import _protocol as proto
from ._api import AnnofabApi

if TYPE_CHECKING:
    from .._transport import Transport

__all__ = [
    "AnnofabAuth",
    "LoginAuth",
    "MfaCode",
    "PatAuth",
    "resolve_annofab_auth",
    "resolve_endpoint",
]

MfaCode = str | Callable[[], str | Awaitable[str]]
"""A one-time code for the next MFA challenge, or a function (sync or async) that gives
one whenever a login is challenged."""

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
        "_mfa_code",
        "_password",
        "_token",
        "logins",
        "options",
        "refreshes",
        "source",
        "user_id",
    )

    scheme = "login"

    def __init__(
        self, user_id: str, password: str, *, source: str, mfa_code: MfaCode | None = None
    ) -> None:
        self.user_id = user_id
        self._password = password
        self._mfa_code = _check_mfa_code(mfa_code)
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
                    answer = await self._api(transport).refresh_token(
                        request_body={"refresh_token": current.refresh_token}
                    )
                    self._token = _read_token(answer, "$")
                    return True
                except AuthenticationError:
                    log.debug("Annofab refresh token expired; logging in again")
            self._token = None
            self._token = await self._login(transport)
            return True

    async def login(self, transport: Transport, *, mfa_code: MfaCode | None = None) -> None:
        """Log in now (again), forgetting an earlier refusal; ``mfa_code`` answers the
        challenge of an MFA account (else the one given to the session)."""
        code = _check_mfa_code(mfa_code)
        async with self._lock:
            if code is not None:
                self._mfa_code = code
            self._failure = None
            self._token = None
            self._token = await self._login(transport)

    async def logout(self, transport: Transport) -> bool:
        """Revoke the tokens (``POST /logout``); ``False`` when not logged in. The next
        request logs in again."""
        async with self._lock:
            token, self._token = self._token, None
            if token is None:
                return False
            await self._api(transport).logout(
                request_body={
                    "id_token": token.id_token,
                    "access_token": token.access_token,
                    "refresh_token": token.refresh_token,
                }
            )
            return True

    def _api(self, transport: Transport) -> AnnofabApi:
        async def send(request: Request) -> Response:
            return await transport.send(request, self.options)

        return AnnofabApi(send)

    async def _login(self, transport: Transport) -> proto.Token:
        """Called with the lock held. A refused login is remembered: every later
        request fails the same way at once instead of sending the password again."""
        if self._failure is not None:
            raise self._failure
        log.debug("logging in to Annofab as %r", self.user_id)
        api = self._api(transport)
        self.logins += 1
        try:
            answer = await api.login(
                request_body={"user_id": self.user_id, "password": self._password}
            )
            if "token" not in answer and "session" in answer:
                answer = await self._answer_challenge(api, answer["session"], transport)
            return _read_token(field(answer, "token"), "$.token")
        except AuthenticationError as error:
            self._failure = error
            raise

    async def _answer_challenge(
        self, api: AnnofabApi, session: object, transport: Transport
    ) -> dict[str, Any]:
        url = transport.url_for(Request("POST", "/api/v1/login"))
        code = self._mfa_code
        if code is None:
            raise MFARequiredError(
                401,
                "this account uses multi-factor authentication: pass mfa_code=... (a code, "
                "or a function giving one), or use a personal access token instead "
                "(pat=... or ANNOFAB_PAT)",
                error_type="MFA_REQUIRED",
                method="POST",
                url=url,
            )
        if isinstance(code, str):
            self._mfa_code = None  # a one-time code answers one challenge only
            value: object = code
        else:
            value = code()
            if inspect.isawaitable(value):
                value = await value
        if not isinstance(value, str) or not value.strip():
            raise InvalidArgumentError(  # the value may be a code: never shown
                f"mfa_code must give a non-empty string, got {type(value).__name__}"
            )
        if not isinstance(session, str):
            raise ResponseDecodeError("expected a string", path="$.session")
        log.debug("answering the MFA challenge of %r", self.user_id)
        return await api.login_respond_to_auth_challenge(
            request_body={"user_id": self.user_id, "mfa_code": value, "session": session}
        )


AnnofabAuth = PatAuth | LoginAuth


def _check_mfa_code(code: object) -> MfaCode | None:
    if code is None or callable(code):
        return code
    if not isinstance(code, str) or not code.strip():
        raise InvalidArgumentError(
            "mfa_code must be a non-empty string or a function giving one, got "
            f"{type(code).__name__}"
        )
    return code


def _read_token(data: Any, path: str) -> proto.Token:
    return structure(proto.converter, data, proto.Token, path=path)


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
    mfa_code: MfaCode | None = None,
) -> AnnofabAuth:
    """Credentials in the documented order: arguments, ``ANNOFAB_PAT``,
    ``ANNOFAB_USER_ID`` + ``ANNOFAB_PASSWORD``, then ``~/.netrc`` for ``host``.

    >>> resolve_annofab_auth("my-pat", None, None, host="annofab.com", env={})
    PatAuth(source='argument')
    """
    if pat is not None:
        if user_id is not None or password is not None:
            raise InvalidArgumentError("pass pat, or user_id and password, not both")
        if mfa_code is not None:
            raise InvalidArgumentError("mfa_code goes with user_id and password, not pat")
        return PatAuth(_nonempty(pat, "pat"), source="argument")
    if user_id is not None or password is not None:
        if user_id is None or password is None:
            missing = "password" if password is None else "user_id"
            raise InvalidArgumentError(f"user_id and password go together; {missing} is missing")
        return LoginAuth(
            _nonempty(user_id, "user_id"),
            _nonempty(password, "password"),
            source="argument",
            mfa_code=mfa_code,
        )
    environ = os.environ if env is None else env
    env_pat = environ.get("ANNOFAB_PAT")
    if env_pat:
        return PatAuth(env_pat, source="ANNOFAB_PAT")
    env_user, env_password = environ.get("ANNOFAB_USER_ID"), environ.get("ANNOFAB_PASSWORD")
    if env_user and env_password:
        return LoginAuth(env_user, env_password, source="ANNOFAB_USER_ID", mfa_code=mfa_code)
    entry = netrc_entry([host], netrc_path) if host else None
    if entry is not None and entry[0]:
        return LoginAuth(entry[0], entry[1], source="netrc", mfa_code=mfa_code)
    raise MissingCredentialsError(
        "no Annofab credentials: pass pat=... (or user_id=... and password=...), set "
        "ANNOFAB_PAT (or ANNOFAB_USER_ID and ANNOFAB_PASSWORD), or add "
        f"'machine {host or 'annofab.com'} login USER_ID password PASSWORD' to ~/.netrc"
    )
