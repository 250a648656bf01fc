"""Handles and drivers use a session only through its public surface.

An AST walk over the handle and driver modules finds every ``<session>._member`` access
(a name or attribute called ``session``, ``_session``, ``weave`` or ``_weave``). Today's
accesses are listed in KNOWN, explicitly: they are the debt of issue 13 item 3 (a public
requester surface: send, stream, with_options, identity). A new one fails this test;
moving one to a public name only shortens the list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import annoq

_SRC = Path(annoq.__file__).parent

#: Handle and driver modules: they hold a session and must not reach into it.
MODULES = (
    "weave/_queue.py",
    "weave/_driver.py",
    "weave/_annotations.py",
    "annofab/_project.py",
    "annofab/_driver.py",
)
_SESSION_NAMES = frozenset({"session", "_session", "weave", "_weave"})

#: (module, private member) accesses that exist today; do not add to this list.
KNOWN = frozenset(
    {
        ("weave/_queue.py", "_fetch"),
        ("weave/_queue.py", "_send"),
        ("weave/_queue.py", "_send_unrepeatable"),
        ("weave/_queue.py", "_identity"),
        ("weave/_annotations.py", "_fetch"),
        ("weave/_annotations.py", "_send"),
        ("weave/_annotations.py", "_identity"),
        ("annofab/_project.py", "_send"),
        ("annofab/_driver.py", "_send"),
    }
)


def _is_session(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in _SESSION_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in _SESSION_NAMES
    return False


def private_session_accesses(source: str) -> set[str]:
    """The private members of a session that ``source`` touches."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and _is_session(node.value)
        ):
            found.add(node.attr)
    return found


def test_the_detector_finds_private_accesses() -> None:
    source = "self._session._send(r)\nweave._identity.learn(x)\nself._session.send(r)\n"
    assert private_session_accesses(source) == {"_send", "_identity"}


def test_no_handle_or_driver_touches_a_new_private_member_of_a_session() -> None:
    found = {
        (module, member)
        for module in MODULES
        for member in private_session_accesses((_SRC / module).read_text(encoding="utf-8"))
    }
    assert found, "the walk found nothing: the module list or the detector is wrong"
    assert sorted(found - KNOWN) == []
