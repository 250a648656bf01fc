"""Bulk ``complete`` on Annofab tasks under the reliability faults: annoq's
``Project.bulk_operate`` (default settings) against the official client ``annofabapi``
making the same per-task chain one task after another, as its CLI does; same emulator,
same run (issue 17, item 4).

    python benchmarks/annofab_complete.py [--tasks 1000] [--latency 5] [--seed 7]
        [--fixed 8 32] [--reruns 3] [--no-official] [--json out.json]

The emulator runs in a child process of this script (``--serve``) with the fault profile
of the 2,000-task bulk test (tests/annofab/test_bulk.py): on the task reads (single and
in bulk) and the operate routes 4% 503, 2% 429 (``Retry-After: 0.01``), 2% dropped
connections; 3% of operations applied with their answer lost; 3% of operations meeting
someone else's edit first (a 409, once per task); plus ``--latency`` ms on every
request. Each run gets its own tasks, held by other annotators (a third each not
started, on break, on hold), so every task needs a take-over, a start and the completion
(and a read, given by id: annoq batches the first reads of concurrent tasks, 100 ids a
request).

annoq runs ``bulk_operate`` on the ids, then on the tasks of a walk (what ``annoq
annofab operate P complete`` does without ``--ids-from``), then, with ``--fixed N``, on
ids with the adaptive limit swapped for a fixed N. The official side (``pip install -e
'.[bench]'``) does per task what annofabcli's ``task complete`` does: ``get_task``,
``change_task_operator`` to itself when someone else holds it,
``change_task_status_to_working``, ``complete_task``, each quoting the previous
answer's ``updated_datetime``; a task whose chain raises is counted failed and the loop
goes on; then up to ``--reruns`` passes over the failed ids, as a user reruns the CLI.
Without ``annofabapi`` only annoq's side runs (a note says so).

Prints one row per run: tasks/s, tasks completed and failed, 429s, 409s, reads,
requests and operations per task, and where the time went (seconds spent waiting after
429s, and in backoff after 5xx / dropped connections; summed over requests, so with
annoq's requests in flight they overlap), then annoq's ratios to the official client.
Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from _harness import annofabapi_missing, annofabapi_service, load_average, write_report
from latency import fixed as fixed_limit  # benchmarks/latency.py: the same swap

from annoq.annofab import AnnofabSession, Task

#: the reliability profile of tests/annofab/test_bulk.py (the 2,000-task fault test)
READ_AND_OPERATE = ["annofab_operate", "annofab_task", "annofab_tasks_in_bulk"]
FAULTS: list[dict[str, Any]] = [
    {"kind": "status", "status": 503, "rate": 0.04, "routes": READ_AND_OPERATE},
    {
        "kind": "status",
        "status": 429,
        "rate": 0.02,
        "routes": READ_AND_OPERATE,
        "retry_after": "0.01",
    },
    {"kind": "drop", "rate": 0.02, "routes": READ_AND_OPERATE},
    {"kind": "apply_then_drop", "rate": 0.03, "routes": ["annofab_operate"]},
]
CONCURRENT_EDIT_RATE = 0.03  # an operation meets another client's edit first (409)
ROUTES = (
    "annofab_task",
    "annofab_tasks_in_bulk",
    "annofab_operate",
    "annofab_my_account",
    "annofab_tasks",
)
CLIENTS = ("annoq", "walk", "official")  # a task set each


# --------------------------------------------------------------------------- server


async def serve(tasks: int, latency_ms: float, seed: int, clients: list[str]) -> None:
    """The emulator, seeded and faulted; answers ``stats <client>`` lines on stdin."""
    from annoq.emulator import FaultRule, run_emulator

    async with run_emulator(seed=seed) as emu:
        af = emu.annofab
        others = [af.add_user(f"annotator-{n}") for n in range(3)]
        sets: dict[str, list[str]] = {}
        for client in clients:
            ids: list[str] = []
            for n, status in enumerate(("not_started", "break", "on_hold")):
                count = tasks // 3 + (1 if n < tasks % 3 else 0)
                ids += af.seed_tasks(count, assignee=others[n], status=status, prefix=client)
            # (a walk's ids are "walk-...", which the annoq walk run keeps)
            sets[client] = ids
        for rule in FAULTS:
            emu.faults.add(FaultRule(**rule))
        if latency_ms > 0:
            emu.faults.add(FaultRule(kind="latency", latency=latency_ms / 1000))
        af.concurrent_edits(CONCURRENT_EDIT_RATE, per_task=1)
        info = {
            "url": emu.base_url,
            "pat": af.pat,
            "project": af.project_id,
            "account_id": af.account_id,
            "sets": sets,
        }
        print(json.dumps(info), flush=True)
        loop = asyncio.get_running_loop()
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            client = line.split()[1]
            print(json.dumps(_server_stats(emu, sets[client])), flush=True)


def _server_stats(emu: Any, ids: list[str]) -> dict[str, Any]:
    af = emu.annofab
    done = sum(
        (t["phase"], t["status"]) == ("acceptance", "not_started")
        for t in (af.task(i) for i in ids)
    )
    return {
        "requests": {route: emu.faults.requests_seen(route) for route in ROUTES},
        "faults": {
            kind: emu.faults.count(kind=kind)
            for kind in ("status_429", "status_503", "drop", "apply_then_drop")
        },
        "edits": af.store.edits,
        "applied": sum(af.applied(i) for i in ids),
        "completed": done,
    }


class Emulator:
    """This script's ``--serve`` child: its info, and stats on request."""

    def __init__(self, tasks: int, latency_ms: float, seed: int, clients: list[str]) -> None:
        argv = [sys.executable, __file__, "--serve", str(tasks), str(latency_ms), str(seed)]
        argv.append(",".join(clients))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self._in: IO[str] = self._proc.stdin  # type: ignore[assignment]
        self._out: IO[str] = self._proc.stdout  # type: ignore[assignment]
        line = self._out.readline()
        if not line:
            raise RuntimeError(f"the emulator exited ({self._proc.wait()})")
        self.info: dict[str, Any] = json.loads(line)

    def stats(self, client: str) -> dict[str, Any]:
        self._in.write(f"stats {client}\n")
        self._in.flush()
        return json.loads(self._out.readline())  # type: ignore[no-any-return]

    def close(self) -> None:
        self._in.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._out.close()


# --------------------------------------------------------------------------- waits


class Waits(logging.Handler):
    """Adds up the retry waits a client logs: after a 429, and after anything else."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.after_429 = 0.0
        self.other = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        message = str(record.msg)
        if message.startswith("retrying %s %s") and len(args) >= 6:
            # annoq's transport: (method, url, attempt, attempts, wait, status or error, note)
            self._add(float(args[4]), args[5] == 429)
        elif message.startswith("Backing off") and len(args) >= 2:
            # the backoff package (annofabapi's retries after 5xx and connection errors)
            self._add(float(args[1]), False)
        elif "'%s'" in message and len(args) >= 2 and str(args[0]) == "429":
            # annofabapi sleeping out a 429 for Retry-After seconds
            self._add(float(args[1]), True)

    def _add(self, seconds: float, throttled: bool) -> None:
        if throttled:
            self.after_429 += seconds
        else:
            self.other += seconds


def _listen(name: str, level: int) -> Waits:
    waits = Waits()
    logger = logging.getLogger(name)
    logger.handlers = [waits]
    logger.propagate = False
    logger.setLevel(level)
    return waits


# --------------------------------------------------------------------------- clients


async def run_annoq(info: dict[str, Any], walk: bool, fixed: int | None = None) -> dict[str, Any]:
    """``bulk_operate(..., "complete")`` with default settings: on the ids (as ``annoq
    annofab operate P complete --ids-from F --phase annotation``), or on the tasks of a
    walk of the project (``walk``: as ``annoq annofab operate P complete --where-phase
    annotation`` does; only this set's tasks are kept)."""
    waits = _listen("annoq", logging.DEBUG)
    limits: list[int] = []
    ids = info["sets"]["walk" if walk else f"fixed{fixed}" if fixed else "annoq"]
    options: dict[str, Any] = {} if fixed is None else {"concurrency": fixed}
    async with AnnofabSession(pat=info["pat"], endpoint=info["url"]) as af:
        project = af.project(info["project"])

        async def walked() -> AsyncIterator[Task]:
            async with project.tasks(phase="annotation") as tasks:
                async for task in tasks:
                    if task.task_id.startswith("walk-"):
                        yield task

        started = time.monotonic()
        result = await project.bulk_operate(
            walked() if walk else ids,
            "complete",
            expected_phase="annotation",
            on_progress=lambda p: limits.append(p.concurrency),
            **options,
        )
        elapsed = time.monotonic() - started
        assert result.total == len(ids), result
        stats = af.stats
    tail = limits[len(limits) // 2 :] or [0]
    return {
        "elapsed": elapsed,
        "failed": result.failed,
        "failures": dict(Counter(f.reason for f in result.failures)),
        "client_429": stats.rate_limited,
        "client_409": stats.by_status.get(409, 0),
        "wait_429": waits.after_429,
        "wait_other": waits.other,
        "concurrency": f"max {max(limits, default=0)}, 2nd half mean {sum(tail) / len(tail):.0f}",
    }


class Official:
    """annofabapi, one task after another: read, take over, start, complete."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.waits = _listen("annofabapi", logging.INFO)
        self.failures: Counter[str] = Counter()
        self.elapsed = 0.0
        self.project = info["project"]
        self.service, self.statuses = annofabapi_service(info["url"], info["pat"])

    def one_pass(self, task_ids: list[str]) -> list[str]:
        """The chain on each task in turn; the ids whose chain raised."""
        import requests

        api, wrapper, project = self.service.api, self.service.wrapper, self.project
        started = time.monotonic()
        me = api.account_id  # GET /my/account, once
        failed: list[str] = []
        for task_id in task_ids:
            try:
                task, _ = api.get_task(project, task_id)
                if task["phase"] != "annotation":
                    continue
                if task["account_id"] != me:
                    task = wrapper.change_task_operator(
                        project, task_id, me, last_updated_datetime=task["updated_datetime"]
                    )
                if task["status"] != "working":
                    task = wrapper.change_task_status_to_working(
                        project, task_id, last_updated_datetime=task["updated_datetime"]
                    )
                wrapper.complete_task(
                    project, task_id, last_updated_datetime=task["updated_datetime"]
                )
            except requests.HTTPError as error:  # annofabcli logs it and goes on
                code = error.response.status_code if error.response is not None else "?"
                self.failures[f"http_{code}"] += 1
                failed.append(task_id)
            except Exception as error:  # counted, as the CLI does
                self.failures[type(error).__name__] += 1
                failed.append(task_id)
        self.elapsed += time.monotonic() - started
        return failed

    def figures(self, failed: int) -> dict[str, Any]:
        return {
            "elapsed": self.elapsed,
            "failed": failed,
            "failures": dict(self.failures),
            "client_429": self.statuses[429],
            "client_409": self.statuses[409],
            "wait_429": self.waits.after_429,
            "wait_other": self.waits.other,
            "concurrency": "1 (sequential)",
        }


# --------------------------------------------------------------------------- report


def _row(
    name: str, tasks: int, run: dict[str, Any], before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any]:
    """One client's figures: its own counts and the emulator's, over its run only."""
    requests = {r: after["requests"][r] - before["requests"][r] for r in ROUTES}
    faults = {k: after["faults"][k] - before["faults"][k] for k in after["faults"]}
    total = sum(requests.values())
    return {
        "client": name,
        "tasks": tasks,
        "seconds": run["elapsed"],
        "tasks_per_s": tasks / run["elapsed"] if run["elapsed"] > 0 else 0.0,
        "completed": after["completed"],
        "completed_per_s": after["completed"] / run["elapsed"] if run["elapsed"] > 0 else 0.0,
        "failed": run["failed"],
        "failures": run["failures"],
        "served_429": faults["status_429"],
        "client_429": run["client_429"],
        "client_409": run["client_409"],
        "concurrent_edits": after["edits"] - before["edits"],
        "reads_per_task": (requests["annofab_task"] + requests["annofab_tasks_in_bulk"]) / tasks,
        "pages": requests["annofab_tasks"],
        "requests": total,
        "requests_per_task": total / tasks,
        "operate_per_task": requests["annofab_operate"] / tasks,
        "applied_per_task": (after["applied"] - before["applied"]) / tasks,
        "faults": faults,
        "wait_429_s": run["wait_429"],
        "wait_backoff_s": run["wait_other"],
        "concurrency": run["concurrency"],
    }


def ratios(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Each annoq row's tasks/s and 429s over each official row's (same run)."""
    ours = [r for r in rows if r["client"].startswith("annoq") and not r.get("tuned")]
    theirs = [r for r in rows if r["client"].startswith("official")]
    out: dict[str, float | None] = {}
    for mine in ours:
        for other in theirs:
            measured = not other.get("unavailable")
            pair = f"{mine['client']} / {other['client']}"
            for key, label, target in (
                ("tasks_per_s", "tasks/s", ">= 3"),
                ("served_429", "429s", "<= 1"),
            ):
                value = mine[key] / other[key] if measured and other[key] else None
                out[f"{label:8} {pair} (target {target})"] = value
    return out


def print_report(report: dict[str, Any]) -> None:
    rows = report["rows"]
    print(
        f"\nbulk complete, {report['tasks']:,} tasks per client, reliability faults, "
        f"{report['latency_ms']:g} ms per request; load {report['load_start']} at start, "
        f"{report['load_end']} at end (1, 5, 15 min)"
    )
    cols = [
        ("tasks/s", "tasks_per_s", ".1f"),
        ("done", "completed", "d"),
        ("failed", "failed", "d"),
        ("seconds", "seconds", ".1f"),
        ("429s", "served_429", "d"),
        ("409s", "client_409", "d"),
        ("reads/task", "reads_per_task", ".2f"),
        ("req/task", "requests_per_task", ".2f"),
        ("ops/task", "operate_per_task", ".2f"),
        ("429 wait s", "wait_429_s", ".2f"),
        ("backoff s", "wait_backoff_s", ".1f"),
    ]
    print(f"{'client':<36}" + "".join(f"{h:>11}" for h, _, _ in cols))
    for row in rows:
        if row.get("unavailable"):
            print(f"{row['client']:<36}  unavailable: {row['reason']}")
            continue
        print(f"{row['client']:<36}" + "".join(f"{row[k]:>11{f}}" for _, k, f in cols))
    for row in rows:
        if not row.get("unavailable"):
            print(
                f"  {row['client']}: concurrency {row['concurrency']}; failures "
                f"{row['failures'] or 'none'}; faults met {row['faults']}; "
                f"{row['concurrent_edits']} concurrent edits; "
                f"{row['applied_per_task']:.2f} applied operations per task; "
                f"{row['pages']} list pages"
            )
    for name, value in report["ratios"].items():
        print(f"{name}: {'-' if value is None else format(value, '.2f')}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        tasks, latency, seed, clients = sys.argv[2:6]
        asyncio.run(serve(int(tasks), float(latency), int(seed), clients.split(",")))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per client")
    parser.add_argument("--latency", type=float, default=5.0, help="ms added to every request")
    parser.add_argument("--seed", type=int, default=7, help="the emulator's seed")
    parser.add_argument("--no-official", action="store_true", help="annoq's side only")
    parser.add_argument(
        "--reruns", type=int, default=3, help="official: passes over its failures (default 3)"
    )
    parser.add_argument(
        "--fixed",
        type=int,
        nargs="*",
        default=[],
        metavar="N",
        help="also annoq with the adaptive limit replaced by a fixed N (hand-tuned rows)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args()
    missing = "--no-official given" if args.no_official else annofabapi_missing()
    if missing is not None:
        print(f"note: the official client's side is skipped: {missing}", flush=True)
    load_start = load_average()
    rows: list[dict[str, Any]] = []
    sets = ["annoq", "walk", "official", *(f"fixed{n}" for n in args.fixed)]
    emulator = Emulator(args.tasks, args.latency, args.seed, sets)
    try:
        info = emulator.info
        for name, walk in (("annoq bulk_operate(ids)", False), ("annoq walk + bulk_operate", True)):
            before = emulator.stats(label := "walk" if walk else "annoq")
            run = asyncio.run(run_annoq(info, walk))
            rows.append(_row(name, args.tasks, run, before, emulator.stats(label)))
        for n in args.fixed:  # the adaptive limit swapped for a fixed one
            before = emulator.stats(f"fixed{n}")
            with fixed_limit():
                run = asyncio.run(run_annoq(info, False, n))
            row = _row(
                f"  annoq ids, fixed limit {n}",
                args.tasks,
                run,
                before,
                emulator.stats(f"fixed{n}"),
            )
            rows.append({**row, "tuned": True})
        if missing is None:
            before = emulator.stats("official")
            official = Official(info)
            failed = official.one_pass(info["sets"]["official"])
            run = official.figures(len(failed))
            name = "official annofabapi, sequential"
            rows.append(_row(name, args.tasks, run, before, emulator.stats("official")))
            for _ in range(args.reruns):  # as a user reruns the CLI on what it reported
                if not failed:
                    break
                failed = official.one_pass(failed)
            if args.reruns:
                run = official.figures(len(failed))
                name = f"official + reruns of failures (<= {args.reruns})"
                rows.append(_row(name, args.tasks, run, before, emulator.stats("official")))
        else:
            reason = missing
            rows.append(
                {"client": "official annofabapi, sequential", "unavailable": True, "reason": reason}
            )
    finally:
        emulator.close()
    report = {
        "tasks": args.tasks,
        "latency_ms": args.latency,
        "seed": args.seed,
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
