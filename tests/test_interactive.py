"""fix -i in a real pseudo-terminal: keys sent one by one, the screen read back."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from test_git_modes import FETCH, GO_MOD, REINDEX, RULE, write_files

from gofix_conc import edits, engine
from gofix_conc.engine import Settings
from gofix_conc.interactive import carry, map_offset
from gofix_conc.model import Edit, Finding

PROMPT = "Apply this fix [y,n,a,d,q,?]? "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LAYOUT = {"go.mod": GO_MOD, "cache/warm.go": FETCH, "index/reindex.go": REINDEX}


def _ctrl_c_as_at_a_terminal() -> None:
    """Ctrl-C stops the program as at a terminal, even when the tests run with SIGINT ignored (a background job)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Screen:
    """The program in a pseudo-terminal, with what it printed since the last key."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")}
        env["TERM"] = "xterm-256color"
        self.raw = io.StringIO()
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "gofix_conc", "fix", "-i", "--select", RULE, "--jobs", "1", *args],
            cwd=str(cwd),
            env=env,
            dimensions=(60, 120),
            encoding="utf-8",
            timeout=60,
            preexec_fn=_ctrl_c_as_at_a_terminal,
        )
        self.child.logfile_read = self.raw
        self.text = ""

    def prompt(self) -> str:
        """Wait for the question; the plain text shown since the last key."""
        self.child.expect_exact(PROMPT)
        self.text = ANSI.sub("", self.child.before).replace("\r\n", "\n")
        return self.text

    def press(self, key: str) -> None:
        self.child.send(key)

    def finish(self) -> tuple[int, str]:
        """Exit status and the plain text after the last key."""
        self.child.expect(pexpect.EOF)
        self.child.close()
        status = self.child.exitstatus if self.child.exitstatus is not None else 128 + self.child.signalstatus
        return status, ANSI.sub("", self.child.before).replace("\r\n", "\n")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    write_files(root, LAYOUT)
    return root


def written_by_fix_write(tmp_path: Path) -> dict[str, bytes]:
    copy = tmp_path / "by-write"
    write_files(copy, LAYOUT)
    subprocess.run([sys.executable, "-m", "gofix_conc", "fix", "--select", RULE, "--write", "."], cwd=copy, check=True)
    return {name: (copy / name).read_bytes() for name in LAYOUT}


def first_fix_only(path: Path) -> bytes:
    """The file with only its first fix applied."""
    raw = path.read_bytes()
    finding = engine.process(path, Settings(rules=(RULE,))).findings[0]
    assert finding.fix is not None
    return edits.apply(raw, [finding.fix])


def read(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in LAYOUT}


def test_accept_shows_the_next_fix_recomputed(tmp_path: Path, project: Path) -> None:
    expected = written_by_fix_write(tmp_path)
    screen = Screen(project, ".")

    first = screen.prompt()
    assert "(1/3) cache/warm.go:13  unbounded-goroutines" in first
    assert "goroutine started in a loop with no limit on how many run at once" in first
    assert "fix: Bound the goroutines with a semaphore" in first
    assert "@@ -8,9 +8,12 @@" in first
    assert re.search(r"^\+\s+sem := make\(chan struct\{\}, 16\)$", first, re.MULTILINE)
    assert "\x1b[32m+" in screen.raw.getvalue()  # added lines in green
    screen.press("y")

    second = screen.prompt()
    assert "(2/3) index/reindex.go:19  unbounded-goroutines" in second
    screen.press("y")

    # The third fix overlapped the second (one semaphore for the loop nest): shown
    # as computed on the updated file, it reuses `sem` instead of declaring `sem2`.
    third = screen.prompt()
    assert "(3/3) index/reindex.go:28  unbounded-goroutines" in third
    assert "sem <- struct{}{}" in third
    assert "sem2" not in third and "make(chan" not in third
    screen.press("y")

    status, end = screen.finish()
    assert status == 0
    assert "Applied 3 fix(es), skipped 0." in end
    assert "index/reindex.go: 2 applied, 0 skipped (written)" in end
    assert read(project) == expected


def test_skip_and_a_skipped_fix_is_not_asked_again(project: Path) -> None:
    warm = (project / "cache/warm.go").read_bytes()
    screen = Screen(project, ".")
    screen.prompt()
    screen.press("n")
    screen.prompt()
    screen.press("n")
    assert "(3/3) index/reindex.go:25" in screen.prompt()
    screen.press("y")
    # The first fix of reindex.go is still possible on the new text, but it was skipped: no fourth question.
    status, end = screen.finish()
    assert status == 1  # findings remain
    assert "Applied 1 fix(es), skipped 2." in end
    assert "cache/warm.go: 0 applied, 1 skipped (unchanged)" in end
    assert (project / "cache/warm.go").read_bytes() == warm
    text = (project / "index/reindex.go").read_text()
    # Only the accepted goroutine is bounded (its semaphore's name is the rule's business: sem, or sem2
    # when computed in the same pass as the skipped fix).
    assert text.count(" <- struct{}{}") == 1
    assert re.search(
        r"(sem2?) <- struct\{\}\{\}\n\t\tgo func\(\) \{\n\t\t\tdefer func\(\) \{ <-\1 \}\(\)\n\t\t\tdefer wg", text
    )


def test_a_applies_every_remaining_fix_of_the_rule(tmp_path: Path, project: Path) -> None:
    expected = written_by_fix_write(tmp_path)
    screen = Screen(project, ".")
    screen.prompt()
    screen.press("a")
    status, end = screen.finish()
    assert status == 0
    assert "(2/3) index/reindex.go:19  unbounded-goroutines  applied (a)" in end
    assert "(3/3) index/reindex.go:28  unbounded-goroutines  applied (a)" in end
    assert "Applied 3 fix(es), skipped 0." in end
    assert read(project) == expected


def test_help_and_d_skips_the_rest_of_the_file(project: Path) -> None:
    reindex = (project / "index/reindex.go").read_bytes()
    screen = Screen(project, "index", "cache")
    assert "(1/3) index/reindex.go:19" in screen.prompt()
    screen.press("?")
    shown = screen.prompt()
    for line in ["y - apply this fix", "n - skip this fix", "d - skip the remaining fixes in this file"]:
        assert line in shown
    assert "a - apply this fix and every remaining fix of rule unbounded-goroutines" in shown
    assert "q - quit; write the fixes accepted so far" in shown
    screen.press("x")  # not a key: help again
    assert "? - print help" in screen.prompt()
    screen.press("d")
    assert "(3/3) cache/warm.go:13" in screen.prompt()
    screen.press("y")
    status, end = screen.finish()
    assert status == 1
    assert "index/reindex.go: 0 applied, 2 skipped (unchanged)" in end
    assert (project / "index/reindex.go").read_bytes() == reindex
    assert "sem <- struct{}{}" in (project / "cache/warm.go").read_text()


def test_q_writes_what_was_accepted_and_stops(project: Path) -> None:
    warm = (project / "cache/warm.go").read_bytes()
    expected_reindex = first_fix_only(project / "index/reindex.go")
    screen = Screen(project, "index", "cache")
    screen.prompt()
    screen.press("y")
    screen.prompt()
    screen.press("q")
    status, end = screen.finish()
    assert status == 1
    assert "Applied 1 fix(es), skipped 0, not reviewed 2." in end
    assert "index/reindex.go: 1 applied, 0 skipped (written)" in end
    assert (project / "index/reindex.go").read_bytes() == expected_reindex
    assert (project / "cache/warm.go").read_bytes() == warm


def test_ctrl_c_writes_nothing_in_the_file_under_review(tmp_path: Path, project: Path) -> None:
    expected = written_by_fix_write(tmp_path)
    reindex = (project / "index/reindex.go").read_bytes()
    screen = Screen(project, ".")
    screen.prompt()
    screen.press("y")  # cache/warm.go is finished: written
    screen.prompt()
    screen.press("y")  # accepted in index/reindex.go, not yet written
    screen.prompt()
    screen.child.sendintr()
    status, end = screen.finish()
    assert status == 130
    assert "Stopped: index/reindex.go not written (1 accepted fix dropped)." in end
    assert "not reviewed 1" in end
    assert (project / "cache/warm.go").read_bytes() == expected["cache/warm.go"]
    assert (project / "index/reindex.go").read_bytes() == reindex


def test_end_of_input_writes_nothing(project: Path) -> None:
    before = read(project)
    screen = Screen(project, ".")
    screen.prompt()
    screen.child.sendeof()
    status, end = screen.finish()
    assert status == 130
    assert "Stopped: cache/warm.go not written." in end
    assert read(project) == before


def test_keys_from_a_pipe_one_line_each(tmp_path: Path, project: Path) -> None:
    expected = written_by_fix_write(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "gofix_conc", "fix", "-i", "--select", RULE, "."],
        cwd=project,
        input="y\n\na\n",  # an empty line asks again
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Applied 3 fix(es), skipped 0." in done.stdout
    assert read(project) == expected


def test_show_fixes_and_output_file_get_what_the_review_wrote(tmp_path: Path, project: Path) -> None:
    report = tmp_path / "report.txt"
    done = subprocess.run(
        [sys.executable, "-m", "gofix_conc", "fix", "-i", "--select", RULE, "--show-fixes", "-o", str(report), "."],
        cwd=project,
        input="y\nn\nq\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # findings are left
    assert "Applied 1 fix(es), skipped 1" in done.stdout
    written = report.read_text()
    assert "Fixed 1 finding in 1 file; 2 left" in written, written
    assert "- cache/warm.go:\n    1 × unbounded-goroutines" in written  # --show-fixes: where, what


def test_nothing_to_review(tmp_path: Path) -> None:
    write_files(tmp_path, {"go.mod": GO_MOD, "add.go": "package p\n\nfunc Add(a, b int) int { return a + b }\n"})
    done = subprocess.run(
        [sys.executable, "-m", "gofix_conc", "fix", "-i", "--select", RULE, "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "Applied 0 fix(es), skipped 0." in done.stdout


# -- carrying decisions over an accepted fix -----------------------------------------


def _finding(rule: str, start: int, line: int, message: str = "m") -> Finding:
    return Finding(rule, Path("f.go"), start, start + 1, line, 1, line, 2, message)


def test_map_offset_through_insertions_and_replacements() -> None:
    applied = (Edit(10, 10, b"abc\n"), Edit(20, 25, b"x"))
    assert map_offset(5, applied) == 5
    assert map_offset(10, applied) == 14  # text inserted right before the finding pushes it
    assert map_offset(19, applied) == 23
    assert map_offset(22, applied) is None  # inside replaced text
    assert map_offset(25, applied) is None  # right after replaced text: its start may have been rewritten
    assert map_offset(30, applied) == 30


def test_carry_by_position_then_by_message_and_line() -> None:
    data = b"0123456789\n" * 5
    applied = (Edit(11, 11, b"new line\n"),)
    olds = [_finding("r", 30, 3), _finding("r", 40, 4, "moved"), _finding("other", 50, 5)]
    news = [
        dataclasses.replace(olds[0], start=39, line=4),  # same place, pushed by the insertion
        dataclasses.replace(olds[1], start=47, line=5),  # moved within its line: found by message and line
        _finding("r", 5, 1),  # new
    ]
    assert carry(olds, news, applied, data) == {0: 0, 1: 1}


def test_a_fix_held_back_as_unsafe_is_not_offered_once_another_fix_makes_it_look_safe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console
    from test_fix_loop import comment_rule, go_file, unsafe_while

    from gofix_conc import interactive, registry

    rules = [comment_rule("say-beta", "alpha", "beta"), comment_rule("risky", "target", "done", unsafe_while("alpha"))]
    monkeypatch.setattr(registry, "all_rules", lambda: {r.id: r for r in rules})
    path = go_file(tmp_path, "alpha", "target")
    shown = io.StringIO()
    summary = interactive.review(
        [path], Settings(("say-beta", "risky")), jobs=1, console=Console(file=shown), read_key=lambda: "y"
    )
    assert summary.applied == 1 and "risky" not in shown.getvalue()
    assert path.read_text() == "package p\n\n// beta\n// target\n"
    [left] = summary.remaining
    assert left.rule == "risky" and left.fix is not None and left.fix.safety.value == "unsafe"
