"""What the CLI shows: data on stdout; progress, notes and errors on stderr.

``rich`` draws progress bars and tables only on a terminal, and is imported only then:
pipes and files get plain text, and the CLI works without rich installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TextIO

from .. import _config
from .._bulk import BulkProgress, BulkResult
from ._errors import one_line, printable
from ._io import failure_record, json_line

Rows = Sequence[Sequence[str]]


class Bar(Protocol):
    """A progress display that can be moved forward."""

    def update(self, completed: int, *, total: int | None = None, detail: str = "") -> None:
        """Show ``completed`` of ``total`` (``None``: unknown), with a short ``detail``."""


class _NoBar:
    def update(self, completed: int, *, total: int | None = None, detail: str = "") -> None:
        pass


class _RichBar:
    def __init__(self, progress: Any, task: Any) -> None:
        self._progress = progress
        self._task = task

    def update(self, completed: int, *, total: int | None = None, detail: str = "") -> None:
        self._progress.update(self._task, completed=completed, total=total, detail=detail)


def _rich_available() -> bool:
    return importlib.util.find_spec("rich") is not None


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Output:
    """The CLI's streams and output settings.

    ``quiet`` silences progress bars, summaries and notes (data and errors remain);
    ``json`` asks commands for JSON on stdout instead of tables.
    """

    def __init__(
        self,
        stdout: TextIO,
        stderr: TextIO,
        stdin: TextIO,
        *,
        quiet: bool = False,
        json: bool = False,
        debug: bool = False,
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self.quiet = quiet
        self.json = json
        self.debug = debug

    # -- messages -----------------------------------------------------------------

    def note(self, message: str) -> None:
        """An informational line on stderr (not with ``--quiet``)."""
        if not self.quiet:
            self.stderr.write(f"annoq: {printable(message)}\n")

    def error(self, message: str) -> None:
        """The one-line error report on stderr."""
        self.stderr.write(f"annoq: error: {printable(one_line(message))}\n")

    def emit_json(self, data: Any) -> None:
        """``data`` as one JSON document on stdout."""
        self.stdout.write(json_line(data))

    # -- progress -----------------------------------------------------------------

    def live(self) -> bool:
        """Whether progress bars are drawn: stderr is a terminal, not ``--quiet``."""
        return not self.quiet and is_terminal(self.stderr) and _rich_available()

    @contextlib.contextmanager
    def progress(
        self, description: str, total: int | None, *, enabled: bool = True
    ) -> Iterator[Bar]:
        """A progress bar on stderr for the duration of the block (or a no-op one).

        With a ``total``: done of total and the time remaining (ETA). Without one: an
        indeterminate (pulsing) bar, the count done and the time elapsed.
        """
        if not (enabled and self.live()):
            yield _NoBar()
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        known: tuple[ProgressColumn, ...] = (
            MofNCompleteColumn(),
            TextColumn("ETA", markup=False),
            TimeRemainingColumn(compact=True),
        )
        unknown: tuple[ProgressColumn, ...] = (
            TextColumn("{task.completed:,.0f} done", markup=False),
            TimeElapsedColumn(),
        )
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=20),
            *(unknown if total is None else known),
            TextColumn("{task.fields[detail]}", markup=False),
        )
        console = Console(file=self.stderr)
        with Progress(
            *columns, console=console, refresh_per_second=_config.CLI_PROGRESS_REFRESH_PER_SECOND
        ) as progress:
            task = progress.add_task(description, total=total, detail="")
            yield _RichBar(progress, task)

    # -- tables ---------------------------------------------------------------------

    def table(self, rows: Rows, *, header: Sequence[str] = (), title: str | None = None) -> None:
        """Rows on stdout: a rich table on a terminal, else aligned plain text.

        Without ``header`` the rows are ``label, value`` pairs (a summary).
        """
        rows = [[printable(cell) for cell in row] for row in rows]
        title = None if title is None else printable(title)
        if is_terminal(self.stdout) and _rich_available():
            self._rich_table(rows, header, title)
            return
        lines = [list(header), *map(list, rows)] if header else [list(r) for r in rows]
        if title:
            self.stdout.write(f"{title}\n")
        widths = (
            [max(len(line[i]) for line in lines) for i in range(len(lines[0]))] if lines else []
        )
        for line in lines:
            cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
            self.stdout.write("  ".join(cells).rstrip() + "\n")

    def _rich_table(self, rows: Rows, header: Sequence[str], title: str | None) -> None:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        # Server strings are text, never markup; the title is a line of its own, so a
        # narrow table never wraps it (nor splits the queue id in it).
        table = Table(show_header=bool(header))
        width = len(header) if header else (len(rows[0]) if rows else 0)
        for index in range(width):
            label = header[index] if header else ""
            table.add_column(Text(label), justify="left" if index == 0 else "right")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        console = Console(file=self.stdout)
        if title:
            console.print(Text(title, style="italic"), soft_wrap=True)
        console.print(table)


# -- bulk results ---------------------------------------------------------------------


def number(value: int) -> str:
    """``12,345``."""
    return f"{value:,}"


def rate(count: int, elapsed: float) -> str:
    """``1,234/s`` (or ``-`` when nothing was timed)."""
    return f"{count / elapsed:,.0f}/s" if elapsed > 0 else "-"


def bulk_detail(progress: BulkProgress, retries: int) -> str:
    """The running counts shown next to a bulk progress bar."""
    parts = [rate(progress.done, progress.elapsed), f"{number(progress.concurrency)} at once"]
    if retries:
        parts.append(f"{number(retries)} retries")
    if progress.failed:
        parts.append(f"{number(progress.failed)} failed")
    return " · ".join(parts)


def bulk_progress(
    bar: Bar, retries: Callable[[], int], total: int | None
) -> Callable[[BulkProgress], None]:
    """An ``on_progress`` callback moving ``bar``; ``retries`` reads the running count."""

    def on_progress(event: BulkProgress) -> None:
        bar.update(event.done, total=event.total or total, detail=bulk_detail(event, retries()))

    return on_progress


def bulk_rows(result: BulkResult) -> list[list[str]]:
    """A bulk result as summary rows (counts, rate, retries, failure reasons)."""
    rows = [
        ["Items", number(result.total)],
        ["Updated", number(result.updated)],
        ["Unchanged", number(result.unchanged)],
        ["Failed", number(result.failed)],
        ["Updates/s", rate(result.total, result.elapsed)],
        ["Retries", number(result.retries)],
        ["Time", f"{result.elapsed:.1f} s"],
    ]
    if result.duplicates:
        rows.insert(4, ["Repeated ids", number(len(result.duplicates))])
    if result.abandoned:
        rows.insert(4, ["In flight when stopped", number(len(result.abandoned))])
    reasons = Counter(failure.reason for failure in result.failures)
    rows.extend([f"  failed: {reason}", number(n)] for reason, n in reasons.most_common())
    if not result.complete:
        rows.append(["Complete", "no (stopped early)"])
    return rows


def bulk_json(result: BulkResult) -> dict[str, Any]:
    """A bulk result as JSON, failures as ``--failures`` records."""
    return {
        "total": result.total,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "failed": result.failed,
        "duplicates": len(result.duplicates),
        "retries": result.retries,
        "elapsed": round(result.elapsed, 3),
        "complete": result.complete,
        "abandoned": list(result.abandoned),
        "failures": [failure_record(f) for f in result.failures],
    }


class Stopwatch:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds since start."""
        return time.monotonic() - self._start
