"""Pure pieces of the emulator: timestamps, ids, lax validation, fault decisions."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import aiohttp
import pytest

from annoq.emulator import EmulatorError, FaultInjector, FaultRule, run_emulator
from annoq.emulator._validation import Fields, ValidationFailed
from annoq.emulator.weave._store import format_ms, uuid7


@pytest.mark.parametrize("ms", [0, 1, 999, 1_790_000_000_123, 1_795_000_000_000])
def test_format_ms_is_rfc3339_utc_with_milliseconds_and_z(ms: int) -> None:
    text = format_ms(ms)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed == datetime.fromtimestamp(ms / 1000, UTC)
    assert text.endswith("Z")
    assert len(text) == 24


def test_uuid7_carries_its_millisecond_and_version_bits() -> None:
    rng = random.Random(0)
    ms = 1_795_000_000_123
    ids = [uuid7(ms, rng) for _ in range(200)]
    for value in ids:
        assert int(value.replace("-", "")[:12], 16) == ms
        assert value[14] == "7"
        assert value[19] in "89ab"
    assert ids != sorted(ids)  # random order within one millisecond
    assert uuid7(ms, rng) < uuid7(ms + 1, rng)


def test_lax_fields_follow_pydantic_conversions() -> None:
    fields = Fields.root({"a": "7", "b": 2.0, "c": True, "d": "yes", "e": 0, "f": None})
    assert fields.integer("a") == 7
    assert fields.integer("b") == 2
    assert fields.integer("c") == 1
    assert fields.boolean("d") is True
    assert fields.boolean("e") is False
    assert fields.boolean("f", default=True) is True
    assert fields.integer("missing") is None
    fields.done(forbid_extra=True)


def test_fields_collect_every_error() -> None:
    fields = Fields.root({"x": {"y": 1}, "extra": 1})
    nested = fields.obj("x")
    assert nested is not None
    assert nested.string("y") is None
    assert fields.string("z", required=True) is None
    with pytest.raises(ValidationFailed) as info:
        fields.done(forbid_extra=True)
    assert [(e["loc"], e["type"]) for e in info.value.errors] == [
        (["body", "x", "y"], "string_type"),
        (["body", "z"], "missing"),
        (["body", "extra"], "extra_forbidden"),
    ]


def test_fault_decisions_depend_only_on_seed_and_request_sequence() -> None:
    def run(seed: int) -> list[str | None]:
        injector = FaultInjector(seed)
        injector.add(FaultRule(kind="status", status=500, rate=0.3))
        injector.add(FaultRule(kind="drop", rate=0.3, routes={"progress"}))
        out = []
        for i in range(100):
            rule = injector.decide("progress" if i % 2 else "items_query").rule
            out.append(None if rule is None else rule.counter_key())
        return out

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert {"status_500", "drop", None} == set(run(1))


def test_emulator_error_carries_status_reason_and_type() -> None:
    error = EmulatorError.not_found("Queue q not found")
    assert (error.status, error.reason, error.error_type) == (
        404,
        "Queue q not found",
        "NotFoundError",
    )


async def test_too_large_body_is_413_with_a_reason() -> None:
    async with (
        run_emulator(max_body_bytes=1024) as emu,
        aiohttp.ClientSession(headers=emu.auth_headers()) as http,
        http.post(
            emu.url("/annotation_queues/q/items"),
            json={"project_id": emu.project, "call_ids": ["x" * 40] * 100, "display_fields": []},
        ) as resp,
    ):
        assert resp.status == 413
        assert await resp.json() == {"reason": "Request too large"}
