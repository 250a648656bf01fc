"""The applied-write ledger every service keeps: how often each write was applied.

A write is keyed by two strings (Weave: item and annotator; Annofab: task and requested
status). Faults that apply a write and lose the answer make it count twice, which is
what tests read to prove a client never repeats a write it must not.

Example::

    ledger = Ledger()
    ledger.record(("item-1", "me"))
    assert ledger.total("item-1") == 1 and ledger.total(second="other") == 0
"""

from __future__ import annotations

from collections import Counter


class Ledger(Counter[tuple[str, str]]):
    """``{(first, second): applied writes}``, with filtered totals."""

    def record(self, key: tuple[str, str]) -> None:
        """Count one applied write of ``key``."""
        self[key] += 1

    def total(self, first: str | None = None, second: str | None = None) -> int:
        """Applied writes, optionally only those whose key parts equal ``first``/``second``."""
        if first is not None and second is not None:
            return self.get((first, second), 0)
        return sum(
            n
            for (a, b), n in self.items()
            if (first is None or a == first) and (second is None or b == second)
        )

    def rows(
        self, first: str | None = None, second: str | None = None
    ) -> list[tuple[str, str, int]]:
        """``(first, second, count)`` rows matching the filters, in insertion order."""
        return [
            (a, b, n)
            for (a, b), n in self.items()
            if (first is None or a == first) and (second is None or b == second)
        ]


__all__ = ["Ledger"]
