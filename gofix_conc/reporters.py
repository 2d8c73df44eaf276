"""Turning results into text: compiler-style lines, JSON, SARIF 2.1.0, diffs."""

from __future__ import annotations

import bisect
import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gofix_conc import __version__
from gofix_conc.edits import merge_insertions
from gofix_conc.model import Finding, Fix, Problem, Rule, Safety
from gofix_conc.source import BOM

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# How the engine words a declaration the grammar cannot parse (a file analysed in part).
_NEWER_SYNTAX = "Go syntax newer than the tree-sitter-go grammar"


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


# ANSI SGR sequences of the text output's colours (ruff's: bold path, red rule id, cyan fix marker).
_BOLD, _RED, _CYAN, _RESET = "\x1b[1m", "\x1b[1;31m", "\x1b[36m", "\x1b[0m"


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color and text else text


def text_line(finding: Finding, color: bool = False) -> str:
    where = _paint(display_path(finding.path), _BOLD, color) + f":{finding.line}:{finding.column}"
    label = fix_label(finding)
    marker = f" {_paint(label.strip(), _CYAN, color)}" if label else ""
    return f"{where}: {_paint(finding.rule, _RED, color)} {finding.message}{marker}"


def statistics(findings: Sequence[Finding], rules: Iterable[Rule] = (), color: bool = False) -> str:
    """ruff's ``--statistics``: per rule, most found first, the count, the id, a fix marker, the summary.

    ``[*]``: some finding has a safe fix; ``[-]``: only unsafe fixes (--unsafe-fixes); ``[ ]``: no fix.
    """
    summaries = {r.id: r.summary for r in rules}
    rows = []
    for rule, count, safe, unsafe in _counts(findings):
        marker = "[*]" if safe else "[-]" if unsafe else "[ ]"
        rows.append((str(count), rule, marker, summaries.get(rule, "")))
    if not rows:
        return ""
    width_n = max(len(n) for n, *_ in rows)
    width_r = max(len(r) for _, r, *_ in rows)
    return "\n".join(
        f"{n:>{width_n}}  {_paint(r, _RED, color)}{' ' * (width_r - len(r))}  {_paint(m, _CYAN, color)} {text}".rstrip()
        for n, r, m, text in rows
    )


def statistics_json(findings: Sequence[Finding], rules: Iterable[Rule] = ()) -> str:
    """``--statistics --format json``: ruff's shape, a list of ``{code, name, count, fixable}``."""
    summaries = {r.id: r.summary for r in rules}
    items = [
        {
            "code": rule,
            "name": summaries.get(rule, ""),
            "count": count,
            "fixable": bool(safe),
            "unsafe_fixable": bool(unsafe),
        }
        for rule, count, safe, unsafe in _counts(findings)
    ]
    return json.dumps(items, indent=2)


def _counts(findings: Sequence[Finding]) -> list[tuple[str, int, int, int]]:
    """(rule, findings, with a safe fix, with an unsafe fix), most findings first, then by id."""
    rows = []
    for rule in {f.rule for f in findings}:
        of_rule = [f for f in findings if f.rule == rule]
        safe = sum(1 for f in of_rule if f.fix is not None and f.fix.safety is Safety.SAFE)
        unsafe = sum(1 for f in of_rule if f.fix is not None and f.fix.safety is Safety.UNSAFE)
        rows.append((rule, len(of_rule), safe, unsafe))
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def show_fixes(fixed: Sequence[Finding], color: bool = False) -> str:
    """ruff's ``--show-fixes``: what ``fix`` changed, per file, per rule with its count and fix message."""
    if not fixed:
        return "No fixes applied."
    lines = [f"Fixed {_plural(len(fixed), 'finding')}:"]
    for path in dict.fromkeys(display_path(f.path) for f in fixed):
        lines.append(f"- {_paint(path, _BOLD, color)}:")
        in_file = [f for f in fixed if display_path(f.path) == path]
        for rule in sorted({f.rule for f in in_file}):
            of_rule = [f for f in in_file if f.rule == rule]
            messages = ", ".join(dict.fromkeys(f.fix.message for f in of_rule if f.fix is not None))
            lines.append(f"    {len(of_rule)} \u00d7 {_paint(rule, _RED, color)} ({messages})")
    return "\n".join(lines)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _table(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(rule) for rule, _ in rows), default=0)
    return [f"  {rule:<{width}}  {text}" for rule, text in rows]


def summary(findings: Sequence[Finding], problems: Sequence[Problem] = ()) -> str:
    """What ``scan`` found, in all and per rule: how many, how many with a safe fix, with an unsafe one.

    Files that were not analysed, or only in part, are counted at the end, so
    that "No findings." never stands for code nobody looked at.
    """
    lines = [_found(findings)]
    unread = len({p.path for p in problems if p.severity == "error"})
    partial = len({p.path for p in problems if p.severity == "warning" and _NEWER_SYNTAX in p.message})
    other = sum(1 for p in problems if p.severity == "warning" and _NEWER_SYNTAX not in p.message)
    if unread:
        lines.append(f"{_plural(unread, 'file')} not analysed (errors above).")
    if partial:
        lines.append(f"{_plural(partial, 'file')} analysed in part: Go syntax newer than the grammar (warnings above).")
    if other:
        lines.append(f"{_plural(other, 'warning')} (above).")
    return "\n".join(lines)


def _found(findings: Sequence[Finding]) -> str:
    if not findings:
        return "No findings."
    safe = sum(1 for f in findings if f.fix is not None and f.fix.safety is Safety.SAFE)
    unsafe = sum(1 for f in findings if f.fix is not None and f.fix.safety is Safety.UNSAFE)
    notes = []
    if safe:
        notes.append(f"{safe} fixable with 'gofix-conc fix'")
    if unsafe:
        notes.append(f"{unsafe} {'more' if safe else 'fixable'} with --unsafe-fixes")
    head = f"Found {_plural(len(findings), 'finding')}" + (f" ({', '.join(notes)})" if notes else "")
    rows = []
    for rule in sorted({f.rule for f in findings}):
        of_rule = [f for f in findings if f.rule == rule]
        kinds = [
            (sum(1 for f in of_rule if f.fix is not None and f.fix.safety is Safety.SAFE), "fixable"),
            (sum(1 for f in of_rule if f.fix is not None and f.fix.safety is Safety.UNSAFE), "with unsafe fix"),
        ]
        details = ", ".join(f"{n} {what}" for n, what in kinds if n)
        rows.append((rule, f"{len(of_rule)}" + (f" ({details})" if details else "")))
    return "\n".join([head + ":", *_table(rows)])


@dataclass
class FixTally:
    """What a ``fix`` run did, gathered over files (or a plan's steps) for :func:`fix_summary`."""

    unsafe_fixes: bool = False
    files: int = 0  # files changed
    fixed: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)
    appeared: list[str] = field(default_factory=list)  # rule of each fix held back: only a later pass offered it
    resolved: list[Finding] = field(default_factory=list)  # gone once other fixes were applied

    def left_kind(self, finding: Finding) -> str:
        if finding.fix is None:
            return "no fix"
        if finding.fix.safety is Safety.UNSAFE and not self.unsafe_fixes:
            return "unsafe fix not applied"
        return "fix not applied"


def fix_summary(tally: FixTally) -> str:
    """What ``fix`` fixed and left, in all and per rule, with the reason each finding was left."""
    fixed, left = len(tally.fixed), len(tally.remaining)
    if not fixed and not left:
        return "No findings."
    head = f"Fixed {_plural(fixed, 'finding')} in {_plural(tally.files, 'file')}; {left} left"
    unsafe = sum(1 for f in tally.remaining if tally.left_kind(f) == "unsafe fix not applied")
    if unsafe:
        head += f" ({unsafe} fixable with --unsafe-fixes)"
    rows = []
    for rule in sorted({f.rule for f in [*tally.fixed, *tally.remaining, *tally.resolved]}):
        parts = []
        n_fixed = sum(1 for f in tally.fixed if f.rule == rule)
        if n_fixed:
            parts.append(f"fixed {n_fixed}")
        held = tally.appeared.count(rule)
        left_here = [tally.left_kind(f) for f in tally.remaining if f.rule == rule]
        if held:  # a held-back fix is a safe fix not applied: say why
            waiting = left_here.count("fix not applied")
            held = min(held, waiting)
            left_here = [k for k in left_here if k != "fix not applied"]
            left_here += ["fix not applied"] * (waiting - held) + ["held back: appeared after another fix"] * held
        if left_here:
            kinds = ", ".join(f"{kind} {left_here.count(kind)}" for kind in dict.fromkeys(sorted(left_here)))
            parts.append(f"left {len(left_here)} ({kinds})")
        resolved = sum(1 for f in tally.resolved if f.rule == rule)
        if resolved:
            parts.append(f"{resolved} gone with other fixes")
        rows.append((rule, ", ".join(parts)))
    return "\n".join([head + ":", *_table(rows)])


def appeared_line(path: Path, key: tuple[str, int, int], after: tuple[str, int, int]) -> str:
    """A note on a fix held back because the first pass did not offer it (positions in the file as read)."""
    name = display_path(path)
    rule, line, column = key
    return (
        f"{name}:{line}:{column}: note: {rule} fix not applied: it only appeared once fixing {after[0]} at"
        f" {name}:{after[1]}:{after[2]} rewrote the code (scan did not list it); run fix again to review it"
    )


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "path": display_path(problem.path),
        "severity": problem.severity,
        "line": problem.line,
        "column": problem.column,
        "message": problem.message,
    }


def _notification(problem: Problem, base: Path) -> dict[str, Any]:
    """A SARIF tool execution notification: what kept (part of) a file from being analysed."""
    location: dict[str, Any] = {"artifactLocation": {"uri": display_path(problem.path, base), "uriBaseId": "%SRCROOT%"}}
    if problem.line is not None:
        location["region"] = {"startLine": problem.line, **({"startColumn": problem.column} if problem.column else {})}
    return {
        "level": problem.severity,
        "message": {"text": problem.message},
        "locations": [{"physicalLocation": location}],
    }


class _Positions:
    """Line, column (code points, 1-based) and byte offset in the stored file (BOM included) of a text offset."""

    def __init__(self, raw: bytes) -> None:
        self.skip = len(BOM) if raw.startswith(BOM) else 0
        self.data = raw[self.skip :]
        self.crlf = b"\r\n" in self.data
        self.starts = [0] + [m.end() for m in re.finditer(rb"\n", self.data)]

    def at(self, offset: int) -> dict[str, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        column = len(self.data[self.starts[line] : offset].decode(errors="replace")) + 1
        return {"line": line + 1, "column": column, "offset": offset + self.skip}


def _fix_json(fix: Fix, raw: bytes | None) -> dict[str, Any]:
    out: dict[str, Any] = {"safety": fix.safety.value, "message": fix.message}
    if fix.group:  # this file's part of a change to several files, applied together
        out["group"] = {"id": fix.group, "files": fix.files}
    if raw is None:
        return out
    where = _Positions(raw)
    out["edits"] = [
        {
            "start": where.at(edit.start),
            "end": where.at(edit.end),
            # As written into the file: a CRLF file gets CRLF line endings.
            "content": (
                edit.text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") if where.crlf else edit.text
            ).decode(),
        }
        for edit in merge_insertions(fix.edits)
    ]
    return out


def to_json(
    findings: Iterable[Finding], problems: Iterable[Problem] = (), texts: dict[Path, bytes] | None = None
) -> str:
    """The findings; with ``texts`` (each file's bytes as scanned) each fix also lists its edits."""
    texts = texts or {}
    items = [
        {
            "rule": f.rule,
            "path": display_path(f.path),
            "line": f.line,
            "column": f.column,
            "end_line": f.end_line,
            "end_column": f.end_column,
            "message": f.message,
            "fix": None if f.fix is None else _fix_json(f.fix, texts.get(f.path)),
        }
        for f in findings
    ]
    return json.dumps({"version": 1, "findings": items, "problems": [_problem_json(p) for p in problems]}, indent=2)


def _gh_data(text: str) -> str:
    """Escapes of a workflow command's message (GitHub's toolkit: %, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    """Escapes of a workflow command's property value: the message's, and ``:`` and ``,``."""
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(findings: Iterable[Finding], problems: Iterable[Problem] = ()) -> str:
    """GitHub Actions workflow commands: one ``::warning`` annotation per finding, ``::error`` per error."""
    lines = []
    for f in findings:
        fix = f" (fix: {f.fix.message}, {f.fix.safety.value})" if f.fix else ""
        props = {
            "file": display_path(f.path),
            "line": f.line,
            "col": f.column,
            "endLine": f.end_line,
            "endColumn": f.end_column,
            "title": f.rule,
        }
        lines.append(_gh_command("warning", props, f"{f.message}{fix}"))
    for p in problems:
        props = {"file": display_path(p.path), "title": "gofix-conc"}
        if p.line is not None:
            props["line"] = p.line
            if p.column:
                props["col"] = p.column
        lines.append(_gh_command(p.severity, props, p.message))
    return "\n".join(lines)


def _gh_command(command: str, props: dict[str, Any], message: str) -> str:
    joined = ",".join(f"{key}={_gh_property(str(value))}" for key, value in props.items())
    return f"::{command} {joined}::{_gh_data(message)}"


def to_gitlab(findings: Iterable[Finding], texts: dict[Path, bytes] | None = None) -> str:
    """A GitLab Code Quality report (a subset of Code Climate's issue format), as GitLab's docs show it.

    The fingerprint is stable while the code moves: a hash of the rule, the
    path and the flagged code's text (the message when the text is unknown),
    no line numbers; a repeat of the same code in the same file gets a counter.
    """
    texts = texts or {}
    seen: dict[str, int] = {}
    issues = []
    for f in findings:
        path = display_path(f.path)
        raw = texts.get(f.path)
        if raw is not None:
            start = len(BOM) if raw.startswith(BOM) else 0
            code = " ".join(raw[start + f.start : start + f.end].decode(errors="replace").split())
        else:
            code = f.message
        key = "\0".join((f.rule, path, code))
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key += f"\0{seen[key]}"
        issues.append(
            {
                "description": f.message,
                "check_name": f.rule,
                "fingerprint": hashlib.sha256(key.encode()).hexdigest()[:32],
                "severity": "major",
                "location": {"path": path, "lines": {"begin": f.line, "end": f.end_line}},
            }
        )
    return json.dumps(issues, indent=2)


def to_sarif(
    findings: Sequence[Finding], rules: Iterable[Rule], base: Path | None = None, problems: Sequence[Problem] = ()
) -> str:
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
                "invocations": [
                    {
                        "executionSuccessful": not any(p.severity == "error" for p in problems),
                        "toolExecutionNotifications": [_notification(p, base) for p in problems],
                    }
                ],
            }
        ],
    }
    return json.dumps(log, indent=2)


# Longer edit scripts are first split at lines found once in each text (as git's patience diff does).
_MAX_EDITS = 200


def _shortest_edit(a: Sequence[int], b: Sequence[int], limit: int) -> list[tuple[int, int]] | None:
    """Myers' O(ND) diff: the pairs of equal lines ``(i, j)`` kept by a shortest edit script.

    None when the script would be longer than ``limit``.
    """
    n, m = len(a), len(b)
    v = {1: 0}
    trace: list[dict[int, int]] = []
    for d in range(min(n + m, limit) + 1):
        trace.append(v.copy())
        for k in range(-d, d + 1, 2):
            x = v[k + 1] if k == -d or (k != d and v[k - 1] < v[k + 1]) else v[k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x, y = x + 1, y + 1
            v[k] = x
            if x >= n and y >= m:
                return _backtrack(trace, n, m)
    return None


def _backtrack(trace: list[dict[int, int]], x: int, y: int) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    for d in range(len(trace) - 1, -1, -1):
        v = trace[d]
        k = x - y
        prev_k = k + 1 if k == -d or (k != d and v[k - 1] < v[k + 1]) else k - 1
        prev_x = v[prev_k]
        prev_y = prev_x - prev_k
        while x > prev_x and y > prev_y:
            x, y = x - 1, y - 1
            pairs.append((x, y))
        x, y = prev_x, prev_y
    pairs.reverse()
    return pairs


def _slide_down(pairs: list[tuple[int, int]], a: Sequence[int], b: Sequence[int]) -> list[tuple[int, int]]:
    """Move each run of only added (or only removed) lines as far down as equal lines allow, as git does.

    A block inserted between two functions then ends with the blank line
    that separates it from the next one instead of starting with it.
    """
    pairs = [(-1, -1), *pairs, (len(a), len(b))]
    for i in range(len(pairs) - 2):
        (x0, y0), (x1, y1) = pairs[i], pairs[i + 1]
        if x1 == x0 + 1 and y1 > y0 + 1 and b[y0 + 1] == b[y1]:  # b[y0+1:y1] added
            pairs[i + 1] = (x1, y0 + 1)
        elif y1 == y0 + 1 and x1 > x0 + 1 and a[x0 + 1] == a[x1]:  # a[x0+1:x1] removed
            pairs[i + 1] = (x0 + 1, y1)
    return pairs[1:-1]


def _unique_anchors(a: Sequence[int], b: Sequence[int]) -> list[tuple[int, int]]:
    """Lines found exactly once in each text, the longest run of them in the same order in both."""
    count_a: dict[int, int] = {}
    count_b: dict[int, int] = {}
    for line in a:
        count_a[line] = count_a.get(line, 0) + 1
    for line in b:
        count_b[line] = count_b.get(line, 0) + 1
    where_b = {line: j for j, line in enumerate(b) if count_b[line] == 1}
    common = [(i, where_b[line]) for i, line in enumerate(a) if count_a[line] == 1 and line in where_b]
    # Longest increasing subsequence in j (patience sorting), pairs already sorted by i.
    tails: list[int] = []
    back: list[int] = []
    for n, (_, j) in enumerate(common):
        at = _bisect(common, tails, j)
        back.append(tails[at - 1] if at else -1)
        if at == len(tails):
            tails.append(n)
        else:
            tails[at] = n
    out: list[tuple[int, int]] = []
    n = tails[-1] if tails else -1
    while n >= 0:
        out.append(common[n])
        n = back[n]
    return out[::-1]


def _bisect(common: list[tuple[int, int]], tails: list[int], j: int) -> int:
    lo, hi = 0, len(tails)
    while lo < hi:
        mid = (lo + hi) // 2
        if common[tails[mid]][1] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _matches(a: Sequence[int], b: Sequence[int]) -> list[tuple[int, int]]:
    """Pairs of equal lines kept by a short edit script: the shortest one unless it is long."""
    pre = 0
    while pre < len(a) and pre < len(b) and a[pre] == b[pre]:
        pre += 1
    post = 0
    while post < len(a) - pre and post < len(b) - pre and a[-1 - post] == b[-1 - post]:
        post += 1
    mid_a, mid_b = a[pre : len(a) - post], b[pre : len(b) - post]
    pairs = _shortest_edit(mid_a, mid_b, _MAX_EDITS) if mid_a and mid_b else []
    if pairs is None:
        anchors = _unique_anchors(mid_a, mid_b)
        if anchors:
            pairs = []
            i0 = j0 = 0
            for i, j in [*anchors, (len(mid_a), len(mid_b))]:
                pairs += [(i0 + x, j0 + y) for x, y in _matches(mid_a[i0:i], mid_b[j0:j])]
                if i < len(mid_a):
                    pairs.append((i, j))
                i0, j0 = i + 1, j + 1
        elif set(mid_a) & set(mid_b):
            pairs = _shortest_edit(mid_a, mid_b, 5 * _MAX_EDITS)
            if pairs is None:  # no line to split at and a long script: difflib's quick matching
                blocks = difflib.SequenceMatcher(None, mid_a, mid_b).get_matching_blocks()
                pairs = [(i + t, j + t) for i, j, size in blocks for t in range(size)]
        else:
            pairs = []
    head = [(i, i) for i in range(pre)]
    tail = [(len(a) - post + t, len(b) - post + t) for t in range(post)]
    return head + [(i + pre, j + pre) for i, j in pairs] + tail


class _Minimal(difflib.SequenceMatcher):
    """difflib's opcodes and hunks over the equal lines of a minimal diff, not difflib's own matching.

    difflib's matching is not minimal and drops lines it finds too often
    (``}()``, blank lines), which then show as removed and added again.
    """

    def __init__(self, a: Sequence[str], b: Sequence[str]) -> None:
        super().__init__(None, a, b, autojunk=False)

    def get_matching_blocks(self) -> list[difflib.Match]:
        if self.matching_blocks is None:
            ids: dict[str, int] = {}
            x = [ids.setdefault(line, len(ids)) for line in self.a]
            y = [ids.setdefault(line, len(ids)) for line in self.b]
            blocks: list[list[int]] = []
            for i, j in _slide_down(_matches(x, y), x, y):
                if blocks and blocks[-1][0] + blocks[-1][2] == i and blocks[-1][1] + blocks[-1][2] == j:
                    blocks[-1][2] += 1
                else:
                    blocks.append([i, j, 1])
            self.matching_blocks = [difflib.Match(*block) for block in blocks]
            self.matching_blocks.append(difflib.Match(len(x), len(y), 0))
        return self.matching_blocks


def _range(start: int, length: int) -> str:
    """A hunk range as ``diff -u`` writes it (1-based; an empty range names the line before it)."""
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def unified_diff(old: bytes, new: bytes, a_path: str, b_path: str, n: int = 3) -> str:
    """A diff as small as ``git diff`` shows, which ``git apply`` and ``patch -p1`` accept, final newlines included."""
    # Lines end at "\n" only: str.splitlines would also split at form feeds and U+2028.
    a = re.findall(r"[^\n]*\n|[^\n]+$", old.decode())
    b = re.findall(r"[^\n]*\n|[^\n]+$", new.decode())
    groups = list(_Minimal(a, b).get_grouped_opcodes(n)) if a != b else []
    if not groups:
        return ""
    out = [f"--- {a_path}\n", f"+++ {b_path}\n"]
    for group in groups:
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2] - first[1])} +{_range(first[3], last[4] - first[3])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in a[i1:i2]]
                continue
            out += ["-" + line for line in a[i1:i2]]
            out += ["+" + line for line in b[j1:j2]]
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)
