"""Fixes as git commits: one per rule (or per file), made without disturbing the user's work.

A *plan* is computed in memory first: a list of :class:`Step`, each the
changes of one rule applied on top of the steps before it (or, per file, all
rules at once on one file). Nothing is written until the plan is known and
:func:`preflight` has found nothing to refuse.

Commits are made with plumbing on a temporary index (``GIT_INDEX_FILE``):
the index starts as ``HEAD``, receives only the changed paths, becomes a
tree and a commit, and ``HEAD`` moves with a compare-and-swap. The user's
own index is only touched for the changed paths (which were clean, so they
end up matching the new ``HEAD``): anything else the user had staged stays
staged and out of the commit. Hooks are not run, as with ``git commit-tree``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import git

from gofix_conc import engine, registry
from gofix_conc.engine import FileResult, Settings, Status
from gofix_conc.model import Finding
from gofix_conc.writer import write_atomic

SUBJECT_PREFIX = "fix(concurrency): "
TRAILER = "Gofix-Conc-Rule"

# Subjects read as what the commit does; rules not listed fall back to their summary.
SUBJECTS: dict[str, str] = {
    "unbounded-goroutines": "bound goroutines in loops",
    "goroutine-without-recover": "recover panics in goroutines",
    "non-atomic-counter": "make shared counters atomic",
    "timer-in-loop": "reuse one timer across loop iterations",
    "closure-captures-large-value": "capture only the fields closures use",
}

# Git state files that mean another operation owns the index and HEAD.
_IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "REVERT_HEAD": "a revert",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase or 'git am'",
}


class Refusal(Exception):
    """The repository is not in a state where fixes can be committed safely."""


# -- plans ---------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    path: Path
    old: bytes
    new: bytes
    fixed: tuple[Finding, ...]


@dataclass(frozen=True)
class Step:
    """One commit's (or one mbox patch's) worth of changes."""

    rules: tuple[str, ...]
    changes: tuple[Change, ...]
    file: Path | None = None  # set for per-file steps


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)  # findings left after every step
    problems: list[FileResult] = field(default_factory=list)  # results with errors or warnings
    appeared: list[tuple[Path, engine.Appeared]] = field(default_factory=list)  # fixes only a later pass offered
    resolved: list[Finding] = field(default_factory=list)  # findings gone once other fixes were applied

    @property
    def changed_paths(self) -> list[Path]:
        return list(dict.fromkeys(c.path for step in self.steps for c in step.changes))

    @property
    def fixed(self) -> int:
        return sum(len(c.fixed) for step in self.steps for c in step.changes)

    def final(self) -> dict[Path, tuple[bytes, bytes]]:
        """Each changed path's text before the first step and after the last."""
        out: dict[Path, tuple[bytes, bytes]] = {}
        for step in self.steps:
            for change in step.changes:
                before = out.get(change.path, (change.old, change.old))[0]
                out[change.path] = (before, change.new)
        return out


def plan_by_file(files: Sequence[Path], settings: Settings, jobs: int | None = None) -> Plan:
    """All rules at once, file by file: the same result as ``fix --write``."""
    plan = Plan()
    for result in engine.run(files, dataclasses.replace(settings, fix=True), jobs):
        if result.error or result.warnings:
            plan.problems.append(result)
        plan.remaining += result.findings
        plan.appeared += [(result.path, a) for a in result.appeared]
        plan.resolved += result.resolved
        if result.status is Status.CHANGED:
            assert result.original is not None and result.new is not None
            rules = tuple(sorted({f.rule for f in result.fixed}))
            change = Change(result.path, result.original, result.new, result.fixed)
            plan.steps.append(Step(rules, (change,), result.path))
    return plan


def plan_by_rule(files: Sequence[Path], settings: Settings, jobs: int | None = None) -> Plan:
    """One step per rule, ending with the files ``fix --write`` writes.

    The fix loop runs once over all rules, as for ``--write``; its passes are
    then split by rule (:func:`engine.by_rule`). Steps go in rule order: each
    step takes every file whose next change is that rule's. A file where one
    rule's fix only appeared after another rule's (or two rules' fixes
    overlapped) needs that rule again later: the plan then has a second step
    for it rather than files that differ from ``--write``.
    """
    plan = Plan()
    order = {rule: i for i, rule in enumerate(settings.rules)}
    queues: dict[Path, list[tuple[str, tuple[Finding, ...], bytes]]] = {}
    texts: dict[Path, bytes] = {}
    for result in engine.run(files, dataclasses.replace(settings, fix=True), jobs):
        if result.error or result.warnings:
            plan.problems.append(result)
        plan.remaining += result.findings
        plan.appeared += [(result.path, a) for a in result.appeared]
        plan.resolved += result.resolved
        steps = engine.by_rule(result, settings.rules)
        if steps:
            assert result.original is not None
            queues[result.path] = steps
            texts[result.path] = result.original
    while queues:
        rule = min((q[0][0] for q in queues.values()), key=lambda r: (order.get(r, len(order)), r))
        changes = []
        for path, queue in list(queues.items()):
            if queue[0][0] != rule:
                continue
            _, fixed, text = queue.pop(0)
            changes.append(Change(path, texts[path], text, fixed))
            texts[path] = text
            if not queue:
                del queues[path]
        plan.steps.append(Step((rule,), tuple(changes)))
    return plan


# -- messages --------------------------------------------------------------------


def rule_subject(rule_id: str) -> str:
    if rule_id in SUBJECTS:
        return SUBJECTS[rule_id]
    try:
        return registry.get(rule_id).summary.rstrip(".")
    except registry.UnknownRuleError:
        return rule_id


def _why(rule_id: str) -> str:
    """The first paragraph of the rule's "Why is this bad?" section."""
    try:
        doc = registry.get(rule_id).doc
    except registry.UnknownRuleError:
        return ""
    match = re.search(r"^## Why is this bad\?\n(.*?)(?:\n\s*\n|\Z)", doc, re.MULTILINE | re.DOTALL)
    return " ".join(match[1].split()) if match else ""


def message(step: Step, root: Path) -> str:
    """Subject, the changed places with their reasons, why, and one trailer per rule."""
    if step.file is None:
        subject = SUBJECT_PREFIX + rule_subject(step.rules[0])
    else:
        name = relative(step.file, root)
        what = rule_subject(step.rules[0]) if len(step.rules) == 1 else "fix concurrency pitfalls"
        subject = f"{SUBJECT_PREFIX}{what} in {name}"
    lines = [subject, ""]
    for rule_id in step.rules:
        if len(step.rules) > 1:
            lines.append(f"{rule_id}:")
        for change in step.changes:
            for finding in (f for f in change.fixed if f.rule == rule_id):
                fix = f"; {finding.fix.message[:1].lower()}{finding.fix.message[1:]}" if finding.fix else ""
                lines.append(f"- {relative(change.path, root)}:{finding.line}: {finding.message}{fix}")
        why = _why(rule_id)
        if why:
            lines += ["", *textwrap.wrap(f"Why: {why}", 72, break_on_hyphens=False, break_long_words=False)]
        lines.append("")
    lines += [f"{TRAILER}: {rule_id}" for rule_id in step.rules]
    return "\n".join(lines) + "\n"


def subject_of(text: str) -> str:
    return text.split("\n", 1)[0]


# -- the repository ----------------------------------------------------------------


def open_repository(path: Path) -> git.Repo | None:
    """The repository holding ``path`` (a subdirectory or linked worktree is fine), if any."""
    start = path if path.is_dir() else path.parent
    try:
        repo = git.Repo(start.resolve(), search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    return None if repo.bare else repo


def changed_go_files(rev: str, paths: Sequence[Path]) -> set[Path]:
    """Go files that differ from ``rev`` in the work tree (committed or not) plus untracked ones.

    Raises Refusal outside a repository or for an unknown revision.
    """
    repo = open_repository(paths[0] if paths else Path.cwd())
    if repo is None:
        raise Refusal(f"--changed-since needs a git repository; {paths[0]} is not in one")
    root = root_of(repo)
    try:
        repo.git.rev_parse("--verify", "--quiet", f"{rev}^{{commit}}")
        changed = repo.git.diff("--name-only", "-z", "--diff-filter=d", rev, "--", "*.go")
        untracked = repo.git.ls_files("--others", "--exclude-standard", "-z", "--", "*.go")
    except git.GitCommandError:
        raise Refusal(f"--changed-since: unknown revision {rev!r}") from None
    return {(root / name).resolve() for name in (changed + "\0" + untracked).split("\0") if name}


def root_of(repo: git.Repo) -> Path:
    assert repo.working_tree_dir is not None
    return Path(repo.working_tree_dir).resolve()


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes; Refusal when outside it."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        raise Refusal(f"{path} is outside {root}") from None


def _pathspecs(paths: Iterable[Path], root: Path) -> list[str]:
    # :(literal) keeps names with *, ? or [ from being read as globs.
    return [f":(literal){relative(p, root)}" for p in paths]


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def in_progress(repo: git.Repo) -> str | None:
    git_dir = Path(repo.git_dir)
    return next((what for name, what in _IN_PROGRESS.items() if (git_dir / name).exists()), None)


def preflight(repo: git.Repo, paths: Sequence[Path], branch: str | None = None) -> None:
    """Refuse, before anything is written, when committing could mix with the user's work."""
    root = root_of(repo)
    try:
        repo.git.rev_parse("--verify", "-q", "HEAD^{commit}")
    except git.GitCommandError:
        raise Refusal("the repository has no commit yet; commit something first") from None
    busy = in_progress(repo)
    if busy:
        raise Refusal(f"{busy} is in progress; finish or abort it first")
    if branch is not None:
        try:
            repo.git.check_ref_format("--branch", branch)
        except git.GitCommandError:
            raise Refusal(f"{branch!r} is not a valid branch name") from None
        if branch in repo.heads:
            raise Refusal(f"branch {branch!r} already exists")
    dirty: list[str] = []
    for specs in _chunks(_pathspecs(paths, root)):
        out = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all", "--ignored=matching", "--", *specs)
        dirty += _describe_status(out)
    if dirty:
        listing = "\n".join(f"  {line}" for line in dirty)
        raise Refusal(f"files to fix have changes not committed; commit or stash them first:\n{listing}")


def _describe_status(porcelain_z: str) -> list[str]:
    found = []
    entries = iter(porcelain_z.split("\0"))
    for entry in entries:
        if not entry:
            continue
        code, name = entry[:2], entry[3:]
        if code[0] in "RC":
            next(entries, None)  # the rename's source path
        if code == "??":
            what = "not tracked by git"
        elif code == "!!":
            what = "ignored by git"
        elif code[0] != " " and code[1] != " ":
            what = "staged and unstaged changes"
        elif code[0] != " ":
            what = "staged changes"
        else:
            what = "unstaged changes"
        found.append(f"{name}: {what}")
    return found


def head_label(repo: git.Repo) -> str:
    return "detached HEAD" if repo.head.is_detached else repo.active_branch.name


def create_branch(repo: git.Repo, name: str) -> None:
    """Start ``name`` at HEAD and make it current: index and worktree stay as they are."""
    repo.git.checkout("-q", "-b", name)


def commit_paths(repo: git.Repo, paths: Sequence[Path], text: str) -> str | None:
    """Commit the working-tree contents of ``paths`` only; the new sha, or None when nothing changed."""
    root = root_of(repo)
    specs = _pathspecs(paths, root)
    parent = repo.git.rev_parse("HEAD")
    handle, index_file = tempfile.mkstemp(prefix="gofix-conc-index.", dir=repo.git_dir)
    os.close(handle)
    os.unlink(index_file)  # git refuses an empty file as an index
    env = {"GIT_INDEX_FILE": index_file}
    try:
        repo.git.read_tree(parent, env=env)
        for chunk in _chunks(specs):
            repo.git.add("--", *chunk, env=env)
        tree = repo.git.write_tree(env=env)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(index_file)
    if tree == repo.git.rev_parse(f"{parent}^{{tree}}"):
        return None  # no empty commits
    sha = repo.git.commit_tree(tree, "-p", parent, "-m", text.rstrip("\n"))
    repo.git.update_ref("-m", f"gofix-conc: {subject_of(text)}", "HEAD", sha, parent)
    # The paths were clean: make their index entries match the new HEAD, or
    # `git status` would show the fix as staged to be undone.
    for chunk in _chunks([relative(p, root) for p in paths]):  # update-index takes paths, not pathspecs
        repo.git.update_index("-q", "--", *chunk)
    return sha


def author(repo: git.Repo | None) -> tuple[str, str]:
    """Name and email for patches: git's author identity, or a neutral one outside git."""
    try:
        ident = (repo.git if repo is not None else git.Git()).var("GIT_AUTHOR_IDENT")
    except git.GitCommandError:
        return "gofix-conc", "gofix-conc@localhost"
    match = re.match(r"(.*) <(.*)> \d+ [+-]\d{4}$", ident)
    return (match[1], match[2]) if match else ("gofix-conc", "gofix-conc@localhost")


@dataclass(frozen=True)
class Committed:
    step: Step
    message: str
    sha: str | None  # None: the step changed nothing git sees (no empty commit made)


def commit_plan(repo: git.Repo, plan: Plan, branch: str | None = None) -> Iterator[Committed]:
    """Write each step's files and commit them; call :func:`preflight` first.

    A file that changed on disk since the plan was made stops the run with a
    WriteError; the commits already made stay.
    """
    if branch is not None:
        create_branch(repo, branch)
    root = root_of(repo)
    for step in plan.steps:
        for change in step.changes:
            write_atomic(change.path, change.new, change.old)
        text = message(step, root)
        yield Committed(step, text, commit_paths(repo, [c.path for c in step.changes], text))
