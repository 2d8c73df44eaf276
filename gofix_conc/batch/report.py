"""Campaign reports: JSON (versioned), Markdown, and one self-contained HTML file.

:func:`build` turns the campaign database into plain data (the JSON report,
``"version": 1``, documented in README.md); Markdown and HTML are renderings
of that data. The HTML page needs nothing but itself: styles, the table
sorter and the charts (SVG drawn here) are inline, so it opens offline.
"""

from __future__ import annotations

import datetime
import html
import json
import re
from collections import Counter, defaultdict
from typing import Any

from gofix_conc.batch.model import FAILED, OK
from gofix_conc.batch.state import Campaign, UnitRow

VERSION = 1


def _when(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


def _unit(row: UnitRow) -> dict[str, Any]:
    r = row.result
    return {
        "repository": row.source,
        "slug": row.slug,
        "module": row.module,
        "commit": row.commit or None,
        "mode": row.mode,
        "status": row.status,
        "error_kind": row.error_kind,
        "error": row.error,
        "findings": dict(sorted(r.findings_by_rule.items())) if r else {},
        "findings_total": r.findings_total if r else 0,
        "fixes": dict(sorted(r.fixes_by_rule.items())) if r else {},
        "remaining": dict(sorted(r.remaining_by_rule.items())) if r else {},
        "rolled_back": list(r.rolled_back) if r else [],
        "verification": r.verification if r else None,
        "verification_notes": list(r.verification_notes) if r else [],
        "branch": r.branch if r else None,
        "commits": list(r.commits) if r else [],
        "workspace": r.workspace if r else None,
        "go_workspace": r.go_workspace if r else False,
        "pr_url": r.pr_url if r else None,
        "pr_action": r.pr_action if r else None,
        "files": r.files if r else 0,
        "problems": list(r.problems) if r else [],
        "finding_list": list(r.findings) if r else [],
        "finding_list_truncated": r.truncated if r else False,
        "seconds": round(row.duration, 3) if row.duration is not None else None,
        "finished": _when(row.finished),
        "host": r.host if r else None,
        "log": row.log_path,
    }


def _cause(text: str) -> str:
    """A problem or error with its specifics (paths, positions, numbers) taken out, to group by."""
    text = re.sub(r"^\S+\.go(:\d+(:\d+)?)?:\s*", "", text)
    text = re.sub(r"\b(line|column|offset) \d+", r"\1 N", text)
    text = re.sub(r"\d+(\.\d+)?s\b", "Ns", text)
    return text.split("\n", 1)[0].strip()[:160]


def build(campaign: Campaign) -> dict[str, Any]:
    rows = campaign.units()
    units = [_unit(row) for row in rows]
    rules: dict[str, Counter[str]] = defaultdict(Counter)
    for u in units:
        for rule, n in u["findings"].items():
            rules[rule]["findings"] += n
        for rule, n in u["fixes"].items():
            rules[rule]["fixes"] += n
        for rule, n in u["remaining"].items():
            rules[rule]["remaining"] += n
        for rb in u["rolled_back"]:
            rules[rb["rule"]]["rolled_back"] += 1
    statuses = Counter(u["status"] for u in units)
    failures: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for u in units:
        if u["status"] == FAILED:
            failures[(u["error_kind"] or "unknown", _cause(u["error"] or ""))].append(
                {"repository": u["repository"], "module": u["module"], "error": u["error"]}
            )
    problems: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for u in units:
        for p in u["problems"]:
            problems[_cause(p)].append({"repository": u["repository"], "module": u["module"], "problem": p})
    verification = Counter(u["verification"] for u in units if u["verification"])
    runs = campaign.runs()
    last = runs[-1] if runs else None
    per_repo: Counter[str] = Counter()
    for u in units:
        per_repo[u["slug"]] += u["findings_total"]
    return {
        "version": VERSION,
        "generated": _when(datetime.datetime.now().timestamp()),
        "campaign": {
            "state": str(campaign.dir),
            "runs": len(runs),
            "last_run": {
                "id": last["id"],
                "started": _when(last["started"]),
                "finished": _when(last["finished"]),
                "status": last["status"],
                "runner": last["runner"],
            }
            if last
            else None,
            "modes": sorted({u["mode"] for u in units}),
        },
        "totals": {
            "repositories": len({u["repository"] for u in units}),
            "units": len(units),
            "by_status": dict(sorted(statuses.items())),
            "ok": statuses.get(OK, 0),
            "failed": statuses.get(FAILED, 0),
            "findings": sum(u["findings_total"] for u in units),
            "fixes": sum(sum(u["fixes"].values()) for u in units),
            "rolled_back": sum(len(u["rolled_back"]) for u in units),
            "problems": sum(len(u["problems"]) for u in units),
            "verification": dict(sorted(verification.items())),
            "seconds": round(sum(u["seconds"] or 0 for u in units), 3),
        },
        "rules": {
            rule: {k: counts.get(k, 0) for k in ("findings", "fixes", "rolled_back", "remaining")}
            for rule, counts in sorted(rules.items())
        },
        "findings_per_repository": dict(per_repo.most_common()),
        "failures": [
            {"cause": kind, "message": message, "count": len(items), "units": items}
            for (kind, message), items in sorted(failures.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ],
        "problems": [
            {"cause": cause, "count": len(items), "units": items}
            for cause, items in sorted(problems.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ],
        "units": units,
    }


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


# -- Markdown ---------------------------------------------------------------------


def _md(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _per_rule(counts: dict[str, int]) -> str:
    return ", ".join(f"{rule} {n}" for rule, n in counts.items()) or "-"


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def to_markdown(data: dict[str, Any]) -> str:
    t = data["totals"]
    lines = [
        "# gofix-conc campaign report",
        "",
        f"{t['repositories']} repositories, {t['units']} units ({_statuses(t['by_status'])}); "
        f"{t['findings']} findings, {t['fixes']} fixes committed, {t['rolled_back']} rolled back, "
        f"{t['problems']} file problems.",
        "",
        "## Rules",
        "",
        "| rule | findings | fixes | rolled back | remaining |",
        "|---|---:|---:|---:|---:|",
    ]
    for rule, c in data["rules"].items():
        lines.append(f"| `{rule}` | {c['findings']} | {c['fixes']} | {c['rolled_back']} | {c['remaining']} |")
    lines += ["", "## Failures by cause", ""]
    if not data["failures"]:
        lines.append("None.")
    for group in data["failures"]:
        lines.append(f"- **{group['cause']}** ({group['count']}): {_md(group['message'])}")
        lines += [f"  - {_md(u['repository'])} `{_md(u['module'])}`" for u in group["units"][:20]]
    if data["problems"]:
        lines += ["", "## File problems by cause", ""]
        for group in data["problems"]:
            lines.append(f"- {_md(group['cause'])} ({group['count']})")
            lines += [f"  - {_md(u['problem'])} ({_md(u['repository'])})" for u in group["units"][:10]]
    lines += [
        "",
        "## Units",
        "",
        "| repository | module | commit | status | findings | fixes | rolled back | verification | PR | time | error |",
        "|---|---|---|---|---|---|---:|---|---|---:|---|",
    ]
    for u in data["units"]:
        lines.append(
            f"| {_md(u['slug'])} | `{_md(u['module'])}` | {(u['commit'] or '')[:12]} | {u['status']} "
            f"| {_md(_per_rule(u['findings']))} | {_md(_per_rule(u['fixes']))} | {len(u['rolled_back'])} "
            f"| {u['verification'] or ''} | {u['pr_url'] or ''} "
            f"| {u['seconds'] if u['seconds'] is not None else ''} | {_md(u['error'] or '')} |"
        )
    return "\n".join(lines) + "\n"


# -- HTML -------------------------------------------------------------------------

_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f4f4f4;cursor:pointer;user-select:none;position:sticky;top:0}
th.sorted-asc::after{content:" \\25b2"}th.sorted-desc::after{content:" \\25bc"}
td.num,th.num{text-align:right}.ok{color:#2a7d2a}.failed{color:#c0392b;font-weight:bold}
.interrupted,.pending,.running{color:#a66d00}.charts{display:flex;flex-wrap:wrap;gap:2em}
.chart{flex:1 1 420px}small{color:#666}code{background:#f4f4f4;padding:0 3px}
.totals span{display:inline-block;margin-right:1.5em}.totals b{font-size:1.3em}
"""

_JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains('sorted-asc');
      table.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        var nx = parseFloat(x), ny = parseFloat(y), c;
        if (!isNaN(nx) && !isNaN(ny) && String(nx) === x && String(ny) === y) { c = nx - ny; }
        else { c = x.localeCompare(y); }
        return asc ? c : -c;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def bar_chart(title: str, values: dict[str, int], width: int = 520, limit: int = 25) -> str:
    """A horizontal bar chart as inline SVG."""
    items = [(k, v) for k, v in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])) if v > 0][:limit]
    if not items:
        return f'<div class="chart"><h3>{html.escape(title)}</h3><p><small>nothing to show</small></p></div>'
    label_width, bar_height, gap = 230, 18, 6
    top = 8
    height = top + len(items) * (bar_height + gap)
    peak = max(v for _, v in items)
    room = width - label_width - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">'
    ]
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_height + gap)
        length = max(1, round(room * value / peak))
        shown = label if len(label) <= 34 else label[:33] + "…"
        colour = _PALETTE[i % len(_PALETTE)]
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" font-size="12">{html.escape(shown)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length}" height="{bar_height}" fill="{colour}">'
            f"<title>{html.escape(label)}: {value}</title></rect>"
            f'<text x="{label_width + length + 4}" y="{y + 13}" font-size="12">{value}</text>'
        )
    parts.append("</svg>")
    more = len([v for v in values.values() if v > 0]) - len(items)
    note = f"<p><small>and {more} more</small></p>" if more > 0 else ""
    return f'<div class="chart"><h3>{html.escape(title)}</h3>{"".join(parts)}{note}</div>'


def _cell(value: object, sort: object | None = None, cls: str = "") -> str:
    shown = "" if value is None else str(value)
    key = shown if sort is None else str(sort)
    attr = f' class="{cls}"' if cls else ""
    return f'<td{attr} data-v="{html.escape(key)}">{html.escape(shown)}</td>'


def to_html(data: dict[str, Any]) -> str:
    t = data["totals"]
    e = html.escape
    head = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>gofix-conc campaign report</title><style>{_CSS}</style></head><body>"
    )
    totals = "".join(
        f"<span><b>{value}</b> {e(label)}</span>"
        for label, value in [
            ("repositories", t["repositories"]),
            ("units", t["units"]),
            ("ok", t["ok"]),
            ("failed", t["failed"]),
            ("findings", t["findings"]),
            ("fixes", t["fixes"]),
            ("rolled back", t["rolled_back"]),
        ]
    )
    charts = (
        '<div class="charts">'
        + bar_chart("Findings per rule", {r: c["findings"] for r, c in data["rules"].items()})
        + bar_chart("Findings per repository", data["findings_per_repository"])
        + bar_chart("Units by status", t["by_status"])
        + (bar_chart("Fixes per rule", {r: c["fixes"] for r, c in data["rules"].items()}) if t["fixes"] else "")
        + "</div>"
    )
    rules = "".join(
        f"<tr>{_cell(rule)}{_cell(c['findings'], cls='num')}{_cell(c['fixes'], cls='num')}"
        f"{_cell(c['rolled_back'], cls='num')}{_cell(c['remaining'], cls='num')}</tr>"
        for rule, c in data["rules"].items()
    )
    failures = (
        "".join(
            f"<li><b>{e(g['cause'])}</b> ({g['count']}): {e(g['message'])}<ul>"
            + "".join(f"<li>{e(u['repository'])} <code>{e(u['module'])}</code></li>" for u in g["units"][:50])
            + "</ul></li>"
            for g in data["failures"]
        )
        or "<li>None.</li>"
    )
    problems = "".join(
        f"<li>{e(g['cause'])} ({g['count']})<ul>"
        + "".join(f"<li>{e(u['problem'])} <small>{e(u['repository'])}</small></li>" for u in g["units"][:20])
        + "</ul></li>"
        for g in data["problems"]
    )
    rows = []
    for u in data["units"]:
        findings = "; ".join(f"{r} {n}" for r, n in u["findings"].items())
        fixes = "; ".join(f"{r} {n}" for r, n in u["fixes"].items())
        pr = f'<a href="{e(u["pr_url"])}">{e(u["pr_url"])}</a>' if u["pr_url"] else ""
        rows.append(
            "<tr>"
            + _cell(u["slug"])
            + _cell(u["module"])
            + _cell((u["commit"] or "")[:12])
            + _cell(u["status"], cls=u["status"])
            + _cell(u["findings_total"], cls="num")
            + _cell(findings)
            + _cell(sum(u["fixes"].values()), cls="num")
            + _cell(fixes)
            + _cell(len(u["rolled_back"]), cls="num")
            + _cell(u["verification"] or "")
            + f'<td data-v="{e(u["pr_url"] or "")}">{pr}</td>'
            + _cell(u["seconds"], sort=u["seconds"] if u["seconds"] is not None else -1, cls="num")
            + _cell(u["error"] or ("; ".join(u["problems"][:3])))
            + "</tr>"
        )
    columns = [
        ("repository", ""),
        ("module", ""),
        ("commit", ""),
        ("status", ""),
        ("findings", "num"),
        ("per rule", ""),
        ("fixes", "num"),
        ("fixes per rule", ""),
        ("rolled back", "num"),
        ("verification", ""),
        ("PR", ""),
        ("seconds", "num"),
        ("error / problems", ""),
    ]
    header = "".join(f'<th class="{cls}">{e(name)}</th>' for name, cls in columns)
    generated = e(data["generated"] or "")
    return (
        head
        + f"<h1>gofix-conc campaign report</h1><p><small>generated {generated} from {e(data['campaign']['state'])}"
        + "</small></p>"
        + f'<p class="totals">{totals}</p>'
        + charts
        + '<h2>Rules</h2><table class="sortable"><thead><tr><th>rule</th><th class="num">findings</th>'
        + '<th class="num">fixes</th><th class="num">rolled back</th><th class="num">remaining</th></tr></thead>'
        + f"<tbody>{rules}</tbody></table>"
        + f"<h2>Failures by cause</h2><ul>{failures}</ul>"
        + (f"<h2>File problems by cause</h2><ul>{problems}</ul>" if problems else "")
        + '<h2>Units</h2><p><small>click a column to sort</small></p><table class="sortable" id="units">'
        + f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + f"<script>{_JS}</script></body></html>\n"
    )


FORMATS = {"json": to_json, "markdown": to_markdown, "html": to_html}
