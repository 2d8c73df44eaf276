"""Hold a change to the standard library's findings: dump them, change the code, compare.

    python benchmarks/findings_baseline.py dump before.json [RULE ...]   # default: every rule
    python benchmarks/findings_baseline.py diff before.json [RULE ...]   # exit 1 on any difference

Each finding is kept by rule, path, line and column with its message, its
fix's safety and a digest of the fix's edits, so a speed change that moves a
single edit or word shows up. Internal errors are kept too.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from scan_stdlib import goroot_src

from gofix_conc import discovery, registry
from gofix_conc.engine import Settings, run


def collect(rules: list[str]) -> dict[str, list[str | None]]:
    root = goroot_src()
    found: dict[str, list[str | None]] = {}
    for result in run(discovery.go_files([root]), Settings(rules=tuple(rules)), jobs=2):
        for finding in result.findings:
            fix = finding.fix
            key = f"{finding.rule}|{finding.path.relative_to(root)}|{finding.line}|{finding.column}"
            if fix is None:
                found[key] = [finding.message, None, None]
                continue
            edits = repr([(e.start, e.end, e.text) for e in fix.edits]).encode()
            found[key] = [finding.message, fix.safety.value, hashlib.sha1(edits).hexdigest()[:12]]
        if result.error:
            found[f"ERROR|{result.path.relative_to(root)}"] = [result.error[:300], None, None]
    return found


def main() -> None:
    mode, target, *chosen = sys.argv[1:]
    rules = [r.id for r in registry.selected(chosen or ["ALL"])]
    now = collect(rules)
    if mode == "dump":
        Path(target).write_text(json.dumps(now, indent=0, sort_keys=True))
        print(f"{len(now)} findings written")
        return
    before = {k: v for k, v in json.loads(Path(target).read_text()).items() if k.split("|")[0] in {*rules, "ERROR"}}
    differences = [k for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
    for key in differences:
        print("before", key, before.get(key))
        print("now   ", key, now.get(key))
    print(f"{len(differences)} differences; {len(now)} findings now, {len(before)} before")
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
