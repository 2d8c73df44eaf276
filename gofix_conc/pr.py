"""`gofix-conc pr`: verified fixes as one commit per rule on a bot branch, pushed, and one pull request kept current.

The lifecycle is written once, above :class:`gofix_conc.forge.Forge`, and never
knows which forge it talks to. State lives on the forge and the remote, not
here: the branch, the pull requests whose head it is, and hidden metadata in
their bodies (the tool version, the rules, one fingerprint per fix). Each run
reconciles with that state:

- nothing new (the remote branch carries the same patches, the body is the
  same): ``unchanged``, no push and no API write;
- new or different fixes: the branch is force-pushed (with a lease) and the
  body rewritten, ``updated`` -- but only while every commit on the branch is
  the bot's own (its author and a ``Gofix-Conc-Rule:`` trailer); once someone
  else pushed, the bot comments once that the branch is theirs and stops
  (``handed-off``);
- nothing left to fix: an open bot pull request is closed with a comment
  (``closed``);
- a pull request closed without merging declines its fixes: their
  fingerprints are not proposed again (``declined`` when nothing else is left)
  unless ``reopen_declined``;
- no open pull request but the bot's branch is there (a run pushed and then
  failed at the API): the pull request is opened without pushing again.

The user's checkout is never touched: fixes are computed and committed in a
temporary worktree made from the base branch's remote head, and the push
sends that worktree's commits. The token reaches git only through the
environment (``GIT_CONFIG_COUNT``/``KEY``/``VALUE`` for ``http.<url>.extraHeader``),
never a command line, ``.git/config`` or a message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from gofix_conc import __version__, discovery, engine, forge, gitops, verify
from gofix_conc.engine import FileResult, Settings, Status
from gofix_conc.forge import Forge, ForgeError, PullRequest, State
from gofix_conc.source import Source
from gofix_conc.writer import WriteError, write_atomic

DEFAULT_BRANCH = "gofix-conc/concurrency"
BOT_NAME = "gofix-conc[bot]"
BOT_EMAIL = "gofix-conc-bot@users.noreply.invalid"
_METADATA = re.compile(r"<!--\s*gofix-conc-metadata\s*(\{.*?\})\s*-->", re.DOTALL)
HANDED_OFF_MARK = "<!-- gofix-conc:handed-off -->"
CLOSED_MARK = "<!-- gofix-conc:closed -->"
_PRIVATE_REFS = "refs/gofix-conc/pr"


class PrError(Exception):
    """Bad input or a refusal: nothing was pushed and nothing was written on the forge."""


@dataclass(frozen=True)
class Request:
    paths: tuple[Path, ...]
    settings: Settings
    remote: str = "origin"
    base: str | None = None  # default: the forge's default branch
    branch: str = DEFAULT_BRANCH
    title: str | None = None
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    draft: bool = False
    dry_run: bool = False
    verify: verify.Mode | None = verify.Mode.BUILD  # None: --no-verify
    reopen_declined: bool = False
    forge: str | None = None
    api_url: str | None = None
    repo: str | None = None
    author: tuple[str, str] = (BOT_NAME, BOT_EMAIL)
    exclude: tuple[str, ...] = ()  # config exclude globs
    exclude_root: str = "."  # where they are rooted, relative to the repository root
    jobs: int | None = None
    open_new: bool = True  # False: when the run would open a pull request, push nothing and say ``deferred``


@dataclass(frozen=True)
class FixRecord:
    rule: str
    path: str  # relative to the repository root
    line: int  # in the text the rule's commit started from
    message: str
    fix: str
    fingerprint: str


@dataclass(frozen=True)
class CommitRecord:
    sha: str
    subject: str


@dataclass(frozen=True)
class RolledBackRecord:
    rule: str
    path: str
    line: int
    message: str
    check: str
    output: str


@dataclass
class Evidence:
    mode: verify.Mode | None
    go_version: str = ""
    packages: int = 0
    commands: int = 0
    rolled_back: list[RolledBackRecord] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    action: str  # created, updated, unchanged, closed, declined, handed-off, deferred, dry-run
    branch: str
    base: str = ""
    number: int | None = None
    url: str | None = None
    commits: list[CommitRecord] = field(default_factory=list)
    fixes: list[FixRecord] = field(default_factory=list)
    declined: int = 0  # fixes left out because a closed pull request declined them
    evidence: Evidence | None = None
    title: str = ""
    body: str = ""
    calls: list[str] = field(default_factory=list)  # forge writes and pushes made (dry run: that would be made)
    pushed: bool = False
    planned: str | None = None  # dry run: the action a real run would take
    problems: list[str] = field(default_factory=list)  # files not analysed
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action,
            "number": self.number,
            "url": self.url,
            "branch": self.branch,
            "commits": [{"sha": c.sha, "subject": c.subject} for c in self.commits],
        }
        if self.planned is not None:
            data["planned"] = self.planned
            data["calls"] = self.calls
        return data


# -- the run ---------------------------------------------------------------------


def run(
    request: Request,
    start: Path,
    connect: Callable[[forge.Target, str], Forge] = forge.connect,
    environ: dict[str, str] | None = None,
) -> Outcome:
    """Compute, verify, commit, push and open or update the pull request; raise PrError before any write."""
    repo = gitops.open_repository(start)
    if repo is None:
        raise PrError(f"{start} is not in a git repository (or is a bare one)")
    root = gitops.root_of(repo)
    if repo.head.is_detached:
        raise PrError("HEAD is detached: check out a branch first (the pull request is built from the remote base)")
    busy = gitops.in_progress(repo)
    if busy:
        raise PrError(f"{busy} is in progress; finish or abort it first")
    dirty = repo.git.status("--porcelain", "--untracked-files=no")
    if dirty:
        raise PrError(
            "the work tree has uncommitted changes; commit or stash them first (gofix-conc leaves them as they are):\n"
            + "\n".join(f"  {line}" for line in dirty.splitlines()[:20])
        )
    if request.remote not in [r.name for r in repo.remotes]:
        raise PrError(f"no git remote named {request.remote!r}: add one or pass --remote")
    url = repo.git.remote("get-url", request.remote)
    try:
        target = forge.detect(url, request.forge, request.api_url, request.repo)
    except ForgeError as err:
        raise PrError(str(err)) from None
    token = forge.token_from_env(target.kind, environ)
    if not token:
        raise PrError(f"no token: set GOFIX_CONC_TOKEN (or {forge.TOKEN_VARIABLES[target.kind]})")
    client = connect(target, token)
    remote = _Remote(repo, request.remote, url, client.git_authorization(), token)
    try:
        base = request.base or client.default_branch()
        heads = remote.heads(base, request.branch)
        if base not in heads:
            raise PrError(f"the base branch {base!r} does not exist on {request.remote}")
        pulls = client.find_pulls(request.branch)
        declined = set() if request.reopen_declined else _declined(pulls)
        with remote.fetched(heads) as fetched, _worktree(repo, fetched[base]) as tree:
            built = _build(tree, _files(request, root, tree), request, declined)
            return _reconcile(request, client, remote, repo, base, fetched, pulls, built)
    except ForgeError as err:
        raise ForgeError(remote.redact(str(err)), err.status) from None


# -- the remote through git --------------------------------------------------------


class _Remote:
    """git commands that talk to the remote, with the token in the environment only."""

    def __init__(self, repo: git.Repo, name: str, url: str, authorization: str, token: str) -> None:
        self.repo = repo
        self.name = name
        self.url = url
        self._token = token
        self.env = {"GIT_TERMINAL_PROMPT": "0"}
        if url.startswith(("http://", "https://")):
            # An empty value first drops headers configured before (actions/checkout persists its own
            # Authorization header): two Authorization headers would make the push fail.
            count = int(os.environ.get("GIT_CONFIG_COUNT") or 0)
            key = f"http.{forge.strip_credentials(url)}.extraHeader"
            self.env.update(
                {
                    "GIT_CONFIG_COUNT": str(count + 2),
                    f"GIT_CONFIG_KEY_{count}": key,
                    f"GIT_CONFIG_VALUE_{count}": "",
                    f"GIT_CONFIG_KEY_{count + 1}": key,
                    f"GIT_CONFIG_VALUE_{count + 1}": f"Authorization: {authorization}",
                }
            )

    def redact(self, text: str) -> str:
        text = text.replace(self._token, "***") if self._token else text
        return text.replace(self.url, forge.strip_credentials(self.url))

    def git(self, *args: str) -> str:
        try:
            return self.repo.git.execute(["git", *args], env=self.env)  # type: ignore[call-overload,no-any-return]
        except git.GitCommandError as err:
            said = (err.stderr or "").strip().removeprefix("stderr:").strip(" '\n")
            raise PrError(self.redact(f"git {args[0]} {self.name} failed: {said or err}")) from None

    def heads(self, *branches: str) -> dict[str, str]:
        out = self.git("ls-remote", "--heads", self.name, *(f"refs/heads/{b}" for b in branches))
        found = {}
        for line in out.splitlines():
            sha, ref = line.split("\t", 1)
            found[ref.removeprefix("refs/heads/")] = sha
        return found

    def refs(self, *names: str) -> dict[str, str]:
        """The remote's refs among ``names`` (full names, ``refs/...``) that exist: name -> sha."""
        out = self.git("ls-remote", self.name, *names)
        found = dict(reversed(line.split("\t", 1)) for line in out.splitlines())
        return {name: found[name] for name in names if name in found}

    @contextlib.contextmanager
    def fetched(self, heads: dict[str, str]) -> Iterator[dict[str, str]]:
        """The remote heads' commits in the local object store, under private refs dropped afterwards."""
        with self.fetched_refs({name: f"refs/heads/{name}" for name in heads}) as shas:
            yield shas

    @contextlib.contextmanager
    def fetched_refs(self, remote_refs: dict[str, str]) -> Iterator[dict[str, str]]:
        """``{name: remote ref}`` fetched into the local object store under private refs dropped afterwards."""
        refs = {name: f"{_PRIVATE_REFS}/{i}" for i, name in enumerate(remote_refs)}
        specs = [f"+{remote_refs[name]}:{ref}" for name, ref in refs.items()]
        try:
            self.git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", self.name, *specs)
            yield {name: self.repo.git.rev_parse(ref) for name, ref in refs.items()}
        finally:
            for ref in refs.values():
                with contextlib.suppress(git.GitCommandError):
                    self.repo.git.update_ref("-d", ref)

    def push(self, sha: str, branch: str, expected: str | None) -> None:
        lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
        self.git("push", "--quiet", "--no-verify", lease, self.name, f"{sha}:refs/heads/{branch}")


@contextlib.contextmanager
def _worktree(repo: git.Repo, sha: str) -> Iterator[Path]:
    scratch = Path(tempfile.mkdtemp(prefix="gofix-conc-pr-")).resolve()
    tree = scratch / "tree"
    try:
        # No hooks: a post-checkout hook has no business running for the bot.
        repo.git.execute(
            ["git", "-c", "core.hooksPath=/dev/null", "worktree", "add", "--quiet", "--detach", str(tree), sha]
        )
        yield tree
    finally:
        with contextlib.suppress(git.GitCommandError):
            repo.git.worktree("remove", "--force", str(tree))
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(git.GitCommandError):
            repo.git.worktree("prune")


def _files(request: Request, root: Path, tree: Path) -> list[Path]:
    mapped = []
    for path in request.paths or (root,):
        try:
            mapped.append(tree / gitops.relative(path, root))
        except gitops.Refusal as err:
            raise PrError(str(err)) from None
    present = [p for p in mapped if p.exists()]
    if not present:
        raise PrError("none of the paths exist on the base branch")
    return list(discovery.go_files(present, request.exclude, tree / request.exclude_root))


# -- building the commits ------------------------------------------------------------


@dataclass
class _Built:
    head: str
    base: str
    commits: list[CommitRecord]
    fixes: list[FixRecord]
    evidence: Evidence
    declined: int
    problems: list[str]


def _build(tree: Path, files: list[Path], request: Request, declined: set[str]) -> _Built:
    """One commit per rule in the worktree, each rule run (and verified) on the text the earlier commits left."""
    worktree = git.Repo(tree)
    name, email = request.author
    worktree.git.update_environment(
        GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email
    )
    base = worktree.git.rev_parse("HEAD")
    evidence = Evidence(request.verify)
    options = verify.Options(request.verify, request.jobs) if request.verify else None
    if options is not None:
        try:
            go = verify.go_command(options)
        except verify.VerifyError as err:
            raise PrError(str(err)) from None
        done = subprocess.run(
            [go, "version"], capture_output=True, text=True, env={**os.environ, "GOTOOLCHAIN": "local"}
        )
        evidence.go_version = done.stdout.strip()
    commits: list[CommitRecord] = []
    fixes: list[FixRecord] = []
    problems: dict[str, None] = {}
    left_out = 0
    for rule_id in request.settings.rules:
        one = dataclasses.replace(request.settings, rules=(rule_id,), fix=True)
        results = list(engine.run(files, one, request.jobs))
        drop = {
            engine.skip_key(r.path, key)
            for r in results
            for key, fingerprint in zip(r.fixed_keys, _fingerprints(r, tree), strict=True)
            if fingerprint in declined
        }
        if drop:
            left_out += len(drop)
            one = dataclasses.replace(one, skip=one.skip | drop)
            results = list(engine.run(files, one, request.jobs))
        for result in results:
            if result.error:
                problems[f"{gitops.relative(result.path, tree)}: {result.error.splitlines()[0]}"] = None
        if options is not None and any(r.status is Status.CHANGED for r in results):
            report = verify.verify(results, one, options)
            results = report.results
            evidence.packages += report.packages
            evidence.commands += report.commands
            evidence.rolled_back += [
                RolledBackRecord(rb.rule, gitops.relative(rb.path, tree), rb.line, rb.message, rb.check, rb.output)
                for rb in report.rolled_back
            ]
            evidence.notices += [
                f"{gitops.relative(n.directory, tree) if n.directory != tree else '.'}: {n.message}"
                for n in report.notices
            ]
        changes = [
            gitops.Change(r.path, r.original, r.new, r.fixed)
            for r in results
            if r.status is Status.CHANGED and r.original is not None and r.new is not None
        ]
        if not changes:
            continue
        step = gitops.Step((rule_id,), tuple(changes))
        text = gitops.message(step, tree)
        try:
            for change in changes:
                write_atomic(change.path, change.new, change.old)
        except WriteError as err:
            raise PrError(f"cannot write the fixes in the temporary worktree: {err}") from None
        sha = gitops.commit_paths(worktree, [c.path for c in changes], text)
        if sha is None:
            continue
        commits.append(CommitRecord(sha, gitops.subject_of(text)))
        for result in (r for r in results if r.status is Status.CHANGED):
            rel = gitops.relative(result.path, tree)
            for finding, fingerprint in zip(result.fixed, _fingerprints(result, tree), strict=True):
                what = finding.fix.message if finding.fix else ""
                fixes.append(FixRecord(rule_id, rel, finding.line, finding.message, what, fingerprint))
    head = worktree.git.rev_parse("HEAD")
    return _Built(head, base, commits, fixes, evidence, left_out, list(problems))


def _fingerprints(result: FileResult, root: Path) -> list[str]:
    """One id per fixed finding that survives line shifts: rule, file, enclosing function and the line's text."""
    if not result.fixed or result.original is None:
        return []
    source = Source(result.original)
    rel = gitops.relative(result.path, root)
    seen: Counter[str] = Counter()
    out = []
    for finding, (_, line, column) in zip(result.fixed, result.fixed_keys, strict=True):
        offset = _offset(source.data, line, column)
        text = " ".join(source.data.splitlines()[line - 1].decode(errors="replace").split()) if line > 0 else ""
        identity = "\0".join((finding.rule, rel, _enclosing_function(source, offset), text, finding.message))
        seen[identity] += 1
        out.append(hashlib.sha256(f"{identity}\0{seen[identity]}".encode()).hexdigest()[:20])
    return out


def _offset(data: bytes, line: int, column: int) -> int:
    lines = data.split(b"\n")
    if not 0 < line <= len(lines):
        return 0
    start = sum(len(x) + 1 for x in lines[: line - 1])
    return start + len(lines[line - 1].decode(errors="replace")[: column - 1].encode())


def _enclosing_function(source: Source, offset: int) -> str:
    node = source.root.descendant_for_byte_range(offset, offset)
    while node is not None:
        if node.type in ("function_declaration", "method_declaration"):
            name = node.child_by_field_name("name")
            receiver = node.child_by_field_name("receiver")
            parts = [source.text(receiver) if receiver is not None else "", source.text(name) if name else ""]
            return " ".join(" ".join(parts).split())
        node = node.parent
    return ""


# -- reconciling with the forge ------------------------------------------------------


def _metadata(body: str) -> dict[str, Any] | None:
    match = _METADATA.search(body or "")
    if not match:
        return None
    try:
        data = json.loads(match[1])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _declined(pulls: list[PullRequest]) -> set[str]:
    found: set[str] = set()
    for pull in pulls:
        meta = _metadata(pull.body) if pull.state is State.CLOSED else None
        if meta:
            found.update(str(f) for f in meta.get("fingerprints", []))
    return found


def _log(repo: git.Repo, base: str, head: str, fmt: str) -> list[str]:
    out = repo.git.log("--reverse", f"--format={fmt}%x1e", f"{base}..{head}")
    return [entry.strip("\n") for entry in out.split("\x1e") if entry.strip("\n")]


def _owned(repo: git.Repo, base: str, head: str, email: str) -> bool:
    """Whether every commit on the remote branch (past the base) is the bot's: its author and its trailer."""
    for entry in _log(repo, base, head, "%ae%x1f%P%x1f%(trailers:key=Gofix-Conc-Rule,valueonly,separator=%x2C)"):
        author, parents, rules = entry.split("\x1f")
        if author != email or not rules.strip() or len(parents.split()) != 1:
            return False
    return True


def _patch_ids(repo: git.Repo, base: str, head: str) -> list[str]:
    """The patches of ``base..head`` in order, as ``git patch-id --stable`` names them (blind to line shifts)."""
    patches = repo.git.log("--reverse", "-p", "--format=commit %H", f"{base}..{head}")
    if not patches.strip():
        return []
    done = subprocess.run(
        ["git", "patch-id", "--stable"],
        input=patches + "\n",
        capture_output=True,
        text=True,
        cwd=repo.working_tree_dir,
        check=True,
    )
    ids = {commit: pid for pid, commit in (line.split() for line in done.stdout.splitlines())}
    return [ids.get(sha, f"empty:{sha}") for sha in repo.git.rev_list("--reverse", f"{base}..{head}").split()]


class _Writes:
    """Forge writes and pushes, recorded; in a dry run only recorded."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.calls: list[str] = []

    def __call__(self, description: str, action: Callable[[], Any]) -> Any:
        self.calls.append(description)
        return None if self.dry_run else action()


def _reconcile(
    request: Request,
    client: Forge,
    remote: _Remote,
    repo: git.Repo,
    base: str,
    fetched: dict[str, str],
    pulls: list[PullRequest],
    built: _Built,
) -> Outcome:
    branch = request.branch
    remote_sha = fetched.get(branch)
    base_sha = fetched[base]
    current = next((p for p in pulls if p.state is State.OPEN), None)
    ours = current is not None and _metadata(current.body) is not None
    owned = remote_sha is None or _owned(repo, base_sha, remote_sha, request.author[1])
    writes = _Writes(request.dry_run)
    outcome = Outcome(
        "unchanged",
        branch,
        base,
        fixes=built.fixes,
        declined=built.declined,
        evidence=built.evidence,
        problems=built.problems,
        commits=built.commits,
    )
    if current is not None:
        outcome.number, outcome.url = current.number, current.url

    def finish(action: str, message: str) -> Outcome:
        outcome.calls = writes.calls
        if request.dry_run:
            outcome.planned, outcome.action = action, "dry-run"
            outcome.message = f"dry run, would be {action}: {message}"
        else:
            outcome.action, outcome.message = action, message
        return outcome

    def hand_off() -> Outcome:
        assert current is not None
        if not any(HANDED_OFF_MARK in c for c in client.comments(current)):
            text = (
                f"Someone other than gofix-conc pushed to `{branch}`, so the branch is yours now: gofix-conc "
                "will not push to it or close this pull request again. Close it (or delete the branch) to let "
                f"gofix-conc propose fixes afresh.\n\n{HANDED_OFF_MARK}"
            )
            writes(f"comment on #{current.number}: the branch is yours now", lambda: client.comment(current, text))
        if remote_sha is not None:
            outcome.commits = [CommitRecord(*e.split("\x1f", 1)) for e in _log(repo, base_sha, remote_sha, "%H%x1f%s")]
        return finish("handed-off", f"{branch} has commits gofix-conc did not make: not pushing, the branch is theirs")

    if not built.commits:
        outcome.commits = []
        if current is not None and ours:
            if not owned:
                return hand_off()
            text = f"gofix-conc finds nothing left to fix on `{base}`: closing this pull request.\n\n{CLOSED_MARK}"
            writes(f"comment on #{current.number}: nothing left to fix", lambda: client.comment(current, text))
            writes(f"close #{current.number}", lambda: client.close_pull(current))
            return finish("closed", f"nothing left to fix: closed #{current.number}")
        if built.declined:
            return finish(
                "declined", f"{built.declined} fix(es) declined in a closed pull request; nothing else to fix"
            )
        return finish("unchanged", "nothing to fix")
    if remote_sha is not None and not owned:
        if current is not None:
            return hand_off()
        raise PrError(
            f"branch {branch!r} exists on {request.remote} with commits gofix-conc did not make; not pushing over "
            "them: delete it or pass another --branch"
        )
    if current is None and not request.open_new:
        # A campaign at its --max-open-prs: the next run opens this one.
        return finish("deferred", "not opening a pull request now (the campaign's limit of open ones is reached)")
    same = remote_sha is not None and _patch_ids(repo, base_sha, remote_sha) == _patch_ids(repo, base_sha, built.head)
    if same:
        assert remote_sha is not None
        outcome.commits = [CommitRecord(*e.split("\x1f", 1)) for e in _log(repo, base_sha, remote_sha, "%H%x1f%s")]
    else:
        writes(
            f"git push --force-with-lease {request.remote} {built.head[:12]}:refs/heads/{branch}",
            lambda: remote.push(built.head, branch, remote_sha),
        )
        outcome.pushed = not request.dry_run
    title = request.title or _title(built)
    body = render_body(client, request, base, built)
    outcome.title, outcome.body = title, body
    if current is not None:
        if current.title != title or current.body != body:
            writes(
                f"update #{current.number}: title and body", lambda: client.update_pull(current, title=title, body=body)
            )
        elif same:
            return finish("unchanged", f"#{current.number} is up to date")
        return finish("updated", f"updated #{current.number}")
    created = writes(
        f"open a pull request {branch} -> {base}: {title}",
        lambda: _create(client, branch, base, title, body, request.draft),
    )
    if created is not None:
        outcome.number, outcome.url = created.number, created.url
        if request.labels:
            writes(
                f"label #{created.number}: {', '.join(request.labels)}",
                lambda: client.add_labels(created, list(request.labels)),
            )
        if request.reviewers:
            writes(
                f"request reviews on #{created.number}: {', '.join(request.reviewers)}",
                lambda: client.request_reviewers(created, list(request.reviewers)),
            )
        if request.assignees:
            writes(
                f"assign #{created.number}: {', '.join(request.assignees)}",
                lambda: client.add_assignees(created, list(request.assignees)),
            )
    elif request.dry_run:
        for what, items in (
            ("label", request.labels),
            ("request reviews", request.reviewers),
            ("assign", request.assignees),
        ):
            if items:
                writes(f"{what}: {', '.join(items)}", lambda: None)
    return finish("created", f"opened {created.url}" if created is not None else "would open a pull request")


def _create(client: Forge, branch: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
    """Open the pull request; when the forge says one exists already (a retried call got through), use that one."""
    try:
        return client.create_pull(head=branch, base=base, title=title, body=body, draft=draft)
    except ForgeError as err:
        if err.status not in (409, 422):
            raise
        existing = next((p for p in client.find_pulls(branch) if p.state is State.OPEN), None)
        if existing is None:
            raise
        return existing


# -- the text a maintainer reads -----------------------------------------------------------


def _title(built: _Built) -> str:
    rules = list(dict.fromkeys(f.rule for f in built.fixes))
    if len(rules) <= 2:
        return gitops.SUBJECT_PREFIX + " and ".join(gitops.rule_subject(r) for r in rules)
    return f"{gitops.SUBJECT_PREFIX}fix {len(built.fixes)} concurrency pitfalls ({len(rules)} rules)"


def render_body(client: Forge, request: Request, base: str, built: _Built) -> str:
    """The text: what changed per rule, what was rolled back, the evidence, how to reproduce, metadata."""
    n = len(built.fixes)
    rules = list(dict.fromkeys(f.rule for f in built.fixes))
    lines = [
        f"gofix-conc fixes {n} concurrency pitfall{'s' * (n != 1)} on `{base}`, one commit per rule "
        f"({len(rules)} rule{'s' * (len(rules) != 1)}).",
        "",
        "| rule | fixes | files |",
        "|---|---:|---:|",
    ]
    for rule in rules:
        mine = [f for f in built.fixes if f.rule == rule]
        lines.append(f"| `{rule}` | {len(mine)} | {len({f.path for f in mine})} |")
    for rule in rules:
        lines += ["", f"### `{rule}`: {gitops.rule_subject(rule)}", ""]
        why = gitops._why(rule)
        if why:
            lines += [f"Why: {why}", ""]
        for fix in (f for f in built.fixes if f.rule == rule):
            link = client.blob_url(request.branch, fix.path, fix.line)
            what = f"; {fix.fix[:1].lower()}{fix.fix[1:]}" if fix.fix else ""
            lines.append(f"- [`{fix.path}:{fix.line}`]({link}): {fix.message}{what}")
    evidence = built.evidence
    if evidence.rolled_back:
        lines += ["", "### Rolled back", "", "These fixes broke a check and are not in this pull request:", ""]
        for rb in evidence.rolled_back:
            lines.append(f"- `{rb.path}:{rb.line}` `{rb.rule}`: {rb.message} ({rb.check} failed with it)")
            output = rb.output.strip().splitlines()[:10]
            if output:
                lines += ["", "  ```", *(f"  {line}" for line in output), "  ```"]
    if built.declined:
        verb = "are" if built.declined != 1 else "is"
        lines += [
            "",
            f"{built.declined} fix{'es' * (built.declined != 1)} declined in an earlier pull request (closed without "
            f"merging) {verb} not proposed again.",
        ]
    lines += ["", "### Verification", ""]
    if evidence.mode is None:
        lines.append("Not verified (`--no-verify`): the fixes were not compiled.")
    else:
        race = evidence.mode is verify.Mode.RACE
        lines += [
            f"Each commit was checked on top of the ones before it with `{evidence.go_version or 'go'}`, "
            "nothing downloaded (`GOTOOLCHAIN=local GOPROXY=off`), the fixed text passed to the toolchain with "
            "`go build -overlay`:",
            "",
            "| check | command | result |",
            "|---|---|---|",
        ]
        checks = [
            ("gofmt", "`gofmt -l` on each changed file", verify.GOFMT),
            ("build", "`go build` on each changed package and its importers", verify.BUILD),
            ("vet", "`go vet` on each changed package", verify.VET),
            ("race", "`go test -race` on each changed package with tests", verify.TEST),
        ]
        for name, command, check in checks:
            if check == verify.TEST and not race:
                lines.append(f"| {name} | {command} | not run (`--verify=race` runs it) |")
                continue
            before = any(note.split(": ", 1)[-1].startswith(f"{check} fails without") for note in evidence.notices)
            failed = sum(rb.check == check for rb in evidence.rolled_back)
            result = "failed before the fixes too: not required" if before else "passes"
            if failed:
                result += f" ({failed} fix{'es' * (failed != 1)} rolled back)"
            lines.append(f"| {name} | {command} | {result} |")
        lines += [
            "",
            f"{evidence.packages} package check{'s' * (evidence.packages != 1)}, {evidence.commands} go commands.",
        ]
        if evidence.notices:
            lines += ["", "Not verified:", "", *(f"- {note}" for note in evidence.notices)]
    if built.problems:
        lines += ["", "Files not analysed:", "", *(f"- {p}" for p in built.problems)]
    check = "go build ./... && go vet ./..." + (" && go test -race ./..." if evidence.mode is verify.Mode.RACE else "")
    flag = {None: "", verify.Mode.BUILD: " --verify", verify.Mode.RACE: " --verify=race"}[evidence.mode]
    lines += [
        "",
        "### Reproduce locally",
        "",
        "```sh",
        f"git fetch {request.remote} {request.branch} && git checkout FETCH_HEAD",
        check,
        f"# the same fixes from {base}:",
        f"git checkout {base} && gofix-conc fix{flag} --select {','.join(rules)} .",
        "```",
        "",
        "Commits come from the `gofix-conc` bot; push your own commit to this branch to take it over "
        "(the bot then leaves it alone). Closing without merging declines these fixes: they are not proposed again.",
        "",
    ]
    meta = {
        "tool": "gofix-conc",
        "version": __version__,
        "rules": rules,
        "fingerprints": sorted(f.fingerprint for f in built.fixes),
    }
    lines.append(f"<!-- gofix-conc-metadata {json.dumps(meta, sort_keys=True)} -->")
    return "\n".join(lines) + "\n"
