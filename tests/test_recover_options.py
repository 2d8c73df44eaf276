"""goroutine-without-recover: its options, inline before/after strings, and its interplay with
unbounded-goroutines on the same go statements."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent
from typing import Any

import gotool
import pytest
from conftest import FIXTURES

from gofix_conc.engine import FileResult, Settings, Status, process, process_data

RULE = "goroutine-without-recover"


def _go(text: str) -> str:
    """Dedented Go text, its four-space indents turned into gofmt's tabs."""
    lines = dedent(text).lstrip().splitlines(keepends=True)
    return "".join("\t" * ((len(ln) - len(ln.lstrip(" "))) // 4) + ln.lstrip(" ") for ln in lines)


def _run(
    tmp_path: Path,
    before: str,
    options: dict[str, Any] | None = None,
    name: str = "svc.go",
    fix: bool = True,
    unsafe: bool = False,
) -> FileResult:
    (tmp_path / "go.mod").write_text("module example.com/svc\n\ngo 1.24\n")
    settings = Settings(rules=(RULE,), options={RULE: options or {}}, fix=fix, unsafe_fixes=unsafe)
    return process_data(tmp_path / name, _go(before).encode(), settings)


def _fixed(
    tmp_path: Path, before: str, options: dict[str, Any] | None = None, name: str = "svc.go", unsafe: bool = False
) -> str:
    result = _run(tmp_path, before, options, name, unsafe=unsafe)
    assert result.error is None, result.error
    assert result.status is Status.CHANGED, result
    assert result.new is not None
    return result.new.decode()


def _lines_found(tmp_path: Path, before: str, options: dict[str, Any] | None = None, name: str = "svc.go") -> list[int]:
    result = _run(tmp_path, before, options, name, fix=False)
    assert result.error is None, result.error
    return [f.line for f in result.findings]


def test_custom_handler_and_its_import(tmp_path: Path) -> None:
    options = {
        "handler": "panics.Report(r)",
        "handler-imports": ["example.com/svc/internal/panics"],
    }
    before = """
        package svc

        import "context"

        func Start(ctx context.Context, jobs []int) {
            go func() {
                for j := range jobs {
                    _ = j
                }
            }()
        }
        """
    after = """
        package svc

        import (
            "context"

            "example.com/svc/internal/panics"
        )

        func Start(ctx context.Context, jobs []int) {
            go func() {
                defer func() {
                    if r := recover(); r != nil {
                        panics.Report(r)
                    }
                }()
                for j := range jobs {
                    _ = j
                }
            }()
        }
        """
    assert _fixed(tmp_path, before, options) == _go(after)


def test_multi_line_handler_with_a_taken_package_name(tmp_path: Path) -> None:
    options = {
        "handler": """
            err := fmt.Errorf("goroutine panicked: %v", r)
            errors.Report(err)
        """,
        "handler-imports": ["fmt", "example.com/svc/errors"],
    }
    before = """
        package svc

        func Poll(errors []string) {
            err := len(errors)
            go func() { _ = err }()
        }
        """
    after = """
        package svc

        import (
            "fmt"

            errorspkg "example.com/svc/errors"
        )

        func Poll(errors []string) {
            err := len(errors)
            go func() {
                defer func() {
                    if r := recover(); r != nil {
                        err := fmt.Errorf("goroutine panicked: %v", r)
                        errorspkg.Report(err)
                    }
                }()
                _ = err
            }()
        }
        """
    assert _fixed(tmp_path, before, options) == _go(after)


HELPERS = """
    package svc

    import (
        sf "example.com/lib/safe"
        "example.com/lib/panics"
    )

    func Run(work func()) {
        go func() {
            defer sf.Recover()
            work()
        }()
        go func() {
            defer panics.Guard("run")
            work()
        }()
        go func() {
            defer recoverLocal()
            work()
        }()
    }
    """


@pytest.mark.parametrize(
    ("helpers", "flagged"),
    [
        ([], [9, 13, 17]),
        (["safe.Recover", "panics.Guard"], [17]),  # by the package's default name, whatever the alias
        (["example.com/lib/safe.Recover", "recoverLocal"], [13]),  # by import path; a helper in another file
    ],
)
def test_configured_helpers_count_as_recover(tmp_path: Path, helpers: list[str], flagged: list[int]) -> None:
    assert _lines_found(tmp_path, HELPERS, {"helpers": helpers}) == flagged


IN_TEST = """
    package svc

    import (
        "fmt"
        "testing"
    )

    func TestBackground(t *testing.T) {
        done := make(chan struct{})
        go func() {
            defer close(done)
            fmt.Println("working")
        }()
        <-done
    }
    """


def test_test_files_are_skipped_unless_included(tmp_path: Path) -> None:
    assert _lines_found(tmp_path, IN_TEST, name="svc_test.go") == []
    assert _lines_found(tmp_path, IN_TEST, {"include-tests": True}, name="svc_test.go") == [10]
    assert "recover()" in _fixed(tmp_path, IN_TEST, {"include-tests": True}, name="svc_test.go")


def test_a_logger_parameter_is_the_handler(tmp_path: Path) -> None:
    before = """
        package svc

        import "log"

        func Serve(log *log.Logger, ticks []int) {
            go func() {
                for range ticks {
                    log.Print("tick")
                }
            }()
        }
        """
    fixed = _fixed(tmp_path, before)
    assert 'log.Printf("goroutine in Serve: panic: %v\\n%s", r, debug.Stack())' in fixed
    assert '\t"runtime/debug"\n' in fixed and "stdlog" not in fixed


def test_no_fix_when_a_local_hides_the_imported_log(tmp_path: Path) -> None:
    before = """
        package main

        import "log"

        func Serve(ticks []int) {
            log := 1
            go func() {
                for range ticks {
                    _ = log
                }
            }()
        }
        """
    result = _run(tmp_path, before, fix=False)
    assert [(f.line, f.fix) for f in result.findings] == [(7, None)]


def test_a_handler_that_is_not_go_is_reported(tmp_path: Path) -> None:
    result = _run(tmp_path, "package svc\n\nfunc f() {\n\tgo f()\n}\n", {"handler": "log.Printf(r"}, fix=False)
    assert result.error is not None and "handler is not Go statements" in result.error


def test_with_unbounded_goroutines_the_fixes_converge_and_vet(tmp_path: Path, go_cache: Path) -> None:
    case = FIXTURES / RULE / "workers.go"
    settings = Settings(rules=("unbounded-goroutines", RULE), fix=True, unsafe_fixes=True)
    result = process_data(tmp_path / case.name, case.read_bytes(), settings)
    assert result.error is None and not result.warnings, (result.error, result.warnings)
    assert result.new is not None
    # A fix that only appeared once the other rule rewrote a goroutine is held back for the next run.
    assert len(result.findings) == len(result.appeared)
    while result.appeared:
        result = process_data(tmp_path / case.name, result.new, settings)
        assert result.new is not None and result.findings == ()
    again = process_data(tmp_path / case.name, result.new, settings)
    assert again.status is Status.UNCHANGED
    assert gotool.gofmt_diff(result.new) == ""
    (tmp_path / "go.mod").write_text("module example.com/svc\n\ngo 1.24\n")
    (tmp_path / case.name).write_bytes(result.new)
    vet = gotool.run([gotool.go(), "vet", "."], tmp_path, go_cache)
    assert vet.returncode == 0, vet.stdout + vet.stderr
    # Both wrappers sit in the goroutine that the loop starts.
    text = result.new.decode()
    assert "defer func() { <-sem }()" in text and text.count("recover()") == 11


def test_imports_avoid_package_level_names_of_other_files(tmp_path: Path) -> None:
    # net/rpc has exactly this: debug.go declares a package-level debug.
    (tmp_path / "debug.go").write_text('package svc\n\nvar debug = "/debug/rpc"\n')
    (tmp_path / "other_test.go").write_text("package svc_test\n\nvar log = 1\n")  # another package
    before = """
        package svc

        func Serve(conns chan int) {
            go func() {
                for range conns {
                }
            }()
        }
        """
    fixed = _fixed(tmp_path, before, unsafe=True)  # a library with no logger: unsafe
    assert '\tstddebug "runtime/debug"\n' in fixed and '\t"log"\n' in fixed
    assert 'log.Printf("goroutine in Serve: panic: %v\\n%s", r, stddebug.Stack())' in fixed


def test_import_c_keeps_its_cgo_preamble(tmp_path: Path) -> None:
    before = """
        package svc

        // #include <stdlib.h>
        import "C"

        func Spin() {
            go C.rand()
        }
        """
    fixed = _fixed(tmp_path, before, unsafe=True)
    head = 'package svc\n\n// #include <stdlib.h>\nimport "C"\n\nimport (\n\t"log"\n\t"runtime/debug"\n)\n'
    assert fixed.startswith(head)


# -- the package's other files ---------------------------------------------------

SIBLING_HELPERS = """
    package svc

    import (
        "log"
        "runtime/debug"
    )

    // recoverAndLog is deferred directly by goroutines of other files.
    func recoverAndLog() {
        if r := recover(); r != nil {
            log.Printf("panic: %v\\n%s", r, debug.Stack())
        }
    }

    // protectedLoop recovers on its own.
    func protectedLoop(jobs []func()) {
        defer recoverAndLog()
        for _, j := range jobs {
            j()
        }
    }

    // rethrow cleans up and lets the panic go on: a crash on purpose.
    func rethrow(work func()) {
        defer func() {
            if r := recover(); r != nil {
                log.Print("cleaning up")
                panic(r)
            }
        }()
        work()
    }

    // finish hands the result over outside a defer.
    func finish(done chan struct{}) {
        log.Print("finished")
        close(done)
    }
    """


def test_helpers_and_functions_of_other_files_are_looked_into(tmp_path: Path) -> None:
    (tmp_path / "helpers.go").write_text(_go(SIBLING_HELPERS))
    (tmp_path / "other.go").write_text("package other\n\nfunc recoverAndLog() {}\n")  # another package
    before = """
        package svc

        func Start(jobs []func(), done chan struct{}) {
            go func() {
                defer recoverAndLog()
                jobs[0]()
            }()
            go protectedLoop(jobs)
            go func() {
                rethrow(jobs[0])
            }()
            go func() {
                jobs[0]()
            }()
            go func() {
                jobs[0]()
                finish(done)
            }()
        }
        """
    result = _run(tmp_path, before, fix=False)
    assert result.error is None, result.error
    assert [f.line for f in result.findings] == [12, 15]
    last = result.findings[1].fix
    assert last is not None and last.safety.value == "unsafe"
    assert "the goroutine calls finish, which calls `close(done)` outside a defer" in last.message
    assert result.findings[0].fix is not None and result.findings[0].fix.safety.value == "safe"  # log used


def test_a_logger_field_declared_in_another_file(tmp_path: Path) -> None:
    (tmp_path / "types.go").write_text(
        _go("""
            package svc

            import "log/slog"

            type Worker struct {
                logger *slog.Logger
            }
            """)
    )
    before = """
        package svc

        func (w *Worker) Start(jobs []func()) {
            go func() {
                for _, j := range jobs {
                    j()
                }
            }()
        }
        """
    fixed = _fixed(tmp_path, before)
    assert 'w.logger.Error("goroutine in Start: panic", "panic", r, "stack", string(debug.Stack()))' in fixed
    assert '"log"' not in fixed and '"log/slog"' not in fixed  # the field's package is not named here


def test_a_known_crash_handler_is_not_wrapped_again(tmp_path: Path) -> None:
    before = """
        package svc

        import utilruntime "k8s.io/apimachinery/pkg/util/runtime"

        func Start(work func()) {
            go func() {
                defer utilruntime.HandleCrash()
                work()
            }()
        }
        """
    assert _lines_found(tmp_path, before) == []


def test_a_library_without_a_logger_gets_an_unsafe_fix_that_says_why(tmp_path: Path) -> None:
    before = """
        package svc

        func Start(work func()) {
            go func() {
                work()
            }()
        }
        """
    result = _run(tmp_path, before, fix=False)
    [finding] = result.findings
    assert finding.fix is not None and finding.fix.safety.value == "unsafe"
    assert "this library has no logger" in finding.fix.message
    configured = _run(tmp_path, before, {"handler": "log.Print(r)"}, fix=False)
    assert configured.findings[0].fix is not None and configured.findings[0].fix.safety.value == "safe"
    fixed = _fixed(tmp_path, before, {"handler": "log.Print(r)"})
    assert 'import "log"\n' in fixed and "debug" not in fixed  # only what the handler names


def test_no_fix_where_the_handler_import_is_the_package_itself(tmp_path: Path) -> None:
    options = {"handler": "panics.Report(r)", "handler-imports": ["example.com/svc/panics"]}
    (tmp_path / "panics").mkdir()
    result = _run(
        tmp_path,
        "package panics\n\nfunc Start(f func(int)) {\n    go func() {\n        f(1)\n    }()\n}\n",
        options,
        name="panics/panics.go",
        fix=False,
    )
    assert result.error is None, result.error
    [finding] = result.findings
    assert finding.fix is None
    assert "no fix: importing example.com/svc/panics here would create an import cycle" in finding.message


def test_no_fix_in_the_standard_library_below_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gofix_conc import loggers

    monkeypatch.setattr(loggers.shutil, "which", lambda name: None)  # the fallback, without go
    loggers._dependencies.cache_clear()
    src = tmp_path / "src"
    (src / "time").mkdir(parents=True)
    (src / "net").mkdir()
    (src / "go.mod").write_text("module std\n\ngo 1.27\n")
    before = _go(
        """
        package time

        func goFunc(f func(any, uintptr), arg any) {
            go func() {
                f(arg, 0)
            }()
        }
        """
    )
    settings = Settings(rules=(RULE,), fix=False)
    found = process_data(src / "time" / "sleep.go", before.encode(), settings)
    [finding] = found.findings
    assert finding.fix is None
    assert finding.message.endswith("(no fix: importing log here would create an import cycle)")
    elsewhere = process_data(src / "net" / "dial.go", before.replace("package time", "package net").encode(), settings)
    assert elsewhere.findings[0].fix is not None  # net may import log (deps_test aside)


_FIX_WANTS = re.compile(r'//\s*want\s+"[^"]*"\s+fix:\s+((?:"(?:[^"\\]|\\.)*"\s*)+)')


@pytest.mark.parametrize("name", ["message_shapes.go"])
def test_unsafe_fix_messages_name_what_a_recovered_panic_skips(name: str) -> None:
    """``// want "..." fix: "regexp" ...``: the fix's message matches every regexp."""
    case = FIXTURES / RULE / name
    wants = {
        number: [m.encode().decode("unicode_escape") for m in re.findall(r'"((?:[^"\\]|\\.)*)"', found[1])]
        for number, line in enumerate(case.read_text().splitlines(), 1)
        if (found := _FIX_WANTS.search(line))
    }
    result = process(case, Settings(rules=(RULE,)))
    fixes = {f.line: f.fix for f in result.findings}
    assert sorted(fixes) == sorted(wants)
    for line, patterns in wants.items():
        fix = fixes[line]
        assert fix is not None and fix.safety.value == "unsafe", (line, fix)
        for pattern in patterns:
            assert re.search(pattern, fix.message), f"line {line}: {pattern!r} not in {fix.message!r}"
