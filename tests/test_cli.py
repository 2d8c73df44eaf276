"""The command line end to end: outputs, exit codes and bad input."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import jsonschema
import pytest
from conftest import ROOT

SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"

# The loop of conftest's LOOP with a join after it, so that the semaphore is a safe fix.
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


def gofix(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI; scan and fix look at one rule so that other rules do not change the counts."""
    if args[0] in ("scan", "fix") and "--select" not in args:
        args = (args[0], "--select", "unbounded-goroutines", *args[1:])
    return subprocess.run([sys.executable, "-m", "gofix_conc", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    (tmp_path / "go.mod").write_text("module example.com/p\n\ngo 1.24\n")
    (tmp_path / "p.go").write_text(LOOP)
    return tmp_path


def test_scan_text_is_compiler_style(module: Path) -> None:
    done = gofix("scan", ".", cwd=module)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    message = "goroutine started in a loop with no limit on how many run at once"
    assert lines[0] == f"p.go:11:3: unbounded-goroutines {message} [*]"
    assert lines[1:] == ["Found 1 finding (1 fixable with 'gofix-conc fix'):", "  unbounded-goroutines  1 (1 fixable)"]


def test_scan_clean_module_exits_zero(module: Path) -> None:
    (module / "p.go").write_text("package p\n")
    done = gofix("scan", ".", cwd=module)
    assert done.returncode == 0 and "No findings." in done.stdout


def test_scan_json(module: Path) -> None:
    done = gofix("scan", "--format", "json", ".", cwd=module)
    data = json.loads(done.stdout)
    assert data["version"] == 1
    [finding] = data["findings"]
    assert finding["fix"].pop("edits")  # see test_conventions: the fix's edits as ranges and text
    assert finding == {
        "rule": "unbounded-goroutines",
        "path": "p.go",
        "line": 11,
        "column": 3,
        "end_line": 11,
        "end_column": 18,
        "message": "goroutine started in a loop with no limit on how many run at once",
        "fix": {"safety": "safe", "message": "Bound the goroutines with a semaphore"},
    }


def test_scan_sarif_validates_against_the_schema(module: Path) -> None:
    done = gofix("scan", "--format", "sarif", ".", cwd=module)
    log = json.loads(done.stdout)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(log)
    [run] = log["runs"]
    [result] = run["results"]
    assert result["ruleId"] == "unbounded-goroutines"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "p.go"
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "unbounded-goroutines"


def test_fix_diff_is_a_patch_and_write_is_idempotent(module: Path) -> None:
    diff = gofix("fix", ".", cwd=module)
    assert diff.returncode == 1 and diff.stdout.startswith("--- a/p.go\n+++ b/p.go\n")
    patch = subprocess.run(["patch", "-p1", "--dry-run"], input=diff.stdout, cwd=module, capture_output=True, text=True)
    assert patch.returncode == 0, patch.stdout + patch.stderr
    (module / "p.go").chmod(0o640)
    written = gofix("fix", "--write", ".", cwd=module)
    assert written.returncode == 0, written.stdout + written.stderr
    assert stat.S_IMODE((module / "p.go").stat().st_mode) == 0o640
    assert gofix("fix", ".", cwd=module).returncode == 0
    assert gofix("scan", ".", cwd=module).returncode == 0


def test_unsafe_fixes_only_with_the_flag(module: Path) -> None:
    (module / "p.go").write_text(
        dedent(
            """\
            package p

            func work(int) {}

            // Run does not wait for its goroutines: a limit would make it block until most have finished.
            func Run(xs []int) {
            \tfor _, x := range xs {
            \t\tgo work(x)
            \t}
            }
            """
        )
    )
    assert "[unsafe fix]" in gofix("scan", ".", cwd=module).stdout
    safe = gofix("fix", "--write", ".", cwd=module)
    assert safe.returncode == 1 and "sem" not in (module / "p.go").read_text()
    unsafe = gofix("fix", "--write", "--unsafe-fixes", ".", cwd=module)
    assert unsafe.returncode == 0 and "sem <- struct{}{}" in (module / "p.go").read_text()


def test_syntax_error_is_reported_and_never_rewritten(module: Path) -> None:
    broken = LOOP.replace("go work(x, &wg)", "go work(x, &wg")
    (module / "bad.go").write_text(broken)
    done = gofix("fix", "--write", ".", cwd=module)
    assert done.returncode == 2
    assert "bad.go: error: not analysed: line 11" in done.stderr and "syntax error" in done.stderr
    assert (module / "bad.go").read_text() == broken
    assert "sem" in (module / "p.go").read_text()  # the good file is still fixed


def test_non_utf8_is_reported(module: Path) -> None:
    (module / "latin1.go").write_bytes(b"package p\n\n// caf\xe9\nfunc f() {}\n")
    done = gofix("scan", ".", cwd=module)
    assert done.returncode == 2 and "latin1.go: error: not analysed: line 3: not valid UTF-8" in done.stderr


def test_empty_file_is_not_an_error(module: Path) -> None:
    (module / "p.go").write_text("")
    done = gofix("scan", ".", cwd=module)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file(module: Path) -> None:
    (module / "p.go").chmod(0)
    done = gofix("scan", ".", cwd=module)
    assert done.returncode == 2 and "p.go: error: cannot read" in done.stderr


def test_unreadable_file_while_walking(module: Path) -> None:
    # A dangling symlink is listed by the walk but cannot be read (root can read any mode).
    (module / "gone.go").symlink_to(module / "deleted.go")
    done = gofix("scan", ".", cwd=module)
    assert done.returncode == 2 and "gone.go: error: cannot read: No such file or directory" in done.stderr
    assert "p.go:11:3" in done.stdout  # the other files are still scanned


def test_crlf_and_bom_are_preserved(module: Path) -> None:
    raw = b"\xef\xbb\xbf" + LOOP.replace("\n", "\r\n").encode()
    (module / "p.go").write_bytes(raw)
    done = gofix("fix", "--write", ".", cwd=module)
    assert done.returncode == 0, done.stderr
    fixed = (module / "p.go").read_bytes()
    assert fixed.startswith(b"\xef\xbb\xbfpackage p\r\n")
    assert b"\n" not in fixed.replace(b"\r\n", b"")
    assert b"sem <- struct{}{}\r\n" in fixed


def test_missing_path_and_unknown_rule_exit_two(module: Path) -> None:
    assert gofix("scan", "nope", cwd=module).returncode == 2
    done = gofix("scan", "--select", "no-such-rule", ".", cwd=module)
    assert done.returncode == 2 and "unknown rule 'no-such-rule'" in done.stderr


def test_rules_and_explain(module: Path) -> None:
    rules = gofix("rules", cwd=module)
    assert "unbounded-goroutines" in rules.stdout
    explain = gofix("explain", "unbounded-goroutines", cwd=module)
    assert "## Why is this bad?" in explain.stdout and "## Fix safety" in explain.stdout


def test_write_never_overwrites_a_concurrent_change(tmp_path: Path) -> None:
    from gofix_conc.writer import WriteError, write_atomic

    path = tmp_path / "x.go"
    path.write_text("package x\n// edited by the user\n")
    with pytest.raises(WriteError, match="changed on disk"):
        write_atomic(path, b"package x\n", b"package x\n")
    assert path.read_text() == "package x\n// edited by the user\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.go"]


def test_showcase_all_rules_fix_builds_vets_and_is_stable(tmp_path: Path, go_cache: Path) -> None:
    """make demo's module: every rule at once, with unsafe fixes, still builds and vets."""
    import shutil

    import gotool

    work = tmp_path / "showcase"
    shutil.copytree(ROOT / "fixtures" / "showcase", work)
    done = subprocess.run(
        [sys.executable, "-m", "gofix_conc", "fix", "--write", "--unsafe-fixes", "--select", "ALL", "."],
        cwd=work,
        capture_output=True,
        text=True,
    )
    # Left over: findings with no fix at all (exit 1), never one with a fix.
    assert done.returncode in (0, 1) and not done.stderr, done.stdout + done.stderr
    assert "[*]" not in done.stdout and "[unsafe fix]" not in done.stdout, done.stdout
    fixed = (work / "thumbnails.go").read_bytes()
    assert gotool.gofmt_diff(fixed) == ""
    vet = gotool.run([gotool.go(), "vet", "."], work, go_cache)
    assert vet.returncode == 0, vet.stdout + vet.stderr
    again = subprocess.run(
        [sys.executable, "-m", "gofix_conc", "scan", "--select", "ALL", "."], cwd=work, capture_output=True, text=True
    )
    assert again.returncode == done.returncode and "[*]" not in again.stdout, again.stdout
    assert "[unsafe fix]" not in again.stdout, again.stdout


NEWER_SYNTAX = dedent(
    """\
    package p

    func Ptr() *int {
    \treturn new(42)
    }
    """
)


def test_newer_syntax_is_a_warning_and_the_rest_is_fixed(module: Path) -> None:
    (module / "p.go").write_text(LOOP + "\n" + NEWER_SYNTAX.replace("package p\n\n", ""))
    scanned = gofix("scan", ".", cwd=module)
    assert scanned.returncode == 1, scanned.stderr  # the finding, not an error
    assert "p.go:17:13: warning: Go syntax newer than the tree-sitter-go grammar" in scanned.stderr
    assert "1 file analysed in part" in scanned.stdout
    as_json = json.loads(gofix("scan", "--format", "json", ".", cwd=module).stdout)
    assert [(p["severity"], p["line"], p["column"]) for p in as_json["problems"]] == [("warning", 17, 13)]
    written = gofix("fix", "--write", ".", cwd=module)
    assert written.returncode == 0, written.stderr
    fixed = (module / "p.go").read_text()
    assert "sem <- struct{}{}" in fixed and "return new(42)" in fixed


def test_syntax_error_in_every_format(module: Path) -> None:
    lines = ["package p", ""] + [f"func f{i}() {{}}" for i in range(40)] + ["func g() { x := }", ""]
    (module / "bad.go").write_text("\n".join(lines))
    text = gofix("scan", ".", cwd=module)
    assert text.returncode == 2 and "bad.go: error: not analysed: line 43, column" in text.stderr
    assert "1 file not analysed" in text.stdout
    problems = json.loads(gofix("scan", "--format", "json", ".", cwd=module).stdout)["problems"]
    assert [(p["path"], p["severity"], p["line"]) for p in problems] == [("bad.go", "error", 43)]
    sarif = json.loads(gofix("scan", "--format", "sarif", ".", cwd=module).stdout)
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(sarif)
    (invocation,) = sarif["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and note["locations"][0]["physicalLocation"]["region"]["startLine"] == 43


def test_read_only_file_needs_force(module: Path) -> None:
    target = module / "p.go"
    target.chmod(0o444)
    refused = gofix("fix", "--write", ".", cwd=module)
    assert refused.returncode == 2 and "read-only; not written" in refused.stderr
    assert target.read_text() == LOOP
    forced = gofix("fix", "--write", "--force", ".", cwd=module)
    assert forced.returncode == 0, forced.stderr
    assert "sem <- struct{}{}" in target.read_text() and stat.S_IMODE(target.stat().st_mode) == 0o444
