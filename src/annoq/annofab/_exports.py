"""Annofab's whole-project exports (``rawdata/tasks``, ``rawdata/inputs``): the signed
URL, an atomic download (temporary file, then rename; nothing left on failure) and a
streaming read of the JSON array, one record at a time in constant memory.

The signed URL points at an object store: it is fetched with a fresh HTTP client that
carries no Annofab credential.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp
import ijson  # type: ignore[import-untyped]

from .. import _config
from .._convert import structure
from .._errors import ResponseDecodeError, TransportError
from . import _protocol as proto
from ._models import Task, TaskQuery
from ._models_data import InputData

__all__ = [
    "BytesSink",
    "ExpiredUrlError",
    "InputDataFilter",
    "Target",
    "download",
    "export_url",
    "fetch_to",
    "read_records",
    "read_tasks_file",
    "task_matches",
]

R = TypeVar("R")

_CHUNK = 1 << 16


def export_url(data: Any) -> str:
    """The signed URL of a ``{url}`` answer."""
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ResponseDecodeError("the export answer has no signed url", path="$.url")
    return url


class ExpiredUrlError(TransportError):
    """The object store refused the signed URL (403): it expired or was replaced."""


class BytesSink(Protocol):
    """Where an export can be written as it arrives: anything with ``write(bytes)``."""

    def write(self, data: bytes, /) -> object:
        """Take the next chunk."""


Target = str | os.PathLike[str] | BytesSink
"""A path (written atomically) or a :class:`BytesSink` (written as the bytes arrive)."""


async def fetch_to(
    url: str, sink: BytesSink, on_progress: Callable[[int], object] | None = None
) -> int:
    """Write the body of ``url`` to ``sink`` chunk by chunk; returns the bytes written.
    A fresh HTTP client, so no Annofab header is sent; a non-200 answer is a
    :class:`TransportError` naming the status (a 403 is :class:`ExpiredUrlError`)."""
    written = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=_config.ANNOFAB_DOWNLOAD_READ_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as client,
            client.get(url, allow_redirects=True) as response,
        ):
            if response.status != 200:
                kind = ExpiredUrlError if response.status == 403 else TransportError
                raise kind(
                    f"the export download answered {response.status} (the signed URL "
                    "may have expired: ask for it again)"
                )
            async for chunk in response.content.iter_chunked(_CHUNK):
                sink.write(chunk)
                written += len(chunk)
                if on_progress is not None:
                    on_progress(written)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise TransportError(
            f"the export download failed after {written} bytes ({type(error).__name__})"
        ) from None
    return written


async def download(
    url: str, target: Target, on_progress: Callable[[int], object] | None = None
) -> int:
    """Save ``url`` to ``target``; returns the bytes written. A path is written
    atomically (temp file in the same folder, then rename): on any failure no file is
    left behind (an existing file stays as it was). No Annofab header is sent."""
    if not isinstance(target, str | os.PathLike):
        return await fetch_to(url, target, on_progress)
    path = Path(target)
    folder = path.parent if str(path.parent) else Path(".")
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            written = await fetch_to(url, out, on_progress)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return written


def read_records(path: str | os.PathLike[str], cls: type[R], what: str) -> Iterator[R]:
    """The records of a downloaded export (a JSON array), one at a time (a streaming
    parse, constant memory), each decoded as ``cls``."""
    with open(path, "rb") as file:
        try:
            for index, item in enumerate(ijson.items(file, "item", use_float=True)):
                yield structure(proto.converter, item, cls, path=f"$[{index}]")
        except ijson.JSONError as error:
            raise ResponseDecodeError(f"the {what} export is not a JSON array: {error}") from None


def read_tasks_file(path: str | os.PathLike[str]) -> Iterator[Task]:
    """The tasks of a downloaded tasks export, one at a time (a streaming parse)."""
    return read_records(path, Task, "tasks")


def task_matches(query: TaskQuery, task: Task) -> bool:
    """The filters an export walk applies locally (see ``Project.tasks``)."""
    if not query.matches(task):
        return False
    if query.task_id is not None and query.task_id.lower() not in task.task_id.lower():
        return False
    if query.input_data_ids is not None:
        wanted = {i.lower() for i in query.input_data_ids}
        if not any(i.lower() in wanted for i in task.input_data_id_list):
            return False
    return True


def local_only_problem(query: TaskQuery) -> str | None:
    """The filter an export walk cannot apply locally, if any."""
    for name in ("metadata", "previous_account_id", "previous_phase", "previous_phase_stage"):
        if getattr(query, name) is not None:
            return name
    for name in ("rejected_only", "auto_accepted_only"):
        if getattr(query, name):
            return name
    if query.annotation is not None:
        return "annotation"
    return None


class InputDataFilter:
    """The input data list's filters, applied to the records of the input data export
    (as ``getInputDataList`` does: parts of id, name and path in any case, the input
    data of a task, ``updated_datetime`` within ``from_``/``to``)."""

    def __init__(
        self,
        parts: dict[str, str],
        task_inputs: frozenset[str] | None,
        from_: datetime | None,
        to: datetime | None,
    ) -> None:
        self._parts = {name: part.lower() for name, part in parts.items()}
        self._task_inputs = task_inputs
        self._from = from_
        self._to = to

    def __call__(self, item: InputData) -> bool:
        """Whether ``item`` passes every filter."""
        for name, part in self._parts.items():
            if part not in str(getattr(item, name)).lower():
                return False
        if self._task_inputs is not None and item.input_data_id not in self._task_inputs:
            return False
        if self._from is not None and item.updated_datetime < self._from:
            return False
        return self._to is None or item.updated_datetime <= self._to
