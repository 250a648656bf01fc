"""``emu.weave``: seed, act in and inspect the emulated Weave, in process."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from ._actor import Actor
from ._store import DEFAULT_OP_NAMES, StateChange, WeaveStore

DEFAULT_PROJECT: Final = "entity/project"
DEFAULT_USER_ID: Final = "local-user"
DEFAULT_ACTOR_USER_ID: Final = "actor"
DEFAULT_DISPLAY_FIELDS: Final = ("inputs", "output")


class WeaveState:
    """In-process access to the emulated Weave data: seed it, act in it, inspect it.

    Reached as ``emu.weave``. Every method acts directly on the state (no HTTP, no
    faults) and is synchronous, except actor control. ``project`` defaults to the
    emulator's project (``"entity/project"``).

    Example::

        queue_id = emu.weave.seed_queue(n_items=500, name="triage")
        ids = emu.weave.item_ids(queue_id)
        emu.weave.set_progress(queue_id, ids[0], "completed", user_id="someone-else")
        assert emu.weave.applied_writes(ids[0]) == 1
    """

    def __init__(self, store: WeaveStore, *, project: str, user_id: str) -> None:
        self.store = store
        """The underlying store (an escape hatch; prefer the methods)."""
        self.project = project
        self.user_id = user_id
        self.actors: list[Actor] = []

    def _project(self, project: str | None) -> str:
        return self.project if project is None else project

    # ------------------------------------------------------------------ seeding

    def create_calls(
        self,
        n: int,
        *,
        project: str | None = None,
        op_names: Sequence[str] = DEFAULT_OP_NAMES,
        spacing_ms: int = 1000,
    ) -> list[str]:
        """Add ``n`` calls to the project's calls table; returns their ids.

        Op names cycle through ``op_names``; start times are ``spacing_ms`` apart (with
        jitter), ending before now; about one call in fifty has no end time.
        """
        calls = self.store.create_calls(
            self._project(project), n, op_names=op_names, spacing_ms=spacing_ms
        )
        return [c.id for c in calls]

    def create_queue(
        self,
        *,
        project: str | None = None,
        name: str = "queue",
        description: str = "",
        scorer_refs: Sequence[str] = (),
        created_by: str | None = None,
    ) -> str:
        """Create an empty queue; returns its id."""
        queue = self.store.create_queue(
            self._project(project),
            name=name,
            description=description,
            scorer_refs=scorer_refs,
            created_by=self.user_id if created_by is None else created_by,
        )
        return queue.id

    def add_items(
        self,
        queue_id: str,
        n: int | None = None,
        *,
        call_ids: Sequence[str] | None = None,
        project: str | None = None,
        added_by: str | None = None,
        display_fields: Sequence[str] = DEFAULT_DISPLAY_FIELDS,
        op_names: Sequence[str] = DEFAULT_OP_NAMES,
    ) -> list[str]:
        """Append items to a queue; returns the new item ids in default order.

        Give either ``n`` (that many new calls are created first) or ``call_ids``
        (existing calls; duplicates and unknown ids are skipped as by add-calls).
        """
        if (n is None) == (call_ids is None):
            raise ValueError("give exactly one of n and call_ids")
        project_id = self._project(project)
        if call_ids is None:
            assert n is not None
            call_ids = [c.id for c in self.store.create_calls(project_id, n, op_names=op_names)]
        result = self.store.add_calls(
            project_id,
            queue_id,
            call_ids,
            display_fields=display_fields,
            added_by=self.user_id if added_by is None else added_by,
        )
        return list(result.item_ids)

    def seed_queue(
        self,
        n_items: int = 1000,
        *,
        project: str | None = None,
        name: str = "seeded queue",
        description: str = "",
        scorer_refs: Sequence[str] = (),
        op_names: Sequence[str] = DEFAULT_OP_NAMES,
        display_fields: Sequence[str] = DEFAULT_DISPLAY_FIELDS,
        created_by: str | None = None,
    ) -> str:
        """Create calls, a queue and ``n_items`` items in one go; returns the queue id.

        100,000 items take well under a second.
        """
        queue_id = self.create_queue(
            project=project,
            name=name,
            description=description,
            scorer_refs=scorer_refs,
            created_by=created_by,
        )
        if n_items:
            self.add_items(
                queue_id,
                n_items,
                project=project,
                added_by=created_by,
                display_fields=display_fields,
                op_names=op_names,
            )
        return queue_id

    def delete_items(
        self, queue_id: str, item_ids: Iterable[str], *, project: str | None = None
    ) -> int:
        """Soft-delete items (the real service has no endpoint for it); returns how many."""
        return self.store.delete_items(self._project(project), queue_id, item_ids)

    # ------------------------------------------------------------------ acting

    def set_progress(
        self,
        queue_id: str,
        item_id: str,
        state: str,
        *,
        user_id: str,
        project: str | None = None,
    ) -> dict[str, Any]:
        """Set ``user_id``'s state on an item under the service's rules (as another
        annotator would); returns the item's JSON. Raises `EmulatorError` (status 400)
        where the endpoint would answer 400. The user need not have an API key.
        """
        item = self.store.update_progress(self._project(project), queue_id, item_id, state, user_id)
        return item.to_json()

    # ------------------------------------------------------------------ inspecting

    def item(self, queue_id: str, item_id: str, *, project: str | None = None) -> dict[str, Any]:
        """An item's JSON as the service shows it (``KeyError`` if not in the queue)."""
        item = self.store.find_item(self._project(project), item_id)
        if item is None or item.queue_id != queue_id or item.deleted_at is not None:
            raise KeyError(item_id)
        return item.to_json()

    def items(self, queue_id: str, *, project: str | None = None) -> list[dict[str, Any]]:
        """The queue's live items in default order, as JSON dicts."""
        return [it.to_json() for it in self.store.live_items(self._project(project), queue_id)]

    def item_ids(self, queue_id: str, *, project: str | None = None) -> list[str]:
        """The queue's live item ids in default order."""
        return [it.id for it in self.store.live_items(self._project(project), queue_id)]

    def progress(self, item_id: str, *, project: str | None = None) -> dict[str, str]:
        """Per-annotator states of an item: ``{user_id: state}``."""
        item = self.store.find_item(self._project(project), item_id)
        return {} if item is None else dict(item.progress)

    def applied_writes(self, item_id: str | None = None, user_id: str | None = None) -> int:
        """How many progress writes were applied (no-ops excluded), optionally only for
        one item and/or one annotator.
        """
        return self.store.applied.total(item_id, user_id)

    def applied_counts(self) -> dict[tuple[str, str], int]:
        """``{(item_id, user_id): applied writes}`` (a copy)."""
        return dict(self.store.applied)

    @property
    def state_log(self) -> list[StateChange]:
        """Every applied progress write in order (the live list: do not mutate)."""
        return self.store.state_log

    # ------------------------------------------------------------------ actors

    def start_actor(
        self,
        queue_id: str,
        *,
        project: str | None = None,
        user_id: str = DEFAULT_ACTOR_USER_ID,
        rate: float = 50.0,
        state: str = "completed",
        complete_weight: float = 1.0,
        add_weight: float = 0.0,
        add_batch: int = 1,
        max_actions: int | None = None,
        seed: int | None = None,
    ) -> Actor:
        """Start a background `Actor` on the running loop; see `Actor` for parameters.

        ``seed`` defaults to one drawn from the emulator's seed, so runs repeat.
        """
        actor = Actor(
            self.store,
            self._project(project),
            queue_id,
            user_id=user_id,
            rate=rate,
            state=state,
            complete_weight=complete_weight,
            add_weight=add_weight,
            add_batch=add_batch,
            max_actions=max_actions,
            seed=self.store.rng.getrandbits(32) if seed is None else seed,
        )
        self.actors.append(actor)
        return actor.start()

    async def stop_actors(self) -> None:
        """Stop every actor started here."""
        for actor in self.actors:
            await actor.stop()


__all__ = ["WeaveState"]
