"""What scan and fix say at the end, per rule, in text mode only (toy comment rules, see test_fix_loop)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_fix_loop import comment_rule, go_file, unsafe_while, use_rules  # noqa: F401 (use_rules is a fixture)
from typer.testing import CliRunner

from gofix_conc.cli import app
from gofix_conc.context import FileContext
from gofix_conc.model import Finding, FixKind, Rule
from gofix_conc.source import captures


def plain_rule(rule_id: str, word: str) -> Rule:
    """`// word` comments, reported with no fix."""

    def check(ctx: FileContext) -> Iterator[Finding]:
        for node in captures("(comment) @c", ctx.root).get("c", []):
            if ctx.text(node) == f"// {word}":
                yield ctx.finding(node, f"the comment says {word}")

    return Rule(id=rule_id, summary=f"comments that say {word}", doc="", check=check, fix_kind=FixKind.NONE)


@pytest.fixture
def project(tmp_path: Path, use_rules, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    use_rules(
        comment_rule("say-beta", "alpha", "beta"),
        comment_rule("say-gamma", "beta", "gamma"),  # offered only once say-beta ran
        comment_rule("risky", "target", "done", unsafe_while("alpha")),  # unsafe as scanned, safe after say-beta
        plain_rule("plain", "todo"),
    )
    go_file(tmp_path, "alpha", "target", "todo", "alpha")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, [*args, "--jobs", "1"])
    return done.exit_code, done.stdout, done.stderr


def test_scan_summary_counts_findings_and_fixes_per_rule(project: Path) -> None:
    _, out, _ = invoke("scan", "--no-cache", ".")
    assert out.endswith(
        "Found 4 findings (2 fixable with 'gofix-conc fix', 1 more with --unsafe-fixes):\n"
        "  plain     1\n"
        "  risky     1 (1 with unsafe fix)\n"
        "  say-beta  2 (2 fixable)\n"
    )


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_machine_formats_have_no_summary(project: Path, fmt: str) -> None:
    code, out, err = invoke("scan", "--no-cache", "--format", fmt, ".")
    assert code == 1 and err == ""
    json.loads(out)  # the whole output is the document


def test_fix_write_summary_says_what_was_fixed_and_why_the_rest_was_left(project: Path) -> None:
    code, out, err = invoke("fix", "--write", ".")
    assert code == 1
    text = (project / "p.go").read_text()
    assert text.count("// beta") == 2 and "// target" in text  # risky stays: scan showed it unsafe
    assert "// gamma" not in text  # say-gamma only appeared after say-beta's fix: scan did not list it
    assert out.endswith(
        "Fixed 2 findings in 1 file; 4 left (1 fixable with --unsafe-fixes):\n"
        "  plain      left 1 (no fix 1)\n"
        "  risky      left 1 (unsafe fix not applied 1)\n"
        "  say-beta   fixed 2\n"
        "  say-gamma  left 2 (held back: appeared after another fix 2)\n"
    )
    assert "p.go:4:1: risky the comment says target [unsafe fix]" in out
    assert err.splitlines() == [
        f"p.go:{line}:1: note: say-gamma fix not applied: it only appeared once fixing say-beta at p.go:{line}:1"
        " rewrote the code (scan did not list it); run fix again to review it"
        for line in (3, 6)
    ]


def test_fix_diff_summary_goes_to_stderr(project: Path) -> None:
    code, out, err = invoke("fix", ".")
    assert code == 1
    assert out.startswith("--- a/p.go\n") and "Fixed" not in out
    assert "Fixed 2 findings in 1 file; 4 left (1 fixable with --unsafe-fixes):\n" in err
    assert (project / "p.go").read_text().count("// alpha") == 2  # nothing written


def test_fix_with_unsafe_fixes_and_nothing_left(project: Path) -> None:
    (project / "p.go").write_text("package p\n\n// target\n")
    code, out, _ = invoke("fix", "--write", "--unsafe-fixes", ".")
    assert code == 0
    assert out == "Fixed 1 finding in 1 file; 0 left:\n  risky  fixed 1\n"
    code, out, _ = invoke("fix", "--write", ".")
    assert (code, out) == (0, "No findings.\n")
