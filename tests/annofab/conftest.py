"""Fixtures: Annofab sessions pointed at the test's emulator (the root ``emu``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from annoq.annofab import AnnofabSession, Project
from annoq.emulator import Emulator
from tests._support import FAST_RETRIES


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
