"""Fixtures: a mocked HTTP layer (aioresponses) and a WeaveSession pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from annoq import WeaveSession
from tests.core._support import API_KEY, BASE, FAST_RETRY, MockHTTP


@pytest.fixture
def http() -> Iterator[MockHTTP]:
    """Every aiohttp request goes to this mock; an unregistered URL is refused."""
    with MockHTTP() as mock:
        yield mock


@pytest.fixture
async def weave() -> AsyncIterator[WeaveSession]:
    async with WeaveSession(API_KEY, base_url=BASE, retry_policy=FAST_RETRY) as session:
        yield session
