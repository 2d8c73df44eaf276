"""A campaign's unit of work and its outcome: plain data that pickles and round-trips through JSON.

A unit is one Go module of one repository at one commit. :class:`UnitSpec`
says everything a worker needs to run it, wherever that worker is;
:class:`UnitResult` is what comes back: small (counts per rule, a capped list
of findings, a capped log), never the files themselves.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

MODES = ("scan", "fix", "pr")
VERIFY_MODES = ("build", "race", "none")

# Unit statuses in the campaign database.
PENDING = "pending"  # planned, not submitted yet
RUNNING = "running"  # submitted to a runner
OK = "ok"  # ran to the end (findings and file problems are results, not failures)
FAILED = "failed"  # the unit itself could not run: see error_kind
INTERRUPTED = "interrupted"  # stopped by Ctrl-C or a dead client; runs again next time
DEFERRED = "deferred"  # pr mode: would open a pull request past --max-open-prs; runs again next time
DONE = (OK, FAILED)

# Why a unit failed: the report groups failures by these.
TIMEOUT = "timeout"
MEMORY = "out-of-memory"
CRASH = "crash"  # an exception, or the unit's process died
FETCH = "fetch"  # the repository could not be cloned or fetched
WORKER_DIED = "worker-died"  # the runner lost the worker too many times
UNAVAILABLE = "unavailable"  # a mode this installation cannot run
PR = "pr"  # the pull request could not be made (forge or push refused, bad remote)

MAX_FINDINGS = 500  # per unit, in the result; counts are always complete
MAX_LOG = 64 * 1024


@dataclass(frozen=True)
class UnitSpec:
    key: str  # identity for resume: source, commit, module, mode, options and tool version
    source: str  # URL or absolute path the worker clones from when it cannot see ``mirror``
    slug: str  # short, unique, filesystem-safe name of the repository
    commit: str
    module: str  # directory of the go.mod, relative to the repository root ("." for the root)
    mode: str = "scan"
    mirror: str | None = None  # the client's bare mirror clone, used when the worker shares the disk
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    config_text: str | None = None  # --config content; None: the repository's own .gofix-conc.toml
    unsafe_fixes: bool = False
    verify: str = "build"
    branch: str = "gofix/concurrency"
    goproxy: str | None = None
    unit_timeout: float | None = None  # wall-clock seconds for the whole unit
    cpu_limit: int | None = 900  # CPU seconds for each process of the unit (RLIMIT_CPU)
    memory_limit_mb: int | None = 4096  # address space of each process of the unit (RLIMIT_AS)
    workspace: str | None = None  # where the worker clones; None: its own temporary directory
    remote_url: str | None = None  # pr mode: where the pull request goes (the source, or a local clone's origin)
    forge: str | None = None  # pr mode: github, gitlab or gitea (default: from the remote URL)
    api_url: str | None = None  # pr mode: the forge's API root (default: from the remote URL)
    repo: str | None = None  # pr mode: owner/name on the forge (default: from the remote URL); --org sets it
    open_new: bool = True  # pr mode: False when the campaign has --max-open-prs open already

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> UnitSpec:
        data = json.loads(text)
        for name in ("select", "ignore"):
            data[name] = tuple(data.get(name) or ())
        return cls(**data)


@dataclass(frozen=True)
class UnitResult:
    key: str
    status: str  # OK, FAILED or DEFERRED
    error_kind: str | None = None
    error: str | None = None
    files: int = 0  # Go files analysed
    problems: tuple[str, ...] = ()  # files not analysed (syntax errors, ...) and rule crashes
    findings_by_rule: dict[str, int] = field(default_factory=dict)  # as scanned, before any fix
    fixes_by_rule: dict[str, int] = field(default_factory=dict)  # fixes kept and committed
    remaining_by_rule: dict[str, int] = field(default_factory=dict)  # left after fixing (fix mode)
    rolled_back: tuple[dict[str, Any], ...] = ()  # {rule, path, line, check}
    verification: str | None = None  # passed, rolled-back, pre-existing, not-run, skipped
    verification_notes: tuple[str, ...] = ()
    findings: tuple[dict[str, Any], ...] = ()  # {rule, path, line, column, message, fix}; capped
    truncated: bool = False
    branch: str | None = None
    commits: tuple[str, ...] = ()
    workspace: str | None = None  # the clone holding the branch (on the worker's machine)
    go_workspace: bool = False  # verified in go.work mode
    pr_url: str | None = None
    pr_action: str | None = None  # created, updated, unchanged, closed, declined, handed-off (gofix-conc pr)
    duration: float = 0.0
    host: str = ""
    log: str = ""

    @property
    def findings_total(self) -> int:
        return sum(self.findings_by_rule.values())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnitResult:
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        for name in ("problems", "rolled_back", "verification_notes", "findings", "commits"):
            data[name] = tuple(data.get(name) or ())
        return cls(**data)

    @classmethod
    def failure(cls, key: str, kind: str, error: str, **extra: Any) -> UnitResult:
        return cls(key, FAILED, kind, error, **extra)
