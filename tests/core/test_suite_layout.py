"""The suite's own shape: shared helpers live in ``_support`` modules, fixtures in
conftests, and no test module imports a conftest or another test module (so running one
file never depends on another's import side effects)."""

from __future__ import annotations

import ast
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]


def _imported_modules(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_check_refuses_each_kind_of_import_and_allows_support_modules() -> None:
    for bad in (
        "from .conftest import x",
        "from tests.cli.test_demo import y",
        "from . import test_z",
        "import tests.core.test_errors",
    ):
        assert any(_is_refused(m) for m in _imported_modules(bad)), bad
    good = "from tests._support import FAST_RETRIES\nfrom ._support import annoq\n"
    assert not any(_is_refused(m) for m in _imported_modules(good))


def _is_refused(module: str) -> bool:
    parts = [p for p in module.split(".") if p]
    return any(p == "conftest" or p.startswith("test_") for p in parts)


def test_no_test_module_imports_a_conftest_or_another_test_module() -> None:
    offenders = sorted(
        f"{path.relative_to(_TESTS).as_posix()}: {module}"
        for path in _TESTS.rglob("*.py")
        for module in _imported_modules(path.read_text(encoding="utf-8"))
        if _is_refused(module) and not module.startswith(("aiohttp", "_pytest"))
    )
    assert offenders == []
