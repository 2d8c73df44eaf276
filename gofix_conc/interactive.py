"""Reviewing fixes one at a time at a terminal, as ``git add -p`` reviews hunks.

Each fix is shown with its place, its rule and reason, and a coloured diff
against the file as already fixed so far. After a fix is accepted the rules
run again on the updated text, so every later fix shown is computed on what
the file will really hold: a fix that overlapped an accepted one is shown in
its new form (or not at all, when the accepted fix resolved it too), never
applied blindly. Findings already decided are recognised in the new run by
rule and position carried through the accepted edits, or failing that by
rule, message and line carried the same way.

Writing: a file is written (atomically, and never over a change made since it
was read) once its last fix has been decided, or at ``q``. Ctrl-C or the end
of input stops at once and writes nothing more: the fixes accepted in the
file under review are dropped, files finished before stay written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.text import Text

from gofix_conc import edits, engine, reporters
from gofix_conc.engine import FileResult, Settings, Status
from gofix_conc.model import Edit, Finding, Safety
from gofix_conc.source import Source
from gofix_conc.writer import WriteError, write_atomic

KEYS = "ynadq?"
HELP = """\
y - apply this fix
n - skip this fix
a - apply this fix and every remaining fix of this rule
d - skip the remaining fixes in this file
q - quit; write the fixes accepted so far
? - print help"""

ReadKey = Callable[[], str]


class Interrupted(Exception):
    """Ctrl-C or end of input: stop without writing the file under review."""


@dataclass
class FileOutcome:
    path: Path
    applied: list[Finding] = field(default_factory=list)
    skipped: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)  # findings left in the file as written
    unreviewed: int = 0  # fixes not shown: left after q, or cut off by an interruption
    written: bool = False
    error: str | None = None


@dataclass
class Summary:
    files: list[FileOutcome] = field(default_factory=list)
    not_reviewed: int = 0  # fixes never shown (after q or an interruption)
    remaining: list[Finding] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C
    errors: bool = False

    @property
    def applied(self) -> int:
        return sum(len(f.applied) for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(len(f.skipped) for f in self.files)


# -- carrying findings over an accepted fix ----------------------------------------


def map_offset(offset: int, applied: Sequence[Edit]) -> int | None:
    """Where ``offset`` lands after ``applied``; None when an edit replaced it."""
    shift = 0
    for edit in applied:
        if edit.end <= offset and not (edit.start < edit.end == offset):
            shift += len(edit.text) - (edit.end - edit.start)
        elif edit.start <= offset < edit.end or (edit.start < edit.end == offset):
            return None
    return offset + shift


def line_shift(offset: int, applied: Sequence[Edit], data: bytes) -> int:
    """How many lines the edits before ``offset`` added (or removed, when negative)."""
    return sum(e.text.count(b"\n") - data[e.start : e.end].count(b"\n") for e in applied if e.end <= offset)


def carry(olds: Sequence[Finding], news: Sequence[Finding], applied: Sequence[Edit], data: bytes) -> dict[int, int]:
    """Pair findings of the new run (by index) with the earlier findings they continue."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    moved = [map_offset(o.start, applied) for o in olds]
    for n, new in enumerate(news):
        for o, old in enumerate(olds):
            if o not in taken and old.rule == new.rule and moved[o] == new.start:
                pairs[n] = o
                taken.add(o)
                break
    for n, new in enumerate(news):
        if n in pairs:
            continue
        for o, old in enumerate(olds):
            if (
                o not in taken
                and (old.rule, old.message) == (new.rule, new.message)
                and old.line + line_shift(old.start, applied, data) == new.line
            ):
                pairs[n] = o
                taken.add(o)
                break
    return pairs


# -- keys ----------------------------------------------------------------------------


class TerminalKeys:
    """One key press at a time on a terminal (no Enter needed), one line at a time otherwise.

    Used as a context manager: the terminal stays in cbreak mode for the whole
    review, so a key typed while a diff is still being printed is neither lost
    nor echoed twice; Ctrl-C still raises KeyboardInterrupt.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdin
        self.fd = self.stream.fileno() if self.stream.isatty() else None
        self.saved: list | None = None

    def __enter__(self) -> TerminalKeys:
        if self.fd is not None:
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            self.saved = None

    def __call__(self) -> str:
        if self.fd is not None:
            char = os.read(self.fd, 1)
            if char in (b"", b"\x04"):  # Ctrl-D
                raise EOFError
            return char.decode(errors="replace")
        line = self.stream.readline()
        if not line:
            raise EOFError
        return line.strip()[:1]


# -- the session ------------------------------------------------------------------------


class Session:
    def __init__(self, settings: Settings, console: Console, read_key: ReadKey) -> None:
        self.scan = dataclasses.replace(settings, fix=False)
        self.unsafe = settings.unsafe_fixes
        self.console = console
        self.read_key = read_key
        self.auto_rules: set[str] = set()
        self.decided = 0
        self.later = 0  # fixes waiting in files not reached yet
        self.quit = False

    def offered(self, finding: Finding) -> bool:
        fix = finding.fix
        # A fix that changes several files together is not asked about file by file.
        return fix is not None and (fix.safety is Safety.SAFE or self.unsafe) and fix.files == 1

    def run(self, files: Sequence[Path], jobs: int | None, on_problem: Callable[[FileResult], object]) -> Summary:
        summary = Summary()
        scanned = []
        for result in engine.run(files, self.scan, jobs):
            if result.error or result.warnings:
                on_problem(result)
            summary.errors |= result.status is Status.FAILED
            scanned.append(result)
        counts = [sum(1 for f in r.findings if self.offered(f)) for r in scanned]
        grouped = {f.fix.group for r in scanned for f in r.findings if f.fix is not None and f.fix.files > 1}
        if grouped:
            many = len(grouped) != 1
            self.console.print(
                Text(
                    f"{len(grouped)} fix{'es' * many} change{'s' * (not many)} several files together: "
                    "not offered here; apply with `gofix-conc fix`.",
                    style="yellow",
                )
            )
        self.later = sum(counts)
        for i, (result, count) in enumerate(zip(scanned, counts, strict=True)):
            if count == 0 or self.quit:
                summary.not_reviewed += count if self.quit else 0
                summary.remaining += result.findings
                continue
            self.later -= count
            outcome = FileOutcome(result.path)
            summary.files.append(outcome)
            try:
                self.review_file(outcome)
            except (KeyboardInterrupt, EOFError) as stop:
                summary.interrupted = isinstance(stop, KeyboardInterrupt)
                dropped = len(outcome.applied)
                outcome.applied.clear()
                summary.not_reviewed += outcome.unreviewed + self.later
                summary.remaining += [*result.findings, *(f for r in scanned[i + 1 :] for f in r.findings)]
                self.console.print()
                message = f"Stopped: {reporters.display_path(outcome.path)} not written"
                if dropped:
                    message += f" ({dropped} accepted fix{'es' * (dropped != 1)} dropped)"
                self.console.print(Text(message + ".", style="bold yellow"))
                self.print_summary(summary)
                raise Interrupted from None
            summary.errors |= outcome.error is not None
            summary.remaining += outcome.remaining
            summary.not_reviewed += outcome.unreviewed
        self.print_summary(summary)
        return summary

    def review_file(self, outcome: FileOutcome) -> None:
        path = outcome.path
        try:
            original = path.read_bytes()
        except OSError as err:
            outcome.error = f"cannot read: {err.strerror or err}"
            self.console.print(Text(f"{reporters.display_path(path)}: error: {outcome.error}", style="red"))
            return
        raw = original
        current = list(engine.process_data(path, raw, self.scan).findings)
        pending = [f for f in current if self.offered(f)]
        skipped: list[Finding] = []  # the skipped findings as the latest run found them
        held = [f for f in current if f.fix is not None and not self.offered(f)]  # unsafe, not offered
        skip_rest = False
        while pending:
            finding = pending.pop(0)
            assert finding.fix is not None
            outcome.unreviewed = len(pending) + 1
            if skip_rest:
                outcome.skipped.append(finding)
                self.decided += 1
                continue
            source = Source(raw)
            new_raw = source.raw(edits.apply(source.data, [finding.fix], crlf=source.crlf))
            if finding.rule in self.auto_rules:
                self.show_auto(finding, len(pending))
                answer = "y"
            else:
                answer = self.ask(finding, raw, new_raw, len(pending))
            if answer == "q":
                self.quit = True
                break
            self.decided += 1
            outcome.unreviewed = len(pending)
            if answer in "nd":
                outcome.skipped.append(finding)
                skipped.append(finding)
                skip_rest = answer == "d"
                continue
            if answer == "a":
                self.auto_rules.add(finding.rule)
            after = engine.process_data(path, new_raw, self.scan)
            if after.status is Status.FAILED:
                self.console.print(Text(f"The fix does not leave valid Go ({after.error}); skipped.", style="red"))
                outcome.skipped.append(finding)
                continue
            outcome.applied.append(finding)
            pending, skipped, held = self.carried(finding, source.data, pending, skipped, held, list(after.findings))
            raw, current = new_raw, list(after.findings)
        else:
            outcome.unreviewed = 0
        held_at = {(f.rule, f.start): f for f in held}  # as unsafe as when first shown
        outcome.remaining = [held_at.get((f.rule, f.start), f) for f in current]
        if outcome.applied:
            try:
                write_atomic(path, raw, original)
                outcome.written = True
            except WriteError as err:
                outcome.error = str(err)
                self.console.print(Text(f"error: {err}", style="bold red"))

    def carried(
        self,
        accepted: Finding,
        data: bytes,
        pending: list[Finding],
        skipped: list[Finding],
        held: list[Finding],
        news: list[Finding],
    ) -> tuple[list[Finding], list[Finding], list[Finding]]:
        """The fixes still to show after ``accepted``, recomputed on the updated text; the skipped and held ones.

        A fix held back as unsafe stays unsafe, as scan showed it, even when its
        recomputed form looks safe on the updated text.
        """
        assert accepted.fix is not None
        applied = edits.merge_insertions(accepted.fix.edits)
        pairs = carry([*pending, *skipped, *held, accepted], news, applied, data)
        still: list[Finding] = []
        still_skipped: list[Finding] = []
        still_held: list[Finding] = []
        for n, new in enumerate(news):
            o = pairs.get(n)
            if o is None or o < len(pending):
                # Undecided, or brought up by the accepted fix: shown like any other.
                if self.offered(new):
                    still.append(new)
                elif new.fix is not None:
                    still_held.append(new)
            elif o < len(pending) + len(skipped):
                still_skipped.append(new)
            elif o < len(pending) + len(skipped) + len(held):
                if new.fix is not None and new.fix.safety is Safety.SAFE:
                    new = dataclasses.replace(new, fix=dataclasses.replace(new.fix, safety=Safety.UNSAFE))
                (still if self.offered(new) else still_held).append(new)
            # else: the accepted fix did not resolve its own finding; left to report
        still.sort(key=lambda f: (f.start, f.rule))
        return still, still_skipped, still_held

    # -- screen ----------------------------------------------------------------------

    def position(self, waiting: int) -> str:
        return f"{self.decided + 1}/{self.decided + 1 + waiting + self.later}"

    def header(self, finding: Finding, waiting: int) -> Text:
        where = f"{reporters.display_path(finding.path)}:{finding.line}"
        text = Text()
        text.append(f"({self.position(waiting)}) ", style="bold")
        text.append(where, style="bold cyan")
        text.append("  ")
        text.append(finding.rule, style="magenta")
        return text

    def ask(self, finding: Finding, old: bytes, new: bytes, waiting: int) -> str:
        assert finding.fix is not None
        console = self.console
        console.print()
        console.print(self.header(finding, waiting))
        console.print(Text(finding.message))
        fix_line = Text("fix: ", style="dim")
        fix_line.append(finding.fix.message)
        if finding.fix.safety is Safety.UNSAFE:
            fix_line.append("  (unsafe: check that it keeps the meaning)", style="bold red")
        console.print(fix_line)
        console.print(colored_diff(old, new))
        while True:
            console.print(Text(f"Apply this fix [{','.join(KEYS)}]? ", style="bold blue"), end="")
            key = self.read_key()
            console.print(Text(key))
            if len(key) == 1 and key in KEYS and key != "?":
                return key
            if key:
                console.print(Text(HELP.replace("this rule", f"rule {finding.rule}"), style="red"))

    def show_auto(self, finding: Finding, waiting: int) -> None:
        line = self.header(finding, waiting)
        line.append("  applied (a)", style="green")
        self.console.print(line)

    def print_summary(self, summary: Summary) -> None:
        console = self.console
        console.print()
        head = f"Applied {summary.applied} fix(es), skipped {summary.skipped}"
        if summary.not_reviewed:
            head += f", not reviewed {summary.not_reviewed}"
        console.print(Text(head + ".", style="bold"))
        for outcome in summary.files:
            state = "written" if outcome.written else "not written" if outcome.applied else "unchanged"
            if outcome.error:
                state = f"error: {outcome.error}"
            console.print(
                f"  {reporters.display_path(outcome.path)}: {len(outcome.applied)} applied, "
                f"{len(outcome.skipped)} skipped ({state})",
                markup=False,
                highlight=False,
            )


def colored_diff(old: bytes, new: bytes) -> Text:
    """The hunks of a unified diff (3 lines of context), coloured like ``git diff``."""
    diff = reporters.unified_diff(old, new, "a", "b")
    text = Text()
    for line in re.findall(r"[^\n]*\n|[^\n]+$", diff)[2:]:  # not splitlines: a form feed is no line end
        style = ""
        if line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("\\"):
            style = "dim"
        text.append(line, style=style)
    text.rstrip()
    return text


def review(
    files: Sequence[Path],
    settings: Settings,
    jobs: int | None = None,
    console: Console | None = None,
    read_key: ReadKey | None = None,
    on_problem: Callable[[FileResult], object] = lambda result: None,
) -> Summary:
    """Show every offered fix in ``files`` and apply those the user accepts; see the module docstring."""
    keys = TerminalKeys() if read_key is None else None
    session = Session(settings, console or Console(highlight=False), read_key or keys)  # type: ignore[arg-type]
    with keys or contextlib.nullcontext():
        return session.run(files, jobs, on_problem)
