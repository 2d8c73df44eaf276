"""Progress of a scan, a fix or a verification: a rich display on stderr when it is a terminal, else nothing.

Files (or packages) done out of the total, the one just finished, elapsed
time and ETA. The display is transient: once the work ends it is gone, and
what the run prints (findings, diffs, summaries) comes after it. Lines
printed to stderr while it runs (warnings) appear above it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

T = TypeVar("T")


def wanted(quiet: bool, stream: object = None) -> bool:
    """Whether to show progress: not with --quiet, and only on a terminal (stderr by default)."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return not quiet and callable(isatty) and bool(isatty())


class Tracker:
    """One run's display; without a console (not wanted) every method does nothing."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console
        self._progress: Progress | None = None

    def __enter__(self) -> Tracker:
        if self.console is not None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[current]}", markup=False),
                console=self.console,
                transient=True,
                redirect_stdout=False,  # stdout may be a pipe: what goes there stays there
                redirect_stderr=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def track(self, items: Iterable[T], total: int, what: str, name: object = None) -> Iterator[T]:
        """``items`` as they come, each counted as done; ``name(item)`` says which one it was."""
        if self._progress is None:
            yield from items
            return
        task = self._progress.add_task(what, total=total, current="")
        for item in items:
            label = name(item) if callable(name) else ""
            self._progress.update(task, advance=1, current=str(label))
            yield item
        self._progress.refresh()  # the last count shows, however fast the work went
        self._progress.remove_task(task)

    @contextmanager
    def counter(self, what: str, total: int) -> Iterator[Callable[[object], None]]:
        """Work done elsewhere (threads included): yields ``done(label)``, called once per unit finished."""
        if self._progress is None:
            yield lambda label: None
            return
        progress = self._progress
        task = progress.add_task(what, total=total, current="")
        try:
            yield lambda label: progress.update(task, advance=1, current=str(label))
        finally:
            progress.refresh()
            progress.remove_task(task)

    @contextmanager
    def step(self, what: str, total: int | None = None) -> Iterator[None]:
        """Work the display cannot count (``what`` with a spinner and the time it takes)."""
        if self._progress is None:
            yield
            return
        task = self._progress.add_task(what, total=total, current="")
        try:
            yield
        finally:
            self._progress.remove_task(task)


def tracker(quiet: bool, console: Console | None = None) -> Tracker:
    """A tracker on ``console``, or on stderr when it is a terminal and not ``quiet``; else a silent one."""
    if console is None and wanted(quiet):
        from rich.console import Console

        console = Console(stderr=True)
    return Tracker(None if quiet else console)


def file_name(result: object) -> str:
    """The file a result is about, as the reports show it."""
    from gofix_conc.reporters import display_path

    path = getattr(result, "path", None)
    return display_path(path) if isinstance(path, Path) else ""
