"""Ids every service draws from its seeded sequence: UUID-shaped text.

Example::

    rng = random.Random(0)
    assert uuid_text(rng) != uuid_text(rng)
    assert uuid7(1_700_000_000_000, rng) < uuid7(1_700_000_000_001, rng)
"""

from __future__ import annotations

import random
from typing import Final

_UUID_MS_MASK: Final = (1 << 48) - 1


def hyphenated(value: int) -> str:
    """A 128-bit number as UUID text (``8-4-4-4-12`` hex digits)."""
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid_text(rng: random.Random) -> str:
    """128 random bits from ``rng`` as UUID text (Annofab's account ids)."""
    return hyphenated(rng.getrandbits(128))


def uuid7(ms: int, rng: random.Random) -> str:
    """A UUIDv7 string: 48-bit millisecond timestamp, then random bits.

    Ids made in different milliseconds sort by time; within one millisecond they are
    in random order, as on the real service.
    """
    value = (
        ((ms & _UUID_MS_MASK) << 80)
        | (0x7 << 76)
        | (rng.getrandbits(12) << 64)
        | (0b10 << 62)
        | rng.getrandbits(62)
    )
    return hyphenated(value)


__all__ = ["hyphenated", "uuid7", "uuid_text"]
