"""Annotation import rate: ``Project.bulk_put_annotations`` against a sequential loop
that makes the same per-item calls as the official client (``requests``: GET the editor
annotation, PUT it with the lock read), on the same emulator in the same run.

    python benchmarks/annofab_import.py [--items 400] [--latency 0.005]

The emulator runs in a thread of this process and adds ``--latency`` seconds to every
request (a stand-in for the network). Prints one row per client: items, seconds,
items/s, requests. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from annoq.annofab import AnnofabSession, AnnotationImport, NewAnnotation
from annoq.emulator import FaultRule, run_emulator


@contextmanager
def emulator(tasks: int, latency: float) -> Iterator[dict[str, Any]]:
    """An emulator with ``tasks`` tasks, served from its own thread and event loop."""
    ready = threading.Event()
    stop = threading.Event()
    info: dict[str, Any] = {}

    async def serve() -> None:
        async with run_emulator(seed=7) as emu:
            info["ids"] = emu.annofab.seed_tasks(tasks)
            info.update(url=emu.base_url, pat=emu.annofab.pat, project=emu.annofab.project_id)
            info["emu"] = emu
            if latency > 0:
                emu.faults.add(FaultRule(kind="latency", latency=latency, rate=1.0))
            ready.set()
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    if not ready.wait(60):
        raise RuntimeError("the emulator did not start")
    try:
        yield info
    finally:
        stop.set()
        thread.join(30)


def _details(task_id: str, n: int) -> list[dict[str, Any]]:
    box = {"_type": "BoundingBox", "left_top": {"x": n, "y": 0}, "right_bottom": {"x": 9, "y": 9}}
    return [
        {
            "_type": "Create",
            "annotation_id": f"{task_id}-a{k}",
            "label_id": "car",
            "body": {"_type": "Inner", "data": box},
            "additional_data_list": [],
            "editor_props": {},
        }
        for k in range(3)
    ]


def sequential(info: dict[str, Any], ids: list[str]) -> tuple[float, int]:
    """The official client's way: one requests.Session, per item GET then PUT."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {info['pat']}"
    base = f"{info['url']}/api/v1/projects/{info['project']}/tasks"
    sent = 0
    started = time.monotonic()
    for n, task_id in enumerate(ids):
        url = f"{base}/{task_id}/inputs/input-{task_id}/annotation"
        current = http.get(url, params={"v": "2"}, timeout=30)
        current.raise_for_status()
        body = {
            "project_id": info["project"],
            "task_id": task_id,
            "input_data_id": f"input-{task_id}",
            "details": _details(task_id, n),
            "format_version": "2.0.0",
        }
        lock = current.json().get("updated_datetime")
        if lock is not None:
            body["updated_datetime"] = lock
        http.put(url, params={"v": "2"}, json=body, timeout=30).raise_for_status()
        sent += 2
    return time.monotonic() - started, sent


async def with_annoq(info: dict[str, Any], ids: list[str], concurrency: int) -> tuple[float, int]:
    items = [
        AnnotationImport(
            t,
            f"input-{t}",
            [
                NewAnnotation(
                    annotation_id=d["annotation_id"], label_id=d["label_id"], body=d["body"]
                )
                for d in _details(t, n)
            ],
        )
        for n, t in enumerate(ids)
    ]
    async with AnnofabSession(pat=info["pat"], endpoint=info["url"]) as af:
        project = af.project(info["project"])
        started = time.monotonic()
        result = await project.bulk_put_annotations(items, concurrency=concurrency)
        elapsed = time.monotonic() - started
        assert result.updated == len(ids), result
        return elapsed, af.stats.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.005)
    args = parser.parse_args()
    n = args.items
    runs = (("sequential (official client's calls)", None), ("annoq, concurrency 4", 4))
    runs += (("annoq, concurrency 8", 8),)
    with emulator(n * len(runs), args.latency) as info:
        ids = info["ids"]
        rows = []
        for index, (name, concurrency) in enumerate(runs):
            part = ids[index * n : (index + 1) * n]
            if concurrency is None:
                elapsed, sent = sequential(info, part)
            else:
                elapsed, sent = asyncio.run(with_annoq(info, part, concurrency))
            rows.append((name, n, elapsed, n / elapsed, sent))
        writes = info["emu"].annofab.store.bulk.count("annotation")
    print(f"{'client':<38} {'items':>6} {'seconds':>8} {'items/s':>8} {'requests':>9}")
    for name, items, elapsed, per_s, sent in rows:
        print(f"{name:<38} {items:>6} {elapsed:>8.2f} {per_s:>8.1f} {sent:>9}")
    print(f"latency {args.latency * 1000:g} ms per request; {writes} annotation writes applied")


if __name__ == "__main__":
    main()
