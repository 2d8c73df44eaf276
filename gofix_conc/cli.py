"""The command line: parses options, calls the engine, prints results.

Exit codes: 0 nothing to report, 1 findings (or, with ``fix --diff``, a diff),
2 an error (unreadable or unparsable file, bad option, bad config).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from gofix_conc import __version__, config, discovery, registry, reporters
from gofix_conc.engine import FileResult, Settings, Status, run
from gofix_conc.model import Finding
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
    )
    return _Job(settings, list(discovery.go_files(paths, cfg.exclude, cfg.root)), rules)


def _report_problems(result: FileResult) -> bool:
    """Print a file's errors and warnings to stderr; whether there was an error."""
    name = reporters.display_path(result.path)
    for warning in result.warnings:
        typer.echo(f"{name}: warning: {warning}", err=True)
    if result.error:
        typer.echo(f"{name}: error: {result.error}", err=True)
        return True
    return False


def _print_findings(findings: list[Finding], rules: list, fmt: Format, quiet: bool, fixed: int = 0) -> None:
    if fmt is Format.json:
        typer.echo(reporters.to_json(findings))
    elif fmt is Format.sarif:
        typer.echo(reporters.to_sarif(findings, rules))
    else:
        for finding in findings:
            typer.echo(reporters.text_line(finding))
        if not quiet:
            typer.echo(reporters.summary(findings, fixed))


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
) -> None:
    """Report findings. Exit 0: none, 1: found, 2: error."""
    job = _prepare(paths, select, ignore, config_path, go_version, unused_ignores=report_unused_ignores)
    findings: list[Finding] = []
    errors = False
    for result in run(job.files, job.settings, jobs):
        errors |= _report_problems(result)
        findings += result.findings
    _print_findings(findings, job.rules, format, quiet)
    raise typer.Exit(2 if errors else 1 if findings else 0)


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
) -> None:
    """Fix findings: show a diff (default) or write the files."""
    if diff and write:
        raise _fail("choose one of --diff and --write")
    job = _prepare(paths, select, ignore, config_path, go_version, fix=True, unsafe_fixes=unsafe_fixes)
    errors = False
    remaining: list[Finding] = []
    fixed = 0
    changed = 0
    for result in run(job.files, job.settings, jobs):
        errors |= _report_problems(result)
        remaining += result.findings
        if result.status is not Status.CHANGED:
            continue
        assert result.original is not None and result.new is not None
        changed += 1
        fixed += len(result.fixed)
        if write:
            try:
                write_atomic(result.path, result.new, result.original)
            except WriteError as err:
                typer.echo(f"gofix-conc: error: {err}", err=True)
                errors = True
        else:
            name = reporters.display_path(result.path)
            sys.stdout.write(reporters.unified_diff(result.original, result.new, f"a/{name}", f"b/{name}"))
    if write:
        _print_findings(remaining, job.rules, Format.text, quiet, fixed)
        raise typer.Exit(2 if errors else 1 if remaining else 0)
    if not quiet:
        typer.echo(
            f"{fixed} fix{'es' * (fixed != 1)} in {changed} file{'s' * (changed != 1)}; "
            f"{len(remaining)} finding(s) left.",
            err=True,
        )
    raise typer.Exit(2 if errors else 1 if changed else 0)


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


def main() -> None:
    app()
