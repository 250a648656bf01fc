"""The ``>>>`` examples in annoq's docstrings run and show what they claim (no network:
the modules are found by their ``>>>`` lines, and each example is a pure call)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import annoq

_SRC = Path(annoq.__file__).parent


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(_SRC.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(_SRC.parent).with_suffix("").parts
            names.append(".".join(parts))
    return names


MODULES = _modules_with_examples()


def test_examples_are_found() -> None:
    assert "annoq._errors" in MODULES
    assert len(MODULES) >= 10
    # (attrs classes' docstrings are not found by doctest; module and function ones are.)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(module)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) of {name} failed (see output above)"
