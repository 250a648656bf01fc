"""A background annotator that mutates a queue while a client walks it."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import attrs

from ._store import SETTABLE_STATES, UNSTARTED, EmulatorError, WeaveStore


@attrs.frozen
class ActorAction:
    """One thing the actor did: ``kind`` is ``"progress"`` or ``"add"``."""

    at_ms: int
    kind: str
    item_id: str
    state: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form used by the control route."""
        return attrs.asdict(self)


class Actor:
    """Another annotator (and producer) acting on one queue at a given rate.

    Each tick (``1 / rate`` seconds apart) it either sets ``state`` on a random unstarted
    item as ``user_id`` (weight ``complete_weight``), or appends ``add_batch`` new calls
    to the queue (weight ``add_weight``). Choices come from its own seeded
    ``random.Random``. Start it with `start` (or ``emu.weave.start_actor(...)``), wait on
    its progress with `wait_actions`, stop it with `stop`.

    Example::

        actor = emu.weave.start_actor(queue_id, rate=200, add_weight=1, complete_weight=3)
        await actor.wait_actions(20)        # no sleeps: wait on the actor's own counter
        await actor.stop()
        assert actor.completed and actor.added

    Parameters:
        user_id: the annotator the actor writes as (and the ``added_by`` of its items).
        rate: ticks per second.
        state: the state it sets (``completed`` by default; ``skipped``/``in_progress``).
        complete_weight, add_weight: relative odds of the two actions per tick. When no
            unstarted item is left, a "complete" tick adds instead if ``add_weight > 0``;
            otherwise the actor ends (so `wait_actions` cannot hang on it).
        add_batch: items appended per "add" action (each is logged as one action).
        max_actions: end once at least this many actions are logged (``None``: never).
        seed: seeds the actor's own choices.
    """

    def __init__(
        self,
        store: WeaveStore,
        project_id: str,
        queue_id: str,
        *,
        user_id: str,
        rate: float = 50.0,
        state: str = "completed",
        complete_weight: float = 1.0,
        add_weight: float = 0.0,
        add_batch: int = 1,
        max_actions: int | None = None,
        seed: int = 0,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 (actions per second)")
        if state not in SETTABLE_STATES:
            raise ValueError(f"state must be one of {sorted(SETTABLE_STATES)}, got {state!r}")
        if complete_weight < 0 or add_weight < 0 or complete_weight + add_weight <= 0:
            raise ValueError("weights must be >= 0 and not both 0")
        self.store = store
        self.project_id = project_id
        self.queue_id = queue_id
        self.user_id = user_id
        self.rate = rate
        self.state = state
        self.complete_weight = complete_weight
        self.add_weight = add_weight
        self.add_batch = add_batch
        self.max_actions = max_actions
        self.rng = random.Random(seed)
        self.log: list[ActorAction] = []
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ inspection

    @property
    def running(self) -> bool:
        """Whether the background task is alive."""
        return self._task is not None and not self._task.done()

    @property
    def actions(self) -> int:
        """Number of actions done so far."""
        return len(self.log)

    @property
    def completed(self) -> list[str]:
        """Ids of the items whose state the actor set, in order."""
        return [a.item_id for a in self.log if a.kind == "progress"]

    @property
    def added(self) -> list[str]:
        """Ids of the items the actor added, in order."""
        return [a.item_id for a in self.log if a.kind == "add"]

    # ------------------------------------------------------------------ control

    def start(self) -> Actor:
        """Start the background task on the running loop (idempotent)."""
        if self.running:
            return self
        self._task = asyncio.get_running_loop().create_task(self._run(), name="annoq-actor")
        return self

    async def stop(self) -> None:
        """Cancel the task and wait for it to end; re-raises an error it died of."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.error is not None:
            raise self.error

    async def wait_actions(self, n: int) -> None:
        """Wait until the actor has done at least ``n`` actions.

        Raises ``RuntimeError`` if the actor ends (stopped, ``max_actions`` reached, or
        an error) before that.
        """
        if self._task is None:
            raise RuntimeError("the actor was never started")
        if self.actions < n and self.running:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((n, fut))
            await fut
        if self.error is not None:
            raise self.error
        if self.actions < n:
            raise RuntimeError(f"the actor ended after {self.actions} of {n} actions")

    # ------------------------------------------------------------------ the loop

    def step(self) -> list[ActorAction]:
        """Do one action synchronously (the loop calls this each tick)."""
        total = self.complete_weight + self.add_weight
        if self.rng.random() * total < self.complete_weight:
            done = self._complete_one()
            if done is not None:
                return [done]
            if self.add_weight <= 0:
                return []
        return self._add()

    def _complete_one(self) -> ActorAction | None:
        items = self.store.live_items(self.project_id, self.queue_id)
        if not items:
            return None
        rng = self.rng
        candidate = None
        for _ in range(32):
            item = items[rng.randrange(len(items))]
            if item.state == UNSTARTED:
                candidate = item
                break
        if candidate is None:
            unstarted = [it for it in items if it.state == UNSTARTED]
            if not unstarted:
                return None
            candidate = unstarted[rng.randrange(len(unstarted))]
        try:
            self.store.update_progress(
                self.project_id, self.queue_id, candidate.id, self.state, self.user_id
            )
        except EmulatorError:  # pragma: no cover - an unstarted item has no record yet
            return None
        return ActorAction(self.store.now_ms(), "progress", candidate.id, self.state)

    def _add(self) -> list[ActorAction]:
        calls = self.store.create_calls(
            self.project_id, self.add_batch, start_ms=self.store.now_ms() - 1000
        )
        result = self.store.add_calls(
            self.project_id,
            self.queue_id,
            [c.id for c in calls],
            display_fields=["inputs", "output"],
            added_by=self.user_id,
        )
        now = self.store.now_ms()
        return [ActorAction(now, "add", item_id) for item_id in result.item_ids]

    def _wake(self, *, ended: bool) -> None:
        n = self.actions
        keep = []
        for wanted, fut in self._waiters:
            if fut.done():
                continue
            if ended or n >= wanted:
                fut.set_result(None)
            else:
                keep.append((wanted, fut))
        self._waiters = keep

    async def _run(self) -> None:
        interval = 1.0 / self.rate
        try:
            while self.max_actions is None or self.actions < self.max_actions:
                await asyncio.sleep(interval)
                done = self.step()
                if not done and self.add_weight <= 0:
                    break  # nothing left to complete and nothing to add: the actor ends
                self.log.extend(done)
                self._wake(ended=False)
        except Exception as exc:  # surfaced by stop() / wait_actions()
            self.error = exc
        finally:
            self._wake(ended=True)
