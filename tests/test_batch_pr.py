"""A pr-mode campaign against the loopback forge of the pr tests: one pull request per repository."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from prworld import TOKEN, make_world
from test_batch import batch, report_data

from gofix_conc import pr


@pytest.fixture(autouse=True)
def go_env(monkeypatch: pytest.MonkeyPatch, go_cache: Path) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("GOCACHE", str(go_cache / "gocache"))
    monkeypatch.setenv("GOFIX_CONC_TOKEN", TOKEN)


def test_pr_campaign_opens_one_pull_request_per_repository(tmp_path: Path) -> None:
    with make_world("gitea", tmp_path / "forge") as world:
        state = tmp_path / "campaign"
        args = [
            "run",
            "--state",
            str(state),
            "--mode",
            "pr",
            "--forge",
            "gitea",
            "--api-url",
            world.api.api_url,
            "--select",
            "unbounded-goroutines",
            str(world.work),
        ]
        code, output = batch(*args)
        assert code == 0, output
        (unit,) = report_data(state)["units"]
        assert unit["status"] == "ok" and unit["pr_action"] == "created", unit
        assert unit["pr_url"] and unit["fixes"] == {"unbounded-goroutines": 1}
        assert unit["verification"] == "passed"
        assert [p.number for p in world.api.open_pulls(pr.DEFAULT_BRANCH)] == [world.api.pulls[0].number]
        assert world.remote_head() is not None
        # the token went to the forge and the push only: not into the campaign's database or logs
        for path in state.rglob("*"):
            if path.is_file() and "clones" not in path.parts and "workspaces" not in path.parts:
                assert TOKEN.encode() not in path.read_bytes(), path
        code, output = batch(*args)
        assert code == 0 and "1 done before, 0 to run" in output
        assert len(world.api.pulls) == 1
