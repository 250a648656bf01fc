"""The pytest plugin as a user meets it: the README's example, in a separate pytest run
with pytest-asyncio in its default (strict) mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_fixture_example() -> str:
    """The first Python block of the README's "Use the emulator in your own tests"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Use the emulator in your own tests", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def run_pytest(directory: Path, ini: str) -> subprocess.CompletedProcess[str]:
    (directory / "pytest.ini").write_text(f"[pytest]\n{ini}", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(directory)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_the_readme_fixture_example_passes_under_pytest_asyncio_strict_mode(tmp_path):
    (tmp_path / "test_readme_example.py").write_text(readme_fixture_example(), encoding="utf-8")

    done = run_pytest(tmp_path, "asyncio_mode = strict\n")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_strict_mode_marks_methods_and_keeps_a_marker_the_test_already_has(tmp_path):
    (tmp_path / "test_more.py").write_text(
        "import pytest\n"
        "\n"
        "class TestInAClass:\n"
        "    async def test_method(self, annoq_emulator):\n"
        "        assert annoq_emulator.weave.seed_queue(3)\n"
        "\n"
        "@pytest.mark.asyncio(loop_scope='module')\n"
        "async def test_already_marked(annoq_emulator):\n"
        "    assert annoq_emulator.base_url.startswith('http://127.0.0.1:')\n",
        encoding="utf-8",
    )

    done = run_pytest(tmp_path, "asyncio_mode = strict\n")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
