"""Fixtures: a WeaveSession pointed at the test's emulator (over a real loopback socket)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from annoq import WeaveSession
from annoq.emulator import Emulator
from tests._support import FAST_RETRIES


@pytest.fixture
async def weave(emu: Emulator) -> AsyncIterator[WeaveSession]:
    async with WeaveSession(
        emu.api_key, base_url=emu.base_url, retry_policy=FAST_RETRIES, user_id=emu.user_id
    ) as session:
        yield session
