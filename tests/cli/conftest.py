"""Fixtures of the CLI tests (the helpers they call are in tests/cli/_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from annoq.emulator import Emulator


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's W&B key, netrc or server settings."""
    for name in ("WANDB_API_KEY", "WF_TRACE_SERVER_URL", "WEAVE_TRACE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-such-netrc"))


@pytest.fixture
def conn(emu: Emulator) -> tuple[str, ...]:
    """Connection options pointing at the test's emulator."""
    return ("--base-url", emu.base_url, "--api-key", emu.api_key)
