"""The `Emulator`: every registered service on one app, and the functions that serve it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import random
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

from aiohttp import web

from ._clock import Clock
from ._control import TOKEN_HEADER, add_control_routes, is_loopback_host
from ._faults import FaultInjector, FaultRule
from ._registry import SERVICES, spec_of
from ._service import Service, ServiceContext, ServiceSpec
from .annofab._service import Annofab, AnnofabOptions
from .annofab._state import AnnofabState
from .weave._app import WeaveOptions
from .weave._feedback import FeedbackState
from .weave._service import Weave
from .weave._state import WeaveState
from .weave._store import EmulatorError, User

DEFAULT_MAX_BODY_BYTES: Final = 32 * 1024 * 1024
DEFAULT_DATA_SEED: Final = 0
"""The seed of ids, data, fault draws and actors when no ``seed`` is given."""
CONTROL_TOKEN_BYTES: Final = 24
"""Random bytes in a generated control token (URL-safe base64 text)."""

EMULATOR_KEY: Final[web.AppKey[Emulator]] = web.AppKey("annoq_emulator")

_S = TypeVar("_S")


class Emulator:
    """Local emulated services (W&B Weave, Annofab, ...) on one HTTP app, with faults.

    Usually obtained from `run_emulator`, which serves it on a free loopback port::

        async with run_emulator(seed=1) as emu:
            queue_id = emu.weave.seed_queue(n_items=100)
            async with aiohttp.ClientSession(headers=emu.auth_headers()) as http:
                async with http.post(
                    f"{emu.base_url}/annotation_queues/{queue_id}/items/query",
                    json={"project_id": emu.project, "limit": 10},
                ) as resp:
                    items = (await resp.json())["items"]

    Each service takes its own options::

        Emulator(weave=WeaveOptions(legacy_progress=True), annofab=AnnofabOptions(pat="p"))
        Emulator(services=["annofab"])                 # Annofab alone

    To embed in an ``aiohttp.test_utils.TestServer`` instead, use ``Emulator().app``
    (or `build_app`).

    Parameters:
        seed: seeds ids, seeded data, fault draws, actors and credentials, so that a
            run repeats exactly. Without it, ids, data and faults still repeat (as with
            seed 0) but API keys, PATs, passwords and tokens are random on every run.
        services: names (or `ServiceSpec` entries) of the services to serve; ``None``:
            every registered one (``weave``, ``annofab``).
        weave: the options of the emulated Weave (`WeaveOptions`).
        annofab: the options of the emulated Annofab (`AnnofabOptions`).
        options: options of other services, by service name.
        max_body_bytes: larger request bodies answer 413 ``{"reason": "Request too large"}``.
        control_token: the token the ``/_emulator/`` control routes require (header
            ``X-Annoq-Emulator-Token``); ``None``: none, unless `run_emulator` binds off
            loopback, which then generates one.
        allowed_hosts: more ``Host`` names the control routes accept (besides loopback,
            this machine's name and address, and the bound host), e.g. a container name.
        legacy_progress, reject_unknown_fields, legacy_error_bodies, project, user_id,
            api_key: the same-named fields of `WeaveOptions` (given here, they override
            ``weave``), kept for callers of earlier releases.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        services: Iterable[str | ServiceSpec] | None = None,
        weave: WeaveOptions | None = None,
        annofab: AnnofabOptions | None = None,
        options: Mapping[str, object] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        control_token: str | None = None,
        allowed_hosts: Iterable[str] = (),
        legacy_progress: bool | None = None,
        reject_unknown_fields: bool | None = None,
        legacy_error_bodies: bool | None = None,
        project: str | None = None,
        user_id: str | None = None,
        api_key: str | None = None,
    ) -> None:
        self.seed = seed
        """The seed given, or ``None`` (then credentials are random)."""
        data_seed = DEFAULT_DATA_SEED if seed is None else seed
        self.control_token = control_token
        """The token the control routes require, or ``None`` (set by `run_emulator`
        when it binds off loopback)."""
        self.allowed_hosts = tuple(allowed_hosts)
        """Extra ``Host`` names the control routes accept."""
        self.bound_host: str | None = None
        """The address `run_emulator` bound (``None`` when not served)."""
        self._base_url: str | None = None
        overrides = {
            "legacy_progress": legacy_progress,
            "reject_unknown_fields": reject_unknown_fields,
            "legacy_error_bodies": legacy_error_bodies,
            "project": project,
            "user_id": user_id,
            "api_key": api_key,
        }
        weave_options = WeaveOptions() if weave is None else weave
        given = {k: v for k, v in overrides.items() if v is not None}
        if given:
            weave_options = WeaveOptions(**(_fields(weave_options) | given))
        chosen = dict(options or {})
        chosen["weave"] = weave_options
        if annofab is not None:
            chosen["annofab"] = annofab
        context = ServiceContext(
            seed=seed,
            data_seed=data_seed,
            secrets=None if seed is not None else random.SystemRandom(),
            clock=Clock(),
        )
        self.clock = context.clock
        """The one clock every service reads."""
        self.faults = FaultInjector(data_seed, error_body=self._error_body)
        self.app = web.Application(
            middlewares=[self.faults.middleware], client_max_size=max_body_bytes
        )
        self.app[EMULATOR_KEY] = self
        self.services: dict[str, Service] = {}
        """The served services by name, in the order their routes were added."""
        for entry in SERVICES if services is None else services:
            spec = entry if isinstance(entry, ServiceSpec) else spec_of(entry)
            if spec.name in self.services:
                raise ValueError(f"service {spec.name!r} is given twice")
            service_options = chosen.get(spec.name)
            service = spec.build(
                context, spec.options() if service_options is None else service_options
            )
            self.services[spec.name] = service
            service.add_routes(self.app)
            self.faults.add_aliases(service.route_aliases)
        unknown = sorted(set(options or {}) - set(self.services))
        if unknown:
            raise ValueError(f"options for services not served: {', '.join(unknown)}")
        add_control_routes(self.app, self)
        self.app.on_shutdown.append(self._on_shutdown)

    def _error_body(self, route: str, status: int, message: str) -> Any:
        """An injected answer's body, in the shape of the route's service."""
        service = self.services.get(route.partition(".")[0])
        return {"reason": message} if service is None else service.error_body(status, message)

    async def _on_shutdown(self, _: web.Application) -> None:
        for service in self.services.values():
            await service.close()

    # ------------------------------------------------------------------ services

    def service(self, name: str) -> Service:
        """The served service called ``name`` (``KeyError`` naming the served ones)."""
        try:
            return self.services[name]
        except KeyError:
            raise KeyError(
                f"the emulator serves no {name!r} service (it serves {', '.join(self.services)})"
            ) from None

    def _typed(self, name: str, kind: type[_S]) -> _S:
        service = self.service(name)
        assert isinstance(service, kind)
        return service

    @property
    def weave(self) -> WeaveState:
        """The emulated Weave's queues, items and progress: seed, act, inspect."""
        return self._typed("weave", Weave).weave

    @property
    def feedback(self) -> FeedbackState:
        """Feedback rows and annotation specs (``/feedback/*``, ``/obj/*``, ``/refs/*``)."""
        return self._typed("weave", Weave).feedback

    @property
    def annofab(self) -> AnnofabState:
        """The emulated Annofab (routes under ``/api/v1``): seed, act, inspect."""
        return self._typed("annofab", Annofab).annofab

    @property
    def options(self) -> WeaveOptions:
        """The emulated Weave's options."""
        return self._typed("weave", Weave).options

    @property
    def project(self) -> str:
        """The emulated Weave's default project."""
        return self.weave.project

    @property
    def user_id(self) -> str:
        """The emulated Weave's default user."""
        return self.weave.user_id

    @property
    def api_key(self) -> str:
        """The API key of the emulated Weave's default user."""
        return self._typed("weave", Weave).user.api_key

    # ------------------------------------------------------------------ reaching it

    @property
    def base_url(self) -> str:
        """``http://host:port`` while served by `run_emulator` / `serve`."""
        if self._base_url is None:
            raise RuntimeError("the emulator is not being served (use run_emulator)")
        return self._base_url

    def url(self, path: str) -> str:
        """``base_url`` joined with ``path`` (which starts with ``/``)."""
        return self.base_url + path

    def add_user(
        self,
        user_id: str | None = None,
        *,
        api_key: str | None = None,
        projects: Iterable[str] | None = None,
    ) -> User:
        """Add a Weave user (another annotator); returns it with its ``api_key``.

        ``projects`` limits what it may see (others answer 403); ``None`` means all.
        """
        return self._typed("weave", Weave).add_user(user_id, api_key=api_key, projects=projects)

    def auth_headers(self, api_key: str | None = None) -> dict[str, str]:
        """``{"Authorization": "Basic base64(api:KEY)"}`` for the default or given key."""
        key = self.api_key if api_key is None else api_key
        token = base64.b64encode(f"api:{key}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def control_headers(self) -> dict[str, str]:
        """The headers a control request needs: the token (if any) and JSON content.

        Example::

            async with http.post(emu.url("/_emulator/seed"), json={"n_items": 5},
                                 headers=emu.control_headers()) as resp: ...
        """
        headers = {"Content-Type": "application/json"}
        if self.control_token is not None:
            headers[TOKEN_HEADER] = self.control_token
        return headers


def _fields(options: WeaveOptions) -> dict[str, Any]:
    return {
        "project": options.project,
        "user_id": options.user_id,
        "api_key": options.api_key,
        **options.behaviours(),
    }


def build_app(**options: Any) -> web.Application:
    """A fresh emulator's aiohttp application, for ``aiohttp.test_utils`` servers.

    ``options`` are those of `Emulator`; get the emulator back with `emulator_of`.
    """
    return Emulator(**options).app


def route_names(
    services: Iterable[str | ServiceSpec] | None = None, *, aliases: bool = True
) -> tuple[str, ...]:
    """Every route name fault rules may target on the given (default: every registered)
    services, with the older aliases unless ``aliases=False``.

    Example::

        assert "weave.progress" in route_names() and "progress" in route_names()
    """
    emu = Emulator(seed=DEFAULT_DATA_SEED, services=services)
    names = [name for service in emu.services.values() for name in service.route_names]
    if aliases:
        names += [old for service in emu.services.values() for old in service.route_aliases]
    return tuple(names)


def emulator_of(app: web.Application) -> Emulator:
    """The `Emulator` behind an application made by `build_app`."""
    return app[EMULATOR_KEY]


@contextlib.asynccontextmanager
async def run_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    control_token: str | None = None,
    **options: Any,
) -> AsyncIterator[Emulator]:
    """Serve a fresh `Emulator` over TCP for the duration of the block.

    ``port=0`` picks a free port; ``emu.base_url`` tells which (a loopback URL when
    ``host`` is a wildcard such as ``0.0.0.0``). The other options are those of
    `Emulator`. Bound off loopback, the control routes need a token: ``control_token``,
    or one generated (``emu.control_token``, sent by ``emu.control_headers()``). On
    exit, actors are stopped and every connection is closed.

    Example::

        async with run_emulator(weave=WeaveOptions(legacy_progress=True)) as emu:
            print(emu.base_url, emu.api_key)
    """
    emulator = Emulator(
        control_token=control_token
        if control_token is not None or is_loopback_host(host)
        else new_control_token(),
        **options,
    )
    # handler_cancellation: a client that gives up (a timeout, a dropped connection)
    # cancels its handler, as behind a real ASGI server; shutdown then never waits on
    # an injected latency.
    runner = web.AppRunner(
        emulator.app,
        access_log=None,
        handle_signals=False,
        handler_cancellation=True,
        shutdown_timeout=1.0,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        emulator.bound_host = str(bound_host)
        emulator._base_url = http_url(_reachable_host(str(bound_host)), int(bound_port))
        yield emulator
    finally:
        emulator._base_url = None
        emulator.bound_host = None
        await runner.cleanup()


def new_control_token() -> str:
    """A fresh random control token."""
    return secrets.token_urlsafe(CONTROL_TOKEN_BYTES)


def http_url(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def _reachable_host(bound: str) -> str:
    """Where a client on this machine reaches a server bound to ``bound``."""
    if _is_wildcard(bound):
        return "::1" if ":" in bound else "127.0.0.1"
    return bound


def announcement(emu: Emulator, *, seeded: bool) -> tuple[list[str], list[str]]:
    """What `serve` says about reaching ``emu`` off loopback: (stdout lines, warnings).

    Nothing when bound to loopback. Otherwise: a URL for other machines, how to let
    annoq's client use plain http there, and the control token; the warnings say the
    server is open to the network (and, when seeded, that its keys can be computed).
    """
    bound = emu.bound_host
    if bound is None or is_loopback_host(bound):
        return [], []
    port = int(emu.base_url.rsplit(":", 1)[1])
    network_host = socket.gethostname() if _is_wildcard(bound) else bound
    lines = [
        f"From other machines: {http_url(network_host, port)}",
        "Plain http off loopback: annoq refuses it unless told the network is trusted: "
        "pass --allow-insecure-http to annoq commands, or allow_insecure_http=True to "
        "WeaveSession / AnnofabSession",
    ]
    if emu.control_token is not None:
        lines.append(f"Control token: {emu.control_token} (send it as {TOKEN_HEADER})")
    warnings = [
        f"warning: listening on {bound}, off loopback: anyone who can reach port {port} "
        "can use the emulator over plain http (no TLS); its control routes need the "
        "control token"
    ]
    if seeded:
        warnings.append(
            "warning: --seed makes the API keys and PATs repeat: anyone who knows the "
            "seed can compute them"
        )
    return lines, warnings


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    seed: int | None = None,
    seed_items: int = 0,
    annofab_tasks: int | None = None,
    seed_counts: Mapping[str, int] | None = None,
    faults: Iterable[FaultRule] = (),
    control_token: str | None = None,
    allowed_hosts: Iterable[str] = (),
    echo: Callable[[str], None] = print,
    warn: Callable[[str], None] = _stderr,
    stop: asyncio.Event | None = None,
    **options: Any,
) -> None:
    """Run an emulator until ``stop`` is set, SIGINT/SIGTERM, or cancellation.

    ``seed_counts`` names the services to seed and announce, with how many records
    each gets (``{"weave": 1000, "annofab": 50}``: a queue of 1000 items, 50 tasks);
    each one's `Service.describe` lines go through ``echo`` (the first line of Weave's
    is ``Weave emulator listening on URL``, then its project, queue id, user id and
    ``API key: ...``). Without it: Weave with ``seed_items`` items, and Annofab with
    ``annofab_tasks`` tasks when given (``annoq serve --annofab``). ``faults`` are in
    place before anything is reported. Bound off loopback, it also reports a URL for
    other machines, how to allow plain http in annoq, and the control token, and sends
    warnings through ``warn`` (stderr). ``options`` are those of `Emulator`. This is
    what ``annoq serve`` and ``python -m annoq.emulator`` run.
    """
    if seed_counts is None:
        seed_counts = {"weave": seed_items}
        if annofab_tasks is not None:
            seed_counts["annofab"] = annofab_tasks
    stop_event = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop_event.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        async with run_emulator(
            host=host,
            port=port,
            seed=seed,
            control_token=control_token,
            allowed_hosts=allowed_hosts,
            **options,
        ) as emu:
            for rule in faults:
                emu.faults.add(rule)
            for index, (name, count) in enumerate(seed_counts.items()):
                service = emu.service(name)
                service.seed(count)
                for line in service.describe(emu.base_url):
                    echo(line)
                if index == 0:
                    network_lines, warnings = announcement(emu, seeded=seed is not None)
                    for line in warnings:
                        warn(line)
                    for line in network_lines:
                        echo(line)
            await stop_event.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


__all__ = [
    "EMULATOR_KEY",
    "Emulator",
    "EmulatorError",
    "WeaveState",
    "build_app",
    "emulator_of",
    "route_names",
    "run_emulator",
    "serve",
]
