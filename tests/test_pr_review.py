"""`gofix-conc pr --review NUMBER` on each forge: suggestions on the lines a pull request adds, once, and a summary.

The pull request's branch is pushed through the smart-HTTP git server; the
loopback forge reads the same bare repository (``git_dir``), so it answers
with the real head commit and diff refs and refuses a comment whose commit is
not the head or whose line is not in the diff, as the forges do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeforge import Pull
from prworld import COUNT_GO, RUN_GO, TOKEN, World, git, make_world
from typer.testing import CliRunner

from gofix_conc import pr_review
from gofix_conc.cli import app

FORGES = ["github", "gitlab", "gitea"]
FAN_GO = RUN_GO.replace("func work(int) {}\n\n", "").replace("func Run(", "func Fan(")
TALLY_GO = COUNT_GO.replace("func Count(", "func Tally(")


@pytest.fixture(params=FORGES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with make_world(request.param, tmp_path) as made:
        made.api.git_dir = made.bare
        yield made
        assert made.http.unauthorized == 0
        assert TOKEN not in (made.work / ".git" / "config").read_text()


def open_pull(world: World) -> Pull:
    """A colleague's pull request adding count.go and fan.go; run.go, on main, is not part of it."""
    world.commit_upstream({"count.go": COUNT_GO, "fan.go": FAN_GO}, "add Count and Fan", branch="feature")
    pull = Pull(len(world.api.pulls) + 1, "feature", "main", "Add Count and Fan", "Please review.")
    world.api.pulls.append(pull)
    return pull


def line_comments(world: World, pull: Pull) -> list[dict]:
    """(path, line the comment sits on, body) of each line comment, in each forge's own shape."""
    if world.kind == "gitlab":
        return [
            {"path": n["position"]["new_path"], "line": n["position"]["new_line"], "body": n["body"]}
            for d in pull.discussions
            for n in d["notes"]
        ]
    key = "line" if world.kind == "github" else "new_position"
    return [{"path": c["path"], "line": c[key], "body": c["body"]} for c in pull.review_comments]


def review(world: World, number: int) -> pr_review.ReviewOutcome:
    return pr_review.review(world.request(), number, world.work, connect=_fast, environ={"GOFIX_CONC_TOKEN": TOKEN})


def _fast(target, token):  # type: ignore[no-untyped-def]
    from prworld import fast_retries

    return fast_retries(target, token)


def test_review_posts_once_and_a_new_fix_adds_one_comment(world: World) -> None:
    pull = open_pull(world)
    before = git(world.work, "rev-parse", "HEAD"), git(world.work, "status", "--porcelain")

    first = review(world, pull.number)
    assert first.action == "reviewed"
    comments = line_comments(world, pull)
    assert sorted(c["path"] for c in comments) == ["count.go", "fan.go"]
    fence = "```suggestion:-" if world.kind == "gitlab" else "```suggestion\n"
    for comment in comments:
        assert fence in comment["body"] and "gofix-conc-suggestion" in comment["body"]
    count = next(c["body"] for c in comments if c["path"] == "count.go")
    assert "non-atomic-counter" in count and "atomic" in count.split("suggestion", 1)[1]
    # run.go is on main, not in the pull request: in the one summary comment instead
    summaries = [c for c in pull.comments if pr_review.SUMMARY_MARK in c]
    assert len(summaries) == 1 and "run.go:11" in summaries[0] and "unbounded-goroutines" in summaries[0]
    assert first.summary == "created" and [f.path for f in first.outside] == ["run.go"]
    # the user's checkout is as it was, and no private ref is left behind
    assert (git(world.work, "rev-parse", "HEAD"), git(world.work, "status", "--porcelain")) == before
    assert not git(world.work, "for-each-ref", "refs/gofix-conc")

    writes = len(world.api.writes())
    again = review(world, pull.number)
    assert again.action == "unchanged" and not again.posted
    assert again.already == sum(len(p.fixes) for p in first.posted)
    assert len(world.api.writes()) == writes  # nothing posted, the summary not edited
    assert len(line_comments(world, pull)) == 2

    world.commit_upstream({"tally.go": TALLY_GO}, "add Tally", branch="feature")
    third = review(world, pull.number)
    assert third.action == "reviewed"
    assert [p.path for p in third.posted] == ["tally.go"]
    assert sorted(c["path"] for c in line_comments(world, pull)) == ["count.go", "fan.go", "tally.go"]
    assert sum(pr_review.SUMMARY_MARK in c for c in pull.comments) == 1
    assert third.summary == "unchanged"


def test_summary_is_edited_in_place(world: World) -> None:
    pull = open_pull(world)
    review(world, pull.number)
    # main gains a file with a fix: the summary lists it, in the same comment
    world.commit_upstream({"more.go": TALLY_GO.replace("Tally(", "More(")}, "add More")
    world.commit_upstream({"empty.txt": "x\n"}, "merge main", branch="feature")
    git_merge_main(world)
    out = review(world, pull.number)
    assert out.summary == "updated" and not out.posted
    (summary,) = [c for c in pull.comments if pr_review.SUMMARY_MARK in c]
    assert "more.go" in summary and "run.go" in summary


def git_merge_main(world: World) -> None:
    """Merge main into the feature branch on the remote (a merge commit adds no lines of its own)."""
    other = world.root / "merger"
    if not other.exists():
        git(world.root, "clone", "-q", world.url, other.name, auth=True)
        git(other, "config", "user.name", "Colleague")
        git(other, "config", "user.email", "colleague@example.com")
    git(other, "fetch", "-q", "origin", auth=True)
    git(other, "checkout", "-q", "-B", "feature", "origin/feature")
    git(other, "merge", "-q", "--no-edit", "origin/main")
    git(other, "push", "-q", "origin", "HEAD:refs/heads/feature", auth=True)


def test_review_dry_run_and_cli(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    pull = open_pull(world)
    monkeypatch.chdir(world.work)
    monkeypatch.setenv("GOFIX_CONC_TOKEN", TOKEN)
    args = ["pr", "--review", str(pull.number), "--no-verify", "--forge", world.kind, "--api-url", world.api.api_url]
    args += ["--repo", world.api.repo, "--select", "unbounded-goroutines,non-atomic-counter", "--format", "json"]
    dry = CliRunner().invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.output[dry.output.index("{") :])
    assert data["action"] == "dry-run" and len(data["suggestions"]) == 2
    assert not line_comments(world, pull) and not pull.comments  # nothing written
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output[done.output.index("{") :])["action"] == "reviewed"
    assert len(line_comments(world, pull)) == 2
    closed = CliRunner().invoke(app, ["pr", "--review", "99", *args[3:]])
    assert closed.exit_code == 2 and "99" in closed.output
