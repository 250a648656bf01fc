"""Exit codes, the CLI's own error, and the one line every failure is reported as."""

from __future__ import annotations

import re
from typing import Final

from .._errors import (
    AnnoqError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InsecureTransportError,
    InvalidArgumentError,
    MFARequiredError,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    ValidationError,
)
from .._errors import (
    TimeoutError as AnnoqTimeoutError,
)

EXIT_OK: Final = 0
"""Everything asked for was done."""
EXIT_FAILED: Final = 1
"""Some items failed, or the server could not be reached or kept failing."""
EXIT_USAGE: Final = 2
"""The command line or an input file is wrong, or the server refused the request as such."""
EXIT_AUTH: Final = 3
"""No credentials, wrong credentials, or no permission."""


class CliError(Exception):
    """A problem the CLI reports as one line with an exit code (default: usage error)."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def exit_code(error: BaseException) -> int:
    """The exit status a failure maps to."""
    if isinstance(error, CliError):
        return error.code
    if isinstance(error, MissingCredentialsError | AuthenticationError | PermissionDeniedError):
        return EXIT_AUTH
    if isinstance(
        error,
        InvalidArgumentError
        | ConfigurationError
        | BadRequestError
        | ValidationError
        | NotFoundError,
    ):
        return EXIT_USAGE
    if isinstance(error, AnnoqError):
        return EXIT_FAILED  # annoq.TimeoutError is also an OSError: still not a usage error
    if isinstance(error, OSError):
        return EXIT_USAGE  # a file the command line named
    return EXIT_FAILED


def describe(error: BaseException) -> str:
    """One line saying what went wrong and, where it helps, what to do."""
    if isinstance(error, CliError | InvalidArgumentError):
        text = str(error)
    elif isinstance(error, MissingCredentialsError):
        text = (
            "no W&B API key: pass --api-key, set WANDB_API_KEY, or add "
            "'machine api.wandb.ai login user password KEY' to ~/.netrc"
        )
    elif isinstance(error, InsecureTransportError):
        text = str(error).replace("allow_insecure_http=True", "--allow-insecure-http")
    elif isinstance(error, MFARequiredError):
        text = f"authentication failed: {error.reason} (use a personal access token)"
    elif isinstance(error, AuthenticationError):
        text = f"authentication failed: {error.reason} (check --api-key or WANDB_API_KEY)"
    elif isinstance(error, PermissionDeniedError):
        text = f"permission denied: {error.reason} (does this key have access to the project?)"
    elif isinstance(error, NotFoundError):
        text = f"not found: {error.reason}"
    elif isinstance(error, AnnoqTimeoutError):
        text = f"the server did not answer in time: {error} (is it overloaded? see --timeout)"
    elif isinstance(error, TransportError):
        text = f"cannot reach the server: {error} (is it running? check --base-url)"
    elif isinstance(error, AnnoqError):
        text = str(error)
    elif isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        text = f"{where}{error.strerror or error}"
    else:
        text = f"unexpected {type(error).__name__}: {error} (run with --debug for a traceback)"
    return one_line(text)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) turned into one space."""
    return re.sub(r"\s+", " ", text).strip()


_UNPRINTABLE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1 and bidirectional overrides) shown
    as escapes (``\\x1b``, ``\\u202e``), so a server string cannot drive the terminal."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
