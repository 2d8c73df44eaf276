"""The command line: parses options, calls the engine, prints results.

Exit codes: 0 nothing to report, 1 findings (or, with ``fix --diff``, a diff),
2 an error (unreadable or unparsable file, bad option, bad config);
``--exit-zero`` turns 1 into 0. Paths that hold no Go file are a warning, exit 0.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from gofix_conc import (
    __version__,
    cache,
    config,
    discovery,
    gitops,
    interactive,
    patches,
    progress,
    registry,
    reporters,
    verify,
)
from gofix_conc.batch.cli import register as register_batch
from gofix_conc.engine import Appeared, FileResult, Settings, Status, process_data, run, settle_groups
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
    github = "github"  # GitHub Actions workflow commands (annotations)
    gitlab = "gitlab"  # GitLab Code Quality report


class Color(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


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
ExitZero = Annotated[
    bool, typer.Option("--exit-zero", help="Exit 0 even when findings remain (2 still means an error).")
]
OutputFile = Annotated[
    Optional[Path],
    typer.Option("--output-file", "-o", metavar="FILE", help="Write the report to FILE (replaced atomically)."),
]
ColorOpt = Annotated[
    Color,
    typer.Option("--color", help="Colour the text output: auto (a terminal; NO_COLOR / FORCE_COLOR), always, never."),
]
StdinFilename = Annotated[
    Optional[str],
    typer.Option(
        "--stdin-filename", metavar="NAME", help="With '-' as the path: the name of the file read from stdin."
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"gofix-conc: error: {message}", err=True)
    return typer.Exit(2)


@dataclass
class _Job:
    settings: Settings
    files: list[Path]
    rules: list[registry.Rule]  # type: ignore[name-defined]
    stdin: tuple[Path, bytes] | None = None  # '-': the name the source goes by, and the source


def _code(code: int, exit_zero: bool) -> int:
    """The exit code, with ``--exit-zero``: 0 unless an error (2) or an interruption."""
    return 0 if exit_zero and code == 1 else code


def _color(choice: Color, fmt: Format | None = None, output_file: Path | None = None) -> bool:
    """Whether to colour: never in machine formats or files; ``--color`` first, then NO_COLOR, FORCE_COLOR, a tty."""
    if (fmt is not None and fmt is not Format.text) or choice is Color.never:
        return False
    if choice is Color.always:
        return True
    if output_file is not None or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


class _Out:
    """What a command prints on stdout, kept until the end: then to stdout or, atomically, to ``--output-file``.

    Kept so that a progress display on the same terminal never runs through it.
    """

    def __init__(self, target: Path | None) -> None:
        self.target = target
        self.parts: list[bytes] = []

    def echo(self, text: str) -> None:
        self.parts.append(text.encode() + b"\n")

    def write(self, text: str | bytes) -> None:
        self.parts.append(text.encode() if isinstance(text, str) else text)

    def close(self) -> None:
        data = b"".join(self.parts)
        self.parts = []
        if self.target is None:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        try:
            _replace_file(self.target, data)
        except OSError as err:
            raise _fail(f"cannot write {self.target}: {err.strerror or err}") from None


def _replace_file(target: Path, data: bytes) -> None:
    """Write ``target`` whole or not at all: a temporary file beside it, renamed over it."""
    directory = target.parent if str(target.parent) else Path(".")
    if target.exists():
        mode = target.stat().st_mode & 0o7777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _read_stdin(paths: list[Path], stdin_filename: str | None) -> tuple[Path, bytes] | None:
    """'-' as the only path: the source on stdin, under ``--stdin-filename`` (default ``-``)."""
    if not any(str(p) == "-" for p in paths):
        if stdin_filename is not None:
            raise _fail("--stdin-filename goes with '-' as the path (the source on stdin)")
        return None
    if len(paths) > 1:
        raise _fail("'-' (the source on stdin) must be the only path")
    return Path(stdin_filename or "-"), sys.stdin.buffer.read()


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
    stdin_filename: str | None = None,
) -> _Job:
    stdin = _read_stdin(paths, stdin_filename)
    missing = [p for p in paths if not p.exists()] if stdin is None else []
    if missing:
        raise _fail(f"no such file or directory: {missing[0]}")
    if stdin is not None and changed_since is not None:
        raise _fail("--changed-since does not go with '-' (the source on stdin)")
    try:
        cfg = config.load(config_path or config.find(stdin[0] if stdin else paths[0]))
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
        per_file_ignores=cfg.per_file_ignores,
        config_root=cfg.root,
    )
    if stdin is not None:
        return _Job(settings, [], rules, stdin)
    files = list(discovery.go_files(paths, cfg.exclude, cfg.root))
    if not files:
        # As ruff does: nothing to analyse is worth a word, not a failure (exit 0).
        where = ", ".join(str(p) for p in paths)
        typer.echo(f"gofix-conc: warning: no Go files found under {where}", err=True)
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


def _texts(findings: Iterable[Finding], stdin: tuple[Path, bytes] | None) -> dict[Path, bytes]:
    """Each file's bytes (for fix edits and fingerprints): stdin's source, or the file read again."""
    texts: dict[Path, bytes] = dict([stdin]) if stdin else {}
    for path in dict.fromkeys(f.path for f in findings):
        if path not in texts:
            try:
                texts[path] = path.read_bytes()
            except OSError:
                continue
    return texts


def _print_findings(
    out: _Out,
    findings: list[Finding],
    rules: list,
    fmt: Format,
    quiet: bool,
    problems: Sequence[Problem] = (),
    stdin: tuple[Path, bytes] | None = None,
    color: bool = False,
    statistics: bool = False,
) -> None:
    if statistics:
        if fmt is Format.json:
            out.echo(reporters.statistics_json(findings, rules))
        elif findings:
            out.echo(reporters.statistics(findings, rules, color))
        elif not quiet:
            out.echo("No findings.")
    elif fmt is Format.json:
        with_fixes = [f for f in findings if f.fix is not None]
        out.echo(reporters.to_json(findings, problems, _texts(with_fixes, stdin)))
    elif fmt is Format.sarif:
        out.echo(reporters.to_sarif(findings, rules, problems=problems))
    elif fmt is Format.github:
        text = reporters.to_github(findings, problems)
        if text:
            out.echo(text)
    elif fmt is Format.gitlab:
        out.echo(reporters.to_gitlab(findings, _texts(findings, stdin)))
    else:
        for finding in findings:
            out.echo(reporters.text_line(finding, color))
        if not quiet:
            out.echo(reporters.summary(findings, problems))


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
    statistics: Annotated[
        bool, typer.Option("--statistics", help="Counts per rule (count, rule, [*] when fixable, summary).")
    ] = False,
    exit_zero: ExitZero = False,
    output_file: OutputFile = None,
    color: ColorOpt = Color.auto,
    stdin_filename: StdinFilename = None,
) -> None:
    """Report findings. Exit 0: none, 1: found, 2: error. '-' reads the source from stdin."""
    if statistics and format not in (Format.text, Format.json):
        raise _fail("--statistics goes with --format text or json")
    job = _prepare(
        paths,
        select,
        ignore,
        config_path,
        go_version,
        unused_ignores=report_unused_ignores,
        changed_since=changed_since,
        cache_dir=None if no_cache else cache_dir or cache.default_dir(),
        stdin_filename=stdin_filename,
    )
    out = _Out(output_file)
    findings: list[Finding] = []
    problems: list[Problem] = []
    errors = False
    with progress.tracker(quiet) as shown:
        results = (
            [process_data(*job.stdin, job.settings)]
            if job.stdin
            else shown.track(run(job.files, job.settings, jobs), len(job.files), "scanning", progress.file_name)
        )
        for result in results:
            errors |= _report_problems(result)
            findings += result.findings
            problems += result.problems
    paint = _color(color, format, output_file)
    _print_findings(out, findings, job.rules, format, quiet, problems, job.stdin, paint, statistics)
    out.close()
    raise typer.Exit(_code(2 if errors else 1 if findings else 0, exit_zero))


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


def _fix_interactive(job: _Job, jobs: int | None, quiet: bool, report: _Report) -> int:
    """The review on the terminal; --show-fixes and --output-file then get what was written, as fix does."""
    try:
        summary = interactive.review(job.files, job.settings, jobs, on_problem=_report_problems)
    except interactive.Interrupted:
        return 130
    if report.show_fixes or report.out.target is not None:
        written = [f for f in summary.files if f.written]
        tally = reporters.FixTally(
            job.settings.unsafe_fixes,
            len(written),
            [finding for f in written for finding in f.applied],
            summary.remaining,
        )
        report.end(tally, quiet or report.out.target is None, on_stderr=False)
        report.out.close()
    return 2 if summary.errors else 1 if summary.remaining else 0


def _repository_or_cwd(start: Path) -> tuple[object, Path]:
    repo = gitops.open_repository(start)
    return repo, gitops.root_of(repo) if repo is not None else Path.cwd().resolve()


def _plan(job: _Job, jobs: int | None, per: CommitPer, quiet: bool = False) -> gitops.Plan:
    planner = gitops.plan_by_rule if per is CommitPer.rule else gitops.plan_by_file
    with progress.tracker(quiet) as shown, shown.step(f"fixing {len(job.files)} files"):
        plan = planner(job.files, job.settings, jobs)
    for result in plan.problems:
        _report_problems(result)
    return plan


def _plan_errors(plan: gitops.Plan) -> bool:
    return any(r.error for r in plan.problems)


@dataclass
class _Report:
    """Where ``fix`` reports (stdout or --output-file), in colour or not, with --show-fixes or not."""

    out: _Out
    color: bool = False
    show_fixes: bool = False

    def end(self, tally: reporters.FixTally, quiet: bool, on_stderr: bool) -> None:
        """The fix summary (and with --show-fixes, what was fixed), on stdout or stderr."""
        lines = []
        if self.show_fixes:
            lines.append(reporters.show_fixes(tally.fixed, self.color and not on_stderr))
        if not quiet:
            lines.append(reporters.fix_summary(tally))
        for line in lines:
            if on_stderr:
                typer.echo(line, err=True)
            else:
                self.out.echo(line)


def _fix_commit(
    job: _Job, start: Path, jobs: int | None, quiet: bool, per: CommitPer, branch: str | None, report: _Report
) -> int:
    repo = gitops.open_repository(start)
    if repo is None:
        raise _fail(f"--commit needs a git repository; {start} is not in one")
    plan = _plan(job, jobs, per, quiet)
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
                report.out.echo(f"{label} {gitops.subject_of(done.message)} ({files} file{'s' * (files != 1)})")
    except (WriteError, gitops.git.GitCommandError) as err:
        report.out.close()
        typer.echo(f"gofix-conc: error: stopped after {commits} commit(s): {err}", err=True)
        return 2
    if not quiet and not commits:
        report.out.echo("Nothing to commit.")
    tally = _plan_tally(plan, job.settings)
    for finding in plan.remaining:
        report.out.echo(reporters.text_line(finding, report.color))
    report.end(tally, quiet, on_stderr=False)
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


def _fix_patch(job: _Job, start: Path, jobs: int | None, quiet: bool, target: str, report: _Report) -> int:
    _, base = _repository_or_cwd(start)
    plan = _plan(job, jobs, CommitPer.file, quiet)
    _output(target, patches.unified(_file_patches(plan.final(), base)))
    report.end(_plan_tally(plan, job.settings), quiet, on_stderr=True)
    return 2 if _plan_errors(plan) else 1 if plan.steps else 0


def _fix_format_patch(
    job: _Job, start: Path, jobs: int | None, quiet: bool, target: str, per: CommitPer, report: _Report
) -> int:
    repo, base = _repository_or_cwd(start)
    plan = _plan(job, jobs, per, quiet)
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
                report.out.echo(reporters.display_path(directory / name))
    report.end(_plan_tally(plan, job.settings), quiet, on_stderr=True)
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


KeepUnverifiedOpt = Annotated[
    bool,
    typer.Option(
        "--keep-unverified",
        help="With --verify, also write the fixes nothing could check (their package did not build or vet "
        "before them, go cannot load it, no platform builds the file).",
    ),
]


def _verified(job: _Job, jobs: int | None, quiet: bool, mode: verify.Mode, keep_unverified: bool = False) -> Settings:
    """The job's settings minus the fixes the Go toolchain rejects; any fix mode then runs with them."""
    try:
        with progress.tracker(quiet) as shown:
            results = list(
                shown.track(run(job.files, job.settings, jobs), len(job.files), "fixing", progress.file_name)
            )
            packages = len({r.path.resolve().parent for r in results if r.status is Status.CHANGED})
            with shown.counter("verifying", packages) as done:
                options = verify.Options(mode, jobs)
                report = verify.verify(
                    results,
                    job.settings,
                    options,
                    keep_unverified=keep_unverified,
                    on_package=lambda directory: done(reporters.display_path(directory) or "."),
                )
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
    keep_unverified: KeepUnverifiedOpt = False,
    changed_since: ChangedSince = None,
    force: Annotated[
        bool, typer.Option("--force", help="With --write, also rewrite read-only files (they stay read-only).")
    ] = False,
    show_fixes: Annotated[
        bool, typer.Option("--show-fixes", help="List what was fixed, per file and rule (as ruff does).")
    ] = False,
    exit_zero: ExitZero = False,
    output_file: OutputFile = None,
    color: ColorOpt = Color.auto,
    stdin_filename: StdinFilename = None,
) -> None:
    """Fix findings: show a diff (default), write the files, review each fix, commit them or export patches.

    With '-' as the path, the source comes from stdin and the fixed source goes to stdout (--diff: a diff).
    """
    if diff and write:
        raise _fail("choose one of --diff and --write")
    _check_fix_modes(diff, write, interactive_, commit, commit_per, branch, patch, format_patch)
    job = _prepare(
        paths,
        select,
        ignore,
        config_path,
        go_version,
        fix=True,
        unsafe_fixes=unsafe_fixes,
        changed_since=changed_since,
        stdin_filename=stdin_filename,
    )
    report = _Report(_Out(output_file), _color(color, output_file=output_file), show_fixes)
    if job.stdin is not None:
        if write or interactive_ or commit or patch is not None or format_patch is not None or verify_ or verify_race:
            raise _fail("with '-' (the source on stdin) fix prints the fixed source or, with --diff, a diff")
        raise typer.Exit(_code(_fix_stdin(job, diff, quiet, report), exit_zero))
    if verify_ or verify_race:
        if interactive_:
            # It applies fixes one by one, on text the verified run never saw.
            raise _fail("--verify goes with --diff, --write, --patch, --commit and --format-patch")
        mode = verify.Mode.RACE if verify_race else verify.Mode.BUILD
        job.settings = _verified(job, jobs, quiet, mode, keep_unverified)
    if interactive_:
        raise typer.Exit(_code(_fix_interactive(job, jobs, quiet, report), exit_zero))
    code = None
    if commit:
        code = _fix_commit(job, paths[0], jobs, quiet, commit_per or CommitPer.rule, branch, report)
    elif patch is not None:
        code = _fix_patch(job, paths[0], jobs, quiet, patch, report)
    elif format_patch is not None:
        code = _fix_format_patch(job, paths[0], jobs, quiet, format_patch, commit_per or CommitPer.rule, report)
    if code is not None:
        report.out.close()
        raise typer.Exit(_code(code, exit_zero))
    errors = False
    tally = reporters.FixTally(unsafe_fixes=job.settings.unsafe_fixes)
    with progress.tracker(quiet) as shown:
        for result in shown.track(run(job.files, job.settings, jobs), len(job.files), "fixing", progress.file_name):
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
                report.out.write(reporters.unified_diff(result.original, result.new, f"a/{name}", f"b/{name}"))
    if write:
        for finding in tally.remaining:
            report.out.echo(reporters.text_line(finding, report.color))
        report.end(tally, quiet, on_stderr=False)
        report.out.close()
        raise typer.Exit(_code(2 if errors else 1 if tally.remaining else 0, exit_zero))
    report.out.close()
    report.end(tally, quiet, on_stderr=True)
    raise typer.Exit(_code(2 if errors else 1 if tally.files else 0, exit_zero))


def _fix_stdin(job: _Job, diff: bool, quiet: bool, report: _Report) -> int:
    """``fix -``: the fixed source (or a diff) on stdout, what is left on stderr; an unparsable source comes back as is.

    Exit 1 when findings are left (with --diff: when there is a diff), as ``fix --write`` (``fix --diff``) does.
    """
    assert job.stdin is not None
    path, raw = job.stdin
    # The other files of a change spanning several are not written from here: such fixes are left out.
    [result] = settle_groups([process_data(path, raw, job.settings)], job.settings)
    errors = _report_problems(result)
    _report_appeared(path, result.appeared)
    tally = reporters.FixTally(unsafe_fixes=job.settings.unsafe_fixes)
    _tally(tally, result)
    new = result.new if result.status is Status.CHANGED and result.new is not None else raw
    if diff:
        name = reporters.display_path(path)
        report.out.write(reporters.unified_diff(raw, new, f"a/{name}", f"b/{name}"))
    else:
        report.out.write(new)
    report.out.close()
    for finding in tally.remaining:
        typer.echo(reporters.text_line(finding), err=True)
    report.end(tally, quiet, on_stderr=True)
    return 2 if errors else 1 if (tally.files if diff else tally.remaining) else 0


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
    # `batch run` takes --verify with a value (build|race|none) and spells it as it is.
    if "batch" not in sys.argv[1:2]:
        spelled = {"--verify=race": "--verify-race", "--verify=build": "--verify"}
        sys.argv[1:] = [spelled.get(arg, arg) for arg in sys.argv[1:]]
    app()
