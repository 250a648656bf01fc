"""Progress rules of docs/semantics/weave.md ("Progress updates"), over HTTP."""

from __future__ import annotations

import pytest

from annoq.emulator import Emulator

from ._support import Api

RECORD_EXISTS = "Cannot transition to 'in_progress' when a record already exists"


def _seed(emu: Emulator, n: int = 4) -> tuple[str, list[str]]:
    queue_id = emu.weave.seed_queue(n, name="progress")
    return queue_id, emu.weave.item_ids(queue_id)


@pytest.mark.parametrize("state", ["unstarted", "done", "COMPLETED", ""])
async def test_progress_rule1_only_in_progress_completed_skipped_are_accepted(
    api: Api, emu: Emulator, state: str
) -> None:
    queue_id, ids = _seed(emu)
    status, body = await api.progress(queue_id, ids[0], state)
    assert status == 400
    assert f"Invalid annotation_state '{state}'" in body["reason"]
    assert body["error_type"] == "InvalidRequest"
    assert emu.weave.applied_writes() == 0
    assert emu.weave.item(queue_id, ids[0])["annotation_state"] == "unstarted"


@pytest.mark.parametrize("state", ["in_progress", "completed", "skipped"])
async def test_progress_repeated_same_state_is_noop_returning_item(
    api: Api, emu: Emulator, state: str
) -> None:
    queue_id, ids = _seed(emu)
    status, first = await api.progress(queue_id, ids[0], state)
    assert status == 200
    status, second = await api.progress(queue_id, ids[0], state)
    assert status == 200
    assert second == first
    assert second["item"]["annotation_state"] == state
    assert emu.weave.applied_writes(ids[0], emu.user_id) == 1
    assert len(emu.weave.state_log) == 1


@pytest.mark.parametrize("first", ["completed", "skipped"])
async def test_progress_rule3_in_progress_when_a_record_exists_is_400(
    api: Api, emu: Emulator, first: str
) -> None:
    queue_id, ids = _seed(emu)
    assert (await api.progress(queue_id, ids[0], first))[0] == 200
    status, body = await api.progress(queue_id, ids[0], "in_progress")
    assert status == 400
    assert body["reason"].startswith(RECORD_EXISTS)
    assert emu.weave.item(queue_id, ids[0])["annotation_state"] == first


@pytest.mark.parametrize(("first", "then"), [("completed", "skipped"), ("skipped", "completed")])
async def test_progress_rule4_from_completed_or_skipped_to_another_state_is_400(
    api: Api, emu: Emulator, first: str, then: str
) -> None:
    queue_id, ids = _seed(emu)
    assert (await api.progress(queue_id, ids[0], first))[0] == 200
    status, body = await api.progress(queue_id, ids[0], then)
    assert status == 400
    assert body["reason"].startswith(f"Invalid state transition from '{first}' to '{then}'")
    assert body["error_type"] == "InvalidRequest"
    assert emu.weave.applied_writes() == 1


async def test_progress_rule5_item_not_in_that_queue_is_400_not_404(
    api: Api, emu: Emulator
) -> None:
    queue_id, ids = _seed(emu)
    other_queue = emu.weave.seed_queue(1, name="other")
    for item_id in ("no-such-item", emu.weave.item_ids(other_queue)[0]):
        status, body = await api.progress(queue_id, item_id, "completed")
        assert status == 400
        assert body["reason"] == f"Queue item '{item_id}' not found in queue '{queue_id}'"
    assert emu.weave.applied_writes() == 0
    status, _ = await api.progress("no-such-queue", ids[0], "completed")
    assert status == 400


async def test_progress_rules_checked_in_order_transition_before_membership(
    api: Api, emu: Emulator
) -> None:
    queue_id, ids = _seed(emu)
    assert (await api.progress(queue_id, ids[0], "completed"))[0] == 200
    other_queue = emu.weave.seed_queue(1, name="other")
    # Rule 4 (from the annotator's record) is checked before rule 5 (membership).
    status, body = await api.progress(other_queue, ids[0], "skipped")
    assert status == 400
    assert body["reason"].startswith("Invalid state transition from 'completed' to 'skipped'")


async def test_progress_rule6_writes_record_and_returns_item_with_null_position(
    api: Api, emu: Emulator
) -> None:
    queue_id, ids = _seed(emu)
    before = emu.weave.item(queue_id, ids[1])
    status, body = await api.progress(queue_id, ids[1], "in_progress")
    assert status == 200
    item = body["item"]
    assert item["id"] == ids[1]
    assert item["annotation_state"] == "in_progress"
    assert item["annotator_user_id"] == emu.user_id
    assert item["position_in_queue"] is None
    assert emu.weave.progress(ids[1]) == {emu.user_id: "in_progress"}
    assert {
        k: v for k, v in item.items() if k not in ("annotation_state", "annotator_user_id")
    } == {k: v for k, v in before.items() if k not in ("annotation_state", "annotator_user_id")}


@pytest.mark.parametrize(
    "path",
    [
        ["in_progress"],
        ["completed"],
        ["skipped"],
        ["in_progress", "completed"],
        ["in_progress", "skipped"],
    ],
)
async def test_progress_allowed_transitions_per_annotator(
    api: Api, emu: Emulator, path: list[str]
) -> None:
    queue_id, ids = _seed(emu)
    for state in path:
        status, body = await api.progress(queue_id, ids[0], state)
        assert status == 200, body
        assert body["item"]["annotation_state"] == state
    assert emu.weave.applied_writes(ids[0]) == len(path)
    assert [c.state for c in emu.weave.state_log] == path


async def test_progress_another_annotator_starts_from_none(api: Api, emu: Emulator) -> None:
    queue_id, ids = _seed(emu)
    other = emu.add_user("reviewer-2")
    headers = emu.auth_headers(other.api_key)
    assert (await api.progress(queue_id, ids[0], "completed"))[0] == 200
    status, body = await api.progress(queue_id, ids[0], "in_progress", headers=headers)
    assert status == 200
    assert body["item"]["annotator_user_id"] == "reviewer-2"
    status, body = await api.progress(queue_id, ids[0], "skipped", headers=headers)
    assert status == 200
    assert emu.weave.progress(ids[0]) == {emu.user_id: "completed", "reviewer-2": "skipped"}


async def test_displayed_state_is_latest_by_any_annotator_untouched_shows_empty_annotator(
    api: Api, emu: Emulator
) -> None:
    queue_id, ids = _seed(emu)
    items = await api.items(queue_id)
    assert {(it["annotation_state"], it["annotator_user_id"]) for it in items} == {
        ("unstarted", "")
    }
    emu.weave.set_progress(queue_id, ids[0], "in_progress", user_id="someone")
    assert (await api.progress(queue_id, ids[0], "skipped"))[0] == 200
    emu.weave.set_progress(queue_id, ids[0], "completed", user_id="someone")
    shown = {it["id"]: it for it in await api.items(queue_id)}
    assert shown[ids[0]]["annotation_state"] == "completed"
    assert shown[ids[0]]["annotator_user_id"] == "someone"
    assert shown[ids[1]]["annotator_user_id"] == ""


async def test_progress_does_not_change_item_updated_at(api: Api, emu: Emulator) -> None:
    queue_id, ids = _seed(emu)
    before = emu.weave.item(queue_id, ids[0])
    status, body = await api.progress(queue_id, ids[0], "completed")
    assert status == 200
    assert body["item"]["updated_at"] == before["updated_at"] == before["created_at"]


async def test_set_progress_in_process_follows_the_same_rules(emu: Emulator) -> None:
    queue_id, ids = _seed(emu)
    emu.weave.set_progress(queue_id, ids[0], "completed", user_id="a")
    with pytest.raises(Exception, match="Invalid state transition") as info:
        emu.weave.set_progress(queue_id, ids[0], "skipped", user_id="a")
    assert getattr(info.value, "status", None) == 400


async def test_legacy_repeated_completed_or_skipped_is_400_invalid_transition(
    legacy_api: Api,
) -> None:
    emu = legacy_api.emu
    queue_id, ids = _seed(emu)
    for item_id, state in ((ids[0], "completed"), (ids[1], "skipped")):
        assert (await legacy_api.progress(queue_id, item_id, state))[0] == 200
        status, body = await legacy_api.progress(queue_id, item_id, state)
        assert status == 400
        assert body["reason"].startswith(f"Invalid state transition from '{state}' to '{state}'")
        assert emu.weave.item(queue_id, item_id)["annotation_state"] == state
    assert emu.weave.applied_writes() == 2


async def test_legacy_repeated_in_progress_is_400_record_exists(legacy_api: Api) -> None:
    emu = legacy_api.emu
    queue_id, ids = _seed(emu)
    assert (await legacy_api.progress(queue_id, ids[0], "in_progress"))[0] == 200
    status, body = await legacy_api.progress(queue_id, ids[0], "in_progress")
    assert status == 400
    assert body["reason"].startswith(RECORD_EXISTS)
    assert emu.weave.applied_writes(ids[0]) == 1


async def test_legacy_mode_keeps_the_other_rules(legacy_api: Api) -> None:
    emu = legacy_api.emu
    queue_id, ids = _seed(emu)
    assert (await legacy_api.progress(queue_id, ids[0], "in_progress"))[0] == 200
    assert (await legacy_api.progress(queue_id, ids[0], "completed"))[0] == 200
    assert (await legacy_api.progress(queue_id, "missing", "completed"))[0] == 400
    assert (await legacy_api.progress(queue_id, ids[1], "unstarted"))[0] == 400
