"""The I/O of one progress update: read what is needed, send, resolve, decide.

:mod:`._decisions` says what each answer means; :class:`ProgressDriver` makes the
requests those decisions need, for one item id or :class:`QueueItem` at a time (the bulk
engine's ``apply``). It goes through the queue handle's public reads and the session's
send, never the transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._bulk import Outcome
from .._errors import (
    AnnoqError,
    InvalidArgumentError,
    InvalidTransitionError,
    RateLimitError,
    ServerError,
    TransportError,
)
from .._requester import Requester
from . import _protocol as proto
from ._decisions import (
    Refusal,
    RefusalStep,
    can_skip,
    holds_target_for,
    judge,
    read_refusal,
    refusal_step,
)
from ._models import AnnotationState, QueueItem

if TYPE_CHECKING:
    from ._handle import Queue

__all__ = ["ProgressDriver"]

#: Failures after which a write may have been applied although no answer said so.
MAYBE_APPLIED = (TransportError, ServerError, RateLimitError)


class ProgressDriver:
    """Sets ``target`` on one item per :meth:`run`, exactly once, with an exact outcome
    where the answers allow it.

    ``queue`` is a handle bound to the session view whose retries the run uses,
    ``requester`` that view (its sends and the caller's identity). ``exact`` reads
    every bare id before updating it (one more request each) so that an item already
    yours counts as ``unchanged``; while the caller's id is unknown, bare ids are read
    first anyway (that is how it is learned).
    """

    def __init__(
        self,
        queue: Queue,
        requester: Requester,
        target: AnnotationState,
        *,
        exact: bool = False,
    ) -> None:
        self._queue = queue
        self._send = requester.send
        self._target = target
        self._identity = requester.identity
        self._exact = exact

    async def run(self, work: str | QueueItem) -> Outcome:
        """Set the target state on one item id or item; the bulk engine's ``apply``."""
        before: QueueItem | None = None
        if isinstance(work, QueueItem):
            if work.queue_id != self._queue.id:
                raise InvalidArgumentError(f"item {work.id!r} belongs to queue {work.queue_id!r}")
            before, item_id = work, work.id
        elif isinstance(work, str) and work.strip():
            item_id = work
            if self._exact or self._identity.user_id is None:
                before = await self._queue.get_item(item_id)  # None: the server will say
        else:
            raise InvalidArgumentError(f"bulk input must be an item id or QueueItem, got {work!r}")
        identity = self._identity
        if (
            before is not None
            and identity.given
            and can_skip(before, self._target, identity.user_id)
        ):
            return Outcome.UNCHANGED  # shown as set by me: my record holds it; no request
        request = proto.update_progress_request(
            self._queue.project_id, self._queue.id, item_id, self._target
        )
        try:
            response = await self._send(request)
        except InvalidTransitionError as refusal:
            return await self._refused(item_id, before, refusal)
        except MAYBE_APPLIED as error:
            return await self._lost(item_id, before, error)
        judgement = judge(before, proto.read_item(response.content), self._target, identity.user_id)
        if judgement.author is not None:
            identity.learn(judgement.author)
        return judgement.outcome

    async def update_one(self, item_id: str) -> QueueItem:
        """One update outside a bulk run (``Queue.update_progress``): the item as it now
        shows, or the refusal; resolved against the server like a bulk input."""
        request = proto.update_progress_request(
            self._queue.project_id, self._queue.id, item_id, self._target
        )
        try:
            response = await self._send(request)
        except InvalidTransitionError as refusal:
            kind = read_refusal(refusal.reason, self._target)
            if refusal_step(kind, attempts=refusal.attempts) is RefusalStep.FAIL:
                raise
            current = await self._reread(item_id, refusal)
            if current is not None and kind is Refusal.SAME_STATE:
                return current  # the text proves my record holds the target
            return self._proven(current, refusal)
        except MAYBE_APPLIED as error:
            return self._proven(await self._reread(item_id, error), error)
        return proto.read_item(response.content)

    def _proven(self, current: QueueItem | None, error: AnnoqError) -> QueueItem:
        """``current`` if it shows "target, by me"; else ``error`` is the answer."""
        if current is None or not holds_target_for(current, self._target, self._identity.user_id):
            raise error
        return current

    async def _reread(self, item_id: str, error: AnnoqError) -> QueueItem | None:
        """The item now; the original error when even the read fails."""
        try:
            return await self._queue.get_item(item_id)
        except AnnoqError:
            raise error from None

    def _outcome_now(self, before: QueueItem | None, current: QueueItem) -> Outcome:
        return judge(before, current, self._target, self._identity.user_id).outcome

    async def _refused(
        self, item_id: str, before: QueueItem | None, refusal: InvalidTransitionError
    ) -> Outcome:
        kind = read_refusal(refusal.reason, self._target)
        step = refusal_step(kind, attempts=refusal.attempts)
        if step is RefusalStep.FAIL:
            raise refusal
        if step is RefusalStep.NO_OP:
            return Outcome.UNCHANGED
        current = await self._reread(item_id, refusal)
        if kind is Refusal.SAME_STATE:
            # The text proves my record holds the target; the re-read tells whether our
            # earlier (lost) attempt set it.
            return Outcome.UNCHANGED if current is None else self._outcome_now(before, current)
        # Some record of mine exists; only "in_progress, by me" proves it is the target.
        return self._outcome_now(before, self._proven(current, refusal))

    async def _lost(self, item_id: str, before: QueueItem | None, error: AnnoqError) -> Outcome:
        """Retries ran out (or the answer was lost): the server may hold our write
        anyway; only a display "target, by me" proves it."""
        current = await self._reread(item_id, error)
        return self._outcome_now(before, self._proven(current, error))
