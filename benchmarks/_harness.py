"""Plumbing shared by the benchmark orchestrator and its client processes.

- `EmulatorProcess`: ``python -m annoq.emulator`` in its own process on loopback, plus
  the few control/query calls the orchestrator needs (seed a queue, list its ids, fetch a
  raw page), made with the standard library so the orchestrator loads no client.
- `run_child`: one measurement in a fresh ``python benchmarks/worker.py`` process, so its
  ``getrusage(RUSAGE_SELF)`` CPU time and peak RSS (VmHWM) are that client's alone.
- `measure`: the timing/rusage wrapper the child runs around the client code.
- `run_each`: sequential or semaphore-gathered calls, for the floor and official bulk.
- `median_row`, `machine_info`: reporting helpers.
- `annofabapi_missing`, `annofabapi_service`: the official Annofab client, pointed at
  the emulator, for the Annofab benchmarks (``annofab_complete.py``, ``annofab_import.py``).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import platform
import re
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"


@dataclass(frozen=True)
class Target:
    """Where a client process points: the emulator, its credentials, one queue."""

    base_url: str
    api_key: str
    user_id: str
    project: str
    queue_id: str
    page_size: int = 1000

    @property
    def query_path(self) -> str:
        return f"/annotation_queues/{self.queue_id}/items/query"

    def progress_path(self, item_id: str) -> str:
        return f"/annotation_queues/{self.queue_id}/items/{item_id}/progress"

    def auth_headers(self) -> dict[str, str]:
        token = base64.b64encode(f"api:{self.api_key}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}


# --------------------------------------------------------------------------- emulator


class EmulatorProcess:
    """The annoq emulator served by a separate process on 127.0.0.1 (a free port)."""

    def __init__(self) -> None:
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as self
            "w+", prefix="annoq-bench-emulator-", suffix=".log"
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "annoq.emulator", "--port", "0", "--seed-items", "0"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        url = re.search(r"https?://\S+", self._wait_banner(timeout=60))
        if url is None:
            raise RuntimeError("no base URL in the emulator's banner")
        self.base_url = url.group(0)
        with urllib.request.urlopen(self.base_url + "/_emulator/info", timeout=30) as response:
            info = json.loads(response.read())
        self.project: str = info["project"]
        self.user_id: str = info["user_id"]
        self.api_key: str = info["api_key"]

    def _wait_banner(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = Path(self._log.name).read_text()
            if "API key:" in text:
                return text
            if self._proc.poll() is not None:
                raise RuntimeError(f"the emulator exited ({self._proc.returncode}):\n{text}")
            time.sleep(0.05)
        raise RuntimeError("the emulator did not start within 60 s")

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: dict[str, Any], *, auth: bool) -> bytes:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers.update(self.target("").auth_headers())
        request = urllib.request.Request(
            self.base_url + path, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.read()  # type: ignore[no-any-return]

    def target(self, queue_id: str, page_size: int = 1000) -> Target:
        return Target(self.base_url, self.api_key, self.user_id, self.project, queue_id, page_size)

    def seed(self, n_items: int) -> str:
        """A fresh queue of ``n_items`` unstarted items (control route); its id."""
        answer = self._post("/_emulator/seed", {"n_items": n_items, "name": "bench"}, auth=False)
        return str(json.loads(answer)["queue_id"])

    def raw_page(self, queue_id: str, limit: int, offset: int = 0) -> bytes:
        """The raw body of one items query (also warms the emulator's encoding cache)."""
        body = {"project_id": self.project, "limit": limit, "offset": offset}
        return self._post(f"/annotation_queues/{queue_id}/items/query", body, auth=True)

    def item_ids(self, queue_id: str, chunk: int = 10_000) -> Iterator[str]:
        """Every item id of the queue in default order (reads it whole once: warms it)."""
        offset = 0
        while True:
            items = json.loads(self.raw_page(queue_id, chunk, offset))["items"]
            yield from (item["id"] for item in items)
            if len(items) < chunk:
                return
            offset += chunk

    def write_ids(self, queue_id: str, path: Path) -> Path:
        with path.open("w") as out:
            for item_id in self.item_ids(queue_id):
                out.write(item_id + "\n")
        return path


# --------------------------------------------------------------------------- children


def run_child(spec: dict[str, Any], *, name: str = "run", timeout: float = 3600) -> dict[str, Any]:
    """Run one measurement in a fresh process; its JSON result, or an error row.

    ``ANNOQ_BENCH_WRAP`` (a command prefix, ``{name}`` replaced by ``name``) wraps the
    child, e.g. ``py-spy record --format raw -o /tmp/{name}.txt --`` to profile each run.
    """
    wrap = shlex.split(os.environ.get("ANNOQ_BENCH_WRAP", "").replace("{name}", name))
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [*wrap, sys.executable, str(WORKER), json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout:.0f} s"}
    if proc.returncode == 0:
        # The result is the last JSON line (a wrapper may print after it).
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith('{"status"'):
                return {**json.loads(line), "process_s": time.monotonic() - started}
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
    return {"status": "error", "reason": f"exit {proc.returncode}: " + " | ".join(tail)}


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MiB.

    On Linux it is ``VmHWM`` of /proc/self/status: ``ru_maxrss`` would not do, because
    it is preserved across fork+exec (getrusage(2)), so a child would report at least
    the orchestrator's own peak. Elsewhere ``ru_maxrss`` (macOS counts bytes).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(call: Callable[[], int]) -> dict[str, Any]:
    """Time ``call`` (returns how many items/updates it handled) in this process.

    CPU is the process's user+system time during the call only (imports excluded);
    ``base_rss_mb`` is the peak RSS before the call (interpreter, imports, inputs).
    """
    gc.collect()
    base_rss = peak_rss_mb()
    cpu0, t0 = _cpu_s(), time.perf_counter()
    count = call()
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    return {
        "status": "ok",
        "n": count,
        "wall_s": wall,
        "rate_per_s": count / wall if wall > 0 else 0.0,
        "cpu_us_per_item": cpu / count * 1e6 if count else 0.0,
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "base_rss_mb": base_rss,
    }


def time_per_call(func: Callable[[], object], *, min_batch_s: float, batches: int) -> float:
    """Median seconds per call of ``func`` over ``batches`` batches of >= min_batch_s."""
    func()  # warm up (lazy imports, generated hooks)
    loops, elapsed = 1, 0.0
    while True:  # calibrate the batch size
        t0 = time.perf_counter()
        for _ in range(loops):
            func()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_batch_s:
            break
        loops *= 2
    times = [elapsed / loops]
    for _ in range(batches - 1):
        t0 = time.perf_counter()
        for _ in range(loops):
            func()
        times.append((time.perf_counter() - t0) / loops)
    return statistics.median(times)


async def run_each(
    ids: Iterable[str], update: Callable[[str], Awaitable[bool]], concurrency: int
) -> int:
    """Call ``update`` on every id: one after another (``concurrency == 1``), else all
    at once through ``asyncio.gather`` under a semaphore; how many returned True."""
    if concurrency == 1:
        done = 0
        for item_id in ids:
            done += await update(item_id)
        return done
    gate = asyncio.Semaphore(concurrency)

    async def one(item_id: str) -> bool:
        async with gate:
            return await update(item_id)

    return sum(await asyncio.gather(*(one(i) for i in ids)))


# --------------------------------------------------------------------------- annofabapi


def annofabapi_missing() -> str | None:
    """Why the official Annofab client (``annofabapi``, ``bench`` extra) cannot be
    imported here, or ``None``."""
    try:
        import annofabapi  # noqa: F401
    except ImportError as error:
        return f"{error}"
    return None


def annofabapi_service(url: str, pat: str) -> tuple[Any, Counter[int]]:
    """``annofabapi.build`` pointed at ``url`` (the emulator) with a personal access
    token, and a Counter of the status codes of its responses (a hook on its session)."""
    import annofabapi

    statuses: Counter[int] = Counter()
    service = annofabapi.build(pat=pat, endpoint_url=url)
    service.api.session.hooks["response"].append(
        lambda response, *args, **kwargs: statuses.update([response.status_code])
    )
    return service, statuses


# --------------------------------------------------------------------------- reporting

METRICS = (
    "wall_s",
    "rate_per_s",
    "cpu_us_per_item",
    "peak_rss_mb",
    "base_rss_mb",
    "us_per_page",
    "us_per_item",
)


def median_row(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-metric medians of successful repetitions; the first failure otherwise."""
    bad = [r for r in reps if r.get("status") != "ok"]
    if bad:
        return {k: v for k, v in bad[0].items() if k in ("status", "reason")}
    row: dict[str, Any] = {"status": "ok", "n": reps[0]["n"], "reps": len(reps)}
    for key in METRICS:
        values = [r[key] for r in reps if key in r]
        if values:
            row[key] = statistics.median(values)
    return row


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages, rounded (for a report's start and end)."""
    return [round(x, 2) for x in os.getloadavg()]


def write_report(path: Path | None, report: dict[str, Any]) -> None:
    """Write a script's report as JSON to ``path`` (``--json``), if one was given."""
    if path is not None:
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}")


def machine_info() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg": load_average(),
        "versions": {
            name: _version(name)
            for name in (
                "annoq",
                "aiohttp",
                "orjson",
                "cattrs",
                "msgspec",
                "weave",
                "annofabapi",
                "httpx",
                "pydantic",
            )
        },
    }
