"""The command line: parses options, calls the engine, prints results.

Exit codes: 0 nothing to report, 1 findings (or, with ``fix --diff``, a diff),
2 an error (unreadable or unparsable file, bad option, bad config).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from gofix_conc import __version__, cache, config, discovery, gitops, interactive, patches, registry, reporters, verify
from gofix_conc.batch.cli import register as register_batch
from gofix_conc.engine import Appeared, FileResult, Settings, Status, run
from gofix_conc.model import Finding, Problem
from gofix_conc.pr_cli import register as register_pr
from gofix_conc.writer import WriteError, write_atomic

app = typer.Typer(
    help="Find Go concurrency pitfalls and fix them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"


def _ids(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


Paths = Annotated[list[Path], typer.Argument(help="Go files or directories.", show_default=False)]
Select = Annotated[
    Optional[list[str]], typer.Option("--select", help="Only these rule ids (comma-separated; ALL for every rule).")
]
Ignore = Annotated[Optional[list[str]], typer.Option("--ignore", help="Skip these rule ids (comma-separated).")]
UnsafeFixes = Annotated[bool, typer.Option("--unsafe-fixes", help="Also apply fixes marked unsafe.")]
ConfigOpt = Annotated[
    Optional[Path], typer.Option("--config", help="Config file (default: .gofix-conc.toml found upward).")
]
Jobs = Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Parallel processes (default: all cores).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print findings only, no summary.")]
GoVersion = Annotated[Optional[str], typer.Option("--go-version", help="Go version to assume (default: from go.mod).")]
UnusedIgnores = Annotated[
    bool, typer.Option("--report-unused-ignores", help="Report ignore comments that silence nothing.")
]
ChangedSince = Annotated[
    Optional[str],
    typer.Option(
        "--changed-since", metavar="REV", help="Only Go files that differ from this git revision (or are new)."
    ),
]
CacheDir = Annotated[
    Optional[Path], typer.Option("--cache-dir", help="Where scan results are cached (default: the user cache dir).")
]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the scan cache.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"gofix-conc: error: {message}", err=True)
    return typer.Exit(2)


@dataclass
class _Job:
    settings: Settings
    files: list[Path]
    rules: list[registry.Rule]  # type: ignore[name-defined]


def _prepare(
    paths: list[Path],
    select: list[str] | None,
    ignore: list[str] | None,
    config_path: Path | None,
    go_version: str | None,
    fix: bool = False,
    unsafe_fixes: bool = False,
    unused_ignores: bool = False,
    changed_since: str | None = None,
    cache_dir: Path | None = None,
) -> _Job:
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise _fail(f"no such file or directory: {missing[0]}")
    try:
        cfg = config.load(config_path or config.find(paths[0]))
        rules = registry.selected(_ids(select) or cfg.select, [*cfg.ignore, *_ids(ignore)])
        version = config.parse_go_version(go_version) if go_version else cfg.go_version
    except (config.ConfigError, registry.UnknownRuleError) as err:
        raise _fail(str(err)) from None
    settings = Settings(
        rules=tuple(r.id for r in rules),
        options=cfg.rules,
        go_version=version,
        fix=fix,
        unsafe_fixes=unsafe_fixes,
        report_unused_ignores=unused_ignores,
        cache_dir=cache_dir,
    )
    files = list(discovery.go_files(paths, cfg.exclude, cfg.root))
    if changed_since is not None:
        try:
            changed = gitops.changed_go_files(changed_since, paths)
        except gitops.Refusal as err:
            raise _fail(str(err)) from None
        files = [f for f in files if f.resolve() in changed]
    return _Job(settings, files, rules)


def _report_problems(result: FileResult) -> bool:
    """Print a file's errors and warnings to stderr; whether there was an error."""
    name = reporters.display_path(result.path)
    for problem in result.problems:
        if problem.severity == "warning":
            typer.echo(f"{name}:{problem.line}:{problem.column}: warning: {problem.message}", err=True)
    for warning in result.warnings:
        typer.echo(f"{name}: warning: {warning}", err=True)
    if result.error:
        typer.echo(f"{name}: error: {result.error}", err=True)
        return True
    return False


def _print_findings(
    findings: list[Finding], rules: list, fmt: Format, quiet: bool, problems: Sequence[Problem] = ()
) -> None:
    if fmt is Format.json:
        typer.echo(reporters.to_json(findings, problems))
    elif fmt is Format.sarif:
        typer.echo(reporters.to_sarif(findings, rules, problems=problems))
    else:
        for finding in findings:
            typer.echo(reporters.text_line(finding))
        if not quiet:
            typer.echo(reporters.summary(findings, problems))


def _report_appeared(path: Path, appeared: Iterable[Appeared]) -> None:
    """Name each applied fix that scan did not list, and the fix that brought it up (stderr)."""
    for item in appeared:
        typer.echo(reporters.appeared_line(path, item.key, item.after), err=True)


def _tally(tally: reporters.FixTally, result: FileResult) -> None:
    tally.remaining += result.findings
    tally.resolved += result.resolved
    if result.status is Status.CHANGED:
        tally.files += 1
        tally.fixed += result.fixed
        tally.appeared += [a.key[0] for a in result.appeared]


def _plan_tally(plan: gitops.Plan, settings: Settings) -> reporters.FixTally:
    for path, item in plan.appeared:
        _report_appeared(path, [item])
    return reporters.FixTally(
        unsafe_fixes=settings.unsafe_fixes,
        files=len(plan.changed_paths),
        fixed=[f for step in plan.steps for change in step.changes for f in change.fixed],
        remaining=list(plan.remaining),
        appeared=[a.key[0] for _, a in plan.appeared],
        resolved=list(plan.resolved),
    )


@app.command()
def scan(
    paths: Paths,
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    select: Select = None,
    ignore: Ignore = None,
    config_path: ConfigOpt = None,
    jobs: Jobs = None,
    quiet: Quiet = False,
    go_version: GoVersion = None,
    report_unused_ignores: UnusedIgnores = False,
    changed_since: ChangedSince = None,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
) -> None:
    """Report findings. Exit 0: none, 1: found, 2: error."""
    job = _prepare(
        paths,
        select,
        ignore,
        config_path,
        go_version,
        unused_ignores=report_unused_ignores,
        changed_since=changed_since,
        cache_dir=None if no_cache else cache_dir or cache.default_dir(),
    )
    findings: list[Finding] = []
    problems: list[Problem] = []
    errors = False
    for result in run(job.files, job.settings, jobs):
        errors |= _report_problems(result)
        findings += result.findings
        problems += result.problems
    _print_findings(findings, job.rules, format, quiet, problems)
    raise typer.Exit(2 if errors else 1 if findings else 0)


# -- fix -i / --commit / --patch / --format-patch ------------------------------------


class CommitPer(str, Enum):
    rule = "rule"
    file = "file"


Interactive = Annotated[
    bool,
    typer.Option(
        "--interactive", "-i", help="Review each fix: y apply, n skip, a all of its rule, d skip file, q quit, ? help."
    ),
]
Commit = Annotated[
    bool, typer.Option("--commit", help="Apply the fixes and commit them with git (one commit per rule).")
]
CommitPerOpt = Annotated[
    Optional[CommitPer], typer.Option("--commit-per", help="One commit (or mbox patch) per rule or per file.")
]
BranchOpt = Annotated[Optional[str], typer.Option("--branch", metavar="NAME", help="With --commit: on a new branch.")]
PatchOpt = Annotated[
    Optional[str],
    typer.Option("--patch", metavar="FILE", help="Write one patch for git apply / patch -p1 ('-': stdout)."),
]
FormatPatchOpt = Annotated[
    Optional[str],
    typer.Option("--format-patch", metavar="DIR", help="Write one mbox patch per rule for git am ('-': stdout)."),
]


def _check_fix_modes(
    diff: bool,
    write: bool,
    interactive_: bool,
    commit: bool,
    commit_per: CommitPer | None,
    branch: str | None,
    patch: str | None,
    format_patch: str | None,
) -> None:
    modes = [diff, write, interactive_, commit, patch is not None, format_patch is not None]
    if sum(modes) > 1:
        raise _fail("choose one of --diff, --write, --interactive, --commit, --patch and --format-patch")
    if branch is not None and not commit:
        raise _fail("--branch goes with --commit")
    if commit_per is not None and not (commit or format_patch is not None):
        raise _fail("--commit-per goes with --commit or --format-patch")


def _fix_interactive(job: _Job, jobs: int | None) -> int:
    try:
        summary = interactive.review(job.files, job.settings, jobs, on_problem=_report_problems)
    except interactive.Interrupted:
        return 130
    return 2 if summary.errors else 1 if summary.remaining else 0


def _repository_or_cwd(start: Path) -> tuple[object, Path]:
    repo = gitops.open_repository(start)
    return repo, gitops.root_of(repo) if repo is not None else Path.cwd().resolve()


def _plan(job: _Job, jobs: int | None, per: CommitPer) -> gitops.Plan:
    plan = (gitops.plan_by_rule if per is CommitPer.rule else gitops.plan_by_file)(job.files, job.settings, jobs)
    for result in plan.problems:
        _report_problems(result)
    return plan


def _plan_errors(plan: gitops.Plan) -> bool:
    return any(r.error for r in plan.problems)


def _fix_commit(job: _Job, start: Path, jobs: int | None, quiet: bool, per: CommitPer, branch: str | None) -> int:
    repo = gitops.open_repository(start)
    if repo is None:
        raise _fail(f"--commit needs a git repository; {start} is not in one")
    plan = _plan(job, jobs, per)
    errors = _plan_errors(plan)
    try:
        gitops.preflight(repo, plan.changed_paths, branch if plan.steps else None)
    except gitops.Refusal as err:
        raise _fail(f"not committing: {err}") from None
    commits = 0
    try:
        for done in gitops.commit_plan(repo, plan, branch if plan.steps else None):
            if done.sha is not None:
                commits += 1
                files = len(done.step.changes)
                label = f"[{gitops.head_label(repo)} {done.sha[:7]}]"
                typer.echo(f"{label} {gitops.subject_of(done.message)} ({files} file{'s' * (files != 1)})")
    except (WriteError, gitops.git.GitCommandError) as err:
        typer.echo(f"gofix-conc: error: stopped after {commits} commit(s): {err}", err=True)
        return 2
    if not quiet and not commits:
        typer.echo("Nothing to commit.")
    tally = _plan_tally(plan, job.settings)
    for finding in plan.remaining:
        typer.echo(reporters.text_line(finding))
    if not quiet:
        typer.echo(reporters.fix_summary(tally))
    return 2 if errors else 1 if plan.remaining else 0


def _output(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
        return
    try:
        Path(target).write_text(text, encoding="utf-8", newline="")
    except OSError as err:
        raise _fail(f"cannot write {target}: {err.strerror or err}") from None


def _file_patches(changes: dict[Path, tuple[bytes, bytes]], base: Path) -> list[patches.FilePatch]:
    try:
        return [
            patches.FilePatch(gitops.relative(path, base), old, new, patches.git_mode(path))
            for path, (old, new) in changes.items()
        ]
    except gitops.Refusal as err:
        raise _fail(f"cannot make a patch: {err}") from None


def _fix_patch(job: _Job, start: Path, jobs: int | None, quiet: bool, target: str) -> int:
    _, base = _repository_or_cwd(start)
    plan = _plan(job, jobs, CommitPer.file)
    _output(target, patches.unified(_file_patches(plan.final(), base)))
    tally = _plan_tally(plan, job.settings)
    if not quiet:
        typer.echo(reporters.fix_summary(tally), err=True)
    return 2 if _plan_errors(plan) else 1 if plan.steps else 0


def _fix_format_patch(job: _Job, start: Path, jobs: int | None, quiet: bool, target: str, per: CommitPer) -> int:
    repo, base = _repository_or_cwd(start)
    plan = _plan(job, jobs, per)
    author = gitops.author(repo)  # type: ignore[arg-type]
    now = time.time()
    mails = []
    for number, step in enumerate(plan.steps, 1):
        message = gitops.message(step, base)
        files = _file_patches({c.path: (c.old, c.new) for c in step.changes}, base)
        mails.append(
            (
                patches.mbox_name(number, gitops.subject_of(message)),
                patches.mbox(message, files, author, number, len(plan.steps), now),
            )
        )
    if target == "-":
        sys.stdout.write("".join(text for _, text in mails))
    else:
        directory = Path(target)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _fail(f"cannot create {target}: {err.strerror or err}") from None
        for name, text in mails:
            _output(str(directory / name), text)
            if not quiet:
                typer.echo(reporters.display_path(directory / name))
    tally = _plan_tally(plan, job.settings)
    if not quiet:
        typer.echo(reporters.fix_summary(tally), err=True)
    return 2 if _plan_errors(plan) else 1 if plan.steps else 0


# -- fix --verify ------------------------------------------------------------------

VerifyOpt = Annotated[
    bool,
    typer.Option("--verify", help="Keep only fixes after which gofmt, go build and go vet pass (needs go on PATH)."),
]
VerifyRaceOpt = Annotated[
    bool,
    typer.Option("--verify-race", help="--verify, and go test -race on changed packages (also --verify=race)."),
]


def _verified(job: _Job, jobs: int | None, quiet: bool, mode: verify.Mode) -> Settings:
    """The job's settings minus the fixes the Go toolchain rejects; any fix mode then runs with them."""
    try:
        report = verify.verify(list(run(job.files, job.settings, jobs)), job.settings, verify.Options(mode, jobs))
    except verify.VerifyError as err:
        raise _fail(str(err)) from None
    for line in verify.describe(report, summary=not quiet):
        typer.echo(line, err=True)
    return replace(job.settings, skip=report.skip)


@app.command()
def fix(
    paths: Paths,
    diff: Annotated[bool, typer.Option("--diff", help="Print a unified diff (the default).")] = False,
    write: Annotated[bool, typer.Option("--write", "-w", help="Rewrite the files in place.")] = False,
    select: Select = None,
    ignore: Ignore = None,
    unsafe_fixes: UnsafeFixes = False,
    config_path: ConfigOpt = None,
    jobs: Jobs = None,
    quiet: Quiet = False,
    go_version: GoVersion = None,
    interactive_: Interactive = False,
    commit: Commit = False,
    commit_per: CommitPerOpt = None,
    branch: BranchOpt = None,
    patch: PatchOpt = None,
    format_patch: FormatPatchOpt = None,
    verify_: VerifyOpt = False,
    verify_race: VerifyRaceOpt = False,
    changed_since: ChangedSince = None,
    force: Annotated[
        bool, typer.Option("--force", help="With --write, also rewrite read-only files (they stay read-only).")
    ] = False,
) -> None:
    """Fix findings: show a diff (default), write the files, review each fix, commit them or export patches."""
    if diff and write:
        raise _fail("choose one of --diff and --write")
    _check_fix_modes(diff, write, interactive_, commit, commit_per, branch, patch, format_patch)
    job = _prepare(
        paths, select, ignore, config_path, go_version, fix=True, unsafe_fixes=unsafe_fixes, changed_since=changed_since
    )
    if verify_ or verify_race:
        if interactive_:
            # It applies fixes one by one, on text the verified run never saw.
            raise _fail("--verify goes with --diff, --write, --patch, --commit and --format-patch")
        job.settings = _verified(job, jobs, quiet, verify.Mode.RACE if verify_race else verify.Mode.BUILD)
    if interactive_:
        raise typer.Exit(_fix_interactive(job, jobs))
    if commit:
        raise typer.Exit(_fix_commit(job, paths[0], jobs, quiet, commit_per or CommitPer.rule, branch))
    if patch is not None:
        raise typer.Exit(_fix_patch(job, paths[0], jobs, quiet, patch))
    if format_patch is not None:
        raise typer.Exit(_fix_format_patch(job, paths[0], jobs, quiet, format_patch, commit_per or CommitPer.rule))
    errors = False
    tally = reporters.FixTally(unsafe_fixes=job.settings.unsafe_fixes)
    for result in run(job.files, job.settings, jobs):
        errors |= _report_problems(result)
        _report_appeared(result.path, result.appeared)
        _tally(tally, result)
        if result.status is not Status.CHANGED:
            continue
        assert result.original is not None and result.new is not None
        if write:
            try:
                write_atomic(result.path, result.new, result.original, force=force)
            except WriteError as err:
                typer.echo(f"gofix-conc: error: {err}", err=True)
                errors = True
        else:
            name = reporters.display_path(result.path)
            sys.stdout.write(reporters.unified_diff(result.original, result.new, f"a/{name}", f"b/{name}"))
    if write:
        for finding in tally.remaining:
            typer.echo(reporters.text_line(finding))
        if not quiet:
            typer.echo(reporters.fix_summary(tally))
        raise typer.Exit(2 if errors else 1 if tally.remaining else 0)
    if not quiet:
        typer.echo(reporters.fix_summary(tally), err=True)
    raise typer.Exit(2 if errors else 1 if tally.files else 0)


@app.command()
def rules() -> None:
    """List the rules with their ids, fix safety and summaries."""
    for rule in registry.all_rules().values():
        default = "on " if rule.default_enabled else "off"
        typer.echo(f"{rule.id:32} {default}  {rule.fix_kind.value:15} {rule.summary}")


@app.command()
def explain(rule_id: Annotated[str, typer.Argument(help="A rule id, see 'gofix-conc rules'.")]) -> None:
    """Print a rule's documentation."""
    try:
        rule = registry.get(rule_id)
    except registry.UnknownRuleError as err:
        raise _fail(str(err)) from None
    version = ".".join(map(str, rule.min_go_version))
    typer.echo(f"# {rule.id}\n\n{rule.summary}\n\nFix: {rule.fix_kind.value}. Minimum Go version: {version}.\n")
    typer.echo(rule.doc.strip())


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gofix-conc {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    pass


register_pr(app)
register_batch(app)


def main() -> None:
    # --verify=race / --verify=build: the option parser has no flags with optional values.
    spelled = {"--verify=race": "--verify-race", "--verify=build": "--verify"}
    sys.argv[1:] = [spelled.get(arg, arg) for arg in sys.argv[1:]]
    app()
