"""pytest plugin shipped with annoq: a running Weave emulator as a fixture.

Installed with annoq (entry point ``pytest11``), so any test suite can write::

    async def test_my_service_marks_items(annoq_emulator):
        emu = annoq_emulator                        # an annoq.emulator.Emulator
        queue_id = emu.weave.seed_queue(n_items=50)
        await my_service.run(base_url=emu.base_url, api_key=emu.api_key, queue=queue_id)
        assert emu.weave.applied_writes() == 50     # each item written exactly once

The fixture is function-scoped: each test gets a fresh emulator on a free loopback port,
stopped (with its actors) after the test. Options of `run_emulator` are passed with a
marker::

    @pytest.mark.annoq_emulator(legacy_progress=True, seed=3)
    async def test_against_the_older_server(annoq_emulator): ...

    @pytest.mark.annoq_emulator(services=["annofab"], annofab=AnnofabOptions(pat="p"))
    async def test_against_annofab_alone(annoq_emulator): ...

The fixture is async and needs pytest-asyncio, in either of its modes: in the default
(strict) mode the plugin marks every ``async def`` test that takes ``annoq_emulator`` as
an argument with ``@pytest.mark.asyncio`` itself (unless it, its class or its module
already carries that marker), so the example above runs as written. Other async tests,
and async fixtures of your own, still need the usual marker (``@pytest.mark.asyncio``,
``@pytest_asyncio.fixture``) or ``asyncio_mode = "auto"``. Without pytest-asyncio the
plugin still loads; the fixture then fails with a message saying so.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

from ._emulator import run_emulator

if TYPE_CHECKING:
    from ._emulator import Emulator

try:
    import pytest_asyncio as _pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
    _pytest_asyncio = None  # type: ignore[assignment]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``annoq_emulator`` marker."""
    config.addinivalue_line(
        "markers",
        "annoq_emulator(**options): options of annoq.emulator.run_emulator for the "
        "annoq_emulator fixture (seed=, services=, weave=WeaveOptions(...), "
        "annofab=AnnofabOptions(...), legacy_progress=, project=, api_key=, ...)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Mark ``async def`` tests taking ``annoq_emulator`` with ``asyncio`` (strict mode).

    Runs before the test item is made, so pytest-asyncio sees the marker as if written.
    """
    if _pytest_asyncio is None or not inspect.iscoroutinefunction(obj):
        return
    try:
        parameters = inspect.signature(obj).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins and the like
        return
    if "annoq_emulator" not in parameters or collector.get_closest_marker("asyncio"):
        return
    if any(mark.name == "asyncio" for mark in getattr(obj, "pytestmark", ())):
        return
    pytest.mark.asyncio(obj)


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("annoq_emulator")
    if marker is None:
        return {}
    if marker.args:
        raise TypeError("@pytest.mark.annoq_emulator takes keyword arguments only")
    return dict(marker.kwargs)


if _pytest_asyncio is not None:

    @_pytest_asyncio.fixture
    async def annoq_emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
        """A running `annoq.emulator.Emulator` (fresh per test, on a free port).

        Use ``emu.base_url`` and ``emu.api_key`` for clients, ``emu.weave`` to seed and
        inspect, ``emu.faults`` to inject faults, ``emu.add_user()`` for more
        annotators. Configure with ``@pytest.mark.annoq_emulator(**options)``.
        """
        async with run_emulator(**_options(request)) as emu:
            yield emu

else:  # pragma: no cover - exercised only without pytest-asyncio

    @pytest.fixture
    def annoq_emulator(request: pytest.FixtureRequest) -> None:
        """Unavailable: the ``annoq_emulator`` fixture needs pytest-asyncio."""
        pytest.fail("the annoq_emulator fixture needs pytest-asyncio (pip install pytest-asyncio)")
