"""One unit of a campaign: ``run_unit(spec) -> UnitResult``, the function every runner calls.

It is a plain function over plain data, so the local process pool and a Dask
worker run exactly the same thing. The work itself happens in a child Python
process (``python -m gofix_conc.batch.unit``, the spec on stdin, the result on
stdout, the log on stderr) started in its own session under the sandbox's
environment and limits: a unit can then be stopped at ``--unit-timeout`` with
every process it started (go, the compiler, git), an out-of-memory or a crash
of tree-sitter ends one unit and not the worker, and a worker that dies takes
its unit's processes with it. Inside the child the engine runs in-process, as
``scan`` and ``fix`` run it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from gofix_conc.batch import repos, sandbox
from gofix_conc.batch.model import (
    CRASH,
    DEFERRED,
    FETCH,
    MAX_FINDINGS,
    MAX_LOG,
    MEMORY,
    OK,
    PR,
    TIMEOUT,
    UnitResult,
    UnitSpec,
)

PRE_EXISTING_MARKS = ("fails without the fixes too", "fail to build already")


def run_unit(spec: UnitSpec, secrets: dict[str, str] | None = None) -> UnitResult:
    """Run one unit in a sandboxed child process; never raises for anything the unit does.

    ``secrets`` (pr mode: the forge token) reach the child on its stdin, never its
    environment, and go only to gofix_conc.pr, which hands them to the forge API and git push.
    """
    started = time.monotonic()
    host = socket.gethostname()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gofix_conc.batch.unit"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=sandbox.environment(goproxy=spec.goproxy),
            start_new_session=True,  # Ctrl-C at the terminal reaches the client, which decides
            preexec_fn=sandbox.limits(spec.cpu_limit, spec.memory_limit_mb),
        )
    except OSError as err:
        return UnitResult.failure(spec.key, CRASH, f"cannot start the unit: {err}", host=host)
    try:
        message_in = json.dumps({"spec": json.loads(spec.to_json()), "secrets": secrets or {}})
        out, err = proc.communicate(message_in.encode(), timeout=spec.unit_timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        log = _cap(err.decode(errors="replace"))
        elapsed = time.monotonic() - started
        message = f"timed out after {spec.unit_timeout:g}s (--unit-timeout)"
        return UnitResult.failure(spec.key, TIMEOUT, message, duration=elapsed, host=host, log=log)
    except BaseException:
        _kill_group(proc)  # an interrupted runner takes the unit's processes down with it
        raise
    elapsed = time.monotonic() - started
    log = _cap(err.decode(errors="replace"))
    if proc.returncode == 0 and out.strip():
        try:
            result = UnitResult.from_dict(json.loads(out))
        except (ValueError, TypeError) as bad:
            return UnitResult.failure(spec.key, CRASH, f"unreadable unit result: {bad}", duration=elapsed, log=log)
        return dataclasses.replace(result, duration=elapsed, host=host, log=_cap(log))
    kind, message = _why_it_died(proc.returncode, log, spec)
    return UnitResult.failure(spec.key, kind, message, duration=elapsed, host=host, log=log)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


# How running out of address space shows, depending on what was being allocated.
_OUT_OF_MEMORY = ("MemoryError", "out of memory", "can't start new thread", "failed to map segment", "Cannot allocate")


def _why_it_died(code: int, log: str, spec: UnitSpec) -> tuple[str, str]:
    if spec.memory_limit_mb and any(sign in log for sign in _OUT_OF_MEMORY):
        return MEMORY, f"out of memory (limit {spec.memory_limit_mb} MB per process)"
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and "SIGXCPU" in log):
        return TIMEOUT, f"CPU time limit reached ({spec.cpu_limit}s per process)"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " (out of memory or killed)" if code == -signal.SIGKILL else ""
        return CRASH, f"the unit's process was killed by {name}{hint}"
    last = [line for line in log.strip().splitlines() if line.strip()]
    return CRASH, last[-1] if last else f"the unit's process exited with status {code}"


def _cap(text: str) -> str:
    return text if len(text) <= MAX_LOG else "[... log truncated ...]\n" + text[-MAX_LOG:]


# -- the child process ------------------------------------------------------------


class _Log:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:7.2f}s] {message}", file=sys.stderr, flush=True)


def _watch_parent(parent: int) -> None:
    """Kill this unit's process group when its worker dies (it is reparented): no orphans keep building."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os.killpg(os.getpgrp(), signal.SIGKILL)


def main() -> None:
    result_fd = os.dup(1)
    os.dup2(2, 1)  # whatever prints, the result channel stays clean
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    received = json.loads(sys.stdin.read())
    spec = UnitSpec.from_json(json.dumps(received["spec"]))
    log = _Log()
    try:
        result = work(spec, log, received.get("secrets") or {})
    except MemoryError:
        result = UnitResult.failure(spec.key, MEMORY, f"out of memory (limit {spec.memory_limit_mb} MB per process)")
    except Exception as err:
        import traceback

        log(traceback.format_exc())
        result = UnitResult.failure(spec.key, CRASH, f"{type(err).__name__}: {err}")
    with os.fdopen(result_fd, "w") as out:
        json.dump(result.to_dict(), out)


def workspace_root(spec: UnitSpec) -> Path:
    if spec.workspace:
        return Path(spec.workspace)
    if os.environ.get("GOFIX_CONC_WORKSPACE"):
        return Path(os.environ["GOFIX_CONC_WORKSPACE"])
    return Path(tempfile.gettempdir()) / f"gofix-conc-workspace-{os.getuid()}"


def module_name(module: str) -> str:
    """A module directory as one file name: ``root`` for the repository root, ``a_b`` for ``a/b``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", module).strip("_.") or "root"


def prepare(spec: UnitSpec, log: _Log) -> Path:
    """A checkout of the unit's commit: shared by the scans of a repository, one per unit when fixing."""
    root = workspace_root(spec)
    if spec.mode == "scan":
        target = root / "checkouts" / f"{spec.slug}-{spec.commit[:12]}"
        if (target / ".git" / "gofix-conc-ready").is_file():
            log(f"reusing checkout {target}")
            return target
    else:
        target = root / "units" / spec.slug / f"{module_name(spec.module)}-{spec.key[:12]}"
        if spec.mode == "pr":
            shutil.rmtree(target, ignore_errors=True)  # gofix_conc.pr reconciles with the forge, not with this
        if (target / ".git" / "gofix-conc-ready").is_file():
            try:
                # an earlier attempt may have left a half-made branch: start again from the commit
                repos.git(["checkout", "-q", "-f", "--detach", spec.commit], target)
                repos.git(["clean", "-q", "-f", "-d", "-x"], target)
                with contextlib.suppress(subprocess.CalledProcessError):
                    repos.git(["branch", "-q", "-D", spec.branch], target)
                log(f"reusing workspace {target}")
                return target
            except subprocess.CalledProcessError as err:
                log(f"cannot reuse {target} ({err.stderr}); cloning again")
                shutil.rmtree(target, ignore_errors=True)
    mirror = spec.mirror if spec.mirror and (Path(spec.mirror) / "HEAD").is_file() else None
    origin = mirror or spec.source
    log(f"cloning {spec.commit[:12]} from {origin}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        repos.git(["init", "-q"], partial)
        try:
            repos.git(["fetch", "-q", "--depth", "1", origin, spec.commit], partial)
        except subprocess.CalledProcessError:
            # servers that refuse a commit id in want: the whole history, then the commit
            repos.git(["fetch", "-q", origin, "+refs/heads/*:refs/remotes/origin/*"], partial)
            repos.git(["fetch", "-q", origin, "HEAD"], partial)
        repos.git(["checkout", "-q", "--detach", spec.commit], partial)
        if spec.mode == "pr":
            # gofix_conc.pr builds from the remote base branch and pushes to origin; HEAD must be a branch
            repos.git(["checkout", "-q", "-b", "gofix-conc-campaign"], partial)
            if spec.remote_url:
                repos.git(["remote", "add", "origin", spec.remote_url], partial)
        if spec.mode != "scan" and not _has_identity(partial):
            repos.git(["config", "user.name", "gofix-conc"], partial)
            repos.git(["config", "user.email", "gofix-conc@localhost"], partial)
        (partial / ".git" / "gofix-conc-ready").write_text(spec.commit)
        try:
            partial.rename(target)
        except OSError:  # another unit of the same repository made it first
            if not (target / ".git" / "gofix-conc-ready").is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _has_identity(checkout: Path) -> bool:
    try:
        return bool(repos.git(["config", "user.email"], checkout).strip())
    except subprocess.CalledProcessError:  # not set anywhere
        return False


def _nested_modules(module_dir: Path) -> list[Path]:
    from gofix_conc.discovery import SKIPPED_DIRS

    nested = []
    for current, dirs, files in os.walk(module_dir):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith((".", "_"))]
        if "go.mod" in files and Path(current) != module_dir:
            nested.append(Path(current))
    return nested


def _config(spec: UnitSpec, checkout: Path, module_dir: Path):  # -> config.Config
    from gofix_conc import config

    if spec.config_text is not None:
        path = checkout.parent / f".{checkout.name}.gofix-conc.toml"
        path.write_text(spec.config_text, encoding="utf-8")
        try:
            return config.load(path)
        finally:
            path.unlink()
    for directory in [module_dir, *module_dir.parents]:
        if (directory / config.CONFIG_NAME).is_file():
            return config.load(directory / config.CONFIG_NAME)
        if directory == checkout:
            break
    return config.Config(path=checkout / config.CONFIG_NAME)  # exclude globs relative to the repository


def work(spec: UnitSpec, log: _Log, secrets: dict[str, str] | None = None) -> UnitResult:
    from gofix_conc import discovery, engine, registry

    try:
        checkout = prepare(spec, log)
    except subprocess.CalledProcessError as err:
        return UnitResult.failure(spec.key, FETCH, f"cannot clone {spec.commit[:12]}: {err.stderr or err}")
    except subprocess.TimeoutExpired as err:
        return UnitResult.failure(spec.key, FETCH, f"cannot clone {spec.commit[:12]}: timed out after {err.timeout}s")
    os.chdir(checkout)  # paths in messages are then relative to the repository
    module_dir = (checkout / spec.module).resolve()
    in_work = repos.go_work_uses(checkout, module_dir)
    if not in_work:
        os.environ["GOWORK"] = "off"  # no go.work above the workspace, nor one this module is not part of
    cfg = _config(spec, checkout, module_dir)
    rules = registry.selected(spec.select or cfg.select, [*cfg.ignore, *spec.ignore])
    settings = engine.Settings(rules=tuple(r.id for r in rules), options=cfg.rules, go_version=cfg.go_version)
    nested = _nested_modules(module_dir) if spec.mode != "pr" else []  # one pull request covers every module
    files = [
        f
        for f in discovery.go_files([module_dir], cfg.exclude, cfg.root)
        if not any(f.resolve().is_relative_to(n) for n in nested)
    ]
    log(f"module {spec.module}: {len(files)} Go files, {len(rules)} rules, {len(nested)} nested modules left out")
    scanned = list(engine.run(files, settings, jobs=1))
    findings = [f for r in scanned for f in r.findings]
    problems = _problems(scanned, checkout)
    for line in problems:
        log(f"problem: {line}")
    log(f"scan: {len(findings)} findings")
    result = UnitResult(
        spec.key,
        OK,
        files=len(files),
        problems=tuple(problems),
        findings_by_rule=dict(Counter(f.rule for f in findings)),
        findings=tuple(_finding(f, checkout) for f in findings[:MAX_FINDINGS]),
        truncated=len(findings) > MAX_FINDINGS,
        workspace=str(checkout),
        go_workspace=bool(in_work),
    )
    if spec.mode == "scan":
        return result
    if spec.mode == "pr":
        return _pull_request(spec, settings, cfg, checkout, result, log, secrets or {})
    return _fix(spec, settings, files, checkout, result, log)


def _pull_request(spec: UnitSpec, settings, cfg, checkout: Path, result: UnitResult, log: _Log, secrets) -> UnitResult:
    """``gofix-conc pr`` on the unit's repository: one pull request per repository, reconciled with the forge."""
    from gofix_conc import pr, verify
    from gofix_conc.forge import ForgeError

    request = pr.Request(
        paths=(checkout,),
        settings=dataclasses.replace(settings, unsafe_fixes=spec.unsafe_fixes),
        branch=spec.branch,
        verify=None if spec.verify == "none" else verify.Mode(spec.verify),
        forge=spec.forge,
        api_url=spec.api_url,
        repo=spec.repo,
        exclude=cfg.exclude,
        jobs=1,
        open_new=spec.open_new,
    )
    try:
        outcome = pr.run(request, checkout, environ=dict(secrets))
    except (pr.PrError, ForgeError) as err:
        return UnitResult.failure(spec.key, PR, str(err))
    log(f"pull request: {outcome.action} {outcome.url or ''}".rstrip())
    evidence = outcome.evidence
    rolled_back = tuple(
        {"rule": rb.rule, "path": rb.path, "line": rb.line, "check": rb.check}
        for rb in (evidence.rolled_back if evidence else [])
    )
    notes = tuple(evidence.notices) if evidence else ()
    if evidence is None or evidence.mode is None:
        verification = "skipped"
    elif any(mark in n for n in notes for mark in PRE_EXISTING_MARKS):
        verification = "pre-existing"
    else:
        verification = "rolled-back" if rolled_back else "passed"
    deferred = outcome.action == "deferred"
    return dataclasses.replace(
        result,
        status=DEFERRED if deferred else result.status,
        error=outcome.message if deferred else result.error,
        fixes_by_rule=dict(Counter(f.rule for f in outcome.fixes)),
        rolled_back=rolled_back,
        verification=verification,
        verification_notes=notes[:50],
        branch=outcome.branch,
        commits=tuple(c.sha for c in outcome.commits),
        pr_url=outcome.url,
        pr_action=outcome.action,
    )


def _fix(spec: UnitSpec, settings, files: list[Path], checkout: Path, result: UnitResult, log: _Log) -> UnitResult:
    from gofix_conc import engine, gitops, verify

    settings = dataclasses.replace(settings, fix=True, unsafe_fixes=spec.unsafe_fixes)
    fixed = list(engine.run(files, settings, jobs=1))
    changed = [r for r in fixed if r.status is engine.Status.CHANGED]
    rolled_back: list[dict] = []
    notes: list[str] = []
    if spec.verify == "none":
        verification = "skipped"
    elif not changed:
        verification = "not-run"  # nothing to verify
    else:
        mode = verify.Mode.RACE if spec.verify == "race" else verify.Mode.BUILD
        log(f"verifying {len(changed)} changed files ({mode.value})")
        try:
            report = verify.verify(fixed, settings, verify.Options(mode, jobs=1, goproxy=spec.goproxy))
        except verify.VerifyError as err:
            return UnitResult.failure(spec.key, CRASH, str(err), log="")
        notes = verify.describe(report, summary=False)
        for line in notes:
            log(f"verify: {line}")
        rolled_back = [
            {"rule": rb.rule, "path": _rel(rb.path, checkout), "line": rb.line, "check": rb.check}
            for rb in report.rolled_back
        ]
        if any(mark in n.message for n in report.notices for mark in PRE_EXISTING_MARKS):
            verification = "pre-existing"  # the module did not build (or vet) before the fixes either
        elif rolled_back:
            verification = "rolled-back"
        else:
            verification = "passed"
        settings = dataclasses.replace(settings, skip=report.skip)
    plan = gitops.plan_by_file(files, settings, jobs=1)
    commits: list[str] = []
    branch = spec.branch if plan.steps else None
    if plan.steps:
        repo = gitops.open_repository(checkout)
        assert repo is not None
        gitops.preflight(repo, plan.changed_paths, branch)
        for done in gitops.commit_plan(repo, plan, branch):
            if done.sha:
                commits.append(done.sha)
                log(f"committed {done.sha[:12]} {gitops.subject_of(done.message)}")
    fixes = Counter(f.rule for step in plan.steps for change in step.changes for f in change.fixed)
    return dataclasses.replace(
        result,
        fixes_by_rule=dict(fixes),
        remaining_by_rule=dict(Counter(f.rule for f in plan.remaining)),
        rolled_back=tuple(rolled_back),
        verification=verification,
        verification_notes=tuple(notes[:50]),
        branch=branch,
        commits=tuple(commits),
    )


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _finding(finding, root: Path) -> dict:
    fix = finding.fix
    return {
        "rule": finding.rule,
        "path": _rel(finding.path, root),
        "line": finding.line,
        "column": finding.column,
        "message": finding.message,
        "fix": fix.safety.value if fix is not None else None,
    }


def _problems(results, root: Path) -> list[str]:
    problems = []
    for r in results:
        for text in [r.error] if r.error else []:
            problems.append(f"{_rel(r.path, root)}: {text.strip().splitlines()[0]}")
        problems += [f"{_rel(r.path, root)}: warning: {w}" for w in r.warnings]
    return problems


if __name__ == "__main__":
    main()
