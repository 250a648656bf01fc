"""What every emulated service is: the protocol, its shared context, and its registry entry.

An emulated service is one package (``annoq.emulator.weave``, ``annoq.emulator.annofab``)
with a class satisfying `Service` and a `ServiceSpec` naming it; one line in
`annoq.emulator._registry` registers the spec. The `Emulator` then builds every
registered service (or those chosen with ``services=``) on one app, with one clock, one
seed, one fault injector and one set of control routes.

Example (a service of one route)::

    class Echo(ServiceBase):
        name = "echo"
        path_prefixes = ("/echo",)
        route_names = ("echo.say",)

        def add_routes(self, app: web.Application) -> None:
            app.router.add_post("/echo/say", self.say, name="echo.say")

    register(ServiceSpec("echo", Echo, EchoOptions))
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import attrs
from aiohttp import web

from ._clock import Clock

if TYPE_CHECKING:
    from ._control import Control


@attrs.frozen
class ServiceContext:
    """What the emulator hands every service it builds.

    Parameters:
        seed: the emulator's ``seed`` (``None``: credentials random on every run).
        data_seed: the seed of ids and seeded data (``seed``, else 0).
        secrets: where random credentials come from when unseeded (``None`` when seeded:
            then the service draws them from its seeded sequence).
        clock: the emulator's one clock.
    """

    seed: int | None
    data_seed: int
    secrets: random.Random | None
    clock: Clock


@runtime_checkable
class Service(Protocol):
    """One emulated service on the emulator's app.

    ``name`` namespaces its routes (``weave.progress``) and its control routes
    (``/_emulator/{name}/...``); ``path_prefixes`` are the URL paths its routes start
    with; ``route_names`` every named route (fault rules target them), ``route_aliases``
    older names of them; ``state`` the in-process object tests seed and inspect
    (``emu.weave``, ``emu.annofab``); ``options`` its options (an attrs class).
    """

    name: ClassVar[str]
    path_prefixes: ClassVar[tuple[str, ...]]

    @property
    def route_names(self) -> tuple[str, ...]: ...

    @property
    def route_aliases(self) -> Mapping[str, str]: ...

    @property
    def state(self) -> object: ...

    @property
    def options(self) -> object: ...

    def add_routes(self, app: web.Application) -> None:
        """Register the service's routes, each named ``{name}.{route}``."""

    def add_control_routes(self, control: Control) -> None:
        """Register the service's own ``/_emulator/{name}/...`` routes (may add none)."""

    def error_body(self, status: int, message: str) -> Any:
        """The JSON body of an injected ``status`` answer, in the service's own shape."""

    def describe(self, base_url: str) -> list[str]:
        """Lines telling a person how to reach the service (the ``annoq serve`` banner)."""

    def seed(self, count: int) -> dict[str, Any]:
        """Seed ``count`` of the service's main records in its default place; a summary."""

    def snapshot(self) -> dict[str, Any]:
        """A JSON summary of the state (counts and ids), equal for equal histories."""

    async def close(self) -> None:
        """Stop background work (actors); called when the app shuts down."""


class ServiceBase:
    """Defaults for the optional parts of `Service`: no aliases, no control routes."""

    name: ClassVar[str]
    path_prefixes: ClassVar[tuple[str, ...]]

    @property
    def route_aliases(self) -> Mapping[str, str]:
        """No older route names."""
        return {}

    def add_control_routes(self, control: Control) -> None:
        """No control routes of its own (the shared ones still serve it)."""

    async def close(self) -> None:
        """Nothing runs in the background."""


ServiceFactory = Callable[[ServiceContext, Any], Service]
"""``(context, options) -> service``."""


@attrs.frozen
class ServiceSpec:
    """A registry entry: a service's name, how to build it, and its options class.

    ``options`` is called with no argument for the defaults.
    """

    name: str
    build: ServiceFactory
    options: Callable[[], object]


__all__ = ["Service", "ServiceBase", "ServiceContext", "ServiceFactory", "ServiceSpec"]
