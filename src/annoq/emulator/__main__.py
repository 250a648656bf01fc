"""``python -m annoq.emulator [OPTIONS]``: the same as ``annoq serve [OPTIONS]``.

One command line serves the emulator (see ``annoq serve --help``); this entry point only
forwards to it, for environments where the ``annoq`` script is not on ``PATH``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``annoq serve`` with ``argv`` (default: the process arguments)."""
    from ..cli import main as annoq_main

    return annoq_main(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
