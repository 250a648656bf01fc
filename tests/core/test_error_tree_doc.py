"""The error-tree drawing in annoq._errors names every exception class annoq raises."""

from __future__ import annotations

import inspect
import re
from types import ModuleType

import annoq
import annoq._errors
import annoq.annofab
import annoq.weave


def _error_classes(*modules: ModuleType) -> set[type[annoq.AnnoqError]]:
    found: set[type[annoq.AnnoqError]] = set()
    for module in modules:
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, annoq.AnnoqError):
                found.add(value)
    return found


def test_the_tree_docstring_lists_every_public_error_class() -> None:
    classes = _error_classes(annoq, annoq._errors, annoq.weave, annoq.annofab)
    doc = annoq._errors.__doc__ or ""
    drawn = set(re.findall(r"[─└├]── (\w+)", doc)) | {"AnnoqError"}

    assert len(classes) > 20  # the derivation found the tree, not nothing
    missing = sorted(c.__name__ for c in classes if c.__name__ not in drawn)
    assert missing == []


def test_each_drawn_class_sits_under_its_real_parent() -> None:
    classes = {c.__name__: c for c in _error_classes(annoq, annoq._errors, annoq.annofab)}
    doc = annoq._errors.__doc__ or ""
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^(\s*(?:[│ ]\s*)*)[└├]── (\w+)", line)
        if not match:
            if line.strip() == "AnnoqError":
                stack = [(-1, "AnnoqError")]
            continue
        depth, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1]
        if name in classes and parent in classes:
            assert classes[parent] in classes[name].__mro__[1:], (name, parent)
        stack.append((depth, name))
