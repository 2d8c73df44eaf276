"""fix --commit, --patch and --format-patch on real git repositories made in temporary directories."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import git
import pytest

from gofix_conc import gitops, patches, registry, reporters
from gofix_conc.context import FileContext
from gofix_conc.engine import Settings
from gofix_conc.model import Edit, Finding, FixKind, Rule
from gofix_conc.source import captures

RULE = "unbounded-goroutines"

GO_MOD = "module example.com/shop\n\ngo 1.22\n"

# One finding.
FETCH = dedent(
    """\
    package shop

    import (
    \t"net/http"
    \t"sync"
    )

    // Warm requests every URL so that the caches are hot.
    func Warm(client *http.Client, urls []string) {
    \tvar wg sync.WaitGroup
    \tfor _, u := range urls {
    \t\twg.Add(1)
    \t\tgo func() {
    \t\t\tdefer wg.Done()
    \t\t\tif resp, err := client.Get(u); err == nil {
    \t\t\t\tresp.Body.Close()
    \t\t\t}
    \t\t}()
    \t}
    \twg.Wait()
    }
    """
)

# Two findings whose fixes overlap (one semaphore for the loop nest).
REINDEX = dedent(
    """\
    package shop

    import "sync"

    type Shard struct {
    \tKeys []string
    }

    func reindex(shard int, key string) {}

    func audit(shard int) {}

    // Reindex walks every key of every shard.
    func Reindex(shards []Shard) {
    \tvar wg sync.WaitGroup
    \tfor i, shard := range shards {
    \t\tfor _, key := range shard.Keys {
    \t\t\twg.Add(1)
    \t\t\tgo func() {
    \t\t\t\tdefer wg.Done()
    \t\t\t\treindex(i, key)
    \t\t\t}()
    \t\t}
    \t\twg.Add(1)
    \t\tgo func() {
    \t\t\tdefer wg.Done()
    \t\t\taudit(i)
    \t\t}()
    \t}
    \twg.Wait()
    }
    """
)

# The fix reaches the last line, which has no newline.
NOTIFY = (
    'package hooks\n\nimport "sync"\n\nfunc Notify(hooks []func()) {\n\tvar wg sync.WaitGroup\n'
    "\tfor _, h := range hooks {\n\t\twg.Add(1)\n\t\tgo func() { defer wg.Done(); h() }()\n\t}\n\twg.Wait()\n}"
)

CLEAN = "package shop\n\nfunc Add(a, b int) int { return a + b }\n"

# Spaces and non-ASCII in directory and file names.
ODD_DIR = "módulo de pagos"
ODD_FILE = f"{ODD_DIR}/reintentos ñ.go"

LAYOUT = {
    "go.mod": GO_MOD,
    "README.md": "# shop\n",
    "cache/warm.go": FETCH,
    "index/reindex.go": REINDEX,
    f"{ODD_DIR}/notify.go": NOTIFY.replace("package hooks", "package pagos"),
    ODD_FILE: FETCH.replace("package shop", "package pagos"),
    "math/add.go": CLEAN,
}


def gofix(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    args = (args[0], "--select", RULE, "--jobs", "1", *args[1:])
    return subprocess.run([sys.executable, "-m", "gofix_conc", *args], cwd=cwd, capture_output=True, text=True)


def make_repo(path: Path, layout: dict[str, str] = LAYOUT) -> git.Repo:
    path.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Zoë Developer")
        cfg.set_value("user", "email", "zoe@example.com")
        cfg.set_value("core", "autocrlf", "false")
    write_files(path, layout)
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "initial")
    return repo


def write_files(root: Path, layout: dict[str, str]) -> None:
    for name, text in layout.items():
        file = root / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(text.encode())


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the work tree, .git aside."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def clone(repo: git.Repo, to: Path) -> git.Repo:
    copy = repo.clone(str(to))
    with copy.config_writer() as cfg:
        cfg.set_value("user", "name", "Zoë Developer")
        cfg.set_value("user", "email", "zoe@example.com")
    return copy


def head(repo: git.Repo) -> str:
    return repo.head.commit.hexsha


def changed_files(commit: git.Commit) -> list[str]:
    """The paths a commit changes, unquoted."""
    out = commit.repo.git.diff_tree("--no-commit-id", "--name-only", "-r", "-z", commit.hexsha)
    return [name for name in out.split("\0") if name]


def status(repo: git.Repo) -> str:
    return repo.git.status("--porcelain=v1", "--untracked-files=all")


@pytest.fixture()
def repo(tmp_path: Path) -> git.Repo:
    return make_repo(tmp_path / "shop repo")


@pytest.fixture()
def written(tmp_path: Path, repo: git.Repo) -> dict[str, bytes]:
    """The work tree as ``fix --write`` leaves it, in a clone."""
    copy = clone(repo, tmp_path / "written")
    done = gofix("fix", "--write", ".", cwd=Path(copy.working_tree_dir))
    assert done.returncode == 0, done.stderr
    return snapshot(Path(copy.working_tree_dir))


# -- --patch ----------------------------------------------------------------------------


def test_patch_with_git_apply_gives_the_files_write_gives(tmp_path: Path, repo: git.Repo, written: dict) -> None:
    root = Path(repo.working_tree_dir)
    out = tmp_path / "fixes.patch"
    # From a subdirectory: paths in the patch are still relative to the repository root.
    done = gofix("fix", "--patch", str(out), "..", cwd=root / "cache")
    assert done.returncode == 1, done.stderr  # like --diff: 1 when there is something to apply
    assert snapshot(root) == snapshot(Path(clone(repo, tmp_path / "pristine").working_tree_dir))  # nothing written
    text = out.read_text(encoding="utf-8")
    assert f"--- a/{ODD_FILE}\t\n+++ b/{ODD_FILE}\t\n" in text  # the tab ends a name with spaces
    assert "\\ No newline at end of file" in text
    assert "a/cache/warm.go" in text and "math/add.go" not in text

    copy = clone(repo, tmp_path / "applied")
    copy.git.apply(str(out))
    assert snapshot(Path(copy.working_tree_dir)) == written


@pytest.mark.skipif(shutil.which("patch") is None, reason="GNU patch is not installed")
def test_patch_with_patch_p1(tmp_path: Path, repo: git.Repo, written: dict) -> None:
    out = tmp_path / "fixes.patch"
    gofix("fix", "--patch", str(out), ".", cwd=Path(repo.working_tree_dir))
    copy = Path(clone(repo, tmp_path / "patched").working_tree_dir)
    done = subprocess.run(["patch", "-p1", "--batch", "-i", str(out)], cwd=copy, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot(copy) == written


def test_patch_outside_a_repository_is_relative_to_the_cwd(tmp_path: Path) -> None:
    project = tmp_path / "plain dir"
    write_files(project, {"go.mod": GO_MOD, "hooks/notify.go": NOTIFY})
    done = gofix("fix", "--patch", "-", "hooks", cwd=project)
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("diff --git a/hooks/notify.go b/hooks/notify.go\n")
    original = (project / "hooks/notify.go").read_bytes()
    subprocess.run(["git", "apply", "-"], input=done.stdout.encode(), cwd=project, check=True)
    assert (project / "hooks/notify.go").read_bytes() != original
    assert gofix("fix", "--patch", "-", ".", cwd=project).stdout == ""  # idempotent: nothing left


def test_patch_nothing_to_fix_is_empty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"go.mod": GO_MOD, "add.go": CLEAN})
    done = gofix("fix", "--patch", "-", ".", cwd=Path(repo.working_tree_dir))
    assert (done.returncode, done.stdout) == (0, "")


# -- --commit ---------------------------------------------------------------------------


def test_commit_one_commit_per_rule_leaves_the_users_work_alone(repo: git.Repo, written: dict) -> None:
    root = Path(repo.working_tree_dir)
    # The user's own work in progress: a staged new file, a staged and an unstaged change elsewhere.
    (root / "NOTES.md").write_text("notes\n")
    (root / "README.md").write_text("# shop\n\nstaged line\n")
    repo.git.add("NOTES.md", "README.md")
    (root / "go.mod").write_text(GO_MOD + "// unstaged\n")
    before_status = status(repo)
    before = head(repo)

    done = gofix("fix", "--commit", "..", cwd=root / ODD_DIR)  # from a subdirectory, fixing the whole tree
    assert done.returncode == 0, done.stderr
    assert "[main " in done.stdout and "fix(concurrency): bound goroutines in loops (4 files)" in done.stdout

    commit = repo.head.commit
    assert commit.parents[0].hexsha == before
    assert status(repo) == before_status  # still staged, still unstaged, nothing else
    assert repo.git.diff("--cached", "--name-only").splitlines() == ["NOTES.md", "README.md"]
    assert sorted(changed_files(commit)) == sorted(
        ["cache/warm.go", "index/reindex.go", f"{ODD_DIR}/notify.go", ODD_FILE]
    )
    for name, data in written.items():
        if name not in ("README.md", "go.mod"):
            assert (root / name).read_bytes() == data, name

    message = commit.message
    subject, blank, *_ = message.splitlines()
    assert (subject, blank) == ("fix(concurrency): bound goroutines in loops", "")
    assert "- cache/warm.go:13: goroutine started in a loop with no limit" in message
    assert f"- {ODD_FILE}:13: " in message
    assert "; bound the goroutines with a semaphore" in message
    assert "Why: Each iteration starts one more goroutine." in message
    assert repo.git.log("-1", "--format=%(trailers:key=Gofix-Conc-Rule,valueonly)").strip() == RULE
    assert commit.author.name == "Zoë Developer"

    # Run again: nothing left, no empty commit.
    again = gofix("fix", "--commit", ".", cwd=root)
    assert again.returncode == 0, again.stderr
    assert "Nothing to commit." in again.stdout
    assert head(repo) == commit.hexsha


def test_commit_per_file_on_a_new_branch(repo: git.Repo) -> None:
    root = Path(repo.working_tree_dir)
    before = head(repo)
    done = gofix("fix", "--commit", "--commit-per", "file", "--branch", "gofix/conc", "cache", "index", cwd=root)
    assert done.returncode == 0, done.stderr
    assert repo.active_branch.name == "gofix/conc"
    assert repo.heads.main.commit.hexsha == before  # the old branch did not move
    commits = list(repo.iter_commits(f"{before}..gofix/conc"))[::-1]
    assert [changed_files(c) for c in commits] == [["cache/warm.go"], ["index/reindex.go"]]
    assert commits[0].summary == "fix(concurrency): bound goroutines in loops in cache/warm.go"
    assert "Gofix-Conc-Rule: unbounded-goroutines" in commits[1].message
    assert status(repo) == ""

    # The branch exists now: refused before anything is written.
    (root / "cache/warm.go").write_text(FETCH.replace("Warm", "Heat"))
    repo.git.commit("-q", "-am", "rename")
    tree = snapshot(root)
    again = gofix("fix", "--commit", "--branch", "gofix/conc", ".", cwd=root)
    assert again.returncode == 2
    assert "branch 'gofix/conc' already exists" in again.stderr
    assert snapshot(root) == tree


@pytest.mark.parametrize("change", ["unstaged", "staged", "untracked"])
def test_commit_refuses_files_with_uncommitted_changes(tmp_path: Path, repo: git.Repo, change: str) -> None:
    root = Path(repo.working_tree_dir)
    target = root / "cache/warm.go"
    if change == "untracked":
        target = root / "cache/fresh.go"
    target.write_text(FETCH.replace("// Warm", "// Warm (edited)"))
    if change == "staged":
        repo.git.add(str(target))
    tree, before, before_status = snapshot(root), head(repo), status(repo)
    done = gofix("fix", "--commit", ".", cwd=root)
    assert done.returncode == 2
    assert "not committing: files to fix have changes not committed" in done.stderr
    expected = {"unstaged": "unstaged changes", "staged": "staged changes", "untracked": "not tracked by git"}
    assert f"cache/{target.name}: {expected[change]}" in done.stderr
    assert (snapshot(root), head(repo), status(repo)) == (tree, before, before_status)


def _conflict(repo: git.Repo, operation: str) -> None:
    """Leave ``operation`` stopped on a conflict in README.md."""
    root = Path(repo.working_tree_dir)
    repo.git.checkout("-q", "-b", "other")
    (root / "README.md").write_text("# theirs\n")
    repo.git.commit("-q", "-am", "theirs")
    repo.git.checkout("-q", "main")
    (root / "README.md").write_text("# ours\n")
    repo.git.commit("-q", "-am", "ours")
    with pytest.raises(git.GitCommandError):
        if operation == "merge":
            repo.git.merge("other")
        elif operation == "cherry-pick":
            repo.git.cherry_pick("other")
        else:
            repo.git.rebase("other")


@pytest.mark.parametrize(
    ("operation", "words"), [("merge", "a merge"), ("cherry-pick", "a cherry-pick"), ("rebase", "a rebase")]
)
def test_commit_refuses_during_a_merge_rebase_or_cherry_pick(repo: git.Repo, operation: str, words: str) -> None:
    _conflict(repo, operation)
    root = Path(repo.working_tree_dir)
    tree, before_status = snapshot(root), status(repo)
    done = gofix("fix", "--commit", "cache", cwd=root)
    assert done.returncode == 2
    assert f"{words} is in progress" in done.stderr
    assert (snapshot(root), status(repo)) == (tree, before_status)


def test_commit_in_a_linked_worktree(tmp_path: Path, repo: git.Repo) -> None:
    linked = tmp_path / "linked tree"
    repo.git.worktree("add", "-q", "-b", "feature", str(linked))
    main_before = head(repo)
    done = gofix("fix", "--commit", ".", cwd=linked / "index")
    assert done.returncode == 0, done.stderr
    feature = repo.heads.feature.commit
    assert feature.parents[0].hexsha == main_before
    assert changed_files(feature) == ["index/reindex.go"]
    assert head(repo) == main_before and status(repo) == ""
    assert git.Repo(linked).git.status("--porcelain") == ""


def test_commit_outside_a_repository(tmp_path: Path) -> None:
    write_files(tmp_path / "p", {"go.mod": GO_MOD, "warm.go": FETCH})
    done = gofix("fix", "--commit", ".", cwd=tmp_path / "p")
    assert done.returncode == 2
    assert "needs a git repository" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--branch", "x"], "--branch goes with --commit"),
        (["--commit-per", "file", "--write"], "--commit-per goes with --commit"),
        (["--commit", "--patch", "-"], "choose one of"),
        (["-i", "--write"], "choose one of"),
    ],
)
def test_mode_options_that_do_not_go_together(tmp_path: Path, args: list[str], message: str) -> None:
    write_files(tmp_path, {"go.mod": GO_MOD, "warm.go": FETCH})
    done = gofix("fix", *args, ".", cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr


# -- --format-patch ------------------------------------------------------------------------


def test_format_patch_git_am_makes_the_commit_that_commit_makes(tmp_path: Path, repo: git.Repo) -> None:
    root = Path(repo.working_tree_dir)
    mails = tmp_path / "mails"
    done = gofix("fix", "--format-patch", str(mails), ".", cwd=root)
    assert done.returncode == 1, done.stderr
    files = sorted(mails.iterdir())
    assert [f.name for f in files] == ["0001-fix-concurrency-bound-goroutines-in-loops.patch"]
    assert status(repo) == ""  # nothing written

    by_am = clone(repo, tmp_path / "am")
    by_am.git.am(str(files[0]))
    by_commit = clone(repo, tmp_path / "commit")
    assert gofix("fix", "--commit", ".", cwd=Path(by_commit.working_tree_dir)).returncode == 0

    am, committed = by_am.head.commit, by_commit.head.commit
    assert am.tree.hexsha == committed.tree.hexsha
    assert am.message == committed.message
    assert (am.author.name, am.author.email) == ("Zoë Developer", "zoe@example.com")


def test_crlf_and_bom_files_through_patch_and_git_am(tmp_path: Path) -> None:
    crlf = "\ufeff" + NOTIFY.replace("\n", "\r\n") + "\r\n"
    repo = make_repo(tmp_path / "r", {"go.mod": GO_MOD, "hooks/notify.go": crlf})
    root = Path(repo.working_tree_dir)
    written = clone(repo, tmp_path / "written")
    assert gofix("fix", "--write", ".", cwd=Path(written.working_tree_dir)).returncode == 0
    expected = (Path(written.working_tree_dir) / "hooks/notify.go").read_bytes()
    assert expected.startswith("\ufeff".encode()) and expected.count(b"\r\n") == expected.count(b"\n")

    gofix("fix", "--patch", str(tmp_path / "p.patch"), ".", cwd=root)
    gofix("fix", "--format-patch", str(tmp_path / "mails"), ".", cwd=root)
    applied = clone(repo, tmp_path / "applied")
    applied.git.apply(str(tmp_path / "p.patch"))
    by_am = clone(repo, tmp_path / "am")
    by_am.git.am(*sorted(str(m) for m in (tmp_path / "mails").iterdir()))
    for copy in (applied, by_am):
        assert (Path(copy.working_tree_dir) / "hooks/notify.go").read_bytes() == expected


def test_format_patch_per_file_to_stdout(tmp_path: Path, repo: git.Repo) -> None:
    root = Path(repo.working_tree_dir)
    done = gofix("fix", "--format-patch", "-", "--commit-per", "file", "cache", "index", cwd=root)
    assert done.returncode == 1, done.stderr
    assert done.stdout.count("\nSubject: [PATCH ") == 2
    assert "Subject: [PATCH 1/2] fix(concurrency): bound goroutines in loops in cache/warm.go" in done.stdout
    copy = clone(repo, tmp_path / "am")
    mbox = tmp_path / "all.mbox"
    mbox.write_text(done.stdout, encoding="utf-8")
    copy.git.am(str(mbox))
    assert [c.summary for c in copy.iter_commits("HEAD~2..HEAD")][::-1] == [
        "fix(concurrency): bound goroutines in loops in cache/warm.go",
        "fix(concurrency): bound goroutines in loops in index/reindex.go",
    ]


# -- pieces ---------------------------------------------------------------------------------


def test_diff_lines_end_at_newline_only() -> None:
    old = 'a := 1\f\nb := "x\u2028y"\nc := 3\n'.encode()
    new = old.replace(b"c := 3", b"c := 4")
    diff = reporters.unified_diff(old, new, "a/f.go", "b/f.go")
    assert diff.split("\n")[2:] == ["@@ -1,3 +1,3 @@", " a := 1\f", ' b := "x\u2028y"', "-c := 3", "+c := 4", ""]


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("a/x.go", "a/x.go"), ("a/ñ y.go", "a/ñ y.go"), ('a/q"t.go', '"a/q\\"t.go"'), ("a/t\tb.go", '"a/t\\tb.go"')],
)
def test_names_are_quoted_as_git_quotes_them(name: str, quoted: str) -> None:
    assert patches.quote_name(name) == quoted


def test_mbox_name_is_format_patch_style() -> None:
    assert patches.mbox_name(3, "fix(concurrency): bound goroutines in loops") == (
        "0003-fix-concurrency-bound-goroutines-in-loops.patch"
    )


def _comment_rule(rule_id: str, old: str, new: str) -> Rule:
    """A toy rule rewriting the comment `// old` to `// new`."""

    def check(ctx: FileContext) -> Iterator[Finding]:
        for node in captures("(comment) @c", ctx.root).get("c", []):
            if ctx.text(node) == f"// {old}":
                edit = Edit(node.start_byte, node.end_byte, f"// {new}".encode())
                yield ctx.finding(node, f"the comment says {old}", ctx.fix(f"Say {new}", [edit]))

    return Rule(id=rule_id, summary=f"comments that say {old}", doc="", check=check, fix_kind=FixKind.SAFE)


def test_commit_per_rule_applies_each_rule_on_top_of_the_previous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = {r.id: r for r in [_comment_rule("say-beta", "alpha", "beta"), _comment_rule("say-gamma", "beta", "gamma")]}
    monkeypatch.setattr(registry, "all_rules", lambda: rules)
    repo = make_repo(tmp_path / "r", {"one.go": "package p\n\n// alpha\n", "two.go": "package p\n\n// beta\n"})
    root = Path(repo.working_tree_dir)
    files = [root / "one.go", root / "two.go"]
    before = head(repo)

    plan = gitops.plan_by_rule(files, Settings(rules=("say-beta", "say-gamma")), jobs=1)
    gitops.preflight(repo, plan.changed_paths)
    done = list(gitops.commit_plan(repo, plan))

    first, second = (d.sha for d in done)
    assert repo.commit(second).parents[0].hexsha == first and repo.commit(first).parents[0].hexsha == before
    assert changed_files(repo.commit(first)) == ["one.go"]
    # two.go said beta as read; one.go's beta came from the first commit, so its gamma waits for the next run.
    assert changed_files(repo.commit(second)) == ["two.go"]
    assert [gitops.subject_of(d.message) for d in done] == [
        "fix(concurrency): comments that say alpha",  # no subject listed for the rule: its summary
        "fix(concurrency): comments that say beta",
    ]
    assert "- two.go:3: the comment says beta; say gamma" in done[1].message
    assert done[1].message.endswith("\n\nGofix-Conc-Rule: say-gamma\n")
    assert [(root / f).read_text() for f in ("one.go", "two.go")] == [
        "package p\n\n// beta\n",
        "package p\n\n// gamma\n",
    ]
    assert status(repo) == "" and [f.rule for f in plan.remaining] == ["say-gamma"]


def test_commit_per_rule_holds_back_a_fix_another_rule_brought_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # say-gamma goes first, and one.go only says beta once say-beta ran: that gamma was not listed
    # by scan, so it waits for the next run instead of a second say-gamma step.
    rules = {r.id: r for r in [_comment_rule("say-beta", "alpha", "beta"), _comment_rule("say-gamma", "beta", "gamma")]}
    monkeypatch.setattr(registry, "all_rules", lambda: rules)
    repo = make_repo(tmp_path / "r", {"one.go": "package p\n\n// alpha\n", "two.go": "package p\n\n// beta\n"})
    root = Path(repo.working_tree_dir)
    settings = Settings(rules=("say-gamma", "say-beta"))

    plan = gitops.plan_by_rule([root / "one.go", root / "two.go"], settings, jobs=1)
    assert [(s.rules, [c.path.name for c in s.changes]) for s in plan.steps] == [
        (("say-gamma",), ["two.go"]),
        (("say-beta",), ["one.go"]),
    ]
    by_file = gitops.plan_by_file([root / "one.go", root / "two.go"], settings, jobs=1)
    assert plan.final() == by_file.final()
    [(path, appeared)] = plan.appeared
    assert (path.name, appeared.key, appeared.after) == ("one.go", ("say-gamma", 3, 1), ("say-beta", 3, 1))


# Two rules fix the same goroutine: their edits meet at the start of its body.
TWO_RULES = ("unbounded-goroutines", "goroutine-without-recover")
FAN_OUT = dedent(
    """\
    package shop

    import "sync"

    func work(int) {}

    // Each works on every item at once.
    func Each(xs []int) {
    \tvar wg sync.WaitGroup
    \tfor _, x := range xs {
    \t\twg.Add(1)
    \t\tgo func() { defer wg.Done(); work(x) }()
    \t}
    \twg.Wait()
    }
    """
)


def gofix_two_rules(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    select = ("--select", ",".join(TWO_RULES), "--unsafe-fixes", "--jobs", "1")
    return subprocess.run(
        [sys.executable, "-m", "gofix_conc", args[0], *select, *args[1:]], cwd=cwd, capture_output=True, text=True
    )


@pytest.mark.parametrize("order", [TWO_RULES, TWO_RULES[::-1]])
def test_every_mode_gives_the_files_write_gives_when_two_rules_fix_one_goroutine(
    tmp_path: Path, order: tuple[str, str]
) -> None:
    layout = {"go.mod": GO_MOD, "fan/each.go": FAN_OUT, "fan/other.go": FAN_OUT.replace("Each", "Other")}
    repo = make_repo(tmp_path / "r", layout)
    root = Path(repo.working_tree_dir)

    by_write = Path(clone(repo, tmp_path / "write").working_tree_dir)
    done = gofix_two_rules("fix", "--write", ".", cwd=by_write)
    assert done.returncode in (0, 1), done.stderr
    written = snapshot(by_write)
    assert written["fan/each.go"].count(b"recover()") == 1 and b"<-sem" in written["fan/each.go"]

    by_commit = Path(clone(repo, tmp_path / "commit").working_tree_dir)
    select = ("--select", ",".join(order))
    done = subprocess.run(
        [sys.executable, "-m", "gofix_conc", "fix", *select, "--unsafe-fixes", "--commit", "."],
        cwd=by_commit,
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr
    assert snapshot(by_commit) == written
    commits = list(git.Repo(by_commit).iter_commits(f"{head(repo)}..HEAD"))
    assert sorted(c.message.rsplit("Gofix-Conc-Rule: ", 1)[1].strip() for c in commits) == sorted(TWO_RULES)

    mails = tmp_path / "mails"
    done = gofix_two_rules("fix", "--format-patch", str(mails), ".", cwd=root)
    assert done.returncode == 1, done.stderr
    by_am = clone(repo, tmp_path / "am")
    by_am.git.am(*sorted(str(m) for m in mails.iterdir()))
    assert snapshot(Path(by_am.working_tree_dir)) == written

    patch = tmp_path / "all.patch"
    gofix_two_rules("fix", "--patch", str(patch), ".", cwd=root)
    applied = clone(repo, tmp_path / "applied")
    applied.git.apply(str(patch))
    assert snapshot(Path(applied.working_tree_dir)) == written


def _goroutines(count: int, body: str) -> bytes:
    funcs = [
        f"func Run{i}(xs []int) {{\n\tfor _, x := range xs {{\n\t\tgo func() {{\n{body}\t\t}}()\n\t}}\n}}\n"
        for i in range(count)
    ]
    return ("package p\n\nfunc work(int) {}\n\n" + "\n".join(funcs)).encode()


def test_diff_of_lines_inserted_into_goroutines_only_adds(tmp_path: Path) -> None:
    # 40 functions: `}()`, `}` and blank lines are common enough for difflib's autojunk to drop them.
    old = _goroutines(40, "\t\t\twork(x)\n")
    new = _goroutines(40, "\t\t\tdefer func() { <-sem }()\n\t\t\twork(x)\n")
    diff = reporters.unified_diff(old, new, "a/p.go", "b/p.go")
    body = diff.splitlines()[2:]
    assert [line for line in body if line.startswith("-")] == []
    assert [line for line in body if line.startswith("+")] == ["+\t\t\tdefer func() { <-sem }()"] * 40
    (tmp_path / "old.go").write_bytes(old)
    (tmp_path / "new.go").write_bytes(new)
    by_git = subprocess.run(
        ["git", "diff", "--no-index", "--no-color", "old.go", "new.go"], cwd=tmp_path, capture_output=True, text=True
    ).stdout
    hunks = [re.sub(r"^(@@ .* @@).*", r"\1", line) for line in by_git.splitlines()[4:]]  # no function names
    assert body == hunks  # the hunks git diff shows, line for line


def test_diff_of_a_block_inserted_between_functions_ends_with_the_blank_line() -> None:
    old = b"package p\n\nfunc a() {\n}\n\nfunc c() {\n}\n"
    new = b"package p\n\nfunc a() {\n}\n\nfunc b() {\n}\n\nfunc c() {\n}\n"
    diff = reporters.unified_diff(old, new, "a/p.go", "b/p.go")
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[1:3] not in ("++", "--")] == [
        "+func b() {",
        "+}",
        "+",
    ]
