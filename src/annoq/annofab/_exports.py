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
from pathlib import Path
from typing import Any

import aiohttp
import ijson  # type: ignore[import-untyped]

from .._convert import structure
from .._errors import ResponseDecodeError, TransportError
from . import _protocol as proto
from ._models import Task, TaskQuery

__all__ = ["download", "export_url", "read_tasks_file", "task_matches"]

_CHUNK = 1 << 16


def export_url(data: Any) -> str:
    """The signed URL of a ``{url}`` answer."""
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ResponseDecodeError("the export answer has no signed url", path="$.url")
    return url


async def download(
    url: str, path: str | os.PathLike[str], on_progress: Callable[[int], object] | None = None
) -> int:
    """Save ``url`` to ``path`` atomically (temp file in the same folder, then rename);
    returns the bytes written. No Annofab header is sent; on any failure no file is
    left behind (an existing ``path`` stays as it was)."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    written = 0
    try:
        with os.fdopen(handle, "wb") as out:
            async with (
                aiohttp.ClientSession() as client,
                client.get(url, allow_redirects=True) as response,
            ):
                if response.status != 200:
                    raise TransportError(
                        f"the export download answered {response.status} (the signed URL "
                        "may have expired: ask for it again)"
                    )
                async for chunk in response.content.iter_chunked(_CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    if on_progress is not None:
                        on_progress(written)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return written


def read_tasks_file(path: str | os.PathLike[str]) -> Iterator[Task]:
    """The tasks of a downloaded tasks export, one at a time (a streaming parse)."""
    with open(path, "rb") as file:
        try:
            for index, item in enumerate(ijson.items(file, "item", use_float=True)):
                yield structure(proto.converter, item, Task, path=f"$[{index}]")
        except ijson.JSONError as error:
            raise ResponseDecodeError(f"the tasks export is not a JSON array: {error}") from None


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
