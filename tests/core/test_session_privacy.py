"""Handles, drivers and walks use a session only through its public verbs.

An AST walk over every client module except the sessions themselves finds each
``<session>._member`` access (a name or attribute called ``session``, ``_session``,
``weave``, ``_weave``, ``af``, ``requester`` or ``_requester``). There is no allow-list:
any private access fails. What a handle may use is :class:`annoq._requester.Requester`
(send, stream, stats, options, with_options, identity) and the backend session's public
methods.
"""

from __future__ import annotations

import ast
from pathlib import Path

import annoq

_SRC = Path(annoq.__file__).parent

#: The sessions themselves (they own their private state) and the emulator (a server).
_OWNERS = frozenset({"_session_base.py", "weave/_session.py", "annofab/_session.py"})
_SESSION_NAMES = frozenset(
    {"session", "_session", "weave", "_weave", "af", "requester", "_requester"}
)


def _modules() -> list[str]:
    found = []
    for path in sorted(_SRC.rglob("*.py")):
        name = path.relative_to(_SRC).as_posix()
        if name not in _OWNERS and not name.startswith("emulator/"):
            found.append(name)
    return found


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
    source = (
        "self._session._send(r)\nweave._identity.learn(x)\nself._session.send(r)\n"
        "self.run.session._transport\nqueue._weave.send(r)\n"
    )
    assert private_session_accesses(source) == {"_send", "_identity", "_transport"}


def test_the_scan_covers_the_handles_drivers_and_walks() -> None:
    modules = _modules()
    for expected in (
        "weave/_handle.py",
        "weave/_driver.py",
        "weave/_annotations.py",
        "weave/_walks.py",
        "annofab/_handle.py",
        "annofab/_driver.py",
        "annofab/_bulk_drivers.py",
        "_walk.py",
    ):
        assert expected in modules
    assert not any(m in _OWNERS for m in modules)


def test_no_handle_or_driver_touches_a_private_member_of_a_session() -> None:
    found = sorted(
        (module, member)
        for module in _modules()
        for member in private_session_accesses((_SRC / module).read_text(encoding="utf-8"))
    )
    assert found == []
