"""Annotations out and in: annoq vs the official client's feedback calls, same emulator.

    python benchmarks/annotations.py [--items 2000] [--concurrency 16] [--json out.json]

Serves an emulator in a child process (seeded with a queue annotated by three
annotators, and one fresh queue per import run), then, in this process:

- export: annoq's ``queue.annotations()`` (one feedback query per page of items) vs the
  official client walking the items and querying each call's feedback (sequentially,
  and gathered per page under a semaphore);
- import: annoq's ``queue.submit_annotations(..., complete=True)`` vs the official
  client creating one feedback row per spec and then updating the item's progress
  (sequentially, and gathered under a semaphore).

Needs the ``bench`` extra (``weave``). Prints items per second; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

SPECS: dict[str, dict[str, Any]] = {
    "quality": {"type": "integer", "minimum": 1, "maximum": 5},
    "ok": {"type": "boolean"},
    "label": {"type": "string", "enum": ["cat", "dog", "bird"]},
}
IMPORT_RUNS = ("annoq", "official-sequential", "official-gathered")


def _values(index: int) -> dict[str, Any]:
    return {
        "quality": 1 + index % 5,
        "ok": index % 2 == 0,
        "label": ("cat", "dog", "bird")[index % 3],
    }


# -- the emulator (child process) -------------------------------------------------------


async def _serve(n_items: int) -> None:
    from annoq.emulator import run_emulator

    async with run_emulator() as emu:
        export_queue, refs = emu.feedback.seed_annotated_queue(n_items, SPECS, complete=False)
        imports = {}
        for name in IMPORT_RUNS:
            queue_id, _ = emu.feedback.seed_annotated_queue(
                n_items, SPECS, annotators=(), complete=False, name=name
            )
            imports[name] = queue_id
        info = {
            "base_url": emu.base_url,
            "api_key": emu.api_key,
            "project": emu.project,
            "export_queue": export_queue,
            "import_queues": imports,
            "refs": refs,
        }
        print(json.dumps(info), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# -- the clients ------------------------------------------------------------------------


async def _bounded(
    entries: Iterable[Any], work: Callable[[Any], Awaitable[Any]], concurrency: int
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(entry: Any) -> None:
        async with gate:
            await work(entry)

    await asyncio.gather(*(one(e) for e in entries))


async def export_annoq(info: dict[str, Any]) -> tuple[int, int]:
    from annoq import WeaveSession

    items = annotations = 0
    async with WeaveSession(info["api_key"], base_url=info["base_url"]) as weave:
        queue = weave.queue(info["project"], info["export_queue"])
        async for entry in queue.annotations():
            items += 1
            annotations += len(entry.annotations)
    return items, annotations


def _official(info: dict[str, Any]) -> Any:
    from weave.vendor.weave_server_sdk import AsyncWeaveTrace

    return AsyncWeaveTrace(username="api", password=info["api_key"], base_url=info["base_url"])


async def export_official(info: dict[str, Any], concurrency: int) -> tuple[int, int]:
    """Items page by page, then each call's feedback from this queue (one query per
    item: the client has no batch read); ``concurrency`` 1 is sequential."""
    project, queue_id = info["project"], info["export_queue"]
    items = annotations = offset = 0
    async with _official(info) as client:

        async def feedback_of(call_id: str) -> None:
            nonlocal annotations
            ref = f"weave:///{project}/call/{call_id}"
            query = {
                "$expr": {
                    "$and": [
                        {"$eq": [{"$getField": "weave_ref"}, {"$literal": ref}]},
                        {"$eq": [{"$getField": "queue_id"}, {"$literal": queue_id}]},
                    ]
                }
            }
            answer = await client.feedback.query(project_id=project, query=query)  # type: ignore[arg-type]
            annotations += len(answer.result)

        while True:
            page = await client.annotation_queues.items.query(
                queue_id, project_id=project, limit=500, offset=offset
            )
            calls = [item.call_id for item in page.items]
            items += len(calls)
            await _bounded(calls, feedback_of, concurrency)
            if len(calls) < 500:
                return items, annotations
            offset += 500


async def import_annoq(info: dict[str, Any], concurrency: int) -> int:
    from annoq import WeaveSession

    queue_id = info["import_queues"]["annoq"]
    async with WeaveSession(info["api_key"], base_url=info["base_url"]) as weave:
        queue = weave.queue(info["project"], queue_id)
        items = [item async for item in queue.items()]
        rows = [(item, _values(i)) for i, item in enumerate(items)]
        started = time.perf_counter()
        result = await queue.submit_annotations(rows, concurrency=concurrency)
        info["_import_seconds"] = time.perf_counter() - started
        return result.updated


async def import_official(info: dict[str, Any], name: str, concurrency: int) -> int:
    """Per item: one ``feedback.create`` per spec, then ``update_progress``."""
    project = info["project"]
    queue_id = info["import_queues"][name]
    async with _official(info) as client:
        items: list[Any] = []
        offset = 0
        while True:
            page = await client.annotation_queues.items.query(
                queue_id, project_id=project, limit=500, offset=offset
            )
            items.extend(page.items)
            if len(page.items) < 500:
                break
            offset += 500
        indexed = list(enumerate(items))

        async def annotate(entry: tuple[int, Any]) -> None:
            index, item = entry
            ref = f"weave:///{project}/call/{item.call_id}"
            for spec, value in _values(index).items():
                await client.feedback.create(
                    project_id=project,
                    weave_ref=ref,
                    feedback_type=f"wandb.annotation.{spec}",
                    annotation_ref=info["refs"][spec],
                    payload={"value": value},
                    queue_id=queue_id,
                )
            await client.annotation_queues.items.update_progress(
                item.id, queue_id=queue_id, annotation_state="completed", project_id=project
            )

        started = time.perf_counter()
        await _bounded(indexed, annotate, concurrency)
        info["_import_seconds"] = time.perf_counter() - started
        return len(items)


async def _measure(
    label: str, run: Callable[[], Awaitable[Any]], items: int, info: dict[str, Any]
) -> dict[str, Any]:
    info.pop("_import_seconds", None)
    started = time.perf_counter()
    outcome = await run()
    seconds = info.pop("_import_seconds", None) or (time.perf_counter() - started)
    row = {"run": label, "items": items, "seconds": round(seconds, 3),
           "items_per_s": round(items / seconds, 1), "outcome": outcome}  # fmt: skip
    print(f"{label:<34} {items:>7,} items {seconds:8.2f} s {items / seconds:10,.0f} items/s")
    return row


def _unavailable(label: str) -> dict[str, Any]:
    print(f"{label:<34} unavailable (pip install 'annoq[bench]' for the official client)")
    return {"run": label, "unavailable": True}


async def _run_all(info: dict[str, Any], n: int, c: int) -> list[dict[str, Any]]:
    print(f"{n:,} items, {len(SPECS)} specs, export queue answered by 3 annotators")
    if importlib.util.find_spec("weave") is None:
        return [
            await _measure("export annoq", lambda: export_annoq(info), n, info),
            _unavailable("export official sequential"),
            _unavailable(f"export official gathered ({c})"),
            await _measure(f"import annoq ({c})", lambda: import_annoq(info, c), n, info),
            _unavailable("import official sequential"),
            _unavailable(f"import official gathered ({c})"),
        ]
    return [
        await _measure("export annoq", lambda: export_annoq(info), n, info),
        await _measure("export official sequential", lambda: export_official(info, 1), n, info),
        await _measure(
            f"export official gathered ({c})", lambda: export_official(info, c), n, info
        ),
        await _measure(f"import annoq ({c})", lambda: import_annoq(info, c), n, info),
        await _measure(
            "import official sequential",
            lambda: import_official(info, "official-sequential", 1),
            n,
            info,
        ),
        await _measure(
            f"import official gathered ({c})",
            lambda: import_official(info, "official-gathered", c),
            n,
            info,
        ),
    ]


def _bench(args: argparse.Namespace) -> None:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.items)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        rows = asyncio.run(_run_all(info, args.items, args.concurrency))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(
                    {"items": args.items, "concurrency": args.concurrency, "rows": rows},
                    out,
                    indent=2,
                )
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve))
    else:
        _bench(args)


if __name__ == "__main__":
    main()
