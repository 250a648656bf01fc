"""The emulated Weave as one `Service`: its store, state, routes, control routes, banner."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

from aiohttp import web

from .._service import ServiceBase, ServiceContext, ServiceSpec
from ._app import ROUTE_NAMES, WeaveOptions, WeaveService
from ._feedback import FEEDBACK_ROUTE_NAMES, FeedbackService, FeedbackState, FeedbackStore
from ._state import WeaveState
from ._store import User, WeaveStore

if TYPE_CHECKING:
    from .._control import Control

TIMEOUT_REASON: Final = (
    "Query timeout exceeded. Please limit the scope of the query by including "
    "a date range and/or additional filter criteria. "
)
"""The reason the real service gives with a 504."""


class Weave(ServiceBase):
    """Annotation queues, feedback and objects, as the W&B Weave trace server serves them.

    Its state is reached as ``emu.weave`` (`WeaveState`) and ``emu.feedback``
    (`FeedbackState`).
    """

    name: ClassVar[str] = "weave"
    path_prefixes: ClassVar[tuple[str, ...]] = ("/annotation_queues", "/feedback", "/obj", "/refs")

    def __init__(self, context: ServiceContext, options: WeaveOptions) -> None:
        self._options = options
        self._secrets = context.secrets
        self.store = WeaveStore(
            seed=context.data_seed, legacy_progress=options.legacy_progress, clock=context.clock
        )
        user = self.store.add_user(options.user_id, self.new_api_key(options.api_key))
        self.user = user
        self.weave = WeaveState(self.store, project=options.project, user_id=user.user_id)
        self.feedback_store = FeedbackStore(self.store)
        self.feedback = FeedbackState(self.feedback_store, self.store, options.project)

    # ------------------------------------------------------------------ protocol

    @property
    def route_names(self) -> tuple[str, ...]:
        """The queue routes, then the feedback and object routes."""
        return (*ROUTE_NAMES, *FEEDBACK_ROUTE_NAMES)

    @property
    def route_aliases(self) -> Mapping[str, str]:
        """The bare names of earlier releases: ``progress`` for ``weave.progress``."""
        return {name.removeprefix("weave."): name for name in self.route_names}

    @property
    def state(self) -> WeaveState:
        return self.weave

    @property
    def options(self) -> WeaveOptions:
        return self._options

    def add_routes(self, app: web.Application) -> None:
        queues = WeaveService(self.store, self._options)
        queues.add_routes(app)
        FeedbackService(self.feedback_store, queues).add_routes(app)

    def add_control_routes(self, control: Control) -> None:
        from ._control import add_weave_control_routes

        add_weave_control_routes(control, self)

    def error_body(self, status: int, message: str) -> dict[str, str]:
        """``{"reason": ...}``, with the real service's wording for a 504."""
        return {"reason": TIMEOUT_REASON if status == 504 else message}

    def describe(self, base_url: str) -> list[str]:
        lines = [
            f"Weave emulator listening on {base_url}",
            f"Project: {self.weave.project}",
            *(
                f"Queue id: {queue.id} ({len(self.weave.item_ids(queue.id))} items)"
                for queue in self.store.queues.values()
                if queue.project_id == self.weave.project and queue.deleted_at is None
            ),
            f"User id: {self.user.user_id}",
            f"API key: {self.user.api_key}",
            f"Use: WF_TRACE_SERVER_URL={base_url} WANDB_API_KEY={self.user.api_key}",
        ]
        if self._options.legacy_progress:
            lines.append("Legacy progress mode: repeated progress updates answer 400")
        return lines

    def seed(self, count: int) -> dict[str, Any]:
        """A queue of ``count`` items in the default project."""
        queue_id = self.weave.seed_queue(count)
        return {"project_id": self.weave.project, "queue_id": queue_id, "n_items": count}

    def snapshot(self) -> dict[str, Any]:
        queues = self.store.queues
        return {
            "users": sorted(self.store.users),
            "queues": {
                queue_id: [it.id for it in self.store.live_items(queue.project_id, queue_id)]
                for queue_id, queue in sorted(queues.items())
            },
            "applied": self.weave.applied_writes(),
        }

    async def close(self) -> None:
        await self.weave.stop_actors()

    # ------------------------------------------------------------------ users

    def new_api_key(self, given: str | None) -> str | None:
        """``given``, else a random key when unseeded (seeded: the store draws one)."""
        if given is not None or self._secrets is None:
            return given
        return f"local-{secrets.token_hex(20)}"

    def add_user(
        self,
        user_id: str | None = None,
        *,
        api_key: str | None = None,
        projects: Iterable[str] | None = None,
    ) -> User:
        """Add an annotator; ``projects`` limits what it may see (``None``: all)."""
        return self.store.add_user(user_id, self.new_api_key(api_key), projects)


WEAVE: Final = ServiceSpec("weave", Weave, WeaveOptions)
"""The registry entry of the emulated Weave."""


__all__ = ["WEAVE", "Weave"]
