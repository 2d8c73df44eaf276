"""A repository on a loopback forge for the PR bot's tests: bare remote behind smart HTTP, a clone, a fake API."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from textwrap import dedent

from fakeforge import FakeForge
from githttp import GitHttpServer

from gofix_conc import forge, pr
from gofix_conc.engine import Settings

TOKEN = "tok-4f1c9e0b7d2a"  # a made-up credential: tests assert it never shows up anywhere
RULES = ("unbounded-goroutines", "non-atomic-counter")
REPOS = {"github": "acme/svc", "gitlab": "acme/platform/svc", "gitea": "acme/svc"}  # GitLab: a nested group

GO_MOD = "module example.com/svc\n\ngo 1.22\n"
RUN_GO = dedent(
    """\
    package svc

    import "sync"

    func work(int) {}

    func Run(xs []int) {
    \tvar wg sync.WaitGroup
    \tfor _, x := range xs {
    \t\twg.Add(1)
    \t\tgo func() {
    \t\t\tdefer wg.Done()
    \t\t\twork(x)
    \t\t}()
    \t}
    \twg.Wait()
    }
    """
)
COUNT_GO = dedent(
    """\
    package svc

    import "sync"

    func Count(xs []int) int {
    \tvar wg sync.WaitGroup
    \tn := 0
    \tfor range xs {
    \t\twg.Add(1)
    \t\tgo func() {
    \t\t\tdefer wg.Done()
    \t\t\tn++
    \t\t}()
    \t}
    \twg.Wait()
    \treturn n
    }
    """
)
# RUN_GO as a person would fix it by hand: nothing left for the bot.
RUN_GO_FIXED = RUN_GO.replace(
    "\tvar wg sync.WaitGroup\n", "\tvar wg sync.WaitGroup\n\tsem := make(chan struct{}, 4)\n", 1
)
RUN_GO_FIXED = RUN_GO_FIXED.replace(
    "\t\twg.Add(1)\n\t\tgo func() {\n",
    "\t\twg.Add(1)\n\t\tsem <- struct{}{}\n\t\tgo func() {\n\t\t\tdefer func() { <-sem }()\n",
)


def git(cwd: Path, *args: str, auth: bool = False) -> str:
    extra = ["-c", f"http.extraHeader=Authorization: Basic {basic()}"] if auth else []
    done = subprocess.run(["git", *extra, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def basic() -> str:
    return base64.b64encode(f"dev:{TOKEN}".encode()).decode()


@dataclass
class World:
    kind: str
    root: Path
    work: Path  # the user's clone
    bare: Path
    http: GitHttpServer
    api: FakeForge
    url: str

    def request(self, **changes: object) -> pr.Request:
        base = pr.Request(
            paths=(self.work,),
            settings=Settings(rules=RULES),
            verify=None,
            forge=self.kind,
            api_url=self.api.api_url,
            repo=REPOS[self.kind],
            jobs=1,
        )
        return replace(base, **changes)  # type: ignore[arg-type]

    def run(self, **changes: object) -> pr.Outcome:
        return pr.run(self.request(**changes), self.work, connect=fast_retries, environ={"GOFIX_CONC_TOKEN": TOKEN})

    def remote_head(self, branch: str = pr.DEFAULT_BRANCH) -> str | None:
        done = subprocess.run(
            ["git", "rev-parse", "-q", "--verify", f"refs/heads/{branch}"],
            cwd=self.bare,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() or None

    def commit_upstream(self, files: dict[str, str], message: str, branch: str = "main") -> str:
        """A colleague's commit on ``branch`` of the remote (through a clone of their own)."""
        other = self.root / f"colleague-{abs(hash((message, branch)))}"
        if not other.exists():
            git(self.root, "clone", "-q", self.url, other.name, auth=True)
            git(other, "config", "user.name", "Colleague")
            git(other, "config", "user.email", "colleague@example.com")
        git(other, "fetch", "-q", "origin", auth=True)
        exists = git(other, "branch", "-r", "--list", f"origin/{branch}")
        git(other, "checkout", "-q", "-B", branch, f"origin/{branch}" if exists else "origin/main")
        for name, text in files.items():
            (other / name).write_text(text)
        git(other, "add", "-A")
        git(other, "commit", "-q", "-m", message)
        git(other, "push", "-q", "origin", f"HEAD:refs/heads/{branch}", auth=True)
        return git(other, "rev-parse", "HEAD")

    def bot_commits(self, base: str = "main") -> list[str]:
        head = self.remote_head()
        if head is None:
            return []
        return git(self.bare, "log", "--format=%an <%ae> %s", f"{base}..{head}").splitlines()


def fast_retries(target: forge.Target, token: str) -> forge.Forge:
    return forge.connect(target, token, forge.RetryPolicy(attempts=3, max_wait=10, backoff=0.01))


@contextmanager
def make_world(kind: str, root: Path) -> Iterator[World]:
    remotes = root / "remotes"
    bare = remotes / f"{REPOS[kind]}.git"
    bare.parent.mkdir(parents=True)
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    work = root / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.name", "Dev")
    git(work, "config", "user.email", "dev@example.com")
    (work / "go.mod").write_text(GO_MOD)
    (work / "run.go").write_text(RUN_GO)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "init")
    with ExitStack() as stack:
        http = stack.enter_context(GitHttpServer(remotes, TOKEN))
        api = stack.enter_context(FakeForge(kind, REPOS[kind], TOKEN))
        url = http.url(f"{REPOS[kind]}.git")
        git(work, "remote", "add", "origin", url)
        git(work, "push", "-q", "origin", "main", auth=True)
        git(work, "fetch", "-q", "origin", auth=True)
        yield World(kind, root, work, bare, http, api, url)
