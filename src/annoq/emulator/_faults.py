"""Deterministic fault injection for the emulators, as one aiohttp middleware.

A route takes part when it has a name (``app.router.add_post(path, handler,
name="weave.items_query")``); unnamed routes (the ``/_emulator/`` control routes) are never
faulted. Every emulated service names its routes ``SERVICE.ROUTE``; rules target routes by
those names, or by an alias a service declares (Weave's bare ``items_query``, Annofab's
``annofab_operate``: the names of earlier releases). An injected status answers in the
body shape of the route's service (``error_body`` of the injector).

For each request to a named route, every rule that targets the route draws one number
from the injector's seeded ``random.Random`` (in rule order, whether or not an earlier
rule fired), so a fixed seed and a fixed request sequence give the same faults. Latency
rules add up; the first terminal rule that fires decides the outcome:

=================  ====================================================================
kind               effect
=================  ====================================================================
``latency``        sleep ``latency`` seconds, then go on
``status``         answer ``status`` (429, 500, 502, 503, 504, ...) without running the
                   handler: nothing is applied. 429 carries ``Retry-After`` and/or
                   ``retry-after-ms`` when configured
``drop``           read the request, then close the connection without a response:
                   nothing is applied; the client sees a disconnection
``apply_then_drop`` run the handler (the write is committed), then close the connection
                   without sending its response
``max_concurrent`` answer 429 (with ``Retry-After`` when configured) to a request that
                   arrives while ``limit`` requests to its routes are already in flight;
                   it draws no random number (it depends on the load only)
=================  ====================================================================

`FaultInjector.peak_in_flight` records the most requests in flight at once (admitted
ones: a request refused by ``max_concurrent`` does not count).
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final

import attrs
import orjson
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS_MESSAGES: Final[Mapping[int, str]] = {
    429: "Too many requests",
    500: "Internal server error",
    502: "Temporary backend error",
    503: "Service unavailable",
    504: "Gateway timeout",
}
"""The message of each injected status; a service puts it in its own error body."""

ErrorBody = Callable[[str, int, str], Any]
"""``(route, status, message) -> JSON body`` of an injected status answer."""


def status_message(status: int) -> str:
    """The message an injected ``status`` answer carries."""
    return STATUS_MESSAGES.get(status, "Internal server error")


def reason_body(route: str, status: int, message: str) -> dict[str, str]:
    """The default injected body, ``{"reason": message}`` (a service may give its own)."""
    return {"reason": message}


class FaultKind(enum.StrEnum):
    """What a fault rule does to a request."""

    LATENCY = "latency"
    STATUS = "status"
    DROP = "drop"
    APPLY_THEN_DROP = "apply_then_drop"
    MAX_CONCURRENT = "max_concurrent"


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _routes_converter(value: Iterable[str] | str | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(value)


@attrs.frozen(kw_only=True)
class FaultRule:
    """One fault: what happens, to which routes, how often.

    Example::

        FaultRule(kind="status", status=429, rate=0.25, routes={"weave.progress"}, retry_after="0")
        FaultRule(kind="drop", rate=1.0, routes={"weave.progress"}, times=1)  # the next one
        FaultRule(kind="latency", latency=0.05, rate=0.5)                  # every route
        FaultRule(kind="max_concurrent", limit=8, retry_after="0")         # 429 above 8

    Parameters:
        kind: a `FaultKind` or its value.
        rate: probability in [0, 1] that the rule fires on a matching request.
        routes: route names the rule applies to; ``None`` means every named route.
        status: the HTTP status of a ``status`` rule.
        retry_after: ``Retry-After`` header value (seconds; a string keeps its form,
            e.g. ``"0.01"``), sent with a ``status`` rule.
        retry_after_ms: ``retry-after-ms`` header value, sent with a ``status`` rule.
        latency: seconds to sleep for a ``latency`` rule.
        times: fire at most this many times (``None``: unlimited).
        limit: requests in flight a ``max_concurrent`` rule admits at once.
        body: raw body of a ``status`` answer instead of the service's JSON body (for
            example an HTML page from a proxy); ``content_type`` goes with it.
    """

    kind: FaultKind = attrs.field(converter=FaultKind)
    rate: float = attrs.field(default=1.0)
    routes: frozenset[str] | None = attrs.field(default=None, converter=_routes_converter)
    status: int | None = None
    retry_after: str | None = attrs.field(default=None, converter=_optional_str)
    retry_after_ms: int | None = None
    latency: float = 0.0
    times: int | None = None
    body: str | None = None
    content_type: str = "text/html"
    limit: int | None = None

    @rate.validator
    def _check_rate(self, _: Any, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {value}")

    def __attrs_post_init__(self) -> None:
        if self.kind is FaultKind.STATUS and (self.status is None or self.status < 400):
            raise ValueError("a 'status' rule needs status >= 400")
        if self.kind is FaultKind.LATENCY and self.latency <= 0:
            raise ValueError("a 'latency' rule needs latency > 0")
        if self.kind is FaultKind.MAX_CONCURRENT and (
            isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1
        ):
            raise ValueError("a 'max_concurrent' rule needs an integer limit >= 1")

    def applies_to(self, route: str) -> bool:
        """Whether the rule targets ``route``."""
        return self.routes is None or route in self.routes

    def counter_key(self) -> str:
        """The counter name: the kind, or ``status_<code>`` for status rules."""
        if self.kind is FaultKind.STATUS:
            return f"status_{self.status}"
        return str(self.kind)

    def to_json(self) -> dict[str, Any]:
        """The JSON form used by the control route."""
        data = attrs.asdict(self)
        data["kind"] = str(self.kind)
        data["routes"] = None if self.routes is None else sorted(self.routes)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        """Build a rule from its JSON form (unknown keys are an error)."""
        return cls(**dict(data))


FAULT_SPEC_KINDS: Final = (
    "CODE (400-599)",
    "drop",
    "apply-then-drop",
    "latency=MS",
    "max-concurrent=N",
)
"""The ``KIND`` forms `parse_fault_spec` reads."""


def parse_fault_spec(
    spec: str, *, known_routes: Iterable[str] | None = None, retry_after: str | None = None
) -> FaultRule:
    """The rule of a ``KIND:RATE[:ROUTE[,ROUTE...]]`` text (``annoq serve --fault``).

    ``KIND`` is a status code (``429``, ``503``, ...), ``drop``, ``apply-then-drop``,
    ``latency=MS`` or ``max-concurrent=N`` (429 above N requests in flight; its ``RATE``
    may be left out); ``RATE`` a share of requests in [0, 1]; ``ROUTE`` route names
    (every named route when omitted). ``retry_after`` goes with status and
    max-concurrent rules. Raises ``ValueError`` naming what is wrong.

    Example::

        parse_fault_spec("429:0.2:weave.progress", retry_after="0.05")
        parse_fault_spec("apply-then-drop:0.05:weave.progress,annofab.operate")
        parse_fault_spec("latency=200:1")
        parse_fault_spec("max-concurrent=8", retry_after="0")
    """
    parts = spec.split(":")
    if len(parts) == 1 and parts[0].strip().lower().startswith(
        ("max-concurrent=", "max_concurrent=")
    ):
        parts.append("1")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"{spec!r} is not KIND:RATE[:ROUTE]")
    kind_text, rate_text = parts[0].strip().lower(), parts[1].strip()
    try:
        rate = float(rate_text)
    except ValueError:
        raise ValueError(f"rate {rate_text!r} in {spec!r} is not a number in [0, 1]") from None
    if not 0.0 <= rate <= 1.0:  # also refuses nan
        raise ValueError(f"rate {rate_text!r} in {spec!r} is not within [0, 1]")
    routes: frozenset[str] | None = None
    if len(parts) == 3:
        routes = frozenset(r.strip() for r in parts[2].split(",") if r.strip())
        if known_routes is not None:
            known = tuple(known_routes)
            unknown = sorted(routes - set(known))
            if unknown:
                raise ValueError(
                    f"unknown route {', '.join(unknown)} in {spec!r}; use one of {', '.join(known)}"
                )
    if kind_text.isdigit():
        status = int(kind_text)
        if not 400 <= status <= 599:
            raise ValueError(f"status {status} in {spec!r} is not within 400..599")
        return FaultRule(
            kind=FaultKind.STATUS, status=status, rate=rate, routes=routes, retry_after=retry_after
        )
    if kind_text == "drop":
        return FaultRule(kind=FaultKind.DROP, rate=rate, routes=routes)
    if kind_text in ("apply-then-drop", "apply_then_drop"):
        return FaultRule(kind=FaultKind.APPLY_THEN_DROP, rate=rate, routes=routes)
    if kind_text.startswith("latency="):
        ms_text = kind_text.removeprefix("latency=")
        try:
            ms = float(ms_text)
        except ValueError:
            ms = float("nan")
        if not ms > 0 or ms == float("inf"):
            raise ValueError(f"latency {ms_text!r} in {spec!r} is not a number of ms > 0")
        return FaultRule(kind=FaultKind.LATENCY, latency=ms / 1000, rate=rate, routes=routes)
    if kind_text.startswith(("max-concurrent=", "max_concurrent=")):
        n_text = kind_text.partition("=")[2]
        if not n_text.isdigit() or int(n_text) < 1:
            raise ValueError(f"max-concurrent {n_text!r} in {spec!r} is not an integer >= 1")
        return FaultRule(
            kind=FaultKind.MAX_CONCURRENT,
            limit=int(n_text),
            rate=rate,
            routes=routes,
            retry_after=retry_after,
        )
    raise ValueError(
        f"unknown fault kind {parts[0]!r} in {spec!r}; use one of {', '.join(FAULT_SPEC_KINDS)}"
    )


def describe_rule(rule: FaultRule) -> str:
    """One line saying what ``rule`` does, e.g. ``10% of requests to progress answer 429``."""
    share = f"{rule.rate * 100:g}% of requests to "
    share += ", ".join(sorted(rule.routes)) if rule.routes else "every route"
    if rule.kind is FaultKind.STATUS:
        return f"{share} answer {rule.status}"
    if rule.kind is FaultKind.DROP:
        return f"{share} are dropped unanswered"
    if rule.kind is FaultKind.APPLY_THEN_DROP:
        return f"{share} are applied, then dropped unanswered"
    if rule.kind is FaultKind.MAX_CONCURRENT:
        where = ", ".join(sorted(rule.routes)) if rule.routes else "every route"
        return f"requests to {where} above {rule.limit} in flight answer 429"
    return f"{share} wait {rule.latency * 1000:g} ms"


@attrs.frozen
class FaultDecision:
    """What the injector decided for one request."""

    latency: float = 0.0
    rule: FaultRule | None = None


def drop_connection(request: web.Request) -> None:
    """Close the request's connection without writing anything.

    The client sees the server disconnect (``aiohttp.ServerDisconnectedError``).
    """
    transport = request.transport
    if transport is not None:
        transport.close()


class FaultInjector:
    """Seeded fault rules plus counters, applied by `middleware` to named routes.

    Usage::

        faults = emu.faults
        faults.add(FaultRule(kind="status", status=503, rate=0.1, routes={"weave.items_query"}))
        ...
        faults.count(kind="status_503", route="weave.items_query")
        faults.clear()

    Counters are keyed by route and counter key (``status_429``, ``drop``, ...).
    """

    def __init__(self, seed: int = 0, *, error_body: ErrorBody = reason_body) -> None:
        self._seed = seed
        self._error_body = error_body
        self._canonical: dict[str, str] = {}
        self._names: dict[str, frozenset[str]] = {}
        self._rng = random.Random(seed)
        self._rules: list[FaultRule] = []
        self._fired: list[int] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._requests: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._in_flight_total = 0
        self._peak_in_flight = 0
        self._peak_by_route: dict[str, int] = {}

    # ------------------------------------------------------------------ config

    def add_aliases(self, aliases: Mapping[str, str]) -> None:
        """Let rules and counters name route ``aliases[old]`` by ``old`` too."""
        for old, name in aliases.items():
            self._canonical[old] = name
            self._names[name] = self._names.get(name, frozenset({name})) | {old}

    def canonical(self, route: str) -> str:
        """The route name an alias stands for (a route name stands for itself)."""
        return self._canonical.get(route, route)

    def _applies(self, rule: FaultRule, route: str) -> bool:
        if rule.routes is None:
            return True
        names = self._names.get(route)
        return route in rule.routes if names is None else not rule.routes.isdisjoint(names)

    @property
    def seed(self) -> int:
        """The seed the current random sequence started from."""
        return self._seed

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The active rules, in order."""
        return tuple(self._rules)

    def add(self, rule: FaultRule) -> FaultRule:
        """Append a rule and return it."""
        self._rules.append(rule)
        self._fired.append(0)
        return rule

    def set_rules(self, rules: Iterable[FaultRule], *, seed: int | None = None) -> None:
        """Replace all rules; with ``seed``, also restart the random sequence."""
        self._rules = list(rules)
        self._fired = [0] * len(self._rules)
        if seed is not None:
            self.reseed(seed)

    def clear(self) -> None:
        """Remove every rule (counters are kept; see `reset_counters`)."""
        self.set_rules(())

    def reseed(self, seed: int) -> None:
        """Restart the random sequence from ``seed``."""
        self._seed = seed
        self._rng = random.Random(seed)

    def reset_counters(self) -> None:
        """Zero all counters (and the in-flight peak)."""
        self._counts.clear()
        self._requests.clear()
        self._peak_in_flight = self._in_flight_total
        self._peak_by_route = {r: n for r, n in self._in_flight.items() if n}

    @property
    def in_flight(self) -> int:
        """Requests to named routes being answered now."""
        return self._in_flight_total

    @property
    def peak_in_flight(self) -> int:
        """The most requests to named routes in flight at once (since the last
        `reset_counters`); those refused by a ``max_concurrent`` rule do not count."""
        return self._peak_in_flight

    def peak_in_flight_of(self, route: str) -> int:
        """The most requests to ``route`` in flight at once (since the last
        `reset_counters`), refused ones not counted: what a ``max_concurrent`` rule on
        that route bounds."""
        return self._peak_by_route.get(self.canonical(route), 0)

    # ------------------------------------------------------------------ counters

    def count(self, *, kind: str | FaultKind | None = None, route: str | None = None) -> int:
        """Injected faults matching ``kind`` (counter key or kind) and ``route``.

        ``kind="status"`` counts every status fault; ``kind="status_429"`` only 429s.
        """
        total = 0
        route = None if route is None else self.canonical(route)
        want = None if kind is None else str(kind)
        for (r, k), n in self._counts.items():
            if route is not None and r != route:
                continue
            if want is not None and k != want and not k.startswith(want + "_"):
                continue
            total += n
        return total

    def requests_seen(self, route: str | None = None) -> int:
        """Requests that reached the middleware on named routes (faulted or not)."""
        if route is None:
            return sum(self._requests.values())
        return self._requests.get(self.canonical(route), 0)

    def counters(self) -> dict[str, dict[str, int]]:
        """``{route: {counter_key: n}}`` of injected faults."""
        out: dict[str, dict[str, int]] = {}
        for (route, key), n in sorted(self._counts.items()):
            out.setdefault(route, {})[key] = n
        return out

    def _bump(self, route: str, key: str) -> None:
        self._counts[(route, key)] = self._counts.get((route, key), 0) + 1

    # ------------------------------------------------------------------ decide / apply

    def decide(self, route: str) -> FaultDecision:
        """Draw this request's faults (deterministic under the seed)."""
        self._requests[route] = self._requests.get(route, 0) + 1
        latency = 0.0
        chosen: FaultRule | None = None
        for index, rule in enumerate(self._rules):
            if not self._applies(rule, route):
                continue
            draw = self._rng.random()
            if draw >= rule.rate:
                continue
            if rule.times is not None and self._fired[index] >= rule.times:
                continue
            if rule.kind is FaultKind.MAX_CONCURRENT:
                continue  # decided by the load, in `_over_capacity`
            if rule.kind is FaultKind.LATENCY:
                self._fired[index] += 1
                latency += rule.latency
                self._bump(route, rule.counter_key())
            elif chosen is None:
                self._fired[index] += 1
                chosen = rule
                self._bump(route, rule.counter_key())
        return FaultDecision(latency, chosen)

    def status_response(self, rule: FaultRule, route: str = "") -> web.Response:
        """The answer of a ``status`` rule on ``route``, in its service's body shape."""
        status = rule.status if rule.status is not None else 500
        headers: dict[str, str] = {}
        if rule.retry_after is not None:
            headers["Retry-After"] = rule.retry_after
        if rule.retry_after_ms is not None:
            headers["retry-after-ms"] = str(rule.retry_after_ms)
        if rule.body is not None:
            return web.Response(
                status=status, text=rule.body, content_type=rule.content_type, headers=headers
            )
        body = self._error_body(route, status, status_message(status))
        return web.Response(
            status=status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers=headers,
        )

    def _over_capacity(self, route: str) -> FaultRule | None:
        for rule in self._rules:
            if rule.kind is not FaultKind.MAX_CONCURRENT or not self._applies(rule, route):
                continue
            assert rule.limit is not None
            routes = (
                self._in_flight if rule.routes is None else {self.canonical(r) for r in rule.routes}
            )
            busy = sum(self._in_flight.get(r, 0) for r in routes)
            if busy >= rule.limit:
                return rule
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The aiohttp middleware applying the rules to named routes."""
        route = request.match_info.route.name
        if route is None:
            return await handler(request)
        if self._rules:
            full = self._over_capacity(route)
            if full is not None:
                self._requests[route] = self._requests.get(route, 0) + 1
                self._bump(route, full.counter_key())
                await request.read()
                return self.status_response(
                    attrs.evolve(full, kind=FaultKind.STATUS, status=429, limit=None), route
                )
        self._in_flight[route] = self._in_flight.get(route, 0) + 1
        self._in_flight_total += 1
        if self._in_flight_total > self._peak_in_flight:
            self._peak_in_flight = self._in_flight_total
        if self._in_flight[route] > self._peak_by_route.get(route, 0):
            self._peak_by_route[route] = self._in_flight[route]
        try:
            return await self._answer(route, request, handler)
        finally:
            self._in_flight[route] -= 1
            self._in_flight_total -= 1

    async def _answer(
        self, route: str, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if not self._rules:
            self._requests[route] = self._requests.get(route, 0) + 1
            return await handler(request)
        decision = self.decide(route)
        if decision.latency > 0:
            await asyncio.sleep(decision.latency)
        rule = decision.rule
        if rule is None:
            return await handler(request)
        if rule.kind is FaultKind.STATUS:
            await request.read()
            return self.status_response(rule, route)
        if rule.kind is FaultKind.DROP:
            await request.read()
            drop_connection(request)
            return web.Response(status=599)
        response = await handler(request)
        drop_connection(request)
        return response
