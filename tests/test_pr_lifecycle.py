"""The PR bot's lifecycle on each forge: created, unchanged, updated, handed off, closed, declined, completed.

Every case pushes through a real smart-HTTP git server that demands the token
and talks to a loopback forge that keeps state (tests/fakeforge.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prworld import COUNT_GO, RUN_GO_FIXED, TOKEN, World, git, make_world

from gofix_conc import pr
from gofix_conc.forge import ForgeError

FORGES = ["github", "gitlab", "gitea"]


@pytest.fixture(params=FORGES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with make_world(request.param, tmp_path) as made:
        yield made
        # Whatever the case did: the credential never left the Authorization header.
        assert made.http.unauthorized == 0
        assert not any(TOKEN in line for line in made.http.requests)
        assert TOKEN not in (made.work / ".git" / "config").read_text()
        for pull in made.api.pulls:
            assert TOKEN not in pull.body and not any(TOKEN in c for c in pull.comments)


def user_state(work: Path) -> tuple[str, str, str, str]:
    return (
        git(work, "rev-parse", "HEAD"),
        git(work, "symbolic-ref", "HEAD"),
        git(work, "status", "--porcelain", "--untracked-files=all"),
        git(work, "worktree", "list", "--porcelain"),
    )


def test_created(world: World) -> None:
    before = user_state(world.work)
    out = world.run(labels=("concurrency",), reviewers=("alice",), assignees=("bob",))
    assert out.action == "created"
    assert out.pushed
    assert [p.number for p in world.api.open_pulls(pr.DEFAULT_BRANCH)] == [out.number]
    pull = world.api.pulls[0]
    assert out.url and str(pull.number) in out.url
    assert pull.base == "main"
    assert pull.title == "fix(concurrency): bound goroutines in loops"
    assert "| `unbounded-goroutines` | 1 | 1 |" in pull.body
    assert "run.go:11" in pull.body and "gofix-conc-metadata" in pull.body
    assert pull.labels == ["concurrency"]
    assert pull.reviewers == ["alice"]
    assert pull.assignees == ["bob"]
    assert world.bot_commits() == [f"{pr.BOT_NAME} <{pr.BOT_EMAIL}> fix(concurrency): bound goroutines in loops"]
    trailer = git(world.bare, "log", "-1", "--format=%(trailers:key=Gofix-Conc-Rule,valueonly)", pr.DEFAULT_BRANCH)
    assert trailer.strip() == "unbounded-goroutines"
    assert [c.sha for c in out.commits] == [world.remote_head()]
    # The user's checkout, index, branch and worktrees are as they were.
    assert user_state(world.work) == before
    assert not git(world.work, "for-each-ref", "refs/gofix-conc")


def test_unchanged(world: World) -> None:
    first = world.run()
    head = world.remote_head()
    writes = len(world.api.writes())
    pushes = sum("git-receive-pack" in r for r in world.http.requests)
    again = world.run()
    assert again.action == "unchanged"
    assert (again.number, again.url) == (first.number, first.url)
    assert world.remote_head() == head
    assert len(world.api.writes()) == writes  # no API write
    assert sum("git-receive-pack" in r for r in world.http.requests) == pushes  # no push
    assert [c.sha for c in again.commits] == [head]


def test_updated(world: World) -> None:
    first = world.run()
    head = world.remote_head()
    world.commit_upstream({"count.go": COUNT_GO}, "add Count")
    out = world.run()
    assert out.action == "updated"
    assert out.number == first.number
    assert world.remote_head() != head
    assert len(world.api.open_pulls(pr.DEFAULT_BRANCH)) == 1
    pull = world.api.pulls[0]
    assert "count.go" in pull.body and "non-atomic-counter" in pull.body
    assert len(world.bot_commits()) == 2
    # Rebased on the new base: the branch starts at main's head.
    assert git(world.bare, "merge-base", "main", pr.DEFAULT_BRANCH) == git(world.bare, "rev-parse", "main")


def test_human_push_hands_the_branch_over(world: World) -> None:
    first = world.run()
    human = world.commit_upstream({"NOTES.md": "tuned the limit\n"}, "tune the limit", branch=pr.DEFAULT_BRANCH)
    world.commit_upstream({"count.go": COUNT_GO}, "add Count")  # new fixes the bot would like to push
    out = world.run()
    assert out.action == "handed-off"
    assert out.number == first.number
    assert world.remote_head() == human  # not pushed over
    pull = world.api.pulls[0]
    assert pull.state == "open"
    assert sum(pr.HANDED_OFF_MARK in c for c in pull.comments) == 1
    again = world.run()
    assert again.action == "handed-off"
    assert sum(pr.HANDED_OFF_MARK in c for c in pull.comments) == 1  # commented once
    assert world.remote_head() == human


def test_closed_when_nothing_is_left(world: World) -> None:
    first = world.run()
    world.commit_upstream({"run.go": RUN_GO_FIXED}, "bound the goroutines by hand")
    out = world.run()
    assert out.action == "closed"
    assert out.number == first.number
    pull = world.api.pulls[0]
    assert pull.state == "closed"
    assert any(pr.CLOSED_MARK in c for c in pull.comments)
    assert world.run().action == "unchanged"  # and it stays closed, with no new pull request
    assert len(world.api.pulls) == 1


def test_declined_fixes_are_not_proposed_again(world: World) -> None:
    world.run()
    world.api.pulls[0].state = "closed"  # a maintainer closed it without merging
    out = world.run()
    assert out.action == "declined"
    assert out.declined == 1
    assert len(world.api.pulls) == 1
    # A new pitfall elsewhere is proposed alone.
    world.commit_upstream({"count.go": COUNT_GO}, "add Count")
    fresh = world.run()
    assert fresh.action == "created"
    assert fresh.number == 2
    body = world.api.pulls[1].body
    assert "count.go" in body and "run.go:" not in body
    assert "1 fix declined in an earlier pull request" in body
    # Unless asked to propose the declined ones too.
    world.api.pulls[1].state = "closed"
    again = world.run(reopen_declined=True)
    assert again.action == "created"
    assert "run.go:" in world.api.pulls[2].body
    assert len(world.api.open_pulls(pr.DEFAULT_BRANCH)) == 1


def test_half_failed_run_is_completed(world: World) -> None:
    create = {"github": r"/pulls$", "gitlab": r"/merge_requests$", "gitea": r"/pulls$"}[world.kind]
    world.api.fail("POST", create, 502, times=3)  # more than the retries allow
    with pytest.raises(ForgeError) as failed:
        world.run()
    assert "502" in str(failed.value) and TOKEN not in str(failed.value)
    pushed = world.remote_head()
    assert pushed is not None and not world.api.pulls
    out = world.run()
    assert out.action == "created"
    assert not out.pushed  # the branch was already right
    assert world.remote_head() == pushed
    assert len(world.api.open_pulls(pr.DEFAULT_BRANCH)) == 1


def test_retries_rate_limits_and_server_errors(world: World) -> None:
    pulls = {"github": r"/pulls$", "gitlab": r"/merge_requests$", "gitea": r"/pulls$"}[world.kind]
    world.api.fail("GET", pulls, 403, times=1, **{"Retry-After": "1"})  # a secondary rate limit
    world.api.fail("POST", pulls, 500, times=1)
    out = world.run()
    assert out.action == "created"
    assert len(world.api.pulls) == 1  # the retried create made one pull request
    assert [c for c in world.api.calls if c[0] == "POST" and c[1].split("?")[0].endswith(pulls.strip("$"))]


def test_dry_run_changes_nothing(world: World) -> None:
    before = user_state(world.work)
    out = world.run(dry_run=True, labels=("bot",))
    assert out.action == "dry-run" and out.planned == "created"
    assert world.remote_head() is None
    assert not world.api.writes()
    assert any(c.startswith("git push") for c in out.calls)
    assert any(c.startswith("open a pull request") for c in out.calls)
    assert out.commits and out.title and "gofix-conc-metadata" in out.body
    assert user_state(world.work) == before
    assert out.to_json()["action"] == "dry-run"


def test_a_token_the_forge_refuses(world: World) -> None:
    request = world.request()
    with pytest.raises(ForgeError) as failed:
        pr.run(request, world.work, environ={"GOFIX_CONC_TOKEN": "wrong-token-123"})
    assert "401" in str(failed.value) and "wrong-token-123" not in str(failed.value)
    assert world.remote_head() is None


def test_git_push_needs_the_token(world: World) -> None:
    """The git server really checks: a push without the header is refused."""
    done = subprocess.run(
        ["git", "push", "-q", world.url, "HEAD:refs/heads/intruder"],
        cwd=world.work,
        capture_output=True,
        text=True,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": __import__("os").environ["PATH"], "HOME": str(world.root)},
    )
    assert done.returncode != 0
    assert world.remote_head("intruder") is None
    world.http.unauthorized = 0  # expected here


def test_a_stale_persisted_header_is_not_sent(tmp_path: Path) -> None:
    """A CI checkout may leave an Authorization header in .git/config: the bot's replaces it instead of adding one."""
    with make_world("github", tmp_path) as world:
        git(world.work, "config", f"http.{world.url}.extraheader", "Authorization: Basic c3RhbGU6c3RhbGU=")
        assert world.run().action == "created"
        assert world.remote_head() is not None
        assert world.http.unauthorized == 0
