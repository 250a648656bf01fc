"""Fixtures: the emulator over a real loopback socket, and Annofab sessions pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from annoq import RetryPolicy
from annoq.annofab import AnnofabSession, Project
from annoq.emulator import Emulator, run_emulator

# Fast backoff so fault-heavy tests run in seconds; the retry *decisions* are the real ones.
FAST_RETRIES = RetryPolicy(
    max_retries=10, backoff_base=0.001, backoff_cap=0.02, max_retry_after=0.05
)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with run_emulator(seed=2024) as emulator:
        yield emulator


@pytest.fixture
async def af(emu: Emulator) -> AsyncIterator[AnnofabSession]:
    """The default user (project owner) with its personal access token."""
    async with AnnofabSession(
        pat=emu.annofab.pat, endpoint=emu.base_url, retry_policy=FAST_RETRIES
    ) as session:
        yield session


@pytest.fixture
def project(af: AnnofabSession, emu: Emulator) -> Project:
    return af.project(emu.annofab.project_id)
