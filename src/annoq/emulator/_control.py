"""The ``/_emulator/`` control routes shared by every service: access checks, faults, info.

They are never faulted (they are unnamed routes). Bodies and answers are JSON; a bad
request answers 400 ``{"reason": ...}``. Because they hand out every credential and change
any state, each request is checked before its handler runs:

- ``Host`` must name this machine (``localhost``, a loopback address, the address the
  request arrived on, the machine's host name, the bound host, or one of the emulator's
  ``allowed_hosts``); anything else answers 403. This defeats DNS rebinding: a web page
  whose name was re-pointed at 127.0.0.1 still sends its own name as ``Host``.
- With a control token (always when the emulator is bound off loopback, or when one is
  given), the ``X-Annoq-Emulator-Token`` header must carry it; else 401.
- ``POST`` and ``PUT`` need ``Content-Type: application/json``; else 415. A browser sends
  a cross-origin request without a preflight only with form or ``text/plain`` bodies (or
  none), so a web page cannot drive the control routes.

=========================================  =============================================
route                                      effect
=========================================  =============================================
``GET /_emulator/info``                    services, route names; with Weave also its
                                           project, default user and key, options
``GET /_emulator/services``                ``{services: [{name, routes, describe}]}``
``GET /_emulator/{name}/state``            the service's state summary (`Service.snapshot`)
``POST /_emulator/{name}/seed``            ``{count}``: seed the service's default data
``GET /_emulator/faults``                  ``{rules, counters, requests, seed}``
``PUT /_emulator/faults``                  ``{rules: [rule...], seed?}`` replaces rules
``POST /_emulator/faults``                 one rule (see `FaultRule`) appended
``DELETE /_emulator/faults``               clear rules; ``?reset_counters=1`` also
                                           zeroes counters
=========================================  =============================================

Each service adds its own routes through `Control` (Weave's: users, seeding, items,
progress, applied writes, the state log and actors; see ``annoq.emulator.weave._control``).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from ._faults import FaultRule
from ._http import NotJson, json_response, read_json

if TYPE_CHECKING:
    from ._emulator import Emulator
    from ._service import Service

PREFIX = "/_emulator"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    """A control request that cannot be served (answers 400)."""


TOKEN_HEADER: Final = "X-Annoq-Emulator-Token"
"""The request header that carries the control token."""

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or address, brackets allowed) is this machine's loopback."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""


def _host_name(header: str) -> str:
    """The host part of a ``Host`` header (no port, no brackets), lowercased."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


@functools.cache
def _this_machine() -> frozenset[str]:
    """This machine's host name, in full and without its domain."""
    full = socket.gethostname().lower().rstrip(".")
    return frozenset(n for n in (full, full.split(".", 1)[0]) if n)


def host_allowed(header: str | None, *, local_address: str | None, allowed: Iterable[str]) -> bool:
    """Whether a request whose ``Host`` is ``header`` may use the control routes.

    Allowed: loopback names and addresses, the address the request arrived on
    (``local_address``), this machine's host name, and ``allowed`` (the bound host and
    the emulator's ``allowed_hosts``). A missing ``Host`` is refused.
    """
    if not header:
        return False
    name = _host_name(header)
    if is_loopback_host(name) or name in _this_machine():
        return True
    if local_address is not None and name == local_address.split("%", 1)[0].lower():
        return True
    return any(name == _host_name(a) for a in allowed)


def _check_access(request: web.Request, emu: Emulator) -> web.Response | None:
    """The refusal of a control request that fails a check, else ``None``."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    local_address = str(sockname[0]) if sockname else None
    allowed = list(emu.allowed_hosts)
    if emu.bound_host is not None and not _is_unspecified(emu.bound_host):
        allowed.append(emu.bound_host)
    host = request.headers.get("Host")
    if not host_allowed(host, local_address=local_address, allowed=allowed):
        return json_response(
            {
                "reason": f"Host {host!r} is not this machine; control routes answer only "
                "requests addressed to localhost, a loopback address, this machine's name "
                "or address, or an allowed host"
            },
            403,
        )
    token = emu.control_token
    if token is not None:
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return json_response(
                {
                    "reason": f"control routes need the {TOKEN_HEADER} header with the "
                    "control token the emulator printed at start"
                },
                401,
            )
    if request.method in _BODY_METHODS and request.content_type != "application/json":
        return json_response(
            {"reason": "control requests need Content-Type: application/json"}, 415
        )
    return None


ErrorAnswer = Callable[[Exception], web.StreamResponse]


class Control:
    """The ``/_emulator/`` router: every route it adds passes the access checks first.

    A service adds its own control routes in ``add_control_routes(control)``::

        async def hello(request: web.Request) -> web.StreamResponse:
            body = await control.body(request)
            return json_response({"hello": body.get("name")})

        control.add("POST", "/echo/hello", hello)

    A bad request (`BadRequest`, ``ValueError``, ``TypeError``, ``KeyError``) answers 400
    ``{"reason": ...}``; a service maps its own errors with `on_error`.
    """

    def __init__(self, app: web.Application, emu: Emulator) -> None:
        self.app = app
        self.emu = emu
        self._errors: dict[type[Exception], ErrorAnswer] = {}

    def on_error(self, kind: type[Exception], answer: ErrorAnswer) -> None:
        """Answer an exception of ``kind`` raised by a control handler with ``answer``."""
        self._errors[kind] = answer

    def add(self, method: str, path: str, handler: _Handler) -> None:
        """Serve ``method /_emulator{path}`` with ``handler``, guarded (and unnamed)."""
        self.app.router.add_route(method, PREFIX + path, self._guard(handler))

    @staticmethod
    async def body(request: web.Request) -> dict[str, Any]:
        """The request's JSON object (``{}`` when empty; `BadRequest` otherwise)."""
        try:
            data = await read_json(request, empty={})
        except NotJson as exc:
            raise BadRequest(f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadRequest("body must be a JSON object")
        return data

    def _guard(self, func: _Handler) -> _Handler:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            refusal = _check_access(request, self.emu)
            if refusal is not None:
                return refusal
            try:
                return await func(request)
            except Exception as exc:
                for kind, answer in self._errors.items():
                    if isinstance(exc, kind):
                        return answer(exc)
                if isinstance(exc, BadRequest | ValueError | TypeError | KeyError):
                    return json_response({"reason": f"{type(exc).__name__}: {exc}"}, 400)
                raise

        return wrapper


def add_control_routes(app: web.Application, emu: Emulator) -> Control:
    """Register the shared control routes of ``emu``, then each service's own."""
    control = Control(app, emu)
    faults = emu.faults

    async def info(request: web.Request) -> web.StreamResponse:
        data: dict[str, Any] = {
            "services": list(emu.services),
            "routes": [name for s in emu.services.values() for name in s.route_names],
        }
        weave = emu.services.get("weave")
        if weave is not None:
            data |= {
                "project": emu.project,
                "user_id": emu.user_id,
                "api_key": emu.api_key,
                "options": emu.options.behaviours(),
            }
        return json_response(data)

    async def services(request: web.Request) -> web.StreamResponse:
        base_url = emu.base_url if emu.bound_host is not None else ""
        return json_response(
            {
                "services": [
                    {
                        "name": name,
                        "routes": list(service.route_names),
                        "describe": service.describe(base_url),
                    }
                    for name, service in emu.services.items()
                ]
            }
        )

    def faults_state() -> dict[str, Any]:
        return {
            "rules": [r.to_json() for r in faults.rules],
            "counters": faults.counters(),
            "requests": faults.requests_seen(),
            "seed": faults.seed,
        }

    async def get_faults(request: web.Request) -> web.StreamResponse:
        return json_response(faults_state())

    async def put_faults(request: web.Request) -> web.StreamResponse:
        body = await control.body(request)
        rules = [FaultRule.from_json(r) for r in body.get("rules", [])]
        seed_value = body.get("seed")
        faults.set_rules(rules, seed=None if seed_value is None else int(seed_value))
        return json_response(faults_state())

    async def add_fault(request: web.Request) -> web.StreamResponse:
        faults.add(FaultRule.from_json(await control.body(request)))
        return json_response(faults_state())

    async def clear_faults(request: web.Request) -> web.StreamResponse:
        faults.clear()
        if request.query.get("reset_counters") in ("1", "true", "yes"):
            faults.reset_counters()
        return json_response(faults_state())

    control.add("GET", "/info", info)
    control.add("GET", "/services", services)
    control.add("GET", "/faults", get_faults)
    control.add("PUT", "/faults", put_faults)
    control.add("POST", "/faults", add_fault)
    control.add("DELETE", "/faults", clear_faults)
    for service in emu.services.values():
        _add_service_routes(control, service)
        service.add_control_routes(control)
    return control


def _add_service_routes(control: Control, service: Service) -> None:
    """``GET /_emulator/{name}/state`` and ``POST /_emulator/{name}/seed {count}``."""

    async def state(request: web.Request) -> web.StreamResponse:
        return json_response(service.snapshot())

    async def seed(request: web.Request) -> web.StreamResponse:
        body = await control.body(request)
        count = body.get("count", 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise BadRequest(f"count must be an integer >= 0, got {count!r}")
        return json_response(service.seed(count))

    control.add("GET", f"/{service.name}/state", state)
    control.add("POST", f"/{service.name}/seed", seed)
