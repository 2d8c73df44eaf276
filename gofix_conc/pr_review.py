"""`gofix-conc pr --review NUMBER`: the fixes for lines a pull request changes, as suggested changes on it.

The fixes are computed on the pull request's head (its ``refs/pull/N/head``,
GitLab's ``refs/merge-requests/N/head``, or else its source branch), fetched
under a private ref into a temporary worktree: the user's checkout is never
touched. Each fix becomes at most one comment on the lines it rewrites,
posted only where the pull request adds lines (a GitHub suggestion, a GitLab
``suggestion:-a+b``, a Gitea code block labelled ``suggestion``); the fixes
elsewhere go into one summary comment, edited in place on later runs.

State lives on the forge, as for ``pr``: each line comment carries the
fingerprints of its fixes in a hidden HTML comment, so a rerun posts only
fixes no earlier run posted, and the summary is found by its mark.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from gofix_conc import __version__, engine, forge, gitops, pr, verify
from gofix_conc.engine import FileResult, Status
from gofix_conc.forge import Forge, ForgeError, PullRequest, State, Suggestion
from gofix_conc.reporters import _Minimal  # the diff `git diff` shows: hunks a reviewer recognises

_POSTED = re.compile(r"<!--\s*gofix-conc-suggestion\s*(\{.*?\})\s*-->", re.DOTALL)
SUMMARY_MARK = "<!-- gofix-conc:review-summary -->"
_SUMMARY_META = re.compile(r"<!--\s*gofix-conc-review\s*(\{.*?\})\s*-->", re.DOTALL)
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")
MAX_SPAN = 40  # lines: a fix whose edits reach further is suggested at its main hunk, the rest shown beside it
CONTEXT = 3  # lines of context a forge shows around a hunk, where a comment may also go
_PULL_REFS = {"github": "refs/pull/{}/head", "gitea": "refs/pull/{}/head", "gitlab": "refs/merge-requests/{}/head"}


@dataclass(frozen=True)
class Proposal:
    """The fixes whose edits make one hunk of a file: one comment, or a line of the summary."""

    path: str
    start: int  # first line replaced, 1-based, in the head's text
    end: int  # last line replaced
    code: str  # what replaces them
    fixes: tuple[pr.FixRecord, ...]
    also: tuple[str, ...] = ()  # other hunks of the same fixes (imports, declarations), as diff lines
    anchor: int | None = None  # a line of start..end the pull request adds; None: outside its changes

    @property
    def fingerprints(self) -> list[str]:
        return sorted(f.fingerprint for f in self.fixes)


@dataclass
class ReviewOutcome:
    action: str  # reviewed, unchanged, dry-run
    number: int
    url: str
    head: str = ""
    posted: list[Proposal] = field(default_factory=list)  # new line comments
    already: int = 0  # fixes an earlier run posted
    outside: list[pr.FixRecord] = field(default_factory=list)  # fixes in the summary
    summary: str | None = None  # created, updated, unchanged, or None: no summary
    calls: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rolled_back: list[pr.RolledBackRecord] = field(default_factory=list)
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "number": self.number,
            "url": self.url,
            "head": self.head,
            "suggestions": [
                {"path": p.path, "line": p.start, "end_line": p.end, "rules": sorted({f.rule for f in p.fixes})}
                for p in self.posted
            ],
            "already_posted": self.already,
            "outside": [{"rule": f.rule, "path": f.path, "line": f.line} for f in self.outside],
            "summary": self.summary,
            "calls": self.calls,
        }


def review(
    request: pr.Request,
    number: int,
    start: Path,
    connect: Callable[[forge.Target, str], Forge] = forge.connect,
    environ: dict[str, str] | None = None,
) -> ReviewOutcome:
    """Post the fixes for the lines pull request ``number`` changes as suggestions; the rest in one summary."""
    repo = gitops.open_repository(start)
    if repo is None:
        raise pr.PrError(f"{start} is not in a git repository (or is a bare one)")
    root = gitops.root_of(repo)
    if request.remote not in [r.name for r in repo.remotes]:
        raise pr.PrError(f"no git remote named {request.remote!r}: add one or pass --remote")
    url = repo.git.remote("get-url", request.remote)
    try:
        target = forge.detect(url, request.forge, request.api_url, request.repo)
    except ForgeError as err:
        raise pr.PrError(str(err)) from None
    token = forge.token_from_env(target.kind, environ)
    if not token:
        raise pr.PrError(f"no token: set GOFIX_CONC_TOKEN (or {forge.TOKEN_VARIABLES[target.kind]})")
    client = connect(target, token)
    remote = pr._Remote(repo, request.remote, url, client.git_authorization(), token)
    try:
        pull = client.get_pull(number)
        if pull.state is not State.OPEN:
            raise pr.PrError(f"#{number} is {pull.state.value}: review mode comments on open pull requests only")
        pull_ref = _PULL_REFS[client.kind].format(number)
        found = remote.refs(pull_ref, f"refs/heads/{pull.head}", f"refs/heads/{pull.base}")
        head_ref = pull_ref if pull_ref in found else f"refs/heads/{pull.head}"
        if head_ref not in found or f"refs/heads/{pull.base}" not in found:
            missing = pull.head if head_ref not in found else pull.base
            raise pr.PrError(f"cannot fetch {missing!r} of #{number} from {request.remote}")
        wanted = {"head": head_ref, "base": f"refs/heads/{pull.base}"}
        with remote.fetched_refs(wanted) as shas, pr._worktree(repo, shas["head"]) as tree:
            head = shas["head"]
            if pull.head_sha and pull.head_sha != head:
                raise pr.PrError(f"#{number} moved while it was read (the forge says {pull.head_sha[:12]}): run again")
            merge_base = repo.git.merge_base(shas["base"], head)
            pull = dataclasses.replace(
                pull,
                head_sha=head,
                base_sha=pull.base_sha or merge_base,
                start_sha=pull.start_sha or shas["base"],
            )
            added, visible = changed_lines(repo, merge_base, head)
            results, problems, rolled_back = _fixed(tree, pr._files(request, root, tree), request)
            proposals = [p for r in results for p in proposals_for(r, tree, added, visible)]
            outcome = ReviewOutcome("reviewed", number, pull.url, head, problems=problems, rolled_back=rolled_back)
            return _post(request, client, pull, proposals, outcome)
    except ForgeError as err:
        raise ForgeError(remote.redact(str(err)), err.status) from None


def changed_lines(repo: git.Repo, base: str, head: str) -> tuple[dict[str, set[int]], dict[str, list[tuple[int, int]]]]:
    """Per file of ``head``: the lines ``base..head`` adds, and the line ranges a forge shows in its diff."""
    diff = repo.git.diff("-U0", "--no-color", "--no-ext-diff", "-M", "--no-prefix", base, head, "--", "*.go")
    added: dict[str, set[int]] = {}
    visible: dict[str, list[tuple[int, int]]] = {}
    path = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = line[4:]
            path = None if name == "/dev/null" else (json.loads(name) if name.startswith('"') else name)
            continue
        match = _HUNK.match(line)
        if match and path is not None:
            first, count = int(match[1]), int(match[2] if match[2] is not None else 1)
            added.setdefault(path, set()).update(range(first, first + count))
            last = first + max(count, 1) - 1
            visible.setdefault(path, []).append((max(1, first - CONTEXT), last + CONTEXT))
    return added, visible


def _fixed(
    tree: Path, files: list[Path], request: pr.Request
) -> tuple[list[FileResult], list[str], list[pr.RolledBackRecord]]:
    """Every rule's fixes on the head at once (as ``fix`` makes them), verified unless ``--no-verify``."""
    settings = dataclasses.replace(request.settings, fix=True)
    results = list(engine.run(files, settings, request.jobs))
    problems = [f"{gitops.relative(r.path, tree)}: {r.error.splitlines()[0]}" for r in results if r.error is not None]
    rolled_back: list[pr.RolledBackRecord] = []
    if request.verify is not None and any(r.status is Status.CHANGED for r in results):
        try:
            report = verify.verify(results, settings, verify.Options(request.verify, request.jobs))
        except verify.VerifyError as err:
            raise pr.PrError(str(err)) from None
        results = report.results
        rolled_back = [
            pr.RolledBackRecord(rb.rule, gitops.relative(rb.path, tree), rb.line, rb.message, rb.check, rb.output)
            for rb in report.rolled_back
        ]
    changed = [r for r in results if r.status is Status.CHANGED and r.original is not None and r.new is not None]
    return changed, problems, rolled_back


def proposals_for(
    result: FileResult, root: Path, added: dict[str, set[int]], visible: dict[str, list[tuple[int, int]]]
) -> list[Proposal]:
    """The hunks of one fixed file, each with the fixes whose reported line is nearest to it."""
    assert result.original is not None and result.new is not None
    path = gitops.relative(result.path, root)
    fixes = [
        pr.FixRecord(f.rule, path, key[1], f.message, f.fix.message if f.fix else "", fingerprint)
        for f, key, fingerprint in zip(result.fixed, result.fixed_keys, pr._fingerprints(result, root), strict=True)
    ]
    a = _LINE.findall(result.original.decode(errors="replace"))
    b = _LINE.findall(result.new.decode(errors="replace"))
    hunks = []
    for group in _Minimal(a, b).get_grouped_opcodes(1):  # edits one line apart are one hunk
        changes = [op for op in group if op[0] != "equal"]
        hunks.append((changes[0][1], changes[-1][2], changes[0][3], changes[-1][4]))
    if not hunks:
        return []
    chosen: dict[int, list[pr.FixRecord]] = {}
    for fix in fixes:
        chosen.setdefault(_nearest(hunks, fix.line - 1), []).append(fix)
    members = {index: [index] for index in chosen}
    for index, hunk in enumerate(hunks):
        if index not in chosen:  # an import or a declaration the fixes need: goes with the nearest fix
            members[min(chosen, key=lambda c: abs(hunks[c][0] - hunk[0]))].append(index)

    def place(i1: int, i2: int, j1: int, j2: int) -> tuple[int, int, str, int | None]:
        code = "".join(b[j1:j2])
        if i1 == i2:  # a suggestion replaces at least one line: take the one above (or below) along
            if i1 > 0:
                i1, code = i1 - 1, a[i1 - 1] + code
            else:
                i2, code = 1, code + (a[0] if a else "")
        start, end = i1 + 1, max(i2, i1 + 1)
        lines = range(start, end + 1)
        shown = all(any(lo <= n <= hi for lo, hi in visible.get(path, [])) for n in lines)
        anchor = next((n for n in lines if n in added.get(path, set())), None) if shown else None
        return start, end, code, anchor

    out = []
    for index, mine in sorted(chosen.items()):
        group = sorted(members[index])
        first, last = hunks[group[0]], hunks[group[-1]]
        crosses = any(group[0] < other < group[-1] for other in chosen if other != index)
        if len(group) > 1 and not crosses and last[1] - first[0] <= MAX_SPAN:
            # every edit of these fixes in one suggestion, when the pull request added all those lines
            start, end, code, anchor = place(first[0], last[1], first[2], last[3])
            if anchor is not None and all(n in added.get(path, set()) for n in range(start, end + 1)):
                out.append(Proposal(path, start, end, code, tuple(mine), (), anchor))
                continue
        i1, i2, j1, j2 = hunks[index]
        also = tuple(
            f"@@ line {hunks[x][0] + 1} @@\n"
            + "".join(f"-{line}" for line in a[hunks[x][0] : hunks[x][1]])
            + "".join(f"+{line}" for line in b[hunks[x][2] : hunks[x][3]])
            for x in group
            if x != index
        )
        start, end, code, anchor = place(i1, i2, j1, j2)
        out.append(Proposal(path, start, end, code, tuple(mine), also, anchor))
    return out


def _nearest(hunks: list[tuple[int, int, int, int]], line: int) -> int:
    def distance(index: int) -> int:
        i1, i2 = hunks[index][:2]
        last = max(i2 - 1, i1)
        return 0 if i1 <= line <= last else min(abs(line - i1), abs(line - last))

    return min(range(len(hunks)), key=distance)


def _posted(bodies: list[str]) -> set[str]:
    found: set[str] = set()
    for body in bodies:
        for match in _POSTED.finditer(body):
            try:
                found.update(str(f) for f in json.loads(match[1]).get("fingerprints", []))
            except (ValueError, AttributeError):
                continue
    return found


def _post(
    request: pr.Request, client: Forge, pull: PullRequest, proposals: list[Proposal], outcome: ReviewOutcome
) -> ReviewOutcome:
    writes = pr._Writes(request.dry_run)
    posted = _posted(client.line_comments(pull))
    fresh = []
    for proposal in proposals:
        if posted.intersection(proposal.fingerprints):
            outcome.already += len(proposal.fixes)
        elif proposal.anchor is not None:
            fresh.append(proposal)
    outcome.posted = fresh
    outcome.outside = [f for p in proposals if p.anchor is None for f in p.fixes if f.fingerprint not in posted]
    if fresh:
        suggestions = [_suggestion(p) for p in fresh]
        where = ", ".join(f"{p.path}:{p.start}" for p in fresh)
        writes(f"suggest {len(fresh)} change(s) on #{pull.number}: {where}", lambda: client.suggest(pull, suggestions))
    summary = next((c for c in client.issue_comments(pull) if SUMMARY_MARK in c.body), None)
    if summary is not None or outcome.outside:
        text = _summary(client, pull, outcome.outside)
        if summary is None:
            writes(
                f"comment on #{pull.number}: {len(outcome.outside)} fix(es) outside its changes",
                lambda: client.comment(pull, text),
            )
            outcome.summary = "created"
        elif _summarised(summary.body) != sorted(f.fingerprint for f in outcome.outside):
            writes(f"edit the summary on #{pull.number}", lambda: client.edit_comment(pull, summary, text))
            outcome.summary = "updated"
        else:  # the same fixes: left as it is, even though its links name an older head commit
            outcome.summary = "unchanged"
    outcome.calls = writes.calls
    changed = bool(fresh) or outcome.summary in ("created", "updated")
    outcome.message = (
        f"{len(fresh)} new suggestion(s), {outcome.already} posted before, "
        f"{len(outcome.outside)} fix(es) outside the changed lines"
    )
    if request.dry_run:
        outcome.action, outcome.message = "dry-run", f"dry run, would post: {outcome.message}"
    else:
        outcome.action = "reviewed" if changed else "unchanged"
    return outcome


def _summarised(body: str) -> list[str] | None:
    match = _SUMMARY_META.search(body)
    try:
        return sorted(json.loads(match[1])["fingerprints"]) if match else None
    except (ValueError, KeyError, TypeError):
        return None


def _suggestion(proposal: Proposal) -> Suggestion:
    assert proposal.anchor is not None
    lines = []
    for fix in proposal.fixes:
        what = f" {fix.fix[:1].upper()}{fix.fix[1:]}." if fix.fix else ""
        lines.append(f"**gofix-conc** `{fix.rule}`: {fix.message}.{what}".replace("..", "."))
        why = gitops._why(fix.rule)
        if why:
            lines.append(f"<sub>Why: {why}</sub>")
    after = []
    if proposal.also:
        after += [
            "The fix also needs these lines elsewhere in the file:",
            "",
            "```diff",
            *(hunk.rstrip("\n") for hunk in proposal.also),
            "```",
            "",
        ]
    meta = {"fingerprints": proposal.fingerprints, "version": __version__}
    after.append(f"<!-- gofix-conc-suggestion {json.dumps(meta, sort_keys=True)} -->")
    return Suggestion(
        proposal.path, proposal.start, proposal.end, proposal.anchor, proposal.code, "\n".join(lines), "\n".join(after)
    )


def _summary(client: Forge, pull: PullRequest, outside: list[pr.FixRecord]) -> str:
    if not outside:
        lines = ["gofix-conc finds no fix outside the lines this pull request changes."]
    else:
        n = len(outside)
        lines = [
            f"gofix-conc finds {n} fix{'es' * (n != 1)} on the head of this pull request outside the lines it "
            "changes (not suggested inline):",
            "",
        ]
        for fix in sorted(outside, key=lambda f: (f.path, f.line, f.rule)):
            link = client.blob_url(pull.head_sha, fix.path, fix.line)
            what = f"; {fix.fix[:1].lower()}{fix.fix[1:]}" if fix.fix else ""
            lines.append(f"- [`{fix.path}:{fix.line}`]({link}) `{fix.rule}`: {fix.message}{what}")
        rules = ",".join(sorted({f.rule for f in outside}))
        lines += ["", f"To apply them: `gofix-conc fix --select {rules} --write .` on this branch."]
    meta = {"fingerprints": sorted(f.fingerprint for f in outside), "version": __version__}
    lines += ["", SUMMARY_MARK, f"<!-- gofix-conc-review {json.dumps(meta, sort_keys=True)} -->"]
    return "\n".join(lines) + "\n"
