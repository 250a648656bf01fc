"""The emulator's one clock, shared by every service: wall time in whole milliseconds.

`Clock.now_ms` never goes backwards; `Clock.tick` is strictly after every earlier reading
(a store that needs each change to carry a new time ticks). Tests may replace
``source`` to freeze or move time.

Example::

    clock = Clock()
    first, second = clock.tick(), clock.tick()
    assert second > first and clock.now_ms() >= second
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wall_ms() -> int:
    """The current wall-clock time in whole milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class Clock:
    """Milliseconds from ``source`` (default: the wall clock), never going backwards."""

    def __init__(self, source: Callable[[], int] = wall_ms) -> None:
        self.source = source
        self.last_ms = 0
        """The latest time handed out."""

    def now_ms(self) -> int:
        """Now, never before an earlier reading (equal readings are allowed)."""
        now = self.source()
        if now < self.last_ms:
            now = self.last_ms
        self.last_ms = now
        return now

    def tick(self) -> int:
        """Now, strictly after every earlier reading."""
        self.last_ms = max(self.source(), self.last_ms + 1)
        return self.last_ms


__all__ = ["Clock", "wall_ms"]
