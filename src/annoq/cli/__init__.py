"""The ``annoq`` command line: ``annoq demo``, ``serve``, ``queues``, ``stats``,
``create-queue``, ``add-calls``, ``items`` and ``mark``.

Run ``annoq --help`` (or ``python -m annoq.cli --help``). From Python, ``main(argv)``
runs a command in a new event loop and returns its exit status; inside a running loop
(an async test, a notebook) use ``await run(argv, stdout=..., stderr=...)``.

rich draws progress bars and tables when a terminal is attached; it is imported only
then, so ``import annoq`` never needs it.
"""

from ._app import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
