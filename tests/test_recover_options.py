"""goroutine-without-recover: its options, inline before/after strings, and its interplay with
unbounded-goroutines on the same go statements."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import Any

import gotool
import pytest
from conftest import FIXTURES

from gofix_conc.engine import FileResult, Settings, Status, process_data

RULE = "goroutine-without-recover"


def _go(text: str) -> str:
    """Dedented Go text, its four-space indents turned into gofmt's tabs."""
    lines = dedent(text).lstrip().splitlines(keepends=True)
    return "".join("\t" * ((len(ln) - len(ln.lstrip(" "))) // 4) + ln.lstrip(" ") for ln in lines)


def _run(
    tmp_path: Path, before: str, options: dict[str, Any] | None = None, name: str = "svc.go", fix: bool = True
) -> FileResult:
    (tmp_path / "go.mod").write_text("module example.com/svc\n\ngo 1.24\n")
    settings = Settings(rules=(RULE,), options={RULE: options or {}}, fix=fix)
    return process_data(tmp_path / name, _go(before).encode(), settings)


def _fixed(tmp_path: Path, before: str, options: dict[str, Any] | None = None, name: str = "svc.go") -> str:
    result = _run(tmp_path, before, options, name)
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

        func Start(ctx context.Context, jobs <-chan int) {
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

        func Start(ctx context.Context, jobs <-chan int) {
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

    import "testing"

    func TestBackground(t *testing.T) {
        done := make(chan struct{})
        go func() {
            defer close(done)
        }()
        <-done
    }
    """


def test_test_files_are_skipped_unless_included(tmp_path: Path) -> None:
    assert _lines_found(tmp_path, IN_TEST, name="svc_test.go") == []
    assert _lines_found(tmp_path, IN_TEST, {"include-tests": True}, name="svc_test.go") == [7]
    assert "recover()" in _fixed(tmp_path, IN_TEST, {"include-tests": True}, name="svc_test.go")


def test_no_fix_when_a_local_hides_the_imported_log(tmp_path: Path) -> None:
    before = """
        package svc

        import "log"

        func Serve(log *log.Logger, ch chan int) {
            go func() {
                for range ch {
                    log.Print("tick")
                }
            }()
        }
        """
    result = _run(tmp_path, before, fix=False)
    assert [(f.line, f.fix) for f in result.findings] == [(6, None)]


def test_a_handler_that_is_not_go_is_reported(tmp_path: Path) -> None:
    result = _run(tmp_path, "package svc\n\nfunc f() {\n\tgo f()\n}\n", {"handler": "log.Printf(r"}, fix=False)
    assert result.error is not None and "handler is not Go statements" in result.error


def test_with_unbounded_goroutines_the_fixes_converge_and_vet(tmp_path: Path, go_cache: Path) -> None:
    case = FIXTURES / RULE / "workers.go"
    settings = Settings(rules=("unbounded-goroutines", RULE), fix=True, unsafe_fixes=True)
    result = process_data(tmp_path / case.name, case.read_bytes(), settings)
    assert result.error is None and not result.warnings, (result.error, result.warnings)
    assert result.findings == ()
    assert result.new is not None
    again = process_data(tmp_path / case.name, result.new, settings)
    assert again.status is Status.UNCHANGED
    assert gotool.gofmt_diff(result.new) == ""
    (tmp_path / "go.mod").write_text("module example.com/svc\n\ngo 1.24\n")
    (tmp_path / case.name).write_bytes(result.new)
    vet = gotool.run([gotool.go(), "vet", "."], tmp_path, go_cache)
    assert vet.returncode == 0, vet.stdout + vet.stderr
    # Both wrappers sit in the goroutine that the loop starts.
    text = result.new.decode()
    assert "defer func() { <-sem }()" in text and text.count("recover()") == 12


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
    fixed = _fixed(tmp_path, before)
    assert '\tstddebug "runtime/debug"\n' in fixed and '\t"log"\n' in fixed
    assert 'log.Printf("panic in goroutine: %v\\n%s", r, stddebug.Stack())' in fixed


def test_import_c_keeps_its_cgo_preamble(tmp_path: Path) -> None:
    before = """
        package svc

        // #include <stdlib.h>
        import "C"

        func Spin() {
            go C.rand()
        }
        """
    fixed = _fixed(tmp_path, before)
    head = 'package svc\n\n// #include <stdlib.h>\nimport "C"\n\nimport (\n\t"log"\n\t"runtime/debug"\n)\n'
    assert fixed.startswith(head)
