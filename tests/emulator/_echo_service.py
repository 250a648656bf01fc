"""A test-only emulated service: everything a new service needs, in one small module.

It proves the emulator's service shape: this module plus one ``register(ECHO)`` line
give it routes, faults in its own error body, seeding under the emulator's seed, a
banner, control routes and a state summary, with no change to annoq's emulator.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
from aiohttp import web

from annoq.emulator import ServiceBase, ServiceContext, ServiceSpec
from annoq.emulator._control import Control
from annoq.emulator._http import json_response, read_json


@attrs.frozen(kw_only=True)
class EchoOptions:
    """How the echo service greets."""

    greeting: str = "echo"


class Echo(ServiceBase):
    """``POST /echo/say`` answers its body back; ``GET /echo/said`` lists what was said."""

    name: ClassVar[str] = "echo"
    path_prefixes: ClassVar[tuple[str, ...]] = ("/echo/",)

    def __init__(self, context: ServiceContext, options: EchoOptions) -> None:
        self._options = options
        self.rng = random.Random(context.data_seed)
        self.clock = context.clock
        self.said: list[dict[str, Any]] = []

    @property
    def route_names(self) -> tuple[str, ...]:
        return ("echo.say", "echo.said")

    @property
    def route_aliases(self) -> Mapping[str, str]:
        return {"shout": "echo.say"}

    @property
    def state(self) -> list[dict[str, Any]]:
        return self.said

    @property
    def options(self) -> EchoOptions:
        return self._options

    async def say(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request, empty={})
        self.said.append({"at": self.clock.tick(), "body": body})
        return json_response({self._options.greeting: body})

    async def list_said(self, request: web.Request) -> web.StreamResponse:
        return json_response([entry["body"] for entry in self.said])

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/echo/say", self.say, name="echo.say")
        app.router.add_get("/echo/said", self.list_said, name="echo.said", allow_head=False)

    def add_control_routes(self, control: Control) -> None:
        async def forget(request: web.Request) -> web.StreamResponse:
            self.said.clear()
            return json_response({"said": 0})

        control.add("POST", "/echo/forget", forget)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"echo_error": {"status": status, "text": message}}

    def describe(self, base_url: str) -> list[str]:
        return [f"Echo emulator: {base_url}/echo/say ({len(self.said)} said)"]

    def seed(self, count: int) -> dict[str, Any]:
        words = [f"word-{self.rng.getrandbits(32):08x}" for _ in range(count)]
        self.said.extend({"at": self.clock.tick(), "body": w} for w in words)
        return {"words": words}

    def snapshot(self) -> dict[str, Any]:
        return {"said": [entry["body"] for entry in self.said]}


ECHO = ServiceSpec("echo", Echo, EchoOptions)
