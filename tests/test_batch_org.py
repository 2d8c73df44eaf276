"""Campaigns over an organisation listed by the forge, and --max-open-prs, against the loopback forge."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from fakeforge import FakeForge
from prworld import RUN_GO, TOKEN, git, make_world
from test_batch import batch, report_data

from gofix_conc import pr

FORGES = ["github", "gitlab", "gitea"]


@pytest.fixture(autouse=True)
def go_env(monkeypatch: pytest.MonkeyPatch, go_cache: Path) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("GOCACHE", str(go_cache / "gocache"))
    monkeypatch.setenv("GOFIX_CONC_TOKEN", TOKEN)


def bare_repo(root: Path, name: str, files: dict[str, str]) -> Path:
    """A bare repository holding ``files`` on main."""
    work = root / "src" / name
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    for path, text in files.items():
        (work / path).write_text(text)
    git(work, "add", "-A")
    git(work, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "init")
    bare = root / "bare" / f"{name}.git"
    git(root, "clone", "-q", "--bare", str(work), str(bare))
    return bare


@pytest.mark.parametrize("kind", FORGES)
def test_org_lists_repositories_through_the_forge(kind: str, tmp_path: Path) -> None:
    go = {"go.mod": "module example.com/x\n\ngo 1.22\n", "run.go": RUN_GO}
    with FakeForge(kind, "acme/unused", TOKEN) as api:
        names = ["svc", "api", "old", "forked", "scratch", "one", "two"]
        urls = {n: bare_repo(tmp_path, n, go).as_uri() for n in names}
        api.add_org_repo("acme/svc", urls["svc"])
        api.add_org_repo("acme/platform/api", urls["api"])  # a subgroup: listed by GitLab only
        api.add_org_repo("acme/old", urls["old"], archived=True)
        api.add_org_repo("acme/forked", urls["forked"], fork=True)
        api.add_org_repo("acme/scratch", urls["scratch"])
        api.add_org_repo("acme/one", urls["one"])
        api.add_org_repo("acme/two", urls["two"])  # with "one": more than a page of two
        api.add_org_repo("other/svc", urls["svc"])
        state = tmp_path / "campaign"
        args = ["run", "--state", str(state), "--org", "acme", "--forge", kind, "--api-url", api.api_url]
        args += ["--exclude", "scratch$", "--select", "unbounded-goroutines", "--jobs", "2"]
        code, output = batch(*args)
        assert code == 0, output
        units = report_data(state)["units"]
        expected = {"svc", "one", "two"} | ({"api"} if kind == "gitlab" else set())
        assert {Path(u["repository"]).name.removesuffix(".git") for u in units} == expected
        assert {u["repository"] for u in units} == {urls[n] for n in expected}  # the API's clone URLs
        assert all(u["findings"] == {"unbounded-goroutines": 1} for u in units)
        listing = [path for method, path in api.calls if "/orgs/" in path or "/groups/" in path]
        assert len(listing) >= 2  # every page read
        if kind == "gitlab":
            assert all("include_subgroups=true" in path for path in listing)

        code, output = batch(*args[:-2], "--include-archived", "--include-forks", "--include", "^acme/(old|forked)$")
        assert code == 0, output
        names_now = {Path(u["repository"]).name.removesuffix(".git") for u in report_data(state)["units"]}
        assert {"old", "forked"} <= names_now


def test_org_needs_a_forge_and_a_valid_regexp(tmp_path: Path) -> None:
    code, output = batch("run", "--state", str(tmp_path / "c"), "--org", "acme")
    assert code == 2 and "--forge" in output
    code, output = batch("run", "--state", str(tmp_path / "c"), "--org", "acme", "--forge", "github", "--include", "(")
    assert code == 2 and "regular expression" in output
    code, output = batch("run", "--state", str(tmp_path / "c"), "--max-open-prs", "1", str(tmp_path))
    assert code == 2 and "--mode pr" in output
    # cli.main rewrites --verify=race to --verify-race for every command: batch run takes it
    code, output = batch("run", "--state", str(tmp_path / "c"), "--mode", "fix", "--verify-race", str(tmp_path / "no"))
    assert code == 2 and "no such repository" in output


def test_max_open_prs_defers_and_the_next_run_opens(tmp_path: Path) -> None:
    with make_world("gitea", tmp_path / "forge") as world:
        # two more repositories on the same forge and git server, each with its own clone
        clones = [world.work]
        for name in ("two", "three"):
            bare = world.bare.parent / f"{name}.git"
            git(world.root, "clone", "-q", "--bare", str(world.work), str(bare))
            api = FakeForge("gitea", f"acme/{name}", TOKEN).__enter__()
            world.api.serve(api)
            clone = world.root / f"work-{name}"
            git(world.root, "clone", "-q", str(world.work), str(clone))
            git(clone, "remote", "set-url", "origin", world.http.url(f"acme/{name}.git"))
            clones.append(clone)
        forges = [world.api, *world.api.others]
        state = tmp_path / "campaign"
        args = ["run", "--state", str(state), "--mode", "pr", "--forge", "gitea", "--api-url", world.api.api_url]
        args += ["--verify", "none", "--select", "unbounded-goroutines", "--max-open-prs", "2", "--jobs", "1"]
        args += [str(c) for c in clones]
        code, output = batch(*args)
        assert code == 0, output
        opened = [f for f in forges if f.open_pulls(pr.DEFAULT_BRANCH)]
        assert len(opened) == 2, output
        units = report_data(state)["units"]
        assert sorted(u["status"] for u in units) == ["deferred", "ok", "ok"]
        waiting = next(f for f in forges if not f.open_pulls(pr.DEFAULT_BRANCH))
        assert "1 deferred" in output

        code, output = batch(*args)  # still two open: still deferred, nothing pushed for it
        assert code == 0 and not waiting.pulls, output

        opened[0].pulls[0].state = "merged"  # one is merged: a place frees up
        code, output = batch(*args)
        assert code == 0, output
        assert len(waiting.open_pulls(pr.DEFAULT_BRANCH)) == 1
        assert sorted(u["status"] for u in report_data(state)["units"]) == ["ok", "ok", "ok"]
        for api in world.api.others:
            api.__exit__()
