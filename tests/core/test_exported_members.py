"""The public surface: ``__all__`` lists exactly the public names each package defines
(derived from ``vars()``, so a name added without exporting it, or exported without
existing, fails), and each class shows under its package's name."""

from __future__ import annotations

import importlib
import pickle
import types

import pytest

import annoq

PACKAGES = ("annoq", "annoq.weave", "annoq.annofab", "annoq.emulator")
INCLUDED_PRIVATE_MEMBERS = {"annoq": ["__version__"]}
# Where each package's classes are shown (annoq.weave's show as annoq.X).
SHOWN_AS = {"annoq": "annoq", "annoq.annofab": "annoq.annofab", "annoq.emulator": "annoq.emulator"}


def _public_members(package: str) -> list[str]:
    module = importlib.import_module(package)
    private = INCLUDED_PRIVATE_MEMBERS.get(package, [])
    return sorted(
        name
        for name, value in vars(module).items()
        # Subpackages (annoq.weave) appear in vars() once imported; they are not members.
        if (not name.startswith("_") or name in private) and not isinstance(value, types.ModuleType)
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_all_lists_exactly_the_public_members_once(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == _public_members(package)
    assert len(set(module.__all__)) == len(module.__all__)


def test_the_top_level_surface_has_the_documented_entry_points() -> None:
    for name in ("WeaveSession", "Queue", "QueueItem", "BulkResult", "AnnoqError", "__version__"):
        assert name in annoq.__all__


@pytest.mark.parametrize("package", sorted(SHOWN_AS))
def test_every_exported_class_and_function_is_shown_under_its_package(package: str) -> None:
    module = importlib.import_module(package)
    objects = [vars(module)[n] for n in module.__all__]
    shown = [o for o in objects if isinstance(o, type | types.FunctionType)]
    assert shown
    wrong = {o.__qualname__: o.__module__ for o in shown if o.__module__ != SHOWN_AS[package]}
    assert wrong == {}


def test_reprs_use_the_package_names() -> None:
    import annoq.annofab
    import annoq.emulator

    assert repr(annoq.QueueItem) == "<class 'annoq.QueueItem'>"
    assert repr(annoq.annofab.Task) == "<class 'annoq.annofab.Task'>"
    assert repr(annoq.emulator.Emulator) == "<class 'annoq.emulator.Emulator'>"


def test_version_is_a_dotted_string_also_sent_in_the_user_agent() -> None:
    from annoq._config import USER_AGENT

    assert isinstance(annoq.__version__, str)
    assert annoq.__version__.count(".") >= 1
    assert f"annoq/{annoq.__version__}" == USER_AGENT


def test_relabelled_classes_still_pickle() -> None:
    stats = annoq.QueueStats("q", 3, 1)
    error = annoq.NotFoundError(404, "gone", method="GET", url="https://h/x")

    assert pickle.loads(pickle.dumps(stats)) == stats
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is annoq.NotFoundError
    assert (copy.status, copy.reason, copy.url) == (404, "gone", "https://h/x")
    assert (
        pickle.loads(pickle.dumps(annoq.AnnotationState.SKIPPED)) is annoq.AnnotationState.SKIPPED
    )
