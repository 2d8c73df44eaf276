"""Conventions users know from ruff and golangci-lint: ignore-comment warnings, statistics, exit-zero,
output files, colour, stdin, fix edits in JSON, GitHub and GitLab formats, per-file ignores, no Go files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from textwrap import dedent

import pytest
from typer.testing import CliRunner

from gofix_conc.cli import app

LOOP = dedent(
    """\
    package p

    import "sync"

    func work(x int, wg *sync.WaitGroup) { defer wg.Done() }

    func Run(xs []int) {
    \tvar wg sync.WaitGroup
    \tfor _, x := range xs {
    \t\twg.Add(1)
    \t\tgo work(x, &wg)
    \t}
    \twg.Wait()
    }
    """
)
MESSAGE = "goroutine started in a loop with no limit on how many run at once"


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "go.mod").write_text("module example.com/p\n\ngo 1.24\n")
    (tmp_path / "p.go").write_text(LOOP)
    monkeypatch.chdir(tmp_path)
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def invoke(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    """The CLI in this process, one rule, one job, no cache (the counts and outputs stay small)."""
    command, rest = args[0], list(args[1:])
    if command in ("scan", "fix"):
        if "--select" not in rest:
            rest = ["--select", "unbounded-goroutines", *rest]
        rest = [*rest, "--jobs", "1"] + (["--no-cache"] if command == "scan" else [])
    done = CliRunner().invoke(app, [command, *rest], input=input)
    if done.exception and not isinstance(done.exception, SystemExit):
        raise done.exception
    return done.exit_code, done.stdout, done.stderr


# -- ignore comments that cannot silence anything -------------------------------------


def test_ignore_comment_without_or_with_unknown_rule_is_a_warning(module: Path) -> None:
    text = LOOP.replace(
        "\t\tgo work(x, &wg)\n", "\t\t//gofix-conc:ignore unbounded-goroutine capped by the API\n\t\tgo work(x, &wg)\n"
    )
    text += "\n//gofix-conc:ignore\nvar a = 1\n\n//gofix-conc:ignore all generated elsewhere\nvar b = 2\n"
    (module / "p.go").write_text(text)
    code, out, err = invoke("scan", ".")
    assert code == 1  # the finding the misspelt comment did not silence; warnings leave the exit code alone
    assert f"p.go:12:3: unbounded-goroutines {MESSAGE} [*]" in out
    assert err.splitlines() == [
        "p.go:11:3: warning: unknown rule 'unbounded-goroutine' in ignore comment;"
        " did you mean 'unbounded-goroutines'?",
        "p.go:17:1: warning: ignore comment names no rule; expected //gofix-conc:ignore <rule-id> [reason] (or 'all')",
    ]
    assert out.endswith("2 warnings (above).\n") and "analysed in part" not in out
    _, out, _ = invoke("scan", "--format", "json", ".")
    problems = json.loads(out)["problems"]
    assert [(p["severity"], p["line"], p["column"]) for p in problems] == [("warning", 11, 3), ("warning", 17, 1)]


def test_ignore_comment_for_a_rule_not_selected_is_fine(module: Path) -> None:
    text = LOOP.replace(
        "func Run", "//gofix-conc:ignore goroutine-without-recover,unbounded-goroutines reason\nfunc Run"
    )
    (module / "p.go").write_text(text)
    code, _, err = invoke("scan", ".")
    assert err == "" and code == 1


# -- --statistics, --exit-zero, --output-file, --show-fixes -------------------------------

UNSAFE_LOOP = dedent(
    """\
    package q

    func work(int) {}

    func Run(xs []int) {
    \tfor _, x := range xs {
    \t\tgo work(x)
    \t}
    }
    """
)


def test_statistics_table_and_json(module: Path) -> None:
    (module / "q.go").write_text(UNSAFE_LOOP)
    (module / "r.go").write_text(LOOP.replace("package p", "package r"))
    code, out, _ = invoke("scan", "--statistics", "--select", "unbounded-goroutines,timer-in-loop", ".")
    assert code == 1
    summary = "goroutines started in a loop with no concurrency limit"
    assert out == f"3  unbounded-goroutines  [*] {summary}\n"
    code, out, _ = invoke("scan", "--statistics", "--format", "json", ".")
    assert json.loads(out) == [
        {"code": "unbounded-goroutines", "name": summary, "count": 3, "fixable": True, "unsafe_fixable": True}
    ]
    (module / "p.go").unlink()
    (module / "r.go").unlink()
    _, out, _ = invoke("scan", "--statistics", ".")
    assert out == f"1  unbounded-goroutines  [-] {summary}\n"  # only an unsafe fix
    code, _, err = invoke("scan", "--statistics", "--format", "sarif", ".")
    assert code == 2 and "--statistics goes with --format text or json" in err


def test_exit_zero_keeps_errors(module: Path) -> None:
    assert invoke("scan", "--exit-zero", ".")[0] == 0
    assert invoke("fix", "--exit-zero", ".")[0] == 0  # a diff
    assert (
        invoke("fix", "--exit-zero", "--unsafe-fixes", "--write", "--select", "goroutine-without-recover", ".")[0] == 0
    )
    (module / "bad.go").write_text("package p\nfunc f() { x := }\n")
    assert invoke("scan", "--exit-zero", ".")[0] == 2


def test_output_file_is_written_whole(module: Path) -> None:
    target = module / "out" / "report.json"
    target.parent.mkdir()
    target.write_text("old")
    target.chmod(0o640)
    code, out, _ = invoke("scan", "--format", "json", "--output-file", str(target), ".")
    assert code == 1 and out == ""
    assert json.loads(target.read_text())["findings"][0]["line"] == 11
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temporary file left
    code, out, err = invoke("fix", "-o", "fixes.diff", ".")
    assert code == 1 and out == "" and (module / "fixes.diff").read_text().startswith("--- a/p.go\n")
    assert "Fixed 1 finding" in err
    code, _, err = invoke("scan", "-o", str(module / "missing" / "x.txt"), ".")
    assert code == 2 and "cannot write" in err


def test_show_fixes_lists_fixes_per_file_and_rule(module: Path) -> None:
    code, out, _ = invoke("fix", "--write", "--show-fixes", ".")
    assert code == 0
    assert out.startswith(
        "Fixed 1 finding:\n- p.go:\n    1 \u00d7 unbounded-goroutines (Bound the goroutines with a semaphore)\n"
    )
    assert out.endswith("Fixed 1 finding in 1 file; 0 left:\n  unbounded-goroutines  fixed 1\n")
    _, _, err = invoke("fix", "--show-fixes", "-q", ".")
    assert err == "No fixes applied.\n"


# -- colour -------------------------------------------------------------------------------


def test_color_choice_and_environment(module: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    painted = "\x1b[1mp.go\x1b[0m:11:3: \x1b[1;31munbounded-goroutines\x1b[0m"
    assert invoke("scan", "--color", "always", ".")[1].startswith(painted)
    assert "\x1b[" not in invoke("scan", ".")[1]  # auto: stdout is not a terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert invoke("scan", ".")[1].startswith(painted)
    assert "\x1b[" not in invoke("scan", "--color", "never", ".")[1]
    assert "\x1b[" not in invoke("scan", "--format", "json", "--color", "always", ".")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in invoke("scan", ".")[1]
    assert invoke("scan", "--color", "always", ".")[1].startswith(painted)  # the flag wins over NO_COLOR
    assert "\x1b[" not in invoke("fix", "--write", "--color", "always", "-o", "r.txt", ".")[1]


# -- stdin --------------------------------------------------------------------------------


def test_scan_stdin_reports_under_the_given_name(module: Path) -> None:
    (module / "p.go").unlink()
    (module / "cmd").mkdir()
    code, out, _ = invoke("scan", "--stdin-filename", "cmd/main.go", "-", input=LOOP)
    assert code == 1 and out.startswith(f"cmd/main.go:11:3: unbounded-goroutines {MESSAGE} [*]\n")
    code, out, _ = invoke("scan", "-", input=LOOP)
    assert out.startswith("-:11:3: ")
    code, _, err = invoke("scan", "--stdin-filename", "x.go", ".")
    assert code == 2 and "goes with '-'" in err
    assert invoke("scan", "-", ".", input=LOOP)[0] == 2


def test_fix_stdin_prints_the_fixed_source(module: Path) -> None:
    code, out, err = invoke("fix", "--stdin-filename", "p.go", "-", input=LOOP)
    assert code == 0, err
    assert "sem <- struct{}{}" in out and out.startswith("package p\n")
    assert (module / "p.go").read_text() == LOOP  # nothing written
    code, out, _ = invoke("fix", "--diff", "--stdin-filename", "p.go", "-", input=LOOP)
    assert code == 1 and out.startswith("--- a/p.go\n+++ b/p.go\n")
    code, out, err = invoke("fix", "-", input=UNSAFE_LOOP)
    assert code == 1 and out == UNSAFE_LOOP and "[unsafe fix]" in err  # left: the fix is unsafe
    broken = "package p\nfunc f() { x := }\n"
    code, out, _ = invoke("fix", "-", input=broken)
    assert code == 2 and out == broken
    assert invoke("fix", "--write", "-", input=LOOP)[0] == 2


# -- fix edits in JSON --------------------------------------------------------------------


@pytest.mark.parametrize("crlf", [False, True])
def test_json_fix_edits_give_the_fixed_file(module: Path, crlf: bool) -> None:
    raw = b"\xef\xbb\xbf" + (LOOP.replace("\n", "\r\n") if crlf else LOOP).encode()
    (module / "p.go").write_bytes(raw)
    _, out, _ = invoke("scan", "--format", "json", ".")
    [finding] = json.loads(out)["findings"]
    fix = finding["fix"]
    assert fix["safety"] == "safe" and fix["message"] == "Bound the goroutines with a semaphore"
    data = raw
    for edit in sorted(fix["edits"], key=lambda e: e["start"]["offset"], reverse=True):
        start, end = edit["start"]["offset"], edit["end"]["offset"]
        data = data[:start] + edit["content"].encode() + data[end:]
    lines = raw[3:].decode().splitlines(keepends=True)
    for edit in fix["edits"]:
        for point in (edit["start"], edit["end"]):
            before = "".join(lines[: point["line"] - 1]) + lines[point["line"] - 1][: point["column"] - 1]
            assert len(before.encode()) + 3 == point["offset"]
    assert invoke("fix", "--write", ".")[0] == 0
    assert data == (module / "p.go").read_bytes()


# -- GitHub annotations, GitLab Code Quality ------------------------------------------------


def test_github_annotations_are_escaped() -> None:
    from gofix_conc import reporters
    from gofix_conc.model import Finding, Problem

    finding = Finding("r", Path("a,b:c.go"), 0, 1, 3, 4, 5, 6, "100% racy,\nreally: yes")
    problem = Problem(Path("d.go"), "not analysed: line 2", "error", 2, 7)
    assert reporters.to_github([finding], [problem]).splitlines() == [
        "::warning file=a%2Cb%3Ac.go,line=3,col=4,endLine=5,endColumn=6,title=r::100%25 racy,%0Areally: yes",
        "::error file=d.go,title=gofix-conc,line=2,col=7::not analysed: line 2",
    ]


def test_github_format_end_to_end(module: Path) -> None:
    code, out, _ = invoke("scan", "--format", "github", ".")
    assert code == 1
    assert out == (
        "::warning file=p.go,line=11,col=3,endLine=11,endColumn=18,title=unbounded-goroutines::"
        f"{MESSAGE} (fix: Bound the goroutines with a semaphore, safe)\n"
    )


def test_gitlab_fingerprints_survive_moves_and_are_unique(module: Path) -> None:
    twice = LOOP.replace(
        "func Run(", "func Run2(xs []int) {\n\tfor _, x := range xs {\n\t\tgo work(x, nil)\n\t}\n}\n\nfunc Run("
    )
    (module / "p.go").write_text(twice)
    _, out, _ = invoke("scan", "--format", "gitlab", ".")
    issues = json.loads(out)
    assert [set(i) for i in issues] == [{"description", "check_name", "fingerprint", "severity", "location"}] * 2
    assert issues[0]["location"] == {"path": "p.go", "lines": {"begin": 9, "end": 9}}
    assert issues[0]["check_name"] == "unbounded-goroutines" and issues[0]["severity"] == "major"
    assert len({i["fingerprint"] for i in issues}) == 2
    (module / "p.go").write_text("// moved down\n\n" + twice)
    moved = json.loads(invoke("scan", "--format", "gitlab", ".")[1])
    assert [i["fingerprint"] for i in moved] == [i["fingerprint"] for i in issues]
    assert moved[0]["location"]["lines"]["begin"] == 11


# -- per-file ignores -----------------------------------------------------------------------


def test_per_file_ignores(module: Path) -> None:
    (module / "gen").mkdir()
    (module / "gen" / "g.go").write_text(LOOP)
    (module / ".gofix-conc.toml").write_text('[per-file-ignores]\n"gen/**" = ["unbounded-goroutines"]\n')
    code, out, _ = invoke("scan", ".")
    assert code == 1 and out.startswith("p.go:11:3") and "gen/" not in out
    invoke("fix", "--write", ".")
    assert (module / "gen" / "g.go").read_text() == LOOP and "sem" in (module / "p.go").read_text()
    (module / ".gofix-conc.toml").write_text('[per-file-ignores]\n"p.go" = ["ALL"]\n"*_test.go" = ["unbounded"]\n')
    code, _, err = invoke("scan", ".")
    assert code == 2 and "per-file-ignores.'*_test.go': unknown rule 'unbounded'; did you mean" in err
    (module / ".gofix-conc.toml").write_text('per-file-ignores = ["p.go"]\n')
    code, _, err = invoke("scan", ".")
    assert code == 2 and "per-file-ignores: expected a table" in err


def test_per_file_ignored_globs(tmp_path: Path) -> None:
    from gofix_conc.config import per_file_ignored

    table = (("**/*_test.go", ("a",)), ("cmd/", ("b",)), ("x.go", ("c",)), ("./internal/*.go", ("d",)))
    assert per_file_ignored(tmp_path / "p_test.go", tmp_path, table) == {"a"}
    assert per_file_ignored(tmp_path / "cmd" / "t" / "x.go", tmp_path, table) == {"b", "c"}
    assert per_file_ignored(tmp_path / "internal" / "y.go", tmp_path, table) == {"d"}
    assert per_file_ignored(tmp_path / "other" / "y.go", tmp_path, table) == set()


# -- no Go files ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["scan", "fix"])
def test_no_go_files_is_a_warning_and_exit_zero(module: Path, command: str) -> None:
    (module / "docs").mkdir()
    (module / "docs" / "README.md").write_text("no Go here\n")
    code, out, err = invoke(command, "docs")
    assert code == 0
    assert err.splitlines()[0] == "gofix-conc: warning: no Go files found under docs"
    code, out, _ = invoke("scan", "--format", "json", "docs")
    assert code == 0 and json.loads(out)["findings"] == []


# -- progress ---------------------------------------------------------------------------------


def test_progress_shows_files_done_on_a_terminal(module: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from gofix_conc import cli, progress

    for name in "abc":
        (module / f"{name}.go").write_text(LOOP)
    screen = io.StringIO()

    def on_terminal(quiet: bool, console: object = None) -> progress.Tracker:
        return progress.Tracker(None if quiet else Console(file=screen, force_terminal=True, width=120))

    monkeypatch.setattr(cli.progress, "tracker", on_terminal)
    code, out, _ = invoke("scan", ".")
    assert code == 1 and "\x1b[" not in out and out.count("unbounded-goroutines") == 5
    shown = screen.getvalue()
    assert "scanning" in shown and "4/4" in shown and "p.go" in shown
    screen.truncate(0)
    invoke("scan", "-q", ".")
    assert screen.getvalue() == ""
    invoke("fix", ".")
    assert "fixing" in screen.getvalue() and "4/4" in screen.getvalue()
    for name in "abc":
        (module / f"{name}.go").unlink()  # they declare the same function: the package would not build
    screen.truncate(0)
    code, _, err = invoke("fix", "--verify", ".")
    assert "Verified 1 package" in err and "verifying" in screen.getvalue() and "1/1" in screen.getvalue()


def test_progress_only_on_a_terminal() -> None:
    import io

    from gofix_conc import progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress.wanted(False, Tty()) and not progress.wanted(True, Tty())
    assert not progress.wanted(False, io.StringIO())
    quiet = progress.tracker(True)
    with quiet:
        assert list(quiet.track(iter([1, 2]), 2, "x")) == [1, 2]
    assert quiet.console is None


def test_progress_on_a_real_terminal_and_not_with_quiet(module: Path) -> None:
    import sys

    pexpect = pytest.importorskip("pexpect")

    def on_pty(*args: str) -> str:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "gofix_conc", "scan", "--no-cache", "--select", "unbounded-goroutines", *args, "."],
            cwd=str(module),
            env={**__import__("os").environ, "TERM": "xterm", "COLUMNS": "120"},
            encoding="utf-8",
            timeout=60,
        )
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 1
        return child.before

    shown = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", on_pty())  # stdout is the terminal too: in colour
    assert "scanning" in shown and "1/1" in shown and f"p.go:11:3: unbounded-goroutines {MESSAGE}" in shown
    assert "scanning" not in on_pty("-q")
