"""The concurrent actor: another annotator completing items and adding new ones."""

from __future__ import annotations

import pytest

from annoq.emulator import Emulator, run_emulator

from ._support import Api


async def test_actor_completes_unstarted_items_and_adds_new_ones(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(40)
    seeded = emu.weave.item_ids(queue_id)
    actor = emu.weave.start_actor(
        queue_id, rate=1000, complete_weight=1, add_weight=1, seed=3, user_id="bot"
    )
    await actor.wait_actions(30)
    await actor.stop()
    assert not actor.running
    assert actor.completed
    assert actor.added
    assert len(set(actor.completed)) == len(actor.completed)
    for item_id in actor.completed:
        assert emu.weave.progress(item_id)["bot"] == "completed"
    assert emu.weave.applied_writes(user_id="bot") == len(actor.completed)
    assert [c.item_id for c in emu.weave.state_log] == actor.completed
    items = {it["id"]: it for it in await api.items(queue_id)}
    assert len(items) == 40 + len(actor.added)
    assert [it for it in items if it not in seeded] == actor.added
    assert {items[i]["added_by"] for i in actor.added} == {"bot"}
    shown = {items[i]["annotation_state"] for i in actor.completed}
    assert shown == {"completed"}


async def test_actor_only_touches_items_unstarted_when_chosen(emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(10)
    ids = emu.weave.item_ids(queue_id)
    for item_id in ids[:8]:
        emu.weave.set_progress(queue_id, item_id, "skipped", user_id="human")
    actor = emu.weave.start_actor(queue_id, rate=1000, max_actions=2, user_id="bot")
    await actor.wait_actions(2)
    assert sorted(actor.completed) == sorted(ids[8:])
    assert not actor.running
    with pytest.raises(RuntimeError, match="ended after 2 of 3"):
        await actor.wait_actions(3)
    await actor.stop()


async def test_actor_choices_repeat_under_the_same_seed() -> None:
    runs = []
    for _ in range(2):
        async with run_emulator(seed=5) as emu:
            queue_id = emu.weave.seed_queue(200)
            actor = emu.weave.start_actor(
                queue_id, rate=2000, complete_weight=3, add_weight=1, max_actions=25
            )
            await actor.wait_actions(25)
            order = emu.weave.item_ids(queue_id)
            runs.append(
                [
                    (a.kind, order.index(a.item_id) if a.kind == "progress" else None)
                    for a in actor.log
                ]
            )
    assert runs[0] == runs[1]
    assert {kind for kind, _ in runs[0]} == {"progress", "add"}


async def test_actor_controlled_through_the_control_route(api: Api, emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(30)
    status, body = await api.call(
        "POST",
        "/_emulator/actor/start",
        {
            "queue_id": queue_id,
            "rate": 1000,
            "add_weight": 1,
            "complete_weight": 1,
            "user_id": "bot",
            "seed": 1,
        },
    )
    assert status == 200
    actor_id = body["actor_id"]
    status, body = await api.call(
        "POST", "/_emulator/actor/wait", {"actor_id": actor_id, "actions": 10}
    )
    assert status == 200
    assert body["actions"] >= 10
    status, body = await api.call("POST", "/_emulator/actor/stop", {})
    assert status == 200
    (state,) = body["actors"]
    assert state["running"] is False
    kinds = {entry["kind"] for entry in state["log"]}
    assert kinds <= {"progress", "add"}
    assert len(state["log"]) == state["actions"] >= 10
    progress_log = [e["item_id"] for e in state["log"] if e["kind"] == "progress"]
    assert emu.weave.applied_writes(user_id="bot") == len(progress_log)
    status, body = await api.call(
        "POST", "/_emulator/actor/wait", {"actor_id": actor_id, "actions": 10_000}
    )
    assert status == 409
    status, _ = await api.call("POST", "/_emulator/actor/start", {"queue_id": queue_id, "x": 1})
    assert status == 400


async def test_actors_are_stopped_when_the_emulator_stops() -> None:
    async with run_emulator() as emu:
        queue_id = emu.weave.seed_queue(5)
        actor = emu.weave.start_actor(queue_id, rate=10)
        assert actor.running
    assert not actor.running


def test_actor_arguments_are_validated(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="rate"):
        emu.weave.start_actor("q", rate=0)
    with pytest.raises(ValueError, match="state"):
        emu.weave.start_actor("q", state="unstarted")
    with pytest.raises(ValueError, match="weights"):
        emu.weave.start_actor("q", complete_weight=0, add_weight=0)


async def test_actor_without_adding_ends_when_no_unstarted_item_is_left(emu: Emulator) -> None:
    queue_id = emu.weave.seed_queue(3)
    actor = emu.weave.start_actor(queue_id, rate=1000, user_id="bot")
    with pytest.raises(RuntimeError, match="ended after 3 of 4"):
        await actor.wait_actions(4)
    assert sorted(actor.completed) == sorted(emu.weave.item_ids(queue_id))
    assert not actor.running
    await actor.stop()
