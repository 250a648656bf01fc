"""Helpers for the CLI tests: run ``annoq`` in-process or as a child process, serve the
emulator from the command line, and read what they wrote."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annoq.cli import run
from annoq.emulator import Emulator


@dataclass
class Ran:
    """One finished ``annoq`` command."""

    code: int
    out: str
    err: str

    def assert_one_error_line(self, *fragments: str) -> None:
        """The command failed with exactly one clear line on stderr and no traceback."""
        assert self.err.count("\n") == 1, self.err
        assert self.err.startswith("annoq: error: "), self.err
        assert "Traceback" not in self.err
        for fragment in fragments:
            assert fragment in self.err, (fragment, self.err)


class Terminal(io.StringIO):
    """A stream that says it is a terminal (so rich draws on it)."""

    def isatty(self) -> bool:
        return True


def summary(text: str) -> dict[str, str]:
    """A plain-text summary table (``label  value`` lines) as a dict."""
    pairs = (re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


async def annoq(*argv: str, stdin: str = "", terminal: bool = False) -> Ran:
    """Run ``annoq ARGV`` in this event loop, capturing its streams (as terminals if
    ``terminal``)."""
    out, err = (Terminal(), Terminal()) if terminal else (io.StringIO(), io.StringIO())
    code = await run(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return Ran(code, out.getvalue(), err.getvalue())


def states(emu: Emulator, queue_id: str) -> dict[str, str]:
    """``{item id: displayed state}`` straight from the emulator."""
    return {item["id"]: item["annotation_state"] for item in emu.weave.items(queue_id)}


def my_states(emu: Emulator, queue_id: str) -> dict[str, str | None]:
    """``{item id: the default user's own state}`` (``None``: no record)."""
    return {
        item_id: emu.weave.progress(item_id).get(emu.user_id)
        for item_id in emu.weave.item_ids(queue_id)
    }


# -- the real console script, as a child process ------------------------------------------


def annoq_command() -> list[str]:
    """The installed console script, else ``python -m annoq.cli``."""
    script = Path(sys.executable).with_name("annoq")
    return [str(script)] if script.exists() else [sys.executable, "-m", "annoq.cli"]


async def start_annoq(*argv: str, **options: Any) -> asyncio.subprocess.Process:
    """Start ``annoq ARGV`` as a child process (stdout and stderr piped)."""
    options.setdefault("stdin", asyncio.subprocess.DEVNULL)
    options.setdefault("stdout", asyncio.subprocess.PIPE)
    options.setdefault("stderr", asyncio.subprocess.PIPE)
    return await asyncio.create_subprocess_exec(*annoq_command(), *argv, **options)


async def finished(process: asyncio.subprocess.Process, limit: float = 120) -> Ran:
    """Wait for a child started by :func:`start_annoq` and collect its output."""
    out, err = await asyncio.wait_for(process.communicate(), timeout=limit)
    assert process.returncode is not None
    return Ran(process.returncode, (out or b"").decode(), (err or b"").decode())


async def annoq_process(*argv: str, **options: Any) -> Ran:
    """Run ``annoq ARGV`` as a child process (the emulator keeps serving meanwhile)."""
    return await finished(await start_annoq(*argv, **options))


async def until(condition: Callable[[], bool], what: str, limit: float = 60) -> None:
    """Wait (a bounded poll, letting the emulator serve) until ``condition()`` holds."""
    deadline = asyncio.get_running_loop().time() + limit
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def annoq_on_terminal(*argv: str, columns: int = 220) -> Ran:
    """Run ``annoq ARGV`` as a child whose stdout and stderr are terminals (ptys) of
    ``columns`` columns, so rich draws; returns what each showed."""
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"}
    process = await start_annoq(*argv, stdout=out_slave, stderr=err_slave, env=env)
    os.close(out_slave)
    os.close(err_slave)

    def drain(fd: int) -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(fd)
        return b"".join(chunks)

    out, err = await asyncio.wait_for(
        asyncio.gather(asyncio.to_thread(drain, out_master), asyncio.to_thread(drain, err_master)),
        timeout=120,
    )
    code = await asyncio.wait_for(process.wait(), timeout=30)
    return Ran(code, out.decode(errors="replace"), err.decode(errors="replace"))


# -- `annoq serve`, as a child process ------------------------------------------------


async def start_serve(
    *options: str, last: str = "Use"
) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """Start ``annoq serve --port 0 ...`` and read its announcement up to the ``last:`` line."""
    process = await asyncio.create_subprocess_exec(
        *annoq_command(), "serve", "--port", "0", *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    announced: dict[str, str] = {}
    while last not in announced:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        assert line, f"serve exited early: {(await process.communicate())[1].decode()}"
        if line.startswith("Weave emulator listening on "):
            announced["URL"] = line.rsplit(" ", 1)[1].strip()
        else:
            label, _, value = line.partition(": ")
            announced[label] = value.strip()
    return process, announced


async def stop(process: asyncio.subprocess.Process) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, err.decode()
