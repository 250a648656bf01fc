"""Options shared by several commands, and the one place a WeaveSession is built."""

from __future__ import annotations

import argparse
from typing import Any, Final

from .. import _config
from ..weave import AnnotationState, WeaveSession

STATES: Final = tuple(s.value for s in AnnotationState)
"""Every state an item can be in."""
SETTABLE_STATES: Final = ("in_progress", "completed", "skipped")
"""The states an annotator can set."""


def count(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def seconds(text: str) -> float:
    """argparse type: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def common_options() -> argparse.ArgumentParser:
    """``--quiet`` and ``--debug``, accepted before or after the command name.

    Defaults are ``SUPPRESS`` here so that a subcommand does not overwrite a value given
    before it (``annoq --debug mark ...``); the top-level parser sets the real defaults.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("output")
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars, summaries or notes; only data and errors",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show a traceback when something fails",
    )
    return parent


def json_option() -> argparse.ArgumentParser:
    """``--json``: machine-readable output on stdout."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--json", action="store_true", help="print the result as JSON on stdout (for scripts)"
    )
    return parent


def connection_options() -> argparse.ArgumentParser:
    """Where the server is and how to authenticate, as WeaveSession resolves them."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help="W&B API key (default: $WANDB_API_KEY, else the ~/.netrc entry of the "
        "$WANDB_BASE_URL host, default api.wandb.ai)",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help="trace server (default: $WF_TRACE_SERVER_URL, else $WEAVE_TRACE_BASE_URL, "
        "else $WANDB_BASE_URL/traces unless that is https://api.wandb.ai, "
        f"else {_config.DEFAULT_WEAVE_BASE_URL})",
    )
    group.add_argument(
        "--max-retries",
        type=count,
        metavar="N",
        help="retries per request after the first attempt (default: "
        f"{_config.DEFAULT_MAX_RETRIES}; {_config.DEFAULT_BULK_MAX_RETRIES} in bulk updates)",
    )
    group.add_argument(
        "--timeout", type=seconds, metavar="SECONDS", help="time limit of each request"
    )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow sending the key over plain http to a host that is not this machine",
    )
    return parent


def make_session(args: argparse.Namespace, **overrides: Any) -> WeaveSession:
    """A WeaveSession from the connection options in ``args``; ``overrides`` win.

    Missing options fall back to WeaveSession's own resolution (environment, netrc).
    """
    options: dict[str, Any] = {
        "api_key": getattr(args, "api_key", None),
        "base_url": getattr(args, "base_url", None),
        "max_retries": getattr(args, "max_retries", None),
        "timeout": getattr(args, "timeout", None),
        "allow_insecure_http": getattr(args, "allow_insecure_http", False),
        "user_id": getattr(args, "user_id", None),
    }
    options.update(overrides)
    api_key = options.pop("api_key")
    return WeaveSession(api_key, **options)


def add_project_queue(parser: argparse.ArgumentParser) -> None:
    """The ``PROJECT QUEUE`` positional pair."""
    parser.add_argument("project", metavar="PROJECT", help="entity/project")
    parser.add_argument("queue", metavar="QUEUE", help="queue id")
