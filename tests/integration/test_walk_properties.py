"""Property: whatever mutations interleave with a stable walk, it never yields an item
twice, never skips an item that matched the filter throughout, and never yields one
that did not match it at any point."""

from __future__ import annotations

import asyncio
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annoq import WeaveSession
from annoq.emulator import run_emulator
from tests._support import FAST_RETRIES

# A mutation: ("other", i) another annotator completes the i-th unstarted item (mod len);
# ("mine", i) we set in_progress on it; ("add", n) n new items arrive.
mutation = st.one_of(
    st.tuples(st.just("other"), st.integers(0, 10_000)),
    st.tuples(st.just("mine"), st.integers(0, 10_000)),
    st.tuples(st.just("add"), st.integers(1, 5)),
)


async def scenario(
    n_items: int,
    page_size: int,
    prefetch: int,
    steps: list[list[tuple[str, int]]],
    done_before: list[int],
):
    async with run_emulator(seed=n_items) as emu:
        qid = emu.weave.seed_queue(n_items)
        ids = emu.weave.item_ids(qid)
        # Items another annotator completed before the walk: they never match the filter.
        never_matched = {ids[i % len(ids)] for i in done_before} if ids else set()
        for item_id in never_matched:
            emu.weave.set_progress(qid, item_id, "completed", user_id="annotator-b")
        at_start = set(ids) - never_matched
        changed: set[str] = set()
        yielded: list[str] = []
        async with WeaveSession(emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES) as w:
            walk = w.queue(emu.project, qid).items(
                states=["unstarted"], page_size=page_size, prefetch=prefetch
            )
            async with walk:
                async for index, item in _enumerate(walk):
                    yielded.append(item.id)
                    # Each generated step applies once: a queue that grows on every item
                    # would (rightly) never let the walk reach its end.
                    for kind, arg in steps[index] if index < len(steps) else []:
                        pending = [
                            i["id"]
                            for i in emu.weave.items(qid)
                            if i["annotation_state"] == "unstarted"
                        ]
                        if kind == "add":
                            emu.weave.add_items(qid, arg)
                        elif pending:
                            target = pending[arg % len(pending)]
                            user = emu.user_id if kind == "mine" else "annotator-b"
                            state = "in_progress" if kind == "mine" else "completed"
                            emu.weave.set_progress(qid, target, state, user_id=user)
                            changed.add(target)
        return at_start, changed, yielded, never_matched


async def _enumerate(walk):
    index = 0
    async for item in walk:
        yield index, item
        index += 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_items=st.integers(0, 60),
    page_size=st.integers(1, 13),
    prefetch=st.integers(0, 3),
    steps=st.lists(st.lists(mutation, max_size=3), max_size=8),
    done_before=st.lists(st.integers(0, 60), max_size=10),
)
def test_stable_walk_never_repeats_never_skips_and_never_yields_a_non_matching_item(
    n_items, page_size, prefetch, steps, done_before
):
    at_start, changed, yielded, never_matched = asyncio.run(
        scenario(n_items, page_size, prefetch, steps, done_before)
    )
    counts = Counter(yielded)
    assert not counts or max(counts.values()) == 1
    assert (at_start - changed) <= set(yielded)
    # The state filter holds: nothing completed before the walk began is yielded.
    assert not (never_matched & set(yielded))


def test_the_filter_check_above_has_items_to_exclude():
    _, _, yielded, never_matched = asyncio.run(scenario(12, 5, 1, [], [0, 3, 7]))
    assert len(never_matched) == 3
    assert len(yielded) == 9
    assert not (never_matched & set(yielded))
