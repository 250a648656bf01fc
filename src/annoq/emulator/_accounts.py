"""The user registry every service keeps: users by id, found again by their secrets.

Weave finds a user by API key, Annofab by PAT and account id; both keep users by id.
`Accounts` is that dict plus the lookup indexes, kept in step by `put`.

Example::

    users: Accounts[User] = Accounts(api_key=lambda u: u.api_key)
    users.put("me", User("me", "key-1", None))
    assert users.find("api_key", "key-1") is users["me"]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

U = TypeVar("U")


class Accounts(dict[str, U], Generic[U]):
    """``{user_id: user}`` with lookups by the keys ``indexes`` compute from a user."""

    def __init__(self, **indexes: Callable[[U], str]) -> None:
        super().__init__()
        self._keys = indexes
        self._found: dict[str, dict[str, U]] = {name: {} for name in indexes}

    def put(self, user_id: str, user: U, *, replace: bool = True) -> U:
        """Add ``user`` (replacing the user of that id and its keys, unless ``replace`` is
        false: then ``ValueError``); returns it."""
        previous = self.get(user_id)
        if previous is not None:
            if not replace:
                raise ValueError(f"user {user_id!r} exists")
            for name, key in self._keys.items():
                self._found[name].pop(key(previous), None)
        self[user_id] = user
        for name, key in self._keys.items():
            self._found[name][key(user)] = user
        return user

    def find(self, index: str, key: str) -> U | None:
        """The user whose ``index`` key is ``key``, or ``None``."""
        return self._found[index].get(key)


__all__ = ["Accounts"]
