"""Fixtures: the emulator over a real loopback socket and a WeaveSession pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from annoq import RetryPolicy, WeaveSession
from annoq.emulator import Emulator

# Fast backoff so fault-heavy tests run in seconds; the retry *decisions* are the real ones.
FAST_RETRIES = RetryPolicy(
    max_retries=10, backoff_base=0.001, backoff_cap=0.02, max_retry_after=0.05
)


@pytest.fixture
async def weave(annoq_emulator: Emulator) -> AsyncIterator[WeaveSession]:
    async with WeaveSession(
        annoq_emulator.api_key,
        base_url=annoq_emulator.base_url,
        retry_policy=FAST_RETRIES,
        user_id=annoq_emulator.user_id,
    ) as session:
        yield session
