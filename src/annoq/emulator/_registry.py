"""The registered emulated services: one line per service.

The `Emulator` builds every service registered here unless told ``services=``. A new
service is one package with a `ServiceSpec`, plus one `register` line below (or, for a
service outside annoq, a `register` call before the emulator is built).
"""

from __future__ import annotations

from ._service import ServiceSpec
from .annofab._service import ANNOFAB
from .weave._service import WEAVE

SERVICES: dict[str, ServiceSpec] = {}
"""``{name: spec}`` in registration order (the order the emulator builds them)."""


def register(spec: ServiceSpec) -> ServiceSpec:
    """Add (or replace) a service; returns ``spec``."""
    SERVICES[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a service (a test's own service, after the test)."""
    SERVICES.pop(name, None)


def spec_of(name: str) -> ServiceSpec:
    """The spec registered as ``name`` (``ValueError`` naming the known ones)."""
    try:
        return SERVICES[name]
    except KeyError:
        raise ValueError(
            f"unknown emulated service {name!r}; use one of {', '.join(SERVICES)}"
        ) from None


register(WEAVE)
register(ANNOFAB)


__all__ = ["SERVICES", "register", "spec_of", "unregister"]
