"""Conventions users know from ruff and golangci-lint: ignore-comment warnings, statistics, exit-zero,
output files, colour, stdin, fix edits in JSON, GitHub and GitLab formats, per-file ignores, no Go files."""

from __future__ import annotations

import json
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
