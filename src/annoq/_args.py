"""Checks and settings every backend's session shares: ids, counts, per-call options,
and the netrc lookup.

Each check raises :class:`~annoq.InvalidArgumentError` naming the argument, before any
request is sent.

    >>> require_count(5, "limit", minimum=1)
    5
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path

import attrs

from ._config import Timeout
from ._errors import InvalidArgumentError
from ._retry import RetryPolicy
from ._transport import RequestOptions

__all__ = ["make_options", "netrc_entry", "require_count", "require_id"]


def require_id(value: object, argument: str) -> str:
    """A non-empty string id, else InvalidArgumentError naming the argument."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{argument} must be a non-empty string, got {value!r}")
    return value


def require_count(value: object, argument: str, *, minimum: int = 0) -> int:
    """A whole number >= ``minimum``, else InvalidArgumentError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{argument} must be an integer >= {minimum}, got {value!r}")
    return value


def make_options(
    base: RequestOptions,
    timeout: Timeout | float | None,
    max_retries: int | None,
    retry_policy: RetryPolicy | None,
) -> RequestOptions:
    """``base`` with the given time limits and retries (``None`` keeps base's).

    A number for ``timeout`` is the total in seconds (connect capped at 10 s).
    """
    options = base
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, Timeout | int | float):
            raise InvalidArgumentError(f"timeout must be a Timeout or seconds, got {timeout!r}")
        if not isinstance(timeout, Timeout):
            if timeout <= 0:
                raise InvalidArgumentError(f"timeout must be > 0 seconds, got {timeout!r}")
            timeout = Timeout(
                total=float(timeout), connect=min(float(timeout), 10.0), read=float(timeout)
            )
        options = attrs.evolve(options, timeout=timeout)
    if retry_policy is not None:
        options = attrs.evolve(options, retry=retry_policy)
    if max_retries is not None:
        require_count(max_retries, "max_retries")
        options = attrs.evolve(options, retry=attrs.evolve(options.retry, max_retries=max_retries))
    return options


def netrc_entry(hosts: list[str], path: Path | None = None) -> tuple[str, str] | None:
    """``(login, password)`` of the first of ``hosts`` in ``~/.netrc`` (or ``$NETRC``,
    or ``path``) that has a password; ``None`` when there is none or no readable file."""
    target = path or Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    if not target.is_file():
        return None
    try:
        entries = netrc.netrc(str(target))
    except (netrc.NetrcParseError, OSError):
        return None
    for host in hosts:
        found = entries.authenticators(host)
        if found and found[2]:
            return found[0] or "", found[2]
    return None
