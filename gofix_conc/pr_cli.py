"""The `pr` command: options in, :func:`gofix_conc.pr.run` called, what it did printed."""

from __future__ import annotations

import json
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from gofix_conc import config, gitops, pr, pr_review, registry, verify
from gofix_conc.engine import Settings
from gofix_conc.forge import ForgeError


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


class ForgeKind(str, Enum):
    github = "github"
    gitlab = "gitlab"
    gitea = "gitea"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"gofix-conc: error: {message}", err=True)
    return typer.Exit(2)


def _ids(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _author(text: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*(.+?)\s*<([^<>\s]+)>\s*", text)
    if not match:
        raise _fail(f"--author wants 'Name <email>', not {text!r}")
    return match[1], match[2]


def pr_command(
    paths: Annotated[
        Optional[list[Path]], typer.Argument(help="Go files or directories (default: the repository).")
    ] = None,
    remote: Annotated[str, typer.Option("--remote", help="The git remote to push to.")] = "origin",
    base: Annotated[
        Optional[str], typer.Option("--base", help="Base branch (default: the forge's default branch).")
    ] = None,
    branch: Annotated[str, typer.Option("--branch", help="The bot's branch.")] = pr.DEFAULT_BRANCH,
    title: Annotated[Optional[str], typer.Option("--title", help="Title (default: names what changed).")] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", help="Label to add (repeatable).")] = None,
    reviewer: Annotated[
        Optional[list[str]], typer.Option("--reviewer", help="Reviewer to request (repeatable).")
    ] = None,
    assignee: Annotated[Optional[list[str]], typer.Option("--assignee", help="Assignee (repeatable).")] = None,
    draft: Annotated[bool, typer.Option("--draft", help="Open the pull request as a draft.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the branch, commits, title, body and forge calls; change nothing.")
    ] = False,
    output: Annotated[OutputFormat, typer.Option("--format", help="text, or json: what was done.")] = OutputFormat.text,
    verify_: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Keep only fixes after which gofmt, go build and go vet pass.")
    ] = True,
    verify_race: Annotated[
        bool, typer.Option("--verify-race", help="Also go test -race on changed packages (also --verify=race).")
    ] = False,
    reopen_declined: Annotated[
        bool, typer.Option("--reopen-declined", help="Propose again fixes a closed pull request declined.")
    ] = False,
    forge_kind: Annotated[
        Optional[ForgeKind], typer.Option("--forge", help="Forge (default: from the remote URL).")
    ] = None,
    api_url: Annotated[Optional[str], typer.Option("--api-url", help="The forge's API root URL.")] = None,
    repo: Annotated[Optional[str], typer.Option("--repo", help="OWNER/NAME (GitLab: GROUP/.../NAME).")] = None,
    author: Annotated[
        str, typer.Option("--author", help="The bot's git identity.")
    ] = f"{pr.BOT_NAME} <{pr.BOT_EMAIL}>",
    select: Annotated[Optional[list[str]], typer.Option("--select", help="Only these rule ids.")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option("--ignore", help="Skip these rule ids.")] = None,
    unsafe_fixes: Annotated[bool, typer.Option("--unsafe-fixes", help="Also apply fixes marked unsafe.")] = False,
    config_path: Annotated[Optional[Path], typer.Option("--config", help="Config file.")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Parallel processes.")] = None,
    go_version: Annotated[Optional[str], typer.Option("--go-version", help="Go version to assume.")] = None,
    review: Annotated[
        Optional[int],
        typer.Option(
            "--review",
            metavar="NUMBER",
            min=1,
            help="Instead: post the fixes for the lines pull request NUMBER changes as suggested changes on it.",
        ),
    ] = None,
) -> None:
    """Open or update one pull request (GitLab: merge request) with verified fixes, one commit per rule."""
    paths = paths or [Path(".")]
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
        rules=tuple(r.id for r in rules), options=cfg.rules, go_version=version, fix=True, unsafe_fixes=unsafe_fixes
    )
    mode = verify.Mode.RACE if verify_race else verify.Mode.BUILD if verify_ else None
    request = pr.Request(
        paths=tuple(p.resolve() for p in paths),
        settings=settings,
        remote=remote,
        base=base,
        branch=branch,
        title=title,
        labels=tuple(_ids(label)),
        reviewers=tuple(_ids(reviewer)),
        assignees=tuple(_ids(assignee)),
        draft=draft,
        dry_run=dry_run,
        verify=mode,
        reopen_declined=reopen_declined,
        forge=forge_kind.value if forge_kind else None,
        api_url=api_url,
        repo=repo,
        author=_author(author),
        exclude=tuple(cfg.exclude),
        exclude_root=_config_root(cfg, paths[0]),
        jobs=jobs,
    )
    if review is not None:
        try:
            reviewed = pr_review.review(request, review, paths[0])
        except (pr.PrError, ForgeError) as err:
            raise _fail(f"not done: {err}" if isinstance(err, pr.PrError) else f"{err}") from None
        _print_review(reviewed, output)
        return
    try:
        outcome = pr.run(request, paths[0])
    except (pr.PrError, ForgeError) as err:
        raise _fail(f"not done: {err}" if isinstance(err, pr.PrError) else f"{err}") from None
    _print(outcome, output)


def _config_root(cfg: config.Config, start: Path) -> str:
    """Where exclude globs are rooted, relative to the repository root (the worktree mirrors it)."""
    repo = gitops.open_repository(start)
    if repo is None:
        return "."
    try:
        return cfg.root.resolve().relative_to(gitops.root_of(repo)).as_posix()
    except ValueError:
        return "."


def _print(outcome: pr.Outcome, output: OutputFormat) -> None:
    evidence = outcome.evidence
    for rb in evidence.rolled_back if evidence else []:
        typer.echo(f"{rb.path}:{rb.line}: {rb.rule} fix rolled back: {rb.check} failed with it", err=True)
    for problem in outcome.problems:
        typer.echo(f"{problem}", err=True)
    if output is OutputFormat.json:
        typer.echo(json.dumps(outcome.to_json(), indent=2))
        return
    if outcome.action == "dry-run":
        typer.echo(f"branch: {outcome.branch} (base {outcome.base})")
        for commit in outcome.commits:
            typer.echo(f"commit: {commit.sha[:12]} {commit.subject}")
        typer.echo(f"title: {outcome.title}")
        typer.echo("forge calls:" if outcome.calls else "forge calls: none")
        for call in outcome.calls:
            typer.echo(f"  {call}")
        if outcome.body:
            typer.echo("body:\n" + outcome.body)
    else:
        for commit in outcome.commits:
            typer.echo(f"[{outcome.branch} {commit.sha[:7]}] {commit.subject}")
    typer.echo(f"{outcome.action}: {outcome.message}" if outcome.action != "dry-run" else outcome.message)


def _print_review(outcome: pr_review.ReviewOutcome, output: OutputFormat) -> None:
    for rb in outcome.rolled_back:
        typer.echo(f"{rb.path}:{rb.line}: {rb.rule} fix rolled back: {rb.check} failed with it", err=True)
    for problem in outcome.problems:
        typer.echo(problem, err=True)
    if output is OutputFormat.json:
        typer.echo(json.dumps(outcome.to_json(), indent=2))
        return
    for proposal in outcome.posted:
        rules = ", ".join(sorted({f.rule for f in proposal.fixes}))
        typer.echo(f"suggest: {proposal.path}:{proposal.start}-{proposal.end} {rules}")
    for fix in outcome.outside:
        typer.echo(f"summary: {fix.path}:{fix.line} {fix.rule}")
    if outcome.action == "dry-run":
        typer.echo("forge calls:" if outcome.calls else "forge calls: none")
        for call in outcome.calls:
            typer.echo(f"  {call}")
        typer.echo(outcome.message)
    else:
        typer.echo(f"{outcome.action} #{outcome.number}: {outcome.message}")


def register(app: typer.Typer) -> None:
    """Add the `pr` command to the gofix-conc app."""
    app.command("pr")(pr_command)
