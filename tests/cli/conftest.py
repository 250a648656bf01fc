"""Helpers for the CLI tests: run ``annoq`` in-process and read what it wrote."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's W&B key, netrc or server settings."""
    for name in ("WANDB_API_KEY", "WF_TRACE_SERVER_URL", "WEAVE_TRACE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-such-netrc"))


@pytest.fixture
def emu(annoq_emulator: Emulator) -> Emulator:
    """The emulator of this test (the plugin's fixture, shorter)."""
    return annoq_emulator


@pytest.fixture
def conn(emu: Emulator) -> tuple[str, ...]:
    """Connection options pointing at the test's emulator."""
    return ("--base-url", emu.base_url, "--api-key", emu.api_key)


def states(emu: Emulator, queue_id: str) -> dict[str, str]:
    """``{item id: displayed state}`` straight from the emulator."""
    return {item["id"]: item["annotation_state"] for item in emu.weave.items(queue_id)}


def my_states(emu: Emulator, queue_id: str) -> dict[str, str | None]:
    """``{item id: the default user's own state}`` (``None``: no record)."""
    return {
        item_id: emu.weave.progress(item_id).get(emu.user_id)
        for item_id in emu.weave.item_ids(queue_id)
    }
