"""`gofix-conc batch run|status|report`: options in, campaign stages wired, results printed.

Exit codes of ``batch run``: 0 every unit ran, 1 some units failed (see
``batch report``), 2 a bad option or an unusable campaign directory, 130
interrupted (run the same command again to resume).
"""

from __future__ import annotations

import os
import re
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from gofix_conc import registry
from gofix_conc.batch import campaign as campaign_module
from gofix_conc.batch import report, repos
from gofix_conc.batch.model import FAILED, INTERRUPTED, OK, PENDING, RUNNING
from gofix_conc.batch.progress import Display
from gofix_conc.batch.runners import DaskRunner, LocalRunner, Runner
from gofix_conc.batch.state import Campaign, StateError

batch_app = typer.Typer(
    help="Campaigns: scan or fix every Go module of many repositories, resumable, locally or on Dask.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def register(app: typer.Typer) -> None:
    """Add the ``batch`` command group to ``app``."""
    app.add_typer(batch_app, name="batch")


class Mode(str, Enum):
    scan = "scan"
    fix = "fix"
    pr = "pr"


class VerifyMode(str, Enum):
    build = "build"
    race = "race"
    none = "none"


class ReportFormat(str, Enum):
    json = "json"
    markdown = "markdown"
    html = "html"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"gofix-conc: error: {message}", err=True)
    return typer.Exit(2)


def _ids(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for value in values or [] for v in value.split(",") if v.strip())


State = Annotated[Path, typer.Option("--state", help="Campaign directory (database, clones, logs).")]


@batch_app.command("run")
def run(
    repositories: Annotated[
        Optional[list[str]], typer.Argument(help="Repositories: local paths or git URLs (file:// too).")
    ] = None,
    state: State = Path("gofix-campaign"),
    repos_file: Annotated[
        Optional[Path], typer.Option("--repos-file", help="One repository path or URL a line (# comments).")
    ] = None,
    mode: Annotated[
        Mode, typer.Option("--mode", help="scan: findings; fix: verified fixes on a branch; pr: and a pull request.")
    ] = Mode.scan,
    select: Annotated[Optional[list[str]], typer.Option("--select", help="Only these rule ids (ALL: all).")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option("--ignore", help="Skip these rule ids.")] = None,
    config_path: Annotated[
        Optional[Path], typer.Option("--config", help="Config for every repository (default: each one's own).")
    ] = None,
    unsafe_fixes: Annotated[bool, typer.Option("--unsafe-fixes", help="Also apply fixes marked unsafe.")] = False,
    verify: Annotated[VerifyMode, typer.Option("--verify", help="Fix mode: checks fixes pass.")] = VerifyMode.build,
    verify_race: Annotated[
        bool, typer.Option("--verify-race", help="Same as --verify race, as for fix and pr.")
    ] = False,
    org: Annotated[
        Optional[str],
        typer.Option("--org", help="Also every repository of this organisation (GitLab: group), listed by --forge."),
    ] = None,
    include: Annotated[
        Optional[str], typer.Option("--include", metavar="REGEXP", help="--org: only full names matching this.")
    ] = None,
    exclude: Annotated[
        Optional[str], typer.Option("--exclude", metavar="REGEXP", help="--org: leave out full names matching this.")
    ] = None,
    include_archived: Annotated[
        bool, typer.Option("--include-archived", help="--org: archived repositories too.")
    ] = False,
    include_forks: Annotated[bool, typer.Option("--include-forks", help="--org: forks too.")] = False,
    max_open_prs: Annotated[
        Optional[int],
        typer.Option("--max-open-prs", min=0, help="pr mode: open bot pull requests across the campaign, at most."),
    ] = None,
    branch: Annotated[
        Optional[str], typer.Option("--branch", help="Branch of the fix commits (pr mode: of the pull requests).")
    ] = None,
    forge: Annotated[
        Optional[str], typer.Option("--forge", help="pr mode: github, gitlab or gitea (default: from the remote).")
    ] = None,
    api_url: Annotated[Optional[str], typer.Option("--api-url", help="pr mode: the forge's API root.")] = None,
    pr_interval: Annotated[
        float, typer.Option("--pr-interval", min=0, help="pr mode: seconds between two pull requests.")
    ] = 0.0,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Units at once (default: cores).")] = None,
    scheduler: Annotated[
        Optional[str],
        typer.Option("--scheduler", help="Dask scheduler tcp://HOST:PORT, or local:N for a LocalCluster of N workers."),
    ] = None,
    unit_timeout: Annotated[
        Optional[float], typer.Option("--unit-timeout", min=0.1, help="Seconds before a unit is stopped.")
    ] = None,
    cpu_limit: Annotated[int, typer.Option("--cpu-limit", min=0, help="CPU seconds per process (0: none).")] = 900,
    memory_limit: Annotated[
        int, typer.Option("--memory-limit", min=0, help="MB of address space per process (0: none).")
    ] = 4096,
    goproxy: Annotated[
        Optional[str], typer.Option("--goproxy", metavar="URL", help="Let go download modules (default: off).")
    ] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run failed units again.")] = False,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Reruns of a unit whose worker died.")] = 2,
    workspace: Annotated[
        Optional[str],
        typer.Option("--workspace", help="Where workers clone (default: STATE/workspaces)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only failures and the summary.")] = False,
) -> None:
    """Run a campaign, or resume it: units done for the same commit, tool and options are not run again."""
    if mode is Mode.pr and campaign_module.pr_delivery() is None:
        raise _fail("--mode pr is not available yet: this installation has no gofix_conc.pr (use --mode fix)")
    if branch is None:
        branch = "gofix-conc/concurrency" if mode is Mode.pr else "gofix/concurrency"
    if verify_race:
        verify = VerifyMode.race
    if max_open_prs is not None and mode is not Mode.pr:
        raise _fail("--max-open-prs goes with --mode pr")
    if (include or exclude or include_archived or include_forks) and not org:
        raise _fail("--include, --exclude, --include-archived and --include-forks go with --org")
    secrets = campaign_module.forge_secrets() if mode is Mode.pr else None
    try:
        sources = repos.sources(repositories or [], repos_file)
    except repos.SourceError as err:
        raise _fail(str(err)) from None
    if org:
        listed = _org_sources(org, forge, api_url, include, exclude, include_archived, include_forks)
        known = {r.source for r in sources}
        sources += [r for r in listed if r.source not in known]
    if not sources:
        raise _fail(
            "no repositories: give paths or URLs, --repos-file or --org" + (f" ({org} has none)" if org else "")
        )
    try:
        registry.selected(_ids(select), _ids(ignore))
    except registry.UnknownRuleError as err:
        raise _fail(str(err)) from None
    config_text = None
    if config_path is not None:
        try:
            config_text = config_path.read_text(encoding="utf-8")
        except OSError as err:
            raise _fail(f"cannot read {config_path}: {err.strerror or err}") from None
    options = campaign_module.Options(
        mode=mode.value,
        select=_ids(select),
        ignore=_ids(ignore),
        config_text=config_text,
        unsafe_fixes=unsafe_fixes,
        verify=verify.value,
        branch=branch,
        goproxy=goproxy,
        unit_timeout=unit_timeout,
        cpu_limit=cpu_limit or None,
        memory_limit_mb=memory_limit or None,
        workspace=workspace,
        retry_failed=retry_failed,
        forge=forge,
        api_url=api_url,
        pr_interval=pr_interval,
        max_open_prs=max_open_prs,
    )
    try:
        store = Campaign(state, writer=True)
    except StateError as err:
        raise _fail(str(err)) from None
    display = Display(quiet=quiet)
    runner: Runner | None = None
    run_id = None
    summary = None
    try:
        try:
            if scheduler:
                runner = DaskRunner(scheduler, retries, secrets)
            else:
                runner = LocalRunner(jobs or os.cpu_count() or 1, retries, secrets)
        except (RuntimeError, OSError, ValueError) as err:
            raise _fail(f"cannot start the runner: {err}") from None
        label = f"{runner.name}:{scheduler or runner.workers}"
        run_id = store.start_run(sys.argv, label)
        events = display.events()
        todo, total = campaign_module.plan(store, sources, options, runner, run_id, events, fetch_jobs=8)
        if options.max_open_prs is not None:
            already = campaign_module.open_bot_pulls(sources, options, secrets or {})
            todo = campaign_module.hold_openings(todo, already, options.max_open_prs)
        summary = campaign_module.Summary(run_id, total=total, skipped=total - len(todo))
        campaign_module.execute(store, todo, runner, run_id, events, summary, options.pr_interval)
    except KeyboardInterrupt:
        display.close()
        if runner is not None:
            runner.close(kill=True)
        if run_id is not None:
            count = (summary.interrupted if summary else 0) + store.interrupted(run_id)
            store.finish_run(run_id, "interrupted")
            typer.echo(
                f"Interrupted: {count} running unit{'s' * (count != 1)} marked interrupted. "
                "Run the same command again to resume.",
                err=True,
            )
        store.close()
        raise typer.Exit(130) from None
    display.close()
    counts = store.counts(run_id)
    store.close()
    failed = counts.get(FAILED, 0)
    typer.echo(
        f"Campaign {state}: {total} units, {counts.get(OK, 0)} ok, {failed} failed "
        f"({summary.ran} run now in {summary.seconds:.1f}s, {summary.skipped} done before"
        + (f", {summary.deferred} deferred past --max-open-prs" if summary.deferred else "")
        + "). "
        f"Report: gofix-conc batch report --state {state}",
        err=True,
    )
    raise typer.Exit(1 if failed else 0)


_DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}


def _org_sources(
    org: str,
    kind: str | None,
    api_url: str | None,
    include: str | None,
    exclude: str | None,
    archived: bool,
    forks: bool,
) -> list[repos.Repository]:
    from gofix_conc import forge

    if kind not in forge.KINDS:
        raise _fail("--org needs --forge github, gitlab or gitea")
    api_url = api_url or _DEFAULT_API.get(kind)
    if api_url is None:
        raise _fail("--org with --forge gitea needs --api-url (https://HOST/api/v1)")
    token = forge.token_from_env(kind)
    if not token:
        raise _fail(f"--org needs a token: set GOFIX_CONC_TOKEN (or {forge.TOKEN_VARIABLES[kind]})")
    for flag, pattern in (("--include", include), ("--exclude", exclude)):
        try:
            re.compile(pattern or "")
        except re.error as err:
            raise _fail(f"{flag} {pattern!r} is not a regular expression: {err}") from None
    try:
        return campaign_module.org_sources(kind, api_url, token, org, include, exclude, archived, forks)
    except forge.ForgeError as err:
        raise _fail(f"cannot list the repositories of {org}: {err}") from None


@batch_app.command("status")
def status(state: State = Path("gofix-campaign")) -> None:
    """Where a campaign stands; safe to run while another process runs it."""
    try:
        store = Campaign(state)
    except StateError as err:
        raise _fail(str(err)) from None
    with store:
        for line in status_lines(store):
            typer.echo(line)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status_lines(store: Campaign) -> list[str]:
    runs = store.runs()
    units = store.units()
    counts = store.counts()
    lines = [f"campaign {store.dir}"]
    if runs:
        last = runs[-1]
        state = last["status"]
        if state == "running" and not _alive(last["pid"]):
            state = "running, but its process is gone (it will be resumed by the next run)"
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last["started"]))
        lines.append(f"run {last['id']} ({last['runner']}) started {started}, {state}")
    total = len(units)
    done = counts.get(OK, 0) + counts.get(FAILED, 0)
    lines.append(
        f"units: {done}/{total} done: {counts.get(OK, 0)} ok, {counts.get(FAILED, 0)} failed, "
        f"{counts.get(RUNNING, 0)} running, {counts.get(INTERRUPTED, 0)} interrupted, {counts.get(PENDING, 0)} pending"
    )
    findings = sum(u.result.findings_total for u in units if u.result)
    fixes = sum(sum(u.result.fixes_by_rule.values()) for u in units if u.result)
    lines.append(f"findings: {findings}, fixes committed: {fixes}")
    durations = [u.duration for u in units if u.duration]
    left = total - done
    if runs and runs[-1]["status"] == "running" and durations and left:
        workers = runs[-1]["runner"].rsplit(":", 1)[-1]
        parallel = int(workers) if workers.isdigit() else max(1, counts.get(RUNNING, 1))
        eta = sum(durations) / len(durations) * left / max(1, parallel)
        lines.append(f"ETA: about {eta:.0f}s")
    now = time.time()
    for u in units:
        if u.status == RUNNING and u.started:
            lines.append(f"  running {u.slug} {u.module} ({now - u.started:.0f}s)")
    kinds: dict[str, int] = {}
    for u in units:
        if u.status == FAILED:
            kinds[u.error_kind or "unknown"] = kinds.get(u.error_kind or "unknown", 0) + 1
    if kinds:
        lines.append("failures: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    return lines


@batch_app.command("report")
def report_command(
    state: State = Path("gofix-campaign"),
    format: Annotated[ReportFormat, typer.Option("--format", help="json, markdown or html.")] = ReportFormat.markdown,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here (default: stdout).")] = None,
) -> None:
    """A campaign report: per unit, totals per rule, failures by cause."""
    try:
        store = Campaign(state)
    except StateError as err:
        raise _fail(str(err)) from None
    with store:
        data = report.build(store)
    text = report.FORMATS[format.value](data)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        partial = output.with_name(output.name + ".tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(output)
    except OSError as err:
        raise _fail(f"cannot write {output}: {err.strerror or err}") from None


def main() -> None:
    """``python -m gofix_conc.batch``: the batch commands on their own."""
    batch_app()
