"""``WeaveSession``: the connection to a Weave trace server, and the queue-level calls."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable

import aiohttp

from .. import _config
from .._args import require_id
from .._config import Timeout
from .._errors import ResponseDecodeError
from .._requester import Identity
from .._retry import RetryBudget, RetryPolicy
from .._session_base import SessionBase
from .._transport import aiter_lines, check_base_url
from . import _protocol as proto
from ._auth import WeaveAuth, resolve_base_url, resolve_weave_auth
from ._errors import classify
from ._handle import Queue
from ._models import AnnotationQueue, QueueStats

__all__ = ["WeaveSession"]


class WeaveSession(SessionBase):
    """An async session with a W&B Weave trace server (or annoq's emulator).

        async with WeaveSession() as weave:          # key from WANDB_API_KEY or ~/.netrc
            queue = weave.queue("entity/project", queue_id)
            async for item in queue.items(states=["unstarted"]):
                ...
            result = await queue.mark_all("completed", states=["unstarted"])

    Parameters:
        api_key: W&B API key; else ``WANDB_API_KEY``; else the netrc password for
            ``api.wandb.ai``. Sent as ``Basic base64("api:KEY")``.
        base_url: else ``WF_TRACE_SERVER_URL``, else ``WEAVE_TRACE_BASE_URL``, else
            ``<WANDB_BASE_URL>/traces`` when ``WANDB_BASE_URL`` names a W&B other than
            ``https://api.wandb.ai`` (as the official clients do), else
            ``https://trace.wandb.ai``.
        bearer_token: send ``Authorization: Bearer TOKEN`` instead of an API key.
        session: an existing ``aiohttp.ClientSession`` to use; annoq never closes it.
        timeout: default time limits of every request (:class:`annoq.Timeout`).
        max_retries: retries per request after the first attempt.
        retry_policy: full control of backoff (overrides ``max_retries``).
        retry_budget: session-wide retry token bucket; ``None`` disables it.
        connection_limit: most connections open at once (when annoq makes the session).
        allow_insecure_http: allow credentials over ``http://`` to a non-loopback host.
        max_response_bytes: the largest response body read (default 64 MiB); a larger
            one raises :class:`annoq.ResponseDecodeError` without being read whole.
        user_id: your W&B user id, if known. Bulk updates then skip, without a request,
            items shown as set to the target by you. Without it the id is learned from
            the first answer that proves a real write of yours; every ``with_options``
            view shares what is learned.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        bearer_token: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        retry_budget: RetryBudget | bool | None = True,
        connection_limit: int = _config.DEFAULT_CONNECTION_LIMIT,
        allow_insecure_http: bool = False,
        user_id: str | None = None,
        user_agent: str | None = None,
        max_response_bytes: int = _config.DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        url = check_base_url(resolve_base_url(base_url), allow_insecure_http=allow_insecure_http)
        identity = Identity(None if user_id is None else require_id(user_id, "user_id"))
        auth: WeaveAuth = resolve_weave_auth(api_key, bearer_token, host=url.host, env=os.environ)
        self._start(
            url, auth, session=session, timeout=timeout, max_retries=max_retries,
            retry_policy=retry_policy, retry_budget=retry_budget,
            connection_limit=connection_limit, user_agent=user_agent,
            max_response_bytes=max_response_bytes, classify=classify, identity=identity,
        )  # fmt: skip

    @property
    def user_id(self) -> str | None:
        """Your W&B user id: given, or learned from a write of yours; ``None`` if unknown."""
        return self._identity.user_id

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self._identity.give(None if value is None else require_id(value, "user_id"))

    @property
    def base_url(self) -> str:
        """The server this session talks to."""
        return str(self._transport.base_url)

    def __repr__(self) -> str:
        return f"WeaveSession(base_url={self.base_url!r}, auth={self._transport.auth!r})"

    # -- queues -------------------------------------------------------------------

    def queue(self, project_id: str, queue_id: str) -> Queue:
        """A handle on one queue; no request is made.

        queue = weave.queue("entity/project", "0193...")
        """
        return Queue(
            self,
            proto.require_id(project_id, "project_id"),
            proto.require_segment(queue_id, "queue_id"),
        )

    async def create_queue(
        self,
        project_id: str,
        *,
        name: str,
        scorer_refs: Iterable[str] = (),
        description: str | None = None,
    ) -> str:
        """Create a queue and return its id.

        Not retried once the request may have reached the server (a repeat after a lost
        answer would create a second queue): only throttling (429) is retried. After a
        :class:`~annoq.TransportError` or a server error the queue may exist: look for
        it with ``queues(project_id, name=...)`` before creating it again.

            qid = await weave.create_queue("entity/project", name="triage")
        """
        request = proto.create_queue_request(
            project_id, name=name, scorer_refs=scorer_refs, description=description
        )
        return proto.read_created_id((await self.send(request, repeatable=False)).content)

    async def queues(
        self,
        project_id: str,
        *,
        name: str | None = None,
        sort_by: str | None = None,
        direction: str = "desc",
        limit: int | None = None,
        offset: int | None = None,
    ) -> AsyncIterator[AnnotationQueue]:
        """Stream a project's queues (NDJSON, read line by line, never buffered whole).

        async for q in weave.queues("entity/project", name="triage"):
            print(q.id, q.name)
        """
        request = proto.list_queues_request(
            project_id, name=name, sort_by=sort_by, direction=direction, limit=limit, offset=offset
        )
        async with self.stream(request) as response:
            index = 0
            lines = aiter_lines(response, max_bytes=self._transport.max_response_bytes)
            async for line in lines:
                yield proto.read_queue_line(line, index)
                index += 1

    async def queue_stats(self, project_id: str, queue_ids: Iterable[str]) -> list[QueueStats]:
        """Item counts for each queue id, in the order asked (unknown ids give zeros).

        [s] = await weave.queue_stats("entity/project", [qid])
        """
        request = proto.queue_stats_request(project_id, queue_ids)
        stats = proto.read_stats((await self.send(request)).content)
        asked = len(request.json["queue_ids"])
        if len(stats) != asked:
            raise ResponseDecodeError(
                f"expected one stats row per queue id asked ({asked}), got {len(stats)}",
                path="$.stats",
            )
        return stats
