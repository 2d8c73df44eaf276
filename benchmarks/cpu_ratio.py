"""Scan cost as CPU time in one process, next to parsing alone: a figure a busy machine disturbs little.

    python benchmarks/cpu_ratio.py                    # the rules on by default, GOROOT/src
    python benchmarks/cpu_ratio.py --select ALL       # every rule
    python benchmarks/cpu_ratio.py --limit 1000       # the first 1,000 files only (peak memory against file count)
    python benchmarks/cpu_ratio.py --per-rule         # and each rule's own CPU seconds (its check, less parses)

``make bench`` measures wall time on all cores; on a machine other work
loads, wall times swing by a factor of three between runs while process CPU
time (``time.process_time``) moves by a few per cent. Parse-only parses every
file; the scan skips generated files before parsing them, as ``gofix-conc``
does. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import resource
import time
from pathlib import Path

from scan_stdlib import goroot_src

from gofix_conc import discovery, registry, source
from gofix_conc.engine import Settings, run
from gofix_conc.model import Rule
from gofix_conc.source import is_generated, parse


def _timed(rule: Rule, spent: collections.Counter[str], parsing: list[float]) -> Rule:
    """``rule`` charged with its check's CPU time minus the parses it set off (the engine reuses those trees)."""

    def check(ctx):  # type: ignore[no-untyped-def]
        started, parsed = time.process_time(), parsing[0]
        found = list(rule.check(ctx))
        spent[rule.id] += time.process_time() - started - (parsing[0] - parsed)
        return found

    return dataclasses.replace(rule, check=check)


def _count_parses(parsing: list[float]) -> None:
    """Add the CPU time of every parse to ``parsing[0]``."""
    parse = source.parse

    def timed(data: bytes):  # type: ignore[no-untyped-def]
        started = time.process_time()
        tree = parse(data)
        parsing[0] += time.process_time() - started
        return tree

    source.parse = timed  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="Go tree to scan (default: GOROOT/src)")
    parser.add_argument("--select", default="", help="rule ids, or ALL (default: the rules on by default)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N files")
    parser.add_argument("--per-rule", action="store_true", help="also the CPU seconds of each rule's check")
    args = parser.parse_args()
    files = list(discovery.go_files([args.root or goroot_src()]))
    files = files[: args.limit] if args.limit else files
    started = time.process_time()
    generated = 0
    for path in files:
        data = path.read_bytes()
        generated += is_generated(data)
        parse(data)
    parse_seconds = time.process_time() - started
    rules = tuple(r.id for r in registry.selected([r for r in args.select.split(",") if r]))
    spent: collections.Counter[str] = collections.Counter()
    parsing = [0.0]
    if args.per_rule:
        _count_parses(parsing)
        table = registry.all_rules()  # the engine's own table: the timed copies stand in for the rules
        for rule_id in rules:
            table[rule_id] = _timed(table[rule_id], spent, parsing)
    started = time.process_time()
    findings = 0
    for result in run(files, Settings(rules=rules), jobs=1):
        findings += len(result.findings)
    scan_seconds = time.process_time() - started
    figures = {
        "files": len(files),
        "generated": generated,
        "rules": len(rules),
        "parse_cpu_s": round(parse_seconds, 2),
        "scan_cpu_s": round(scan_seconds, 2),
        "ratio": round(scan_seconds / parse_seconds, 2),
        "findings": findings,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    if args.per_rule:
        figures["scan_parse_cpu_s"] = round(parsing[0], 2)
        figures["rules_cpu_s"] = round(sum(spent.values()), 2)
        figures["per_rule_cpu_s"] = {rule: round(seconds, 2) for rule, seconds in spent.most_common()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
