"""What a running campaign shows: a rich progress display on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from gofix_conc.batch import repos
from gofix_conc.batch.campaign import Events
from gofix_conc.batch.model import DEFERRED, OK, UnitResult, UnitSpec


def describe(spec: UnitSpec, result: UnitResult) -> str:
    where = spec.slug if spec.module in (".", "-") else f"{spec.slug}/{spec.module}"
    if result.status == DEFERRED:
        return f"deferred {where}: {result.error}"
    if result.status != OK:
        return f"FAILED {where}: {result.error_kind}: {result.error}"
    parts = [f"{result.findings_total} finding{'s' * (result.findings_total != 1)}"]
    if spec.mode != "scan":
        fixes = sum(result.fixes_by_rule.values())
        parts.append(f"{fixes} fix{'es' * (fixes != 1)} committed")
        if result.rolled_back:
            parts.append(f"{len(result.rolled_back)} rolled back")
        if result.verification:
            parts.append(f"verification {result.verification}")
        if result.pr_action:
            parts.append(f"pull request {result.pr_action} {result.pr_url or ''}".rstrip())
    if result.problems:
        parts.append(f"{len(result.problems)} problem{'s' * (len(result.problems) != 1)}")
    return f"ok {where}: {', '.join(parts)} ({result.duration:.1f}s)"


class Display:
    """Events of a run, shown as they happen."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, rich: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.rich = self.stream.isatty() if rich is None else rich
        self.todo = 0
        self.done = 0
        self.ok = 0
        self.failed = 0
        self.running = 0
        self.started_at = time.monotonic()
        self._progress = None
        self._task = None

    def events(self) -> Events:
        return Events(planned=self.planned, fetched=self.fetched, started=self.started, finished=self.finished)

    def _line(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        elif not self.quiet:
            print(text, file=self.stream, flush=True)

    def fetched(self, planned: repos.Planned) -> None:
        if planned.error:
            self._line(f"cannot fetch {planned.repo.source}: {planned.error}")
        elif not self.quiet and not self.rich:
            count = len(planned.modules)
            commit = (planned.commit or "")[:12]
            self._line(f"fetched {planned.repo.slug} {commit}: {count} module{'s' * (count != 1)}")

    def planned(self, total: int, todo: int) -> None:
        self.todo = todo
        self.started_at = time.monotonic()
        if not self.quiet or self.rich:
            self._line_plain(f"{total} units in the campaign, {total - todo} done before, {todo} to run")
        if self.rich and todo:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]units"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[state]}"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("units", total=todo, state=self._state())

    def _line_plain(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _state(self) -> str:
        failed = f"[red]{self.failed} failed[/red]" if self.failed else "0 failed"
        return f"{self.ok} ok, {failed}, {self.running} running"

    def started(self, spec: UnitSpec) -> None:
        self.running += 1
        self._refresh()

    def finished(self, spec: UnitSpec, result: UnitResult) -> None:
        self.running = max(0, self.running - 1)
        self.done += 1
        if result.status == OK:
            self.ok += 1
        elif result.status != DEFERRED:
            self.failed += 1
        if self._progress is not None:
            if result.status != OK:
                self._progress.console.print(describe(spec, result), markup=False, highlight=False)
            self._refresh(advance=1)
        elif not self.quiet or result.status != OK:
            print(f"[{self.done}/{self.todo}] {describe(spec, result)}{self._eta()}", file=self.stream, flush=True)

    def _eta(self) -> str:
        left = self.todo - self.done
        if not left or not self.done:
            return ""
        eta = (time.monotonic() - self.started_at) / self.done * left
        return f" -- {self.running} running, ETA {eta:.0f}s"

    def _refresh(self, advance: int = 0) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=advance, state=self._state())

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
