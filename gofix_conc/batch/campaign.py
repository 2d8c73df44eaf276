"""A campaign run: plan the units, run those not done yet, record each result as it comes.

Resume rests on the unit key: a hash of the repository source, the commit,
the module, the mode, the options that change a result (rules, config, unsafe
fixes, verification, branch, proxy) and the tool itself (its version, engine
and codemod sources, and this package's unit code). A unit whose key is done
is not run again; a failed one only with ``retry_failed``; an interrupted one
always.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from gofix_conc.batch import repos
from gofix_conc.batch.model import DEFERRED, FETCH, OK, UnitResult, UnitSpec
from gofix_conc.batch.runners import Runner
from gofix_conc.batch.state import Campaign


class PrModeUnavailable(Exception):
    """``--mode pr`` needs gofix_conc.pr, which this installation does not have yet."""


@dataclass(frozen=True)
class Options:
    mode: str = "scan"
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    config_text: str | None = None
    unsafe_fixes: bool = False
    verify: str = "build"
    branch: str = "gofix/concurrency"
    goproxy: str | None = None
    unit_timeout: float | None = None
    cpu_limit: int | None = 900
    memory_limit_mb: int | None = 4096
    workspace: str | None = None
    retry_failed: bool = False
    forge: str | None = None
    api_url: str | None = None
    pr_interval: float = 0.0  # pr mode: seconds between two pull-request units
    max_open_prs: int | None = None  # pr mode: open bot pull requests across the campaign, at most

    def result_digest(self) -> str:
        """The options a unit's result depends on."""
        keyed = {
            "mode": self.mode,
            "select": sorted(self.select),
            "ignore": sorted(self.ignore),
            "config": self.config_text,
            "unsafe_fixes": self.unsafe_fixes,
            "verify": self.verify if self.mode != "scan" else None,
            "branch": self.branch if self.mode != "scan" else None,
            "goproxy": self.goproxy if self.mode != "scan" else None,
            "forge": [self.forge, self.api_url] if self.mode == "pr" else None,
        }
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()


def tool_digest() -> str:
    """The tool's version, engine and codemod sources, and the unit code: a new tool means new results."""
    from gofix_conc import cache, registry

    unit_source = (Path(__file__).parent / "unit.py").read_bytes()
    return cache.settings_digest(tuple(registry.all_rules()), {}, (hashlib.sha256(unit_source).hexdigest(),))


def unit_key(source: str, commit: str, module: str, options: Options, tool: str) -> str:
    text = json.dumps([source, commit, module, options.result_digest(), tool])
    return hashlib.sha256(text.encode()).hexdigest()


def pr_delivery() -> Callable[..., object] | None:
    """``gofix_conc.pr.run``, which pr-mode units call, when this installation has it."""
    try:
        module = importlib.import_module("gofix_conc.pr")
    except ImportError:
        return None
    entry = getattr(module, "run", None)
    return entry if callable(entry) and hasattr(module, "Request") else None


def forge_secrets() -> dict[str, str]:
    """The forge tokens of this environment, for pr-mode units (never put in a unit's environment)."""
    from gofix_conc import forge

    names = {"GOFIX_CONC_TOKEN", *forge.TOKEN_VARIABLES.values()}
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def _remote_url(source: str) -> str:
    """Where a pull request for ``source`` goes: the URL itself, or a local clone's origin."""
    if repos.is_url(source):
        return source
    try:
        return repos.git(["remote", "get-url", "origin"], Path(source)).strip() or source
    except (subprocess.CalledProcessError, OSError):
        return source


@dataclass
class Events:
    """What the CLI shows; nothing below the CLI prints."""

    planned: Callable[[int, int], None] = lambda total, todo: None  # units in the campaign, units to run now
    fetched: Callable[[repos.Planned], None] = lambda planned: None
    started: Callable[[UnitSpec], None] = lambda spec: None
    finished: Callable[[UnitSpec, UnitResult], None] = lambda spec, result: None


@dataclass
class Summary:
    run_id: int
    total: int = 0  # units in the campaign
    skipped: int = 0  # already done before this run
    ran: int = 0
    ok: int = 0
    failed: int = 0
    interrupted: int = 0
    deferred: int = 0
    seconds: float = 0.0
    failures: list[tuple[UnitSpec, UnitResult]] = field(default_factory=list)


def plan(
    campaign: Campaign,
    sources: list[repos.Repository],
    options: Options,
    runner: Runner,
    run_id: int,
    events: Events,
    fetch_jobs: int = 8,
) -> tuple[list[UnitSpec], int]:
    """Fetch every repository and record its units; (units to run, units in the campaign)."""
    tool = tool_digest()
    campaign.clones.mkdir(parents=True, exist_ok=True)
    workspace = options.workspace or (str(campaign.workspaces) if runner.shares_disk else None)
    specs: list[UnitSpec] = []
    failures: list[tuple[UnitSpec, UnitResult]] = []
    with ThreadPoolExecutor(max(1, fetch_jobs)) as pool:
        for planned in pool.map(lambda r: repos.fetch(r, campaign.clones), sources):
            events.fetched(planned)
            base = UnitSpec(
                key="",
                source=planned.repo.source,
                slug=planned.repo.slug,
                commit=planned.commit or "",
                module=".",
                mode=options.mode,
                mirror=str(planned.mirror),
                select=options.select,
                ignore=options.ignore,
                config_text=options.config_text,
                unsafe_fixes=options.unsafe_fixes,
                verify=options.verify,
                branch=options.branch,
                goproxy=options.goproxy,
                unit_timeout=options.unit_timeout,
                cpu_limit=options.cpu_limit,
                memory_limit_mb=options.memory_limit_mb,
                workspace=workspace,
                remote_url=_remote_url(planned.repo.source) if options.mode == "pr" else None,
                forge=options.forge,
                api_url=options.api_url,
                repo=planned.repo.name if options.mode == "pr" else None,
            )
            if planned.error is not None or planned.commit is None:
                key = unit_key(planned.repo.source, "", "-", options, "fetch")
                spec = replace(base, key=key, module="-")
                failures.append((spec, UnitResult.failure(key, FETCH, planned.error or "no commit")))
                continue
            # one pull request per repository: its unit covers every module
            modules = planned.modules[:1] and (".",) if options.mode == "pr" else planned.modules
            for module in modules:
                key = unit_key(planned.repo.source, planned.commit, module, options, tool)
                specs.append(replace(base, key=key, module=module))
    todo = campaign.plan(specs + [s for s, _ in failures], run_id, options.retry_failed)
    for spec, result in failures:  # a repository that cannot be fetched is one failed unit, recorded now
        campaign.finished(spec, result, run_id)
    failed_keys = {s.key for s, _ in failures}
    todo = [s for s in todo if s.key not in failed_keys]
    total = len(specs) + len(failures)
    events.planned(total, len(todo))
    return todo, total


def execute(
    campaign: Campaign,
    todo: list[UnitSpec],
    runner: Runner,
    run_id: int,
    events: Events,
    summary: Summary,
    pr_interval: float = 0.0,
) -> Summary:
    """Run ``todo`` and record each result as it comes; Ctrl-C marks the running units interrupted."""
    started = time.monotonic()
    last_pr = [0.0]

    def on_start(spec: UnitSpec) -> None:
        if spec.mode == "pr" and pr_interval:
            # pacing: reviewers and CI see one new pull request every pr_interval seconds at most
            time.sleep(max(0.0, last_pr[0] + pr_interval - time.monotonic()))
            last_pr[0] = time.monotonic()
        campaign.started(spec, run_id)
        events.started(spec)

    try:
        for spec, result in runner.run(todo, on_start):
            campaign.finished(spec, result, run_id)
            summary.ran += 1
            if result.status == OK:
                summary.ok += 1
            elif result.status == DEFERRED:
                summary.deferred += 1
            else:
                summary.failed += 1
                summary.failures.append((spec, result))
            events.finished(spec, result)
    except KeyboardInterrupt:
        runner.close(kill=True)
        summary.interrupted = campaign.interrupted(run_id)
        summary.seconds = time.monotonic() - started
        campaign.finish_run(run_id, "interrupted")
        raise
    runner.close()
    summary.seconds = time.monotonic() - started
    campaign.finish_run(run_id, "finished")
    return summary


def org_sources(
    kind: str, api_url: str, token: str, org: str, include: str | None, exclude: str | None, archived: bool, forks: bool
) -> list[repos.Repository]:
    """The organisation's repositories from the forge, selected by full name; archived ones and forks only if asked.

    Clone URLs come from the API: the forge knows where its repositories are served from.
    """
    from gofix_conc import forge

    found = []
    for listed in forge.org_repositories(kind, api_url, token, org):
        if (listed.archived and not archived) or (listed.fork and not forks):
            continue
        if include and not re.search(include, listed.full_name):
            continue
        if exclude and re.search(exclude, listed.full_name):
            continue
        found.append(repos.Repository(listed.clone_url, repos.slug_of(listed.clone_url), listed.full_name))
    return sorted(found, key=lambda r: r.name or r.source)


def open_bot_pulls(sources: list[repos.Repository], options: Options, secrets: dict[str, str]) -> set[str]:
    """Slugs of the repositories whose bot branch has an open pull request now, asked of each forge."""
    from gofix_conc import forge

    found = set()
    for repo in sources:
        try:
            target = forge.detect(_remote_url(repo.source), options.forge, options.api_url, repo.name)
            token = forge.token_from_env(target.kind, secrets)
            if not token:
                continue
            pulls = forge.connect(target, token).find_pulls(options.branch)
        except forge.ForgeError:
            continue  # the unit itself reports what is wrong with this forge
        if any(p.state is forge.State.OPEN for p in pulls):
            found.add(repo.slug)
    return found


def hold_openings(todo: list[UnitSpec], open_slugs: set[str], limit: int) -> list[UnitSpec]:
    """``todo`` with ``open_new`` off past the first ``limit - open`` units of repositories with no open bot PR.

    A unit allowed to open one that ends up opening none (nothing to fix) still used its place: the
    count stays at or under ``limit``, and the deferred units run on the next run.
    """
    places = max(0, limit - len(open_slugs))
    held = []
    for spec in todo:
        if spec.slug not in open_slugs:
            if places > 0:
                places -= 1
            else:
                spec = replace(spec, open_new=False)
        held.append(spec)
    return held
