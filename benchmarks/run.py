"""annoq vs the official Weave client vs the floor, in one run (issue 7).

    python benchmarks/run.py [--quick] [--reps 3] [--json out.json] [--only stream,bulk]

Starts the annoq emulator in its own process on loopback, runs every measurement in a
fresh client process (CPU and peak RSS are that client's alone), repeats each ``--reps``
times (interleaved), prints medians, the machine and versions, and the issue's target
ratios with PASS/MISS, and writes everything to ``--json``. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _harness import EmulatorProcess, machine_info, median_row, run_child, write_report

SECTIONS = ("stream", "bulk", "scale", "decode", "startup", "latency", "annofab")
#: Sections that are scripts of their own (each starts its own emulator), run after the
#: others: ``latency`` (latency.py: defaults against the best fixed settings at 50 and
#: 150 ms) and ``annofab`` (annofab_complete.py: bulk complete under faults against the
#: official Annofab client), with small sizes under ``--quick``.
SCRIPTS = ("latency", "annofab")


@dataclass(frozen=True)
class Sizes:
    stream: int  # items of the streaming comparison
    page: int  # page size of every walk
    bulk: int  # progress updates per bulk run
    scale_stream: tuple[int, ...]  # annoq streaming sizes
    scale_bulk: tuple[int, ...]  # annoq bulk sizes over a generator of ids
    decode_page: int  # items in the decoded page
    decode_batches: int
    decode_min_batch_s: float


FULL = Sizes(100_000, 1000, 5000, (10_000, 100_000, 1_000_000), (10_000, 200_000), 1000, 7, 0.2)
QUICK = Sizes(600, 250, 50, (300, 600, 1200), (50, 200), 100, 1, 0.005)


@dataclass(frozen=True)
class Row:
    id: str  # "<section>.<what>"
    label: str
    kind: str  # stream | bulk | decode (see worker.py)
    module: str
    func: str
    n: int
    concurrency: int = 0
    fresh: bool = False  # seed a new queue for every repetition (runs that write)
    lazy: bool = False  # bulk ids as a generator instead of a list
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def section(self) -> str:
        return self.id.split(".", 1)[0]

    def cache_key(self) -> str:
        """Rows with the same key are the same measurement (run once, reported twice)."""
        fields = asdict(self)
        del fields["id"], fields["label"]
        return json.dumps(fields, sort_keys=True)


HERE = Path(__file__).resolve().parent
FLOOR, OFFICIAL, ANNOQ = "client_floor", "client_official", "client_annoq"


def plan(s: Sizes) -> list[Row]:
    """Every measurement, in the order reported."""
    n = s.stream
    rows = [
        Row("stream.floor", "floor (aiohttp+orjson dicts)", "stream", FLOOR, "stream", n),
        Row("stream.official_async", "official async (limit/offset)", "stream", OFFICIAL,
            "stream_async", n),
        Row("stream.official_sync", "official sync (limit/offset)", "stream", OFFICIAL,
            "stream_sync", n),
        Row("stream.annoq", "annoq queue.items()", "stream", ANNOQ, "stream", n),
    ]  # fmt: skip
    bulk = [
        ("official_async.seq", "official async sequential", OFFICIAL, "bulk_async", 1),
        ("official_async.gather32", "official async gather (sem 32)", OFFICIAL, "bulk_async", 32),
        ("floor.seq", "floor sequential", FLOOR, "bulk", 1),
        ("floor.gather32", "floor gather (sem 32)", FLOOR, "bulk", 32),
        *((f"annoq.c{c}", f"annoq bulk_update_progress c={c}", ANNOQ, "bulk", c)
          for c in (1, 8, 32, 64)),
    ]  # fmt: skip
    rows += [
        Row(f"bulk.{key}", label, "bulk", module, func, s.bulk, conc, fresh=True)
        for key, label, module, func, conc in bulk
    ]
    rows.append(
        Row("bulk.annoq.mark_all32", "annoq mark_all c=32 (walk+update)", "stream", ANNOQ,
            "mark_all", s.bulk, fresh=True)
    )  # fmt: skip
    rows += [
        Row(f"scale.stream.annoq.{k}", f"annoq stream {k:,} items", "stream", ANNOQ, "stream", k)
        for k in s.scale_stream
    ]
    rows += [
        Row(f"scale.bulk.annoq.gen{k}", f"annoq bulk c=32, {k:,}-id generator", "bulk", ANNOQ,
            "bulk", k, 32, fresh=True, lazy=True)
        for k in s.scale_bulk
    ]  # fmt: skip
    decode = [
        ("orjson", "orjson.loads to dicts (floor)", FLOOR, "decode"),
        ("annoq", "annoq read_items (msgspec)", ANNOQ, "decode"),
        ("annoq_cattrs", "annoq cattrs path (fallback)", ANNOQ, "decode_cattrs"),
        ("official", "official json.loads+construct_type", OFFICIAL, "decode"),
        ("official_strict", "official strict validate_type", OFFICIAL, "decode_strict"),
    ]
    extra = {"batches": s.decode_batches, "min_batch_s": s.decode_min_batch_s}
    rows += [
        Row(f"decode.{key}", label, "decode", module, func, s.decode_page, extra=extra)
        for key, label, module, func in decode
    ]
    return rows


# --------------------------------------------------------------------------- start-up

#: (row id, label, the import statement timed in a fresh interpreter)
STARTUP = [
    ("startup.floor", "import aiohttp, orjson (floor)", "import aiohttp, orjson"),
    ("startup.official", "import weave SDK (official)",
     "from weave.vendor.weave_server_sdk import AsyncWeaveTrace"),
    ("startup.annoq", "import annoq", "import annoq"),
]  # fmt: skip
_TIME_IMPORT = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def run_startup(reps: int, runs_per_rep: int) -> dict[str, Any]:
    """Seconds to import each client in a fresh interpreter (median of every run).

    ``import_s`` is the import statement alone (perf_counter inside the child);
    ``process_s`` the whole child process, interpreter start included.
    """
    times: dict[str, list[tuple[float, float]]] = {row_id: [] for row_id, _, _ in STARTUP}
    failed: dict[str, str] = {}
    for rep in range(reps):
        for row_id, _, stmt in STARTUP:
            if row_id in failed:
                continue
            for _ in range(runs_per_rep):
                started = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-c", _TIME_IMPORT.format(stmt=stmt)],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                whole = time.perf_counter() - started
                if proc.returncode != 0:
                    failed[row_id] = proc.stderr.strip().splitlines()[-1][:120]
                    break
                times[row_id].append((float(proc.stdout.strip()), whole))
            print(f"  [{rep + 1}/{reps}] {row_id:30} {failed.get(row_id, 'ok')}", file=sys.stderr)
    out: dict[str, Any] = {}
    for row_id, label, _ in STARTUP:
        if row_id in failed:
            status = "unavailable" if "ModuleNotFoundError" in failed[row_id] else "error"
            out[row_id] = {"section": "startup", "label": label, "status": status,
                           "reason": failed[row_id]}  # fmt: skip
            continue
        runs = times[row_id]
        out[row_id] = {
            "section": "startup", "label": label, "status": "ok", "n": len(runs),
            "import_s": statistics.median(t for t, _ in runs),
            "process_s": statistics.median(w for _, w in runs),
        }  # fmt: skip
    return out


# --------------------------------------------------------------------------- running


def run_scripts(sections: set[str], quick: bool, tmp: Path) -> dict[str, Any]:
    """Run each script section with ``--json`` and keep its report (or why it failed)."""
    argv = {
        "latency": ["latency.py", *(["--quick", "--latency", "5"] if quick else [])],
        "annofab": ["annofab_complete.py", *(["--tasks", "9", "--reruns", "1"] if quick else [])],
    }
    reports: dict[str, Any] = {}
    for name in SCRIPTS:
        if name not in sections:
            continue
        out = tmp / f"{name}.json"
        script, *rest = argv[name]
        command = [sys.executable, str(HERE / script), *rest, "--json", str(out)]
        print(f"  {name}: {' '.join(command[1:])}", file=sys.stderr)
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.exists():
            reports[name] = {"status": "failed", "reason": proc.stderr[-500:]}
            continue
        reports[name] = {"status": "ok", **json.loads(out.read_text())}
    return reports


def run_rows(
    rows: list[Row], s: Sizes, reps: int, emu: EmulatorProcess, tmp: Path
) -> dict[str, Any]:
    """Every row's medians over ``reps`` repetitions (rep-major, so noise spreads evenly)."""
    read_only = sorted({r.n for r in rows if r.kind == "stream" and not r.fresh})
    stream_queues = {n: emu.seed(n) for n in read_only}
    for queue_id in stream_queues.values():
        for _ in emu.item_ids(queue_id):  # warm the emulator's per-item encoding cache
            pass
    raw_file = tmp / "page.json"
    if any(r.kind == "decode" for r in rows):
        raw_file.write_bytes(emu.raw_page(emu.seed(s.decode_page), s.decode_page))

    unique: dict[str, Row] = {}
    for r in rows:
        unique.setdefault(r.cache_key(), r)
    reps_of: dict[str, list[dict[str, Any]]] = {key: [] for key in unique}
    for rep in range(reps):
        for key, row in unique.items():
            if reps_of[key] and reps_of[key][-1].get("status") == "unavailable":
                continue  # a missing client stays missing
            queue_id = emu.seed(row.n) if row.fresh else stream_queues.get(row.n, "")
            spec: dict[str, Any] = {
                "kind": row.kind,
                "module": row.module,
                "func": row.func,
                "target": asdict(emu.target(queue_id, s.page)),
                "concurrency": row.concurrency,
                "lazy": row.lazy,
                "raw_file": str(raw_file),
                **row.extra,
            }
            if row.fresh:  # every run does real writes on a queue of its own
                spec["ids_file"] = str(emu.write_ids(queue_id, tmp / "ids.txt"))
            result = run_child(spec, name=f"{row.id}.{rep + 1}")
            if result.get("status") == "ok" and result["n"] != row.n:
                result = {"status": "error", "reason": f"handled {result['n']} of {row.n}"}
            reps_of[key].append(result)
            print(f"  [{rep + 1}/{reps}] {row.id:30} {_brief(result)}", file=sys.stderr, flush=True)
    return {
        r.id: {"section": r.section, "label": r.label, **median_row(reps_of[r.cache_key()])}
        for r in rows
    }


def _brief(result: dict[str, Any]) -> str:
    if result.get("status") != "ok":
        return f"{result.get('status')}: {result.get('reason', '')}"[:200]
    process = f"(process {result['process_s']:.1f} s)"
    if "us_per_page" in result:
        return f"{result['us_per_page']:,.0f} us/page {process}"
    return f"{result['wall_s']:.3f} s, {result['rate_per_s']:,.0f}/s {process}"


# --------------------------------------------------------------------------- targets


def script_checks(scripts: dict[str, Any]) -> list[tuple[str, Any, Any, str, float, bool]]:
    """The script sections' targets, for those that ran: each latency row's defaults over
    its best fixed setting (>= 90%), and Annofab bulk complete's tasks/s (>= 3x) and 429s
    (<= 1x) over the official client's sequential chain."""
    checks: list[tuple[str, Any, Any, str, float, bool]] = []
    latency = scripts.get("latency", {})
    for run in latency.get("runs", []):
        name = f"{run['latency_ms']:g} ms {run['name'].split(' (')[0]}: defaults / best fixed"
        checks.append((name, run["default"], run["best"], ">=", 0.9, True))
    if "latency" in scripts and not latency.get("runs"):
        checks.append(("latency: defaults / best fixed", None, None, ">=", 0.9, True))
    if "annofab" in scripts:
        rows = {r["client"]: r for r in scripts["annofab"].get("rows", [])}
        official = rows.get("official annofabapi, sequential", {})
        measured = bool(official) and not official.get("unavailable")
        for client, stated in (
            ("annoq bulk_operate(ids)", True),
            ("annoq walk + bulk_operate", False),
        ):
            mine = rows.get(client, {})
            short = "ids" if "ids" in client else "walk-fed"
            checks.append(
                (
                    f"annofab complete tasks/s: annoq {short} / official",
                    mine.get("tasks_per_s"),
                    official.get("tasks_per_s") if measured else None,
                    ">=",
                    3.0,
                    stated,
                )
            )
            checks.append(
                (
                    f"annofab complete 429s: annoq {short} / official",
                    mine.get("served_429"),
                    official.get("served_429") if measured else None,
                    "<=",
                    1.0,
                    stated,
                )
            )
    return checks


def targets(
    rows: dict[str, Any], s: Sizes, scripts: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The issue's ratios (plus two flatness checks), PASS/MISS, or N/A if a row is missing."""

    def get(metric: str, *row_ids: str) -> float | None:
        """The metric of the row; the best (largest) of several."""
        values = [rows[r][metric] for r in row_ids if r in rows and rows[r].get("status") == "ok"]
        return max(values) if values else None

    small, large = s.scale_stream[0], s.scale_stream[-1]
    bsmall, blarge = s.scale_bulk[0], s.scale_bulk[-1]
    cpu, wall, rate, rss = "cpu_us_per_item", "wall_s", "rate_per_s", "peak_rss_mb"
    # (name, numerator, denominator, op, limit, stated by the issue)
    checks = [
        ("stream CPU/item: annoq / floor",
         get(cpu, "stream.annoq"), get(cpu, "stream.floor"), "<=", 1.5, True),
        ("stream CPU/item: annoq / official async",
         get(cpu, "stream.annoq"), get(cpu, "stream.official_async"), "<=", 0.2, True),
        ("stream wall: annoq / floor",
         get(wall, "stream.annoq"), get(wall, "stream.floor"), "<=", 1.0, True),
        ("bulk updates/s: annoq c32 / floor gather32",
         get(rate, "bulk.annoq.c32"), get(rate, "bulk.floor.gather32"), ">=", 0.9, True),
        ("bulk updates/s: annoq c32 / official async best",
         get(rate, "bulk.annoq.c32"),
         get(rate, "bulk.official_async.seq", "bulk.official_async.gather32"), ">=", 10.0, True),
        (f"stream peak RSS: {large:,} / {small:,} items",
         get(rss, f"scale.stream.annoq.{large}"), get(rss, f"scale.stream.annoq.{small}"),
         "<=", 1.25, True),
        (f"stream CPU/item: {large:,} / {small:,} items",
         get(cpu, f"scale.stream.annoq.{large}"), get(cpu, f"scale.stream.annoq.{small}"),
         "<=", 1.25, False),
        (f"bulk peak RSS: {blarge:,} / {bsmall:,}-id generator",
         get(rss, f"scale.bulk.annoq.gen{blarge}"), get(rss, f"scale.bulk.annoq.gen{bsmall}"),
         "<=", 1.25, False),
        ("import time: annoq / official SDK",
         get("import_s", "startup.annoq"), get("import_s", "startup.official"), "<=", 1.0, False),
    ]  # fmt: skip
    checks += script_checks(scripts or {})
    out = []
    for name, num, den, op, limit, stated in checks:
        value = num / den if num is not None and den else None
        ok = value is not None and (value <= limit if op == "<=" else value >= limit)
        status = "N/A" if value is None else ("PASS" if ok else "MISS")
        out.append(
            {"name": name, "value": value, "op": op, "limit": limit, "status": status,
             "issue_target": stated}
        )  # fmt: skip
    return out


# --------------------------------------------------------------------------- printing


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_scripts(scripts: dict[str, Any]) -> None:
    """The script sections' own figures (their full tables: the scripts' output)."""
    for name, report in scripts.items():
        if report.get("status") != "ok":
            print(f"\n{name}: {report.get('status')}: {report.get('reason', '')[-300:]}")
            continue
        if name == "latency":
            print(f"\nlatency (defaults against the best fixed setting)"
                  f"{'defaults':>14}{'best fixed':>12}{'share':>8}  sweep")  # fmt: skip
            for run in report["runs"]:
                label = f"{run['latency_ms']:g} ms {run['name']}"
                share = _fmt(run["share"] and 100 * run["share"], ".0f")
                print(f"  {label:<48}{run['default']:>12,.0f}{run['best']:>12,.0f}{share:>7}%"
                      f"  {run['sweep']}")  # fmt: skip
        if name == "annofab":
            print(f"\nannofab bulk complete, {report['tasks']:,} tasks, reliability faults, "
                  f"{report['latency_ms']:g} ms{'tasks/s':>12}{'done':>7}{'429s':>7}"
                  f"{'409s':>7}{'req/task':>10}")  # fmt: skip
            for row in report["rows"]:
                if row.get("unavailable"):
                    print(f"  {row['client']:<48}  unavailable: {row.get('reason', '')[:60]}")
                    continue
                print(f"  {row['client']:<48}{row['tasks_per_s']:>12.1f}{row['completed']:>7}"
                      f"{row['served_429']:>7}{row['client_409']:>7}"
                      f"{row['requests_per_task']:>10.2f}")  # fmt: skip


def print_report(report: dict[str, Any]) -> None:
    meta = report["meta"]
    versions = ", ".join(f"{k} {v or 'not installed'}" for k, v in meta["versions"].items())
    config = report["config"]
    mode = "quick" if config["quick"] else "full"
    print(f"\nannoq benchmarks  {meta['date']}  ({mode}, median of {config['reps']} reps)")
    print(f"machine: {meta['cores']} cores, {meta['cpu_model']}, {meta['platform']}")
    print(f"load average: {meta['load_avg']} at start, {meta['load_avg_end']} at end")
    print(f"python {meta['python']}; {versions}")
    heads = {
        "stream": ("items", "wall s", "items/s", "CPU us/item", "peak RSS MB", "base RSS MB"),
        "bulk": ("updates", "wall s", "updates/s", "CPU us/upd", "peak RSS MB", "base RSS MB"),
        "scale": ("n", "wall s", "per s", "CPU us/item", "peak RSS MB", "base RSS MB"),
        "decode": ("items", "us/page", "us/item", "items/s", "", ""),
        "startup": ("runs", "import s", "process s", "", "", ""),
    }
    for section, head in heads.items():
        chosen = [r for r in report["rows"].values() if r["section"] == section]
        if not chosen:
            continue
        print(f"\n{section:<40}" + "".join(f"{h:>12}" for h in head))
        for r in chosen:
            if r["status"] != "ok":
                print(f"  {r['label']:<38}  {r['status']}: {r.get('reason', '')[:90]}")
                continue
            if section == "startup":
                cells = [f"{r['n']:,}", _fmt(r["import_s"], ".3f"), _fmt(r["process_s"], ".3f")]
                cells += ["", "", ""]
            elif section == "decode":
                cells = [
                    f"{r['n']:,}",
                    _fmt(r["us_per_page"], ",.0f"),
                    _fmt(r["us_per_item"], ".2f"),
                    _fmt(r["rate_per_s"], ",.0f"),
                    "",
                    "",
                ]
            else:
                cells = [
                    f"{r['n']:,}",
                    _fmt(r["wall_s"], ".3f"),
                    _fmt(r["rate_per_s"], ",.0f"),
                    _fmt(r["cpu_us_per_item"], ".1f"),
                    _fmt(r["peak_rss_mb"], ".1f"),
                    _fmt(r["base_rss_mb"], ".1f"),
                ]
            print(f"  {r['label']:<38}" + "".join(f"{c:>12}" for c in cells))
    print_scripts(report.get("scripts", {}))
    print("\ntargets (same run)")
    for t in report["targets"]:
        value = _fmt(t["value"], "8.3f")
        mark = "" if t["issue_target"] else "  (check, no stated target)"
        print(f"  {t['name']:<50} {value} {t['op']} {t['limit']:<5} {t['status']}{mark}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 rep (smoke test)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3; quick 1)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    reps = args.reps or (1 if args.quick else 3)
    sections = set(args.only.split(","))
    if not sections <= set(SECTIONS):
        parser.error(f"--only takes a subset of {','.join(SECTIONS)}")
    rows = [r for r in plan(sizes) if r.section in sections]

    # A plain SIGTERM would skip the cleanup below and orphan the emulator process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    meta = machine_info()
    with EmulatorProcess() as emu, tempfile.TemporaryDirectory(prefix="annoq-bench-") as tmp:
        results = run_rows(rows, sizes, reps, emu, Path(tmp))
    if "startup" in sections:
        results.update(run_startup(reps, 1 if args.quick else 5))
    with tempfile.TemporaryDirectory(prefix="annoq-bench-") as tmp:
        scripts = run_scripts(sections, args.quick, Path(tmp))
    meta["load_avg_end"] = machine_info()["load_avg"]
    report = {
        "meta": meta,
        "config": {"quick": args.quick, "reps": reps, "only": sorted(sections), **asdict(sizes)},
        "rows": results,
        "scripts": scripts,
        "targets": targets(results, sizes, scripts),
    }
    print_report(report)
    write_report(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
