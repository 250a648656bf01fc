"""Show a package's public names as ``package.X`` while keeping their type hints usable.

Each public package re-labels what it exports (``annoq.QueueItem`` rather than
``annoq.weave._models.QueueItem``) for reprs, tracebacks and docs. The models are
written with postponed (string) annotations, and ``typing.get_type_hints`` resolves a
class's strings in the namespace of the module its ``__module__`` names. Once a class
is re-labelled that would be the package (where ``datetime`` and friends are not
defined), so the class's own annotations are resolved first, in the module that
wrote them, and stored resolved. Functions resolve through their ``__globals__`` and
only need the new label.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable
from typing import Any

import attrs

__all__ = ["relabel"]


def _resolve_own_annotations(cls: type) -> None:
    own = inspect.get_annotations(cls)
    if not own or not any(isinstance(value, str) for value in own.values()):
        return
    if attrs.has(cls):
        # attrs keeps each field's type apart: cattrs and msgspec read those.
        attrs.resolve_types(cls)
    # Raises NameError for a name the defining module cannot resolve either: that is a
    # bug in the model, caught at import (tests/core/test_type_hints.py pins all of them).
    hints = typing.get_type_hints(cls, include_extras=True)
    cls.__annotations__ = {name: hints.get(name, value) for name, value in own.items()}


def relabel(namespace: dict[str, Any], names: Iterable[str], *, module: str) -> None:
    """Label every class and function in ``names`` from a private submodule of ``module``."""
    prefix = module + "."
    for name in names:
        obj = namespace[name]
        if not (isinstance(obj, type) or inspect.isfunction(obj)):
            continue
        if not obj.__module__.startswith(prefix):
            continue
        if isinstance(obj, type):
            _resolve_own_annotations(obj)
        obj.__module__ = module
