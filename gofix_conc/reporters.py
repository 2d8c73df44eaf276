"""Turning results into text: compiler-style lines, JSON, SARIF 2.1.0, diffs."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gofix_conc import __version__
from gofix_conc.model import Finding, Rule, Safety

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def display_path(path: Path, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (default: the current directory) when below it."""
    base = base or Path.cwd()
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).as_posix()
    except ValueError:
        return path.as_posix()


def fix_label(finding: Finding) -> str:
    if finding.fix is None:
        return ""
    return " [*]" if finding.fix.safety is Safety.SAFE else " [unsafe fix]"


def text_line(finding: Finding) -> str:
    where = f"{display_path(finding.path)}:{finding.line}:{finding.column}"
    return f"{where}: {finding.rule} {finding.message}{fix_label(finding)}"


def summary(findings: Sequence[Finding], fixed: int = 0) -> str:
    if not findings and not fixed:
        return "No findings."
    parts = []
    if fixed:
        parts.append(f"Fixed {fixed} finding{'s' * (fixed != 1)}.")
    if findings:
        n = len(findings)
        safe = sum(1 for f in findings if f.fix is not None and f.fix.safety is Safety.SAFE)
        unsafe = sum(1 for f in findings if f.fix is not None and f.fix.safety is Safety.UNSAFE)
        line = f"Found {n} finding{'s' * (n != 1)}"
        notes = []
        if safe:
            notes.append(f"{safe} fixable with 'gofix-conc fix'")
        if unsafe:
            notes.append(f"{unsafe} more with --unsafe-fixes")
        parts.append(line + (f" ({', '.join(notes)})." if notes else "."))
    return " ".join(parts)


def to_json(findings: Iterable[Finding]) -> str:
    items = [
        {
            "rule": f.rule,
            "path": display_path(f.path),
            "line": f.line,
            "column": f.column,
            "end_line": f.end_line,
            "end_column": f.end_column,
            "message": f.message,
            "fix": None if f.fix is None else {"safety": f.fix.safety.value, "message": f.fix.message},
        }
        for f in findings
    ]
    return json.dumps({"version": 1, "findings": items}, indent=2)


def to_sarif(findings: Sequence[Finding], rules: Iterable[Rule], base: Path | None = None) -> str:
    base = base or Path.cwd()
    rule_list = list(rules)
    index = {r.id: i for i, r in enumerate(rule_list)}
    results: list[dict[str, Any]] = []
    for f in findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "level": "warning",
            "message": {"text": f.message + (f" Fix: {f.fix.message} ({f.fix.safety.value})." if f.fix else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": display_path(f.path, base), "uriBaseId": "%SRCROOT%"},
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                        },
                    }
                }
            ],
        }
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        results.append(result)
    driver = {
        "name": "gofix-conc",
        "version": __version__,
        "semanticVersion": __version__,
        "informationUri": "https://pypi.org/project/gofix-conc/",
        "rules": [
            {
                "id": r.id,
                "name": "".join(part.capitalize() for part in r.id.split("-")),
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.summary},
                "help": {"text": r.doc, "markdown": r.doc},
                "defaultConfiguration": {"level": "warning", "enabled": r.default_enabled},
                "properties": {"fix": r.fix_kind.value, "tags": ["concurrency", "go"]},
            }
            for r in rule_list
        ],
    }
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "columnKind": "unicodeCodePoints",
                "originalUriBaseIds": {"%SRCROOT%": {"uri": base.resolve().as_uri() + "/"}},
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)


def unified_diff(old: bytes, new: bytes, a_path: str, b_path: str) -> str:
    """A diff that ``git apply`` and ``patch -p1`` accept, final newlines included."""
    # Lines end at "\n" only: str.splitlines would also split at form feeds and U+2028.
    a = re.findall(r"[^\n]*\n|[^\n]+$", old.decode())
    b = re.findall(r"[^\n]*\n|[^\n]+$", new.decode())
    out = []
    for line in difflib.unified_diff(a, b, a_path, b_path, n=3):
        if line.startswith(("---", "+++")):
            out.append(line.rstrip("\n") + "\n")
        elif not line.endswith("\n"):
            out.append(line + "\n\\ No newline at end of file\n")
        else:
            out.append(line)
    return "".join(out)
