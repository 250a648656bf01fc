"""One measurement in this (fresh) process; prints one JSON line with the result.

    python benchmarks/worker.py '{"kind": "stream", "module": "client_floor",
                                  "func": "stream", "target": {...}}'

``kind`` is ``stream`` (``func(target) -> items``), ``bulk`` (``func(target, ids,
concurrency) -> updates``; ids from ``ids_file``, a list or, with ``lazy``, a generator)
or ``decode`` (``func(raw_page_bytes) -> items``, timed per call). A client module that
cannot be imported (``weave`` not installed) gives ``{"status": "unavailable"}``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _harness import Target, measure, time_per_call


def _ids(path: str, lazy: bool) -> Iterator[str] | list[str]:
    def read() -> Iterator[str]:
        with open(path) as lines:
            for line in lines:
                yield line.rstrip("\n")

    return read() if lazy else list(read())


def _sync(func: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(func):
        return lambda *args: asyncio.run(func(*args))
    return func


def main(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        module = importlib.import_module(spec["module"])
    except ImportError as exc:
        return {"status": "unavailable", "reason": f"{type(exc).__name__}: {exc}"}
    func = _sync(getattr(module, spec["func"]))
    kind = spec["kind"]
    if kind == "decode":
        raw = Path(spec["raw_file"]).read_bytes()
        count = len(func(raw))
        per_call = time_per_call(
            lambda: func(raw), min_batch_s=spec.get("min_batch_s", 0.2), batches=spec["batches"]
        )
        return {
            "status": "ok",
            "n": count,
            "us_per_page": per_call * 1e6,
            "us_per_item": per_call * 1e6 / count,
            "rate_per_s": count / per_call,
        }
    target = Target(**spec["target"])
    if kind == "stream":
        return measure(lambda: func(target))
    if kind == "bulk":
        ids = _ids(spec["ids_file"], spec.get("lazy", False))
        return measure(lambda: func(target, ids, spec["concurrency"]))
    raise ValueError(f"unknown kind {kind!r}")


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
