"""Every registered emulated service keeps the same contract with the emulator.

Parametrised over the registered services plus a test-only one (`_echo_service`), which
needs only its own module and one ``register`` line: that is what adding a service takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest

from annoq.emulator import SERVICES, Emulator, FaultRule, register, run_emulator
from annoq.emulator._faults import status_message
from annoq.emulator._registry import unregister

from ._echo_service import ECHO

NAMES = [*SERVICES, ECHO.name]
FROZEN_MS = 1_790_000_000_000

# What each service's own error body looks like (the injected 429 must match it).
SHAPES: dict[str, Callable[[Any], bool]] = {
    "weave": lambda body: body == {"reason": "Too many requests"},
    "annofab": lambda body: (
        body["errors"][0]["error_code"] == "TOO_MANY_REQUESTS"
        and body["errors"][0]["message"] == "Too many requests"
    ),
    "echo": lambda body: body == {"echo_error": {"status": 429, "text": "Too many requests"}},
}


@pytest.fixture(autouse=True)
def echo_registered() -> Iterator[None]:
    register(ECHO)  # the one registry line a new service needs
    yield
    unregister(ECHO.name)


def _routes_of(emu: Emulator, name: str) -> list[tuple[str, str, str]]:
    """``(route name, method, concrete path)`` of every named route of service ``name``."""
    found = []
    for route in emu.app.router.routes():
        if route.name is None or not route.name.startswith(f"{name}."):
            continue
        assert route.resource is not None
        path = re.sub(r"\{[^}]+\}", "x", route.resource.canonical)
        found.append((route.name, route.method, path))
    return found


def test_every_service_is_built_and_the_registry_names_it() -> None:
    emu = Emulator(seed=1)
    assert list(emu.services) == NAMES
    assert {"weave", "annofab"} <= set(SERVICES)


@pytest.mark.parametrize("name", NAMES)
def test_route_names_are_namespaced_and_under_the_services_paths(name: str) -> None:
    emu = Emulator(seed=1, services=[name])
    service = emu.service(name)
    routes = _routes_of(emu, name)
    assert sorted(service.route_names) == sorted(route for route, _, _ in routes)
    assert all(route.startswith(f"{name}.") for route in service.route_names)
    for route, _, path in routes:
        assert path.startswith(service.path_prefixes), (route, path)
    assert set(service.route_aliases.values()) <= set(service.route_names)
    other = {n for n in NAMES if n != name}
    assert not any(r.name and r.name.partition(".")[0] in other for r in emu.app.router.routes())


@pytest.mark.parametrize("name", NAMES)
async def test_an_injected_429_answers_in_the_services_own_body_on_every_route(name: str) -> None:
    async with run_emulator(seed=3, services=[name]) as emu, aiohttp.ClientSession() as http:
        emu.faults.add(FaultRule(kind="status", status=429, rate=1.0, retry_after="0.25"))
        service = emu.service(name)
        routes = _routes_of(emu, name)
        assert routes
        for route, method, path in routes:
            async with http.request(method, emu.url(path), json={}) as resp:
                assert resp.status == 429, route
                assert resp.headers["Retry-After"] == "0.25"
                body = await resp.json()
            assert body == service.error_body(429, status_message(429)), route
            assert SHAPES[name](body), (route, body)
        assert emu.faults.count(kind="status_429") == len(routes)
        assert set(emu.faults.counters()) == {route for route, _, _ in routes}


def test_the_services_error_bodies_differ() -> None:
    emu = Emulator(seed=1)
    bodies = [repr(emu.service(n).error_body(503, "Service unavailable")) for n in NAMES]
    assert len(set(bodies)) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
async def test_a_rule_naming_an_older_alias_targets_the_route(name: str) -> None:
    async with run_emulator(seed=3, services=[name]) as emu, aiohttp.ClientSession() as http:
        service = emu.service(name)
        if not service.route_aliases:
            pytest.skip(f"{name} has no older route names")
        alias, route = next(iter(service.route_aliases.items()))
        method, path = next((m, p) for r, m, p in _routes_of(emu, name) if r == route)
        emu.faults.add(FaultRule(kind="status", status=503, routes={alias}))
        async with http.request(method, emu.url(path), json={}) as resp:
            assert resp.status == 503
        assert emu.faults.count(route=alias) == emu.faults.count(route=route) == 1
        assert emu.faults.requests_seen(alias) == 1
        assert emu.faults.counters() == {route: {"status_503": 1}}


def _seeded(name: str, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    emu = Emulator(seed=seed, services=[name])
    emu.clock.source = lambda: FROZEN_MS
    service = emu.service(name)
    return service.seed(5), service.snapshot()


@pytest.mark.parametrize("name", NAMES)
def test_seeding_repeats_exactly_under_the_same_seed(name: str) -> None:
    summary, snapshot = _seeded(name, 7)
    assert (summary, snapshot) == _seeded(name, 7)
    assert snapshot != Emulator(seed=7, services=[name]).service(name).snapshot()  # it seeded


@pytest.mark.parametrize("name", NAMES)
async def test_describe_tells_how_to_reach_the_service(name: str) -> None:
    async with run_emulator(seed=1, services=[name]) as emu:
        base_url = emu.base_url
        lines = emu.service(name).describe(base_url)
    assert lines
    assert all(isinstance(line, str) and line for line in lines)
    assert any(base_url in line for line in lines)


@pytest.mark.parametrize("name", NAMES)
async def test_control_routes_list_seed_and_show_the_service(name: str) -> None:
    async with run_emulator(seed=1, services=[name]) as emu, aiohttp.ClientSession() as http:
        headers = emu.control_headers()
        async with http.get(emu.url("/_emulator/services"), headers=headers) as resp:
            listed = (await resp.json())["services"]
        assert [s["name"] for s in listed] == [name]
        assert listed[0]["routes"] == list(emu.service(name).route_names)
        async with http.get(emu.url(f"/_emulator/{name}/state"), headers=headers) as resp:
            before = await resp.json()
        async with http.post(
            emu.url(f"/_emulator/{name}/seed"), json={"count": 3}, headers=headers
        ) as resp:
            assert resp.status == 200
        async with http.get(emu.url(f"/_emulator/{name}/state"), headers=headers) as resp:
            after = await resp.json()
        async with http.post(
            emu.url(f"/_emulator/{name}/seed"), json={"count": -1}, headers=headers
        ) as resp:
            assert resp.status == 400
        async with http.get(emu.url(f"/_emulator/{name}/state"), headers={}) as resp:
            assert resp.status == 200  # loopback, no token: the checks admit it
    assert before != after == emu.service(name).snapshot()


@pytest.mark.parametrize("name", NAMES)
def test_the_services_state_and_options_are_its_own(name: str) -> None:
    emu = Emulator(seed=1, services=[name])
    service = emu.service(name)
    assert service.state is not None
    assert type(service.options) is type(SERVICES[name].options())
    with pytest.raises(KeyError, match="serves no"):
        emu.service("nothing")


def test_echo_control_route_and_options_are_the_services_own() -> None:
    from ._echo_service import EchoOptions

    emu = Emulator(seed=1, services=["echo"], options={"echo": EchoOptions(greeting="hi")})
    assert emu.service("echo").options == EchoOptions(greeting="hi")
    assert any(
        getattr(r.resource, "canonical", "") == "/_emulator/echo/forget"
        for r in emu.app.router.routes()
    )
    with pytest.raises(ValueError, match="not served: weave2"):
        Emulator(options={"weave2": object()})
    with pytest.raises(ValueError, match="unknown emulated service 'nope'"):
        Emulator(services=["nope"])
