"""``AnnofabSession``: the connection to Annofab (or annoq's emulator) and its credentials."""

from __future__ import annotations

import os
from typing import Any

import aiohttp

from .. import _config
from .._args import require_choice, require_count, require_id, require_page_size, require_segment
from .._config import Timeout
from .._errors import InvalidArgumentError
from .._retry import RetryBudget, RetryPolicy
from .._session_base import SessionBase
from .._transport import check_base_url as _check_base_url
from . import _protocol as proto

# Typed records beyond tasks (h10).
from . import _protocol_data as pdata
from ._api import AnnofabApi, AnnofabApiV2
from ._auth import AnnofabAuth, LoginAuth, MfaCode, resolve_annofab_auth, resolve_endpoint
from ._errors import classify
from ._handle import Project
from ._models import Account
from ._models_data import Organization, Page, ProjectInfo
from ._walks import ListWalk, list_walk

__all__ = ["AnnofabSession"]


class AnnofabSession(SessionBase):
    """An async session with Annofab's Web API (or annoq's emulator).

        async with AnnofabSession() as af:        # ANNOFAB_PAT, or user/password, or netrc
            project = af.project("prj-1")
            async for task in project.tasks(phase="annotation", status="not_started"):
                ...
            result = await project.bulk_operate(ids, "complete")

    Parameters:
        pat: a personal access token (``Authorization: Bearer``); never refreshed.
        user_id, password: log in with ``POST /api/v1/login`` on first use; tokens are
            renewed on a 401 (one refresh for all concurrent requests).
        mfa_code: for an account with multi-factor authentication, the one-time code
            answering the login's challenge, or a function (sync or async) returning a
            fresh code each time a login is challenged (a later re-login needs one).
        endpoint: else ``ANNOFAB_ENDPOINT_URL``, else ``https://annofab.com``.
        session: an existing ``aiohttp.ClientSession`` to use; annoq never closes it.
        timeout: default time limits of every request (:class:`annoq.Timeout`); there
            always are some.
        max_retries, retry_policy: retries per request (429's ``Retry-After`` is honoured
            up to ``retry_policy.max_retry_after``).
        retry_budget: session-wide retry token bucket; ``None`` disables it.
        connection_limit: most connections open at once (when annoq makes the session).
        max_response_bytes: the largest response body read (default 64 MiB); a larger
            one raises :class:`annoq.ResponseDecodeError` without being read whole.
        allow_insecure_http: allow credentials over ``http://`` to a non-loopback host.

    Without arguments, credentials come from ``ANNOFAB_PAT``, else ``ANNOFAB_USER_ID`` and
    ``ANNOFAB_PASSWORD``, else the ``~/.netrc`` entry of the endpoint's host. They never
    appear in reprs, logs or errors.
    """

    def __init__(
        self,
        pat: str | None = None,
        user_id: str | None = None,
        password: str | None = None,
        *,
        mfa_code: MfaCode | None = None,
        endpoint: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        retry_budget: RetryBudget | bool | None = True,
        connection_limit: int = _config.DEFAULT_CONNECTION_LIMIT,
        allow_insecure_http: bool = False,
        user_agent: str | None = None,
        max_response_bytes: int = _config.DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        url = _check_base_url(
            resolve_endpoint(endpoint), allow_insecure_http=allow_insecure_http, argument="endpoint"
        )
        auth = resolve_annofab_auth(
            pat, user_id, password, host=url.host, env=os.environ, mfa_code=mfa_code
        )
        self._start(
            url, auth, session=session, timeout=timeout, max_retries=max_retries,
            retry_policy=retry_policy, retry_budget=retry_budget,
            connection_limit=connection_limit, user_agent=user_agent,
            max_response_bytes=max_response_bytes, classify=classify,
        )  # fmt: skip
        if isinstance(auth, LoginAuth):
            auth.options = self._options

    @property
    def endpoint(self) -> str:
        """The service this session talks to (the API is under ``/api/v1``)."""
        return str(self._transport.base_url)

    @property
    def auth(self) -> AnnofabAuth:
        """How this session authenticates (its repr shows no secret)."""
        auth = self._transport.auth
        assert isinstance(auth, AnnofabAuth)
        return auth

    def __repr__(self) -> str:
        return f"AnnofabSession(endpoint={self.endpoint!r}, auth={self.auth!r})"

    # -- the whole API, low level ---------------------------------------------------

    @property
    def api(self) -> AnnofabApi:
        """Every v1 operation as a coroutine, named as in the official client.

        page = await af.api.get_input_data_list("prj-1", query_params={"limit": 200})
        """
        return AnnofabApi(self.send)

    @property
    def api2(self) -> AnnofabApiV2:
        """Every v2 operation (cached reads) as a coroutine; names end in ``_v2``.

        members = await af.api2.get_project_members_v2("prj-1")
        """
        return AnnofabApiV2(self.send)

    # -- logging in and out -----------------------------------------------------------

    async def login(self, *, mfa_code: MfaCode | None = None) -> None:
        """Log in now instead of on first use (again after a refusal); ``mfa_code``
        answers an MFA challenge. Only for user id and password sessions.

            af = AnnofabSession(user_id="alice", password=pw)
            await af.login(mfa_code=input("code: "))
        """
        auth = self.auth
        if not isinstance(auth, LoginAuth):
            raise InvalidArgumentError(
                "this session uses a personal access token; there is nothing to log in"
            )
        await auth.login(self._transport, mfa_code=mfa_code)

    async def logout(self) -> bool:
        """Revoke this session's login tokens (``POST /logout``); ``False`` when there
        were none (not logged in yet, or a personal access token, which stays valid).
        A later request logs in again."""
        auth = self.auth
        if not isinstance(auth, LoginAuth):
            return False
        return await auth.logout(self._transport)

    # -- the caller -----------------------------------------------------------------

    async def my_account(self) -> Account:
        """The caller's account; fetched once per session, then cached.

        me = await af.my_account()
        print(me.account_id, me.user_id)
        """
        return await self.identity.record(self._read_account)

    async def _read_account(self) -> Account:
        return proto.read_account((await self.send(proto.my_account_request())).content)

    async def account_id(self) -> str:
        """The caller's ``account_id`` (what tasks name their assignee with); cached."""
        return (await self.my_account()).account_id

    # -- projects -------------------------------------------------------------------

    def project(self, project_id: str) -> Project:
        """A handle on one project; no request is made.

        project = af.project("prj-1")
        """
        return Project(self, require_segment(project_id, "project_id"))

    # -- organizations and project lists (typed, one request each) ---------------------

    async def organization(self, name: str) -> Organization:
        """An organization by name; :class:`~annoq.NotFoundError` when there is none.

        org = await af.organization("my-org")
        """
        data = await self.api.get_organization(require_id(name, "name"))
        return pdata.read(data, Organization)

    async def my_projects_page(
        self,
        *,
        page: int = 1,
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        organization_id: str | None = None,
        title: str | None = None,
        status: str | None = None,
    ) -> Page[ProjectInfo]:
        """One page of the projects the caller is a member of (``title`` matches part).

        page = await af.my_projects_page(status="active")
        """
        params = _project_params(page, page_size, title=title, status=status)
        if organization_id is not None:
            params["organization_id"] = require_id(organization_id, "organization_id")
        data = await self.api.get_my_projects(query_params=params)  # type: ignore[arg-type]
        return pdata.read_page(data, ProjectInfo)

    async def organization_projects_page(
        self,
        name: str,
        *,
        page: int = 1,
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        title: str | None = None,
        status: str | None = None,
    ) -> Page[ProjectInfo]:
        """One page of an organization's projects.

        page = await af.organization_projects_page("my-org")
        """
        params = _project_params(page, page_size, title=title, status=status)
        data = await self.api.get_projects_of_organization(
            require_id(name, "name"),
            query_params=params,  # type: ignore[arg-type]
        )
        return pdata.read_page(data, ProjectInfo)

    # -- project walks (issue 15) ------------------------------------------------------

    def my_projects(
        self,
        *,
        organization_id: str | None = None,
        title: str | None = None,
        status: str | None = None,
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        prefetch: int | None = None,
    ) -> ListWalk[ProjectInfo]:
        """Walk the projects the caller is a member of, each once.

        async for info in af.my_projects(status="active"):
            print(info.project_id, info.title)
        """
        _project_params(1, page_size, title=title, status=status)

        async def one(page: int, limit: int) -> Page[ProjectInfo]:
            return await self.my_projects_page(
                page=page,
                page_size=limit,
                organization_id=organization_id,
                title=title,
                status=status,
            )

        return list_walk(one, _project_id, page_size=page_size, prefetch=prefetch)

    def organization_projects(
        self,
        name: str,
        *,
        title: str | None = None,
        status: str | None = None,
        page_size: int = _config.ANNOFAB_MAX_PAGE_SIZE,
        prefetch: int | None = None,
    ) -> ListWalk[ProjectInfo]:
        """Walk an organization's projects, each once.

        async for info in af.organization_projects("my-org"):
            print(info.title)
        """
        require_id(name, "name")
        _project_params(1, page_size, title=title, status=status)

        async def one(page: int, limit: int) -> Page[ProjectInfo]:
            return await self.organization_projects_page(
                name, page=page, page_size=limit, title=title, status=status
            )

        return list_walk(one, _project_id, page_size=page_size, prefetch=prefetch)


def _project_id(info: ProjectInfo) -> str:
    return info.project_id


_PROJECT_STATUSES = ("active", "suspended", "initializing")


def _project_params(
    page: int, page_size: int, *, title: str | None, status: str | None
) -> dict[str, Any]:
    require_count(page, "page", minimum=1)
    require_page_size(page_size, maximum=_config.ANNOFAB_MAX_PAGE_SIZE)
    params: dict[str, Any] = {"page": page, "limit": page_size}
    if title is not None:
        params["title"] = require_id(title, "title")
    if status is not None:
        params["status"] = require_choice(status, "status", _PROJECT_STATUSES)
    return params
