"""A local emulator of the W&B Weave annotation-queue service, with fault injection.

It reproduces the nine annotation-queue endpoints with the real service's semantics
(per-annotator progress and its transition rules, ``position_in_queue``, NDJSON queue
listing, soft delete, stats, add-calls, 400/404/422 bodies), so that annoq and the
services built on it run and are tested with no account and no network.

Usage::

    from annoq.emulator import FaultRule, run_emulator

    async with run_emulator(seed=7) as emu:
        queue_id = emu.weave.seed_queue(n_items=10_000)        # in-process seeding
        emu.faults.add(FaultRule(kind="status", status=429, rate=0.1, retry_after="0.01"))
        # point any client at emu.base_url with emu.api_key (Basic "api:KEY" or Bearer)
        other = emu.add_user("reviewer-2")                      # another annotator
        emu.weave.set_progress(queue_id, emu.weave.item_ids(queue_id)[0], "completed",
                               user_id=other.user_id)
        assert emu.weave.applied_writes() == 1

The same app serves the Annofab task API under ``/api/v1`` (login, refresh, my/account,
task search with paging, filters, sort and the 10,000-result ``over_limit``, task,
tasks-in-bulk, histories, operate with the task state machine and optimistic lock,
assign-tasks), seeded and inspected through ``emu.annofab`` (`AnnofabState`)::

    ids = emu.annofab.seed_tasks(2000, assignee=emu.annofab.add_user("annotator-2"))
    # point AnnofabSession(pat=emu.annofab.pat, endpoint=emu.base_url) at it
    assert emu.annofab.applied(ids[0], "complete") == 1

From a shell: ``annoq serve --port 8080 --seed-items 10000`` (or ``python -m
annoq.emulator`` with the same options). In a test suite: the ``annoq_emulator`` pytest
fixture (see `annoq.emulator.pytest_plugin`).

Each emulated service is one package (``annoq.emulator.weave``, ``annoq.emulator.annofab``)
implementing `Service`, registered in one line (`register`); the emulator builds every
registered service (or ``services=[...]``) on one app with one clock, one seed, one fault
injector and one set of control routes. Each takes its own options and names its routes
``SERVICE.ROUTE`` (``weave.progress``, ``annofab.operate``)::

    async with run_emulator(weave=WeaveOptions(legacy_progress=True),
                            annofab=AnnofabOptions(pat="my-pat")) as emu:
        emu.faults.add(FaultRule(kind="status", status=429, routes={"annofab.operate"}))

The emulator never imports annoq's client: it is the reference the client is proven
against (it shares only ``annoq._json_schema``, a pure checker proven against the
``jsonschema`` package). Control routes for other processes live under ``/_emulator/`` (see
``annoq.emulator._control`` and the README's "The emulator's control routes"): they check
``Host``, take JSON bodies only, and need ``emu.control_token`` when bound off loopback.
Credentials are random on every run unless a ``seed`` is given.

Feedback (the annotations themselves) and AnnotationSpec objects are served too
(``/feedback/create``, ``/feedback/batch/create``, ``/feedback/query``, ``/obj/create``,
``/obj/read``, ``/refs/read_batch``), seeded and inspected through ``emu.feedback``
(`FeedbackState`)::

    queue_id, refs = emu.feedback.seed_annotated_queue(
        1000, {"quality": {"type": "integer", "minimum": 1, "maximum": 5}},
        annotators=["ann-1", "ann-2", "ann-3"],
    )
    emu.feedback.max_payload_bytes = LEGACY_PAYLOAD_LIMIT    # an older server
    emu.feedback.merge()                                      # a background merge, now
"""

from .._public import relabel as _relabel
from ._emulator import (
    EMULATOR_KEY,
    Emulator,
    build_app,
    emulator_of,
    route_names,
    run_emulator,
    serve,
)
from ._faults import FaultInjector, FaultKind, FaultRule
from ._registry import SERVICES, register
from ._service import Service, ServiceBase, ServiceContext, ServiceSpec
from .annofab._app import ANNOFAB_ROUTE_NAMES
from .annofab._records import AnnofabError, AnnofabUser
from .annofab._service import AnnofabOptions
from .annofab._state import AnnofabState
from .weave._actor import Actor, ActorAction
from .weave._app import ROUTE_NAMES, WeaveOptions
from .weave._feedback import (
    CURRENT_PAYLOAD_LIMIT,
    FEEDBACK_ROUTE_NAMES,
    LEGACY_PAYLOAD_LIMIT,
    FeedbackState,
)
from .weave._state import WeaveState
from .weave._store import EmulatorError, StateChange, User

__all__ = [
    "ANNOFAB_ROUTE_NAMES",
    "CURRENT_PAYLOAD_LIMIT",
    "EMULATOR_KEY",
    "FEEDBACK_ROUTE_NAMES",
    "LEGACY_PAYLOAD_LIMIT",
    "ROUTE_NAMES",
    "SERVICES",
    "Actor",
    "ActorAction",
    "AnnofabError",
    "AnnofabOptions",
    "AnnofabState",
    "AnnofabUser",
    "Emulator",
    "EmulatorError",
    "FaultInjector",
    "FaultKind",
    "FaultRule",
    "FeedbackState",
    "Service",
    "ServiceBase",
    "ServiceContext",
    "ServiceSpec",
    "StateChange",
    "User",
    "WeaveOptions",
    "WeaveState",
    "build_app",
    "emulator_of",
    "register",
    "route_names",
    "run_emulator",
    "serve",
]

# Show public names as ``annoq.emulator.X`` in reprs (type hints still resolve).
_relabel(globals(), __all__, module=__name__)
del _relabel
