"""Checks and settings every backend's session shares: ids, counts, per-call options,
and the netrc lookup.

Each check raises :class:`~annoq.InvalidArgumentError` naming the argument, before any
request is sent.

    >>> require_count(5, "limit", minimum=1)
    5
"""

from __future__ import annotations

import math
import netrc
import os
import re
from collections.abc import AsyncIterable, Iterable, Sequence
from pathlib import Path
from urllib.parse import quote

import attrs

from . import _config
from ._config import Timeout
from ._errors import InvalidArgumentError
from ._retry import RetryPolicy
from ._transport import RequestOptions

__all__ = [
    "listing",
    "make_options",
    "netrc_entry",
    "require_choice",
    "require_count",
    "require_credential",
    "require_flag",
    "require_id",
    "require_inputs",
    "require_page_size",
    "require_prefetch",
    "require_segment",
    "segment",
]


def require_id(value: object, argument: str) -> str:
    """A non-empty string id, else InvalidArgumentError naming the argument."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{argument} must be a non-empty string, got {value!r}")
    return value


#: Characters that end or restructure a URL path segment, even percent-encoded (some
#: servers and proxies decode ``%2F`` or treat ``\`` as ``/``), and control characters:
#: one regex scan (a bulk run checks an id per request).
_SEGMENT_BREAKER = re.compile(r"[/\\?#\x00-\x1f\x7f]")


def require_segment(value: object, argument: str) -> str:
    """An id that names one resource in a URL path, else InvalidArgumentError.

    Refused: a non-string, empty or whitespace-only, ``.`` and ``..`` (a URL library
    resolves them to other endpoints: ``DELETE /annotation_queues/..`` would become
    ``DELETE /``), and ids with ``/``, ``\\``, ``?``, ``#`` or a control character.

        >>> require_segment("0193a0b1", "queue_id")
        '0193a0b1'
    """
    text = require_id(value, argument)
    if text.strip() in (".", "..") or _SEGMENT_BREAKER.search(text) is not None:
        raise InvalidArgumentError(
            f"{argument}={value!r} is not a valid id: ids must not be '.' or '..' nor contain "
            "'/', '\\', '?', '#' or control characters"
        )
    return text


#: What ``quote(value, safe="")`` leaves as it is: such an id (a UUID, say) is its own
#: path segment, without a call per request.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]*")


def segment(value: object, argument: str) -> str:
    """``value`` checked by :func:`require_segment` and percent-encoded for a URL path.

    >>> segment("a b", "task_id")
    'a%20b'
    """
    text = require_segment(value, argument)
    return text if _UNQUOTED.fullmatch(text) is not None else quote(text, safe="")


def require_credential(value: object, argument: str, *, header: bool) -> str:
    """An API key or token: a non-empty string without control characters (CR/LF
    would split the header); sent raw in a header (``header=True``), printable ASCII.
    The value itself is never shown."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{argument} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidArgumentError(f"{argument} must not be empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidArgumentError(
            f"{argument} contains a control character (CR, LF, ...); check how it was pasted"
        )
    if header and not all(0x20 < ord(c) < 0x7F for c in value):
        raise InvalidArgumentError(
            f"{argument} must be printable ASCII without spaces (it is sent in a header)"
        )
    return value


def require_inputs(value: object, argument: str) -> None:
    """An iterable or async iterable of inputs; a string (or bytes) is refused, since
    it would be read as one input per character."""
    if isinstance(value, str | bytes | bytearray):
        raise InvalidArgumentError(
            f"{argument} must be an iterable of ids or items, not a single "
            f"{type(value).__name__} (wrap one id in a list: [{value!r}])"
        )
    if not isinstance(value, Iterable | AsyncIterable):
        raise InvalidArgumentError(
            f"{argument} must be an iterable or async iterable of ids or items, "
            f"got {type(value).__name__}"
        )


def require_count(value: object, argument: str, *, minimum: int = 0) -> int:
    """A whole number >= ``minimum``, else InvalidArgumentError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{argument} must be an integer >= {minimum}, got {value!r}")
    return value


def require_page_size(value: object, argument: str = "page_size", *, maximum: int) -> int:
    """A page size from 1 to ``maximum`` (the service's largest page)."""
    count = require_count(value, argument, minimum=1)
    if count > maximum:
        raise InvalidArgumentError(f"{argument} must be at most {maximum}, got {count}")
    return count


def require_flag(value: object, argument: str) -> bool:
    """``True`` or ``False`` (not a truthy value)."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{argument} must be True or False, got {value!r}")
    return value


def listing(choices: Iterable[object]) -> str:
    """How an error names the allowed values: ``'a' or 'b'``, ``one of 'a', 'b', 'c'``.

    >>> listing(["stable", "fast"])
    "'stable' or 'fast'"
    """
    names = [repr(c) for c in choices]
    if len(names) == 2:
        return f"{names[0]} or {names[1]}"
    return "one of " + ", ".join(names)


def require_choice(value: object, argument: str, choices: Sequence[str]) -> str:
    """One of ``choices``, else InvalidArgumentError naming the argument and them."""
    if not isinstance(value, str) or value not in choices:
        raise InvalidArgumentError(f"{argument}={value!r} is not allowed; use {listing(choices)}")
    return value


def require_prefetch(value: object) -> int | None:
    """Pages a walk requests ahead: 0 to ``MAX_PREFETCH``, or ``None`` (adaptive)."""
    if value is None:
        return None
    count = require_count(value, "prefetch")
    if count > _config.MAX_PREFETCH:
        raise InvalidArgumentError(
            f"prefetch must be at most {_config.MAX_PREFETCH} pages ahead, got {count}"
        )
    return count


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
            if not math.isfinite(timeout) or timeout <= 0:
                raise InvalidArgumentError(
                    f"timeout must be a finite number of seconds > 0 (or an annoq.Timeout), "
                    f"got {timeout!r}"
                )
            timeout = Timeout(
                total=float(timeout),
                connect=min(float(timeout), _config.TIMEOUT_CONNECT),
                read=float(timeout),
            )
        options = attrs.evolve(options, timeout=timeout)
    if retry_policy is not None:
        if not isinstance(retry_policy, RetryPolicy):
            raise InvalidArgumentError(
                f"retry_policy must be a RetryPolicy, got {type(retry_policy).__name__}"
            )
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
