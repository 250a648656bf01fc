"""The `Emulator` object, its in-process Weave API, and the functions that serve it."""

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
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Final

from aiohttp import web

from ._control import TOKEN_HEADER, add_control_routes, is_loopback_host
from ._faults import FaultInjector, FaultRule
from .annofab._app import AnnofabService
from .annofab._state import DEFAULT_PASSWORD, AnnofabState
from .annofab._store import AnnofabStore
from .weave._actor import Actor
from .weave._app import WeaveOptions, WeaveService
from .weave._feedback import FeedbackService, FeedbackState, FeedbackStore
from .weave._store import (
    DEFAULT_OP_NAMES,
    EmulatorError,
    StateChange,
    User,
    WeaveStore,
)

DEFAULT_PROJECT: Final = "entity/project"
DEFAULT_USER_ID: Final = "local-user"
DEFAULT_ACTOR_USER_ID: Final = "actor"
DEFAULT_DISPLAY_FIELDS: Final = ("inputs", "output")
DEFAULT_MAX_BODY_BYTES: Final = 32 * 1024 * 1024
DEFAULT_DATA_SEED: Final = 0
"""The seed of ids, data, fault draws and actors when no ``seed`` is given."""
CONTROL_TOKEN_BYTES: Final = 24
"""Random bytes in a generated control token (URL-safe base64 text)."""

EMULATOR_KEY: Final[web.AppKey[Emulator]] = web.AppKey("annoq_emulator")


class WeaveState:
    """In-process access to the emulated Weave data: seed it, act in it, inspect it.

    Reached as ``emu.weave``. Every method acts directly on the state (no HTTP, no
    faults) and is synchronous, except actor control. ``project`` defaults to the
    emulator's project (``"entity/project"``).

    Example::

        queue_id = emu.weave.seed_queue(n_items=500, name="triage")
        ids = emu.weave.item_ids(queue_id)
        emu.weave.set_progress(queue_id, ids[0], "completed", user_id="someone-else")
        assert emu.weave.applied_writes(ids[0]) == 1
    """

    def __init__(self, store: WeaveStore, *, project: str, user_id: str) -> None:
        self.store = store
        """The underlying store (an escape hatch; prefer the methods)."""
        self.project = project
        self.user_id = user_id
        self.actors: list[Actor] = []

    def _project(self, project: str | None) -> str:
        return self.project if project is None else project

    # ------------------------------------------------------------------ seeding

    def create_calls(
        self,
        n: int,
        *,
        project: str | None = None,
        op_names: Sequence[str] = DEFAULT_OP_NAMES,
        spacing_ms: int = 1000,
    ) -> list[str]:
        """Add ``n`` calls to the project's calls table; returns their ids.

        Op names cycle through ``op_names``; start times are ``spacing_ms`` apart (with
        jitter), ending before now; about one call in fifty has no end time.
        """
        calls = self.store.create_calls(
            self._project(project), n, op_names=op_names, spacing_ms=spacing_ms
        )
        return [c.id for c in calls]

    def create_queue(
        self,
        *,
        project: str | None = None,
        name: str = "queue",
        description: str = "",
        scorer_refs: Sequence[str] = (),
        created_by: str | None = None,
    ) -> str:
        """Create an empty queue; returns its id."""
        queue = self.store.create_queue(
            self._project(project),
            name=name,
            description=description,
            scorer_refs=scorer_refs,
            created_by=self.user_id if created_by is None else created_by,
        )
        return queue.id

    def add_items(
        self,
        queue_id: str,
        n: int | None = None,
        *,
        call_ids: Sequence[str] | None = None,
        project: str | None = None,
        added_by: str | None = None,
        display_fields: Sequence[str] = DEFAULT_DISPLAY_FIELDS,
        op_names: Sequence[str] = DEFAULT_OP_NAMES,
    ) -> list[str]:
        """Append items to a queue; returns the new item ids in default order.

        Give either ``n`` (that many new calls are created first) or ``call_ids``
        (existing calls; duplicates and unknown ids are skipped as by add-calls).
        """
        if (n is None) == (call_ids is None):
            raise ValueError("give exactly one of n and call_ids")
        project_id = self._project(project)
        if call_ids is None:
            assert n is not None
            call_ids = [c.id for c in self.store.create_calls(project_id, n, op_names=op_names)]
        result = self.store.add_calls(
            project_id,
            queue_id,
            call_ids,
            display_fields=display_fields,
            added_by=self.user_id if added_by is None else added_by,
        )
        return list(result.item_ids)

    def seed_queue(
        self,
        n_items: int = 1000,
        *,
        project: str | None = None,
        name: str = "seeded queue",
        description: str = "",
        scorer_refs: Sequence[str] = (),
        op_names: Sequence[str] = DEFAULT_OP_NAMES,
        display_fields: Sequence[str] = DEFAULT_DISPLAY_FIELDS,
        created_by: str | None = None,
    ) -> str:
        """Create calls, a queue and ``n_items`` items in one go; returns the queue id.

        100,000 items take well under a second.
        """
        queue_id = self.create_queue(
            project=project,
            name=name,
            description=description,
            scorer_refs=scorer_refs,
            created_by=created_by,
        )
        if n_items:
            self.add_items(
                queue_id,
                n_items,
                project=project,
                added_by=created_by,
                display_fields=display_fields,
                op_names=op_names,
            )
        return queue_id

    def delete_items(
        self, queue_id: str, item_ids: Iterable[str], *, project: str | None = None
    ) -> int:
        """Soft-delete items (the real service has no endpoint for it); returns how many."""
        return self.store.delete_items(self._project(project), queue_id, item_ids)

    # ------------------------------------------------------------------ acting

    def set_progress(
        self,
        queue_id: str,
        item_id: str,
        state: str,
        *,
        user_id: str,
        project: str | None = None,
    ) -> dict[str, Any]:
        """Set ``user_id``'s state on an item under the service's rules (as another
        annotator would); returns the item's JSON. Raises `EmulatorError` (status 400)
        where the endpoint would answer 400. The user need not have an API key.
        """
        item = self.store.update_progress(self._project(project), queue_id, item_id, state, user_id)
        return item.to_json()

    # ------------------------------------------------------------------ inspecting

    def item(self, queue_id: str, item_id: str, *, project: str | None = None) -> dict[str, Any]:
        """An item's JSON as the service shows it (``KeyError`` if not in the queue)."""
        item = self.store.find_item(self._project(project), item_id)
        if item is None or item.queue_id != queue_id or item.deleted_at is not None:
            raise KeyError(item_id)
        return item.to_json()

    def items(self, queue_id: str, *, project: str | None = None) -> list[dict[str, Any]]:
        """The queue's live items in default order, as JSON dicts."""
        return [it.to_json() for it in self.store.live_items(self._project(project), queue_id)]

    def item_ids(self, queue_id: str, *, project: str | None = None) -> list[str]:
        """The queue's live item ids in default order."""
        return [it.id for it in self.store.live_items(self._project(project), queue_id)]

    def progress(self, item_id: str, *, project: str | None = None) -> dict[str, str]:
        """Per-annotator states of an item: ``{user_id: state}``."""
        item = self.store.find_item(self._project(project), item_id)
        return {} if item is None else dict(item.progress)

    def applied_writes(self, item_id: str | None = None, user_id: str | None = None) -> int:
        """How many progress writes were applied (no-ops excluded), optionally only for
        one item and/or one annotator.
        """
        return self.store.applied.total(item_id, user_id)

    def applied_counts(self) -> dict[tuple[str, str], int]:
        """``{(item_id, user_id): applied writes}`` (a copy)."""
        return dict(self.store.applied)

    @property
    def state_log(self) -> list[StateChange]:
        """Every applied progress write in order (the live list: do not mutate)."""
        return self.store.state_log

    # ------------------------------------------------------------------ actors

    def start_actor(
        self,
        queue_id: str,
        *,
        project: str | None = None,
        user_id: str = DEFAULT_ACTOR_USER_ID,
        rate: float = 50.0,
        state: str = "completed",
        complete_weight: float = 1.0,
        add_weight: float = 0.0,
        add_batch: int = 1,
        max_actions: int | None = None,
        seed: int | None = None,
    ) -> Actor:
        """Start a background `Actor` on the running loop; see `Actor` for parameters.

        ``seed`` defaults to one drawn from the emulator's seed, so runs repeat.
        """
        actor = Actor(
            self.store,
            self._project(project),
            queue_id,
            user_id=user_id,
            rate=rate,
            state=state,
            complete_weight=complete_weight,
            add_weight=add_weight,
            add_batch=add_batch,
            max_actions=max_actions,
            seed=self.store.rng.getrandbits(32) if seed is None else seed,
        )
        self.actors.append(actor)
        return actor.start()

    async def stop_actors(self) -> None:
        """Stop every actor started here."""
        for actor in self.actors:
            await actor.stop()


class Emulator:
    """A local W&B Weave annotation-queue service (state, HTTP app, faults).

    Usually obtained from `run_emulator`, which serves it on a free loopback port::

        async with run_emulator(seed=1) as emu:
            queue_id = emu.weave.seed_queue(n_items=100)
            async with aiohttp.ClientSession(headers=emu.auth_headers()) as http:
                async with http.post(
                    f"{emu.base_url}/annotation_queues/{queue_id}/items/query",
                    json={"project_id": emu.project, "limit": 10},
                ) as resp:
                    items = (await resp.json())["items"]

    To embed in an ``aiohttp.test_utils.TestServer`` instead, use ``Emulator().app``
    (or `build_app`).

    Parameters:
        seed: seeds ids, seeded data, fault draws, actors and credentials, so that a
            run repeats exactly. Without it, ids, data and faults still repeat (as with
            seed 0) but API keys, PATs, passwords and tokens are random on every run.
        legacy_progress: emulate the older server without the same-state no-op.
        reject_unknown_fields: answer 422 to unknown body fields (older servers).
        legacy_error_bodies: 400/404 bodies without ``error_type`` (older servers).
        project: the default project of the in-process API and the CLI.
        user_id, api_key: the default user (``api_key`` generated when ``None``).
        max_body_bytes: larger request bodies answer 413 ``{"reason": "Request too large"}``.
        control_token: the token the ``/_emulator/`` control routes require (header
            ``X-Annoq-Emulator-Token``); ``None``: none, unless `run_emulator` binds off
            loopback, which then generates one.
        allowed_hosts: more ``Host`` names the control routes accept (besides loopback,
            this machine's name and address, and the bound host), e.g. a container name.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        legacy_progress: bool = False,
        reject_unknown_fields: bool = False,
        legacy_error_bodies: bool = False,
        project: str = DEFAULT_PROJECT,
        user_id: str = DEFAULT_USER_ID,
        api_key: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        control_token: str | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.seed = seed
        """The seed given, or ``None`` (then credentials are random)."""
        data_seed = DEFAULT_DATA_SEED if seed is None else seed
        self._secrets: random.Random | None = None if seed is not None else random.SystemRandom()
        self.control_token = control_token
        """The token the control routes require, or ``None`` (set by `run_emulator`
        when it binds off loopback)."""
        self.allowed_hosts = tuple(allowed_hosts)
        """Extra ``Host`` names the control routes accept."""
        self.bound_host: str | None = None
        """The address `run_emulator` bound (``None`` when not served)."""
        self.options = WeaveOptions(
            legacy_progress=legacy_progress,
            reject_unknown_fields=reject_unknown_fields,
            legacy_error_bodies=legacy_error_bodies,
        )
        self.project = project
        self._store = WeaveStore(seed=data_seed, legacy_progress=legacy_progress)
        user = self._store.add_user(user_id, self._new_api_key(api_key))
        self.user_id = user.user_id
        self.api_key = user.api_key
        self.weave = WeaveState(self._store, project=project, user_id=user.user_id)
        self.faults = FaultInjector(data_seed)
        self._base_url: str | None = None
        self.app = web.Application(
            middlewares=[self.faults.middleware], client_max_size=max_body_bytes
        )
        self.app[EMULATOR_KEY] = self
        weave_service = WeaveService(self._store, self.options)
        weave_service.add_routes(self.app)
        feedback = FeedbackStore(self._store)
        FeedbackService(feedback, weave_service).add_routes(self.app)
        self.feedback = FeedbackState(feedback, self._store, project)
        """Feedback rows and annotation specs (``/feedback/*``, ``/obj/*``, ``/refs/*``)."""
        self.annofab = AnnofabState(
            AnnofabStore(seed=data_seed, secrets=self._secrets),
            password=DEFAULT_PASSWORD if self._secrets is None else f"pw-{secrets.token_hex(16)}",
        )
        """The emulated Annofab (routes under ``/api/v1``): seed, act, inspect."""
        AnnofabService(self.annofab.store).add_routes(self.app)
        add_control_routes(self.app, self)
        self.app.on_shutdown.append(self._on_shutdown)

    def _new_api_key(self, given: str | None) -> str | None:
        """``given``, else a random key when unseeded (seeded: the store draws one)."""
        if given is not None or self._secrets is None:
            return given
        return f"local-{secrets.token_hex(20)}"

    async def _on_shutdown(self, _: web.Application) -> None:
        await self.weave.stop_actors()

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
        """Add a user (another annotator); returns it with its ``api_key``.

        ``projects`` limits what it may see (others answer 403); ``None`` means all.
        """
        return self._store.add_user(user_id, self._new_api_key(api_key), projects)

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


def build_app(**options: Any) -> web.Application:
    """A fresh emulator's aiohttp application, for ``aiohttp.test_utils`` servers.

    ``options`` are those of `Emulator`; get the emulator back with `emulator_of`.
    """
    return Emulator(**options).app


def emulator_of(app: web.Application) -> Emulator:
    """The `Emulator` behind an application made by `build_app`."""
    return app[EMULATOR_KEY]


@contextlib.asynccontextmanager
async def run_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    legacy_progress: bool = False,
    reject_unknown_fields: bool = False,
    legacy_error_bodies: bool = False,
    project: str = DEFAULT_PROJECT,
    user_id: str = DEFAULT_USER_ID,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    control_token: str | None = None,
    allowed_hosts: Iterable[str] = (),
) -> AsyncIterator[Emulator]:
    """Serve a fresh `Emulator` over TCP for the duration of the block.

    ``port=0`` picks a free port; ``emu.base_url`` tells which (a loopback URL when
    ``host`` is a wildcard such as ``0.0.0.0``). The other options are those of
    `Emulator`. Bound off loopback, the control routes need a token: ``control_token``,
    or one generated (``emu.control_token``, sent by ``emu.control_headers()``). On
    exit, actors are stopped and every connection is closed.

    Example::

        async with run_emulator(legacy_progress=True) as emu:
            print(emu.base_url, emu.api_key)
    """
    emulator = Emulator(
        seed=seed,
        legacy_progress=legacy_progress,
        reject_unknown_fields=reject_unknown_fields,
        legacy_error_bodies=legacy_error_bodies,
        project=project,
        user_id=user_id,
        api_key=api_key,
        max_body_bytes=max_body_bytes,
        control_token=control_token
        if control_token is not None or is_loopback_host(host)
        else new_control_token(),
        allowed_hosts=allowed_hosts,
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
    seed_items: int = 0,
    project: str = DEFAULT_PROJECT,
    seed: int | None = None,
    legacy_progress: bool = False,
    api_key: str | None = None,
    queue_name: str = "seeded queue",
    annofab_tasks: int | None = None,
    faults: Iterable[FaultRule] = (),
    control_token: str | None = None,
    allowed_hosts: Iterable[str] = (),
    echo: Callable[[str], None] = print,
    warn: Callable[[str], None] = _stderr,
    stop: asyncio.Event | None = None,
) -> None:
    """Run an emulator until ``stop`` is set, SIGINT/SIGTERM, or cancellation.

    Seeds one queue with ``seed_items`` items in ``project`` and reports the base URL,
    project, queue id and ``API key: ...`` (each on its own line) through ``echo``.
    With ``annofab_tasks``, also seeds that many Annofab tasks and reports how to reach
    the Annofab API (``annoq serve --annofab``). ``faults`` are in place before
    anything is reported. Bound off loopback, it also reports a URL for other machines,
    how to allow plain http in annoq, and the control token, and sends warnings through
    ``warn`` (stderr). This is what ``python -m annoq.emulator`` runs.
    """
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
            legacy_progress=legacy_progress,
            project=project,
            api_key=api_key,
            control_token=control_token,
            allowed_hosts=allowed_hosts,
        ) as emu:
            for rule in faults:
                emu.faults.add(rule)
            queue_id = emu.weave.seed_queue(seed_items, name=queue_name)
            echo(f"Weave emulator listening on {emu.base_url}")
            echo(f"Project: {emu.project}")
            echo(f"Queue id: {queue_id} ({seed_items} items)")
            echo(f"User id: {emu.user_id}")
            echo(f"API key: {emu.api_key}")
            echo(f"Use: WF_TRACE_SERVER_URL={emu.base_url} WANDB_API_KEY={emu.api_key}")
            network_lines, warnings = announcement(emu, seeded=seed is not None)
            for line in warnings:
                warn(line)
            for line in network_lines:
                echo(line)
            if legacy_progress:
                echo("Legacy progress mode: repeated progress updates answer 400")
            if annofab_tasks is not None:
                emu.annofab.seed_tasks(annofab_tasks)
                for line in emu.annofab.describe(emu.base_url):
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
    "run_emulator",
    "serve",
]
