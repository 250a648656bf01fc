"""Files in and out: id lists, atomic output files, items as JSONL or CSV."""

from __future__ import annotations

import contextlib
import csv
import enum
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol, TextIO, TypeVar

import attrs
import orjson

from .._bulk import BulkFailure
from .._convert import format_datetime
from ..weave import QueueItem
from ._errors import CliError

ITEM_FIELDS: Final = tuple(field.name for field in attrs.fields(QueueItem))
"""The columns of ``annoq items --format csv``, in order."""
FORMATS: Final = ("jsonl", "csv")

T = TypeVar("T")

_NOT_IN_PLAIN_IDS: Final = frozenset('{}[]",')


# -- reading ids ----------------------------------------------------------------------


def read_ids(source: str, stdin: TextIO) -> list[str]:
    """The ids in ``source`` (a path, or ``-`` for ``stdin``), in order, checked whole.

    Each line is a plain id, or a JSON object with a string ``"id"`` (a line of
    ``annoq items`` output or of a ``--failures`` file). The whole input is read and
    checked before anything is sent, so a bad line never leaves a job half done; the
    first bad line is reported with its number, and how many more there are.
    """
    return read_checked_lines(
        source,
        stdin,
        _parse_id_line,
        expected='each line must be an item id or a JSON object with an "id" (nothing was sent)',
    )


def read_checked_lines(
    source: str,
    stdin: TextIO,
    parse: Callable[[str], tuple[T | None, str | None]],
    *,
    expected: str,
    separator: str = " ",
) -> list[T]:
    """Every line of ``source`` (a path, or ``-`` for ``stdin``) through ``parse``.

    ``parse`` answers ``(value, None)``, ``(None, None)`` for a line to pass over, or
    ``(None, problem)``. The whole input is read before anything is sent; any bad line
    raises :class:`CliError` naming the first one by number, how many more there are,
    and ``expected`` (what a line must look like); ``separator`` goes between the line
    number and the problem.
    """
    name = "<stdin>" if source == "-" else source
    values: list[T] = []
    first_bad: str | None = None
    bad = 0
    try:
        with contextlib.ExitStack() as stack:
            lines = stdin if source == "-" else stack.enter_context(open(source, encoding="utf-8"))
            for number, line in enumerate(lines, 1):
                value, problem = parse(line)
                if problem is not None:
                    bad += 1
                    first_bad = first_bad or f"line {number}{separator}{problem}"
                elif value is not None:
                    values.append(value)
    except UnicodeDecodeError:
        raise CliError(f"{name}: not UTF-8 text") from None
    except OSError as error:
        raise CliError(f"cannot read {name}: {error.strerror or error}") from None
    if first_bad is not None:
        more = f" (and {bad - 1} more bad lines)" if bad > 1 else ""
        raise CliError(f"{name}: {first_bad}{more}; {expected}")
    return values


def _parse_id_line(line: str) -> tuple[str | None, str | None]:
    """``(id, None)``, or ``(None, problem)``."""
    text = line.strip()
    if not text:
        return None, "is blank"
    if text.startswith("{"):
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None, "is not valid JSON"
        item_id = record.get("id") if isinstance(record, dict) else None
        if not isinstance(item_id, str) or not item_id.strip():
            return None, 'has no string "id"'
        return item_id.strip(), None
    if any(ch.isspace() or ch in _NOT_IN_PLAIN_IDS for ch in text):
        return None, f"is not an item id: {text[:40]!r}"
    return text, None


# -- writing files --------------------------------------------------------------------


_DESCRIPTOR_ROOTS: Final = ("dev", "proc")
"""Top-level directories whose paths name devices or open descriptors (``/dev/stdout``,
``/dev/fd/63`` from a shell's ``>(cmd)``): never replaced, always written in place."""


def _writes_in_place(path: str) -> bool:
    """Whether ``path`` is written directly: anything but a regular file (a device, a
    named pipe, a descriptor), or a path under :data:`_DESCRIPTOR_ROOTS`."""
    parts = Path(os.path.abspath(path)).parts
    if len(parts) > 1 and parts[1] in _DESCRIPTOR_ROOTS:
        return True
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None
    return not stat.S_ISREG(mode)


@contextlib.contextmanager
def atomic_file(path: str) -> Iterator[TextIO]:
    """Write ``path`` all at once: a hidden temporary file beside it replaces it on
    success and is removed on any error, so a failed run never leaves a partial file.

    An existing file keeps its permission bits; a symlink is followed (the file it
    points to is replaced, the link stays). A device, named pipe or descriptor path
    (``/dev/null``, a FIFO, ``/dev/stdout``, ``>(cmd)``) is written directly instead.
    """
    if _writes_in_place(path):
        with _direct_file(path) as stream:
            yield stream
        return
    target = Path(os.path.realpath(path))
    try:
        kept_mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        kept_mode = None  # a new file: the usual mode for new files (umask)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    try:
        stream = open(temporary, "x", encoding="utf-8", newline="")  # noqa: SIM115
        if kept_mode is not None:
            os.chmod(temporary, kept_mode)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with stream:
            yield stream
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


_STANDARD_DESCRIPTORS: Final = {"stdout": 1, "stderr": 2}
_DESCRIPTOR_PATH: Final = re.compile(r"/(?:dev/fd|proc/self/fd)/(\d+)")


def _descriptor_of(path: str) -> int | None:
    """The open descriptor ``path`` names (``/dev/stdout``, ``/dev/fd/N``,
    ``/proc/self/fd/N``), else ``None``."""
    absolute = os.path.abspath(path)
    head, name = os.path.split(absolute)
    if head == os.sep + "dev" and name in _STANDARD_DESCRIPTORS:
        return _STANDARD_DESCRIPTORS[name]
    match = _DESCRIPTOR_PATH.fullmatch(absolute)
    return int(match[1]) if match else None


@contextlib.contextmanager
def _direct_file(path: str) -> Iterator[TextIO]:
    """Write ``path`` in place; a descriptor path writes through the descriptor itself
    (its position and append mode as the shell set them, never truncated)."""
    descriptor = _descriptor_of(path)
    try:
        if descriptor is not None:
            stream = os.fdopen(os.dup(descriptor), "w", encoding="utf-8", newline="")
        else:
            stream = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None
    with stream:
        yield stream


@contextlib.contextmanager
def output_to(path: str | None, default: TextIO) -> Iterator[TextIO]:
    """``default`` when ``path`` is ``None`` or ``-``, else :func:`atomic_file`."""
    if path is None or path == "-":
        yield default
    else:
        with atomic_file(path) as stream:
            yield stream


# -- records ----------------------------------------------------------------------------


def record(obj: Any) -> dict[str, Any]:
    """An attrs model as a JSON-ready dict (RFC 3339 times, states as strings)."""
    return {name: _plain(value) for name, value in attrs.asdict(obj, recurse=False).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def json_line(data: Any) -> str:
    """``data`` as one line of JSON with its newline."""
    return orjson.dumps(data).decode() + "\n"


def failure_record(failure: BulkFailure) -> dict[str, str]:
    """A failure as a ``--failures`` line: ``{"id", "reason", "message"}``."""
    return {"id": failure.key, "reason": failure.reason, "message": str(failure.error)}


def write_failures(stream: TextIO, failures: Iterable[BulkFailure]) -> None:
    """Write failures as JSONL, ready to be fed back with ``--ids-from``."""
    for failure in failures:
        stream.write(json_line(failure_record(failure)))


class ItemWriter(Protocol):
    """Writes items to a stream in one format."""

    def write(self, items: Iterable[QueueItem]) -> None:
        """Write these items."""


class JsonlWriter:
    """One JSON object per line, with the API's field names."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, items: Iterable[QueueItem]) -> None:
        """Write these items."""
        self._stream.writelines(json_line(record(item)) for item in items)


class CsvWriter:
    """A header row of :data:`ITEM_FIELDS`, then one row per item; lists as JSON text,
    missing values empty."""

    def __init__(self, stream: TextIO) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(ITEM_FIELDS)

    def write(self, items: Iterable[QueueItem]) -> None:
        """Write these items."""
        self._writer.writerows([_cell(value) for value in record(item).values()] for item in items)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return orjson.dumps(value).decode()
    return str(value)


def item_writer(fmt: str, stream: TextIO) -> ItemWriter:
    """The writer of ``fmt`` (one of :data:`FORMATS`)."""
    return CsvWriter(stream) if fmt == "csv" else JsonlWriter(stream)
