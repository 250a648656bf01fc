"""Annotation import rate: ``Project.bulk_put_annotations`` against the official client
``annofabapi`` importing one item after another, and against a hand-written
``requests`` loop making the same calls; same emulator, same run (issue 15).

    python benchmarks/annofab_import.py [--items 400] [--latency 0.005] [--json out.json]

Each row imports its own ``--items`` tasks (3 boxes each, annotation format v2). The
official row (``pip install -e '.[bench]'``) does per item what its own import
(``wrapper.put_annotation_for_simple_annotation_json``) does: ``api.get_editor_annotation``
for the lock, then ``api.put_annotation`` quoting its ``updated_datetime``. The requests
row is the same GET and PUT over one ``requests.Session``, without annofabapi's layer.
Without ``annofabapi`` its row is skipped (a note says so) and the others run.

The emulator runs in a thread of this process and adds ``--latency`` seconds to every
request (a stand-in for the network). Prints one row per client: items, seconds,
items/s, requests, annotation writes the emulator applied to that row's tasks; then
annoq's items/s over the official client's (and over the requests loop's). Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from _harness import annofabapi_missing, annofabapi_service, load_average, write_report

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


def _body(info: dict[str, Any], task_id: str, n: int, lock: str | None) -> dict[str, Any]:
    """The PUT body both sequential rows send: the item's boxes, under the lock read."""
    body: dict[str, Any] = {
        "project_id": info["project"],
        "task_id": task_id,
        "input_data_id": f"input-{task_id}",
        "details": _details(task_id, n),
        "format_version": "2.0.0",
    }
    if lock is not None:
        body["updated_datetime"] = lock
    return body


def sequential(info: dict[str, Any], ids: list[str]) -> tuple[float, int]:
    """The official client's calls by hand: one requests.Session, per item GET then PUT."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {info['pat']}"
    base = f"{info['url']}/api/v1/projects/{info['project']}/tasks"
    sent = 0
    started = time.monotonic()
    for n, task_id in enumerate(ids):
        url = f"{base}/{task_id}/inputs/input-{task_id}/annotation"
        current = http.get(url, params={"v": "2"}, timeout=30)
        current.raise_for_status()
        body = _body(info, task_id, n, current.json().get("updated_datetime"))
        http.put(url, params={"v": "2"}, json=body, timeout=30).raise_for_status()
        sent += 2
    return time.monotonic() - started, sent


def official(info: dict[str, Any], ids: list[str]) -> tuple[float, int]:
    """annofabapi, one item after another, as its own import does it: read the editor
    annotation (its ``updated_datetime`` is the lock), then put the new one under it."""
    service, statuses = annofabapi_service(info["url"], info["pat"])
    api, project, v2 = service.api, info["project"], {"v": "2"}
    started = time.monotonic()
    for n, task_id in enumerate(ids):
        input_id = f"input-{task_id}"
        current, _ = api.get_editor_annotation(project, task_id, input_id, query_params=v2)
        lock = current.get("updated_datetime") if current is not None else None
        body = _body(info, task_id, n, lock)
        api.put_annotation(project, task_id, input_id, query_params=v2, request_body=body)
    return time.monotonic() - started, sum(statuses.values())


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


REQUESTS_LOOP = "requests loop (official's calls by hand)"
OFFICIAL = "official annofabapi, sequential"


def ratios(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Each annoq row's items/s over each sequential row's (same run); None if skipped."""
    sequential_rows = [r for r in rows if not r["client"].startswith("annoq")]
    out: dict[str, float | None] = {}
    for mine in (r for r in rows if r["client"].startswith("annoq")):
        for other in sequential_rows:
            value = None if other.get("unavailable") else mine["items_per_s"] / other["items_per_s"]
            out[f"items/s {mine['client']} / {other['client']}"] = value
    return out


def print_report(report: dict[str, Any]) -> None:
    print(
        f"{'client':<42} {'items':>6} {'seconds':>8} {'items/s':>8} {'requests':>9} {'writes':>7}"
    )
    for row in report["rows"]:
        if row.get("unavailable"):
            print(f"{row['client']:<42} unavailable: {row['reason']}")
            continue
        print(
            f"{row['client']:<42} {row['items']:>6} {row['seconds']:>8.2f} "
            f"{row['items_per_s']:>8.1f} {row['requests']:>9} {row['writes']:>7}"
        )
    print(
        f"latency {report['latency'] * 1000:g} ms per request; load {report['load_start']} "
        f"at start, {report['load_end']} at end (1, 5, 15 min); {report['cores']} cores"
    )
    for name, value in report["ratios"].items():
        print(f"{name}: {'-' if value is None else format(value, '.2f')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=400, help="items per client")
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per request")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args()
    n = args.items
    missing = annofabapi_missing()
    if missing is not None:
        print(f"note: the official client's row is skipped: {missing}", flush=True)
    runs: list[tuple[str, int | None]] = [(REQUESTS_LOOP, None), (OFFICIAL, None)]
    runs += [("annoq, concurrency 4", 4), ("annoq, concurrency 8", 8)]
    load_start = load_average()
    rows: list[dict[str, Any]] = []
    with emulator(n * len(runs), args.latency) as info:
        writes = info["emu"].annofab.store.bulk.writes
        for index, (name, concurrency) in enumerate(runs):
            part = info["ids"][index * n : (index + 1) * n]
            if name == OFFICIAL and missing is not None:
                rows.append({"client": name, "unavailable": True, "reason": missing})
                continue
            if name == OFFICIAL:
                elapsed, sent = official(info, part)
            elif concurrency is None:
                elapsed, sent = sequential(info, part)
            else:
                elapsed, sent = asyncio.run(with_annoq(info, part, concurrency))
            applied = sum(writes[("annotation", t, f"input-{t}")] for t in part)
            rows.append(
                {
                    "client": name,
                    "items": n,
                    "seconds": elapsed,
                    "items_per_s": n / elapsed if elapsed > 0 else 0.0,
                    "requests": sent,
                    "writes": applied,
                    "concurrency": concurrency or 1,
                }
            )
    report = {
        "items": n,
        "latency": args.latency,
        "load_start": load_start,
        "load_end": load_average(),
        "cores": os.cpu_count(),
        "rows": rows,
        "ratios": ratios(rows),
    }
    print_report(report)
    write_report(args.json, report)


if __name__ == "__main__":
    main()
