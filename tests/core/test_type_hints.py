"""Every public class and function has type hints that resolve at runtime.

Tools that introspect types (msgspec, pydantic and FastAPI response models, a caller's
own cattrs converter) call ``typing.get_type_hints``; the packages re-label their
public names (``annoq.QueueItem``), which must not break that.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from typing import Any

import attrs
import pytest

PACKAGES = ("annoq", "annoq.weave", "annoq.annofab", "annoq.emulator")


def _public_objects() -> list[tuple[str, Any]]:
    found = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = vars(module)[name]
            if isinstance(obj, type) or inspect.isfunction(obj):
                found.append((f"{package}.{name}", obj))
    return found


PUBLIC = _public_objects()


def test_every_package_exports_classes_and_functions_to_check() -> None:
    packages = {name.rsplit(".", 1)[0] for name, _ in PUBLIC}
    assert packages == set(PACKAGES)
    assert len(PUBLIC) > 60


@pytest.mark.parametrize(("name", "obj"), PUBLIC, ids=[name for name, _ in PUBLIC])
def test_every_public_class_and_function_has_type_hints_that_resolve(name: str, obj: Any) -> None:
    hints = typing.get_type_hints(obj, include_extras=True)
    assert not [value for value in hints.values() if isinstance(value, str)]


def test_queue_item_hints_are_the_real_types_after_relabelling() -> None:
    import datetime

    import annoq

    assert annoq.QueueItem.__module__ == "annoq"
    hints = typing.get_type_hints(annoq.QueueItem)
    assert hints["created_at"] is datetime.datetime
    assert hints["annotation_state"] is annoq.AnnotationState
    assert hints["display_fields"] == tuple[str, ...]
    assert hints["deleted_at"] == datetime.datetime | None


@pytest.mark.parametrize(
    ("name", "obj"),
    [(n, o) for n, o in PUBLIC if attrs.has(o)],
    ids=[n for n, o in PUBLIC if attrs.has(o)],
)
def test_attrs_field_types_are_resolved_types_not_strings(name: str, obj: type) -> None:
    # cattrs and msgspec read attrs' field types; a string there fails in their hands.
    unresolved = {f.name: f.type for f in attrs.fields(obj) if isinstance(f.type, str)}
    assert unresolved == {}
