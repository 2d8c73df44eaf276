"""non-atomic-counter on package-level counters: one fix part per file, every file deciding alike.

The fixtures (fixtures/non-atomic-counter/requests/ and its neighbours) show
the outputs; these tests check what a fixture cannot: that the parts agree,
that a file whose part was applied asks for nothing more, other builds and
test files, old Go versions and the refusals.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gofix_conc import index
from gofix_conc.engine import Settings, Status, process, process_data, run
from gofix_conc.model import Finding

RULE = "non-atomic-counter"

SERVE = """package p

import "sync"

// Serve handles n requests, each in its own goroutine.
func Serve(n int, handle func(int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			handle(i)
			requests++
		}()
	}
	wg.Wait()
}
"""

REPORT = """package p

import "log"

// Report logs the count and starts again.
func Report() {
	log.Print(requests)
}

// Reset starts counting again.
func Reset() {
	requests = 0
}
"""


@pytest.fixture(autouse=True)
def _fresh() -> None:
    index.forget()


def _package(tmp_path: Path, files: dict[str, str], go: str = "1.24") -> list[Path]:
    (tmp_path / "go.mod").write_text(f"module example.com/p\n\ngo {go}\n")
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        paths.append(path)
    index.forget()
    return sorted(paths)


def _findings(path: Path) -> list[Finding]:
    result = process(path, Settings(rules=(RULE,)))
    assert result.error is None, result.error
    return list(result.findings)


def _fixed(path: Path) -> bytes | None:
    result = process(path, Settings(rules=(RULE,), fix=True, unsafe_fixes=True))
    assert result.error is None, result.error
    return result.new if result.status is Status.CHANGED else None


def test_every_file_gets_its_part_of_one_group(tmp_path: Path) -> None:
    paths = _package(
        tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve.go": SERVE, "report.go": REPORT}
    )
    fixes = {p.name: [f.fix for f in _findings(p)] for p in paths}
    parts = [fix for found in fixes.values() for fix in found]
    assert all(fix is not None for fix in parts)
    assert {fix.group for fix in parts} == {"non-atomic-counter:requests"}  # type: ignore[union-attr]
    assert {fix.files for fix in parts} == {3}  # type: ignore[union-attr]
    assert len({fix.message for fix in parts}) == 1  # type: ignore[union-attr]
    assert [len(found) for found in fixes.values()] == [1, 1, 1]
    assert b"var requests atomic.Int64" in (_fixed(tmp_path / "counter.go") or b"")
    report = _fixed(tmp_path / "report.go") or b""
    assert b"log.Print(requests.Load())" in report and b"requests.Store(0)" in report
    assert b"sync/atomic" not in report  # only the declaration's file names the package


def test_a_file_whose_part_is_applied_asks_for_nothing_more(tmp_path: Path) -> None:
    """The engine re-runs the rules on a fixed file, its siblings as they are on disk."""
    _package(tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve.go": SERVE, "report.go": REPORT})
    for name in ("counter.go", "serve.go", "report.go"):
        path = tmp_path / name
        fixed = _fixed(path)
        assert fixed is not None
        again = process_data(path, fixed, Settings(rules=(RULE,)))
        assert again.findings == (), (name, again.findings)


def test_the_fixed_package_is_left_alone(tmp_path: Path) -> None:
    paths = _package(
        tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve.go": SERVE, "report.go": REPORT}
    )
    fixed = {p: _fixed(p) for p in paths}
    for path, data in fixed.items():
        assert data is not None
        path.write_bytes(data)
    index.forget()
    assert all(_fixed(p) is None for p in paths)
    assert all(_findings(p) == [] for p in paths)


def test_run_applies_the_group_to_every_file(tmp_path: Path) -> None:
    paths = _package(
        tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve.go": SERVE, "report.go": REPORT}
    )
    results = list(run(paths, Settings(rules=(RULE,), fix=True), jobs=1))
    assert sorted(r.path.name for r in results if r.status is Status.CHANGED) == ["counter.go", "report.go", "serve.go"]


def test_files_of_other_builds_and_tests_take_part(tmp_path: Path) -> None:
    windows = "//go:build windows\n\npackage p\n\nfunc windowsOnly() int { return requests }\n"
    test = (
        'package p\n\nimport "testing"\n\n'
        "func TestCount(t *testing.T) {\n\tif requests != 0 {\n\t\tt.Fatal(requests)\n\t}\n}\n"
    )
    external = 'package p_test\n\nimport "testing"\n\nfunc TestOther(t *testing.T) { requests := 1; _ = requests }\n'
    paths = _package(
        tmp_path,
        {
            "counter.go": "package p\n\nvar requests int\n",
            "serve.go": SERVE,
            "count_windows.go": windows,
            "count_test.go": test,
            "x_test.go": external,
        },
    )
    parts = {p.name: {f.fix for f in _findings(p)} for p in paths}
    assert {name for name, fixes in parts.items() if fixes} == {
        "counter.go",
        "serve.go",
        "count_windows.go",
        "count_test.go",
    }
    assert {fix.files for fixes in parts.values() for fix in fixes} == {4}  # type: ignore[union-attr]
    assert b"return int(requests.Load())" in (_fixed(tmp_path / "count_windows.go") or b"")
    assert b"if requests.Load() != 0 {" in (_fixed(tmp_path / "count_test.go") or b"")


def test_go_1_18_spells_the_functions(tmp_path: Path) -> None:
    _package(
        tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve.go": SERVE, "report.go": REPORT}, "1.18"
    )
    assert b"var requests int64" in (_fixed(tmp_path / "counter.go") or b"")
    serve = _fixed(tmp_path / "serve.go") or b""
    assert b"atomic.AddInt64(&requests, 1)" in serve and b'"sync/atomic"' in serve
    report = _fixed(tmp_path / "report.go") or b""
    assert b"log.Print(atomic.LoadInt64(&requests))" in report
    assert b"atomic.StoreInt64(&requests, 0)" in report and b'"sync/atomic"' in report


def test_a_function_that_reads_and_resets_makes_every_part_unsafe(tmp_path: Path) -> None:
    swap = (
        "package p\n\n// Take returns the count and starts again.\n"
        "func Take() int {\n\tn := requests\n\trequests = 0\n\treturn n\n}\n"
    )
    paths = _package(tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve.go": SERVE, "take.go": swap})
    fixes = [f.fix for p in paths for f in _findings(p)]
    assert fixes and all(f is not None and f.safety.value == "unsafe" for f in fixes)
    assert "take.go:4 reads requests and writes it" in fixes[0].message  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (
            'package p\n\nimport "fmt"\n\nfunc Load(s string) { fmt.Sscan(s, &requests) }\n',
            r"\(&requests\) cannot be rewritten",
        ),
        ("package p\n\nfunc Pair() { requests, _ = 1, 2 }\n", "cannot be rewritten"),
        ('package p\n\nimport _ "unsafe"\n\n//go:linkname requests\n', "links it by name"),
        ("package p\n\nfunc Broken() { requests = = 1 }\n", "cannot parse"),
        (
            "package p\n\nfunc Shadow() int {\n\tatomic := 1\n\treturn requests + atomic\n}\n",
            "",  # reads need no package name: the part is made
        ),
    ],
)
def test_a_use_that_cannot_be_rewritten_leaves_the_counter_without_fix(tmp_path: Path, other: str, why: str) -> None:
    _package(tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve.go": SERVE, "other.go": other})
    found = _findings(tmp_path / "serve.go")
    assert len(found) == 1
    if why:
        assert found[0].fix is None
        assert "no fix: " in found[0].message
        assert re.search(why, found[0].message), found[0].message
        assert _findings(tmp_path / "counter.go") == []  # no part where there is no fix
    else:
        assert found[0].fix is not None


def test_a_local_named_like_the_package_gets_it_imported_under_another_name(tmp_path: Path) -> None:
    serve = SERVE.replace("handle(i)", "atomic := i\n\t\t\thandle(atomic)")
    _package(tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve.go": serve}, "1.18")
    fixed = _fixed(tmp_path / "serve.go") or b""
    assert b'stdatomic "sync/atomic"' in fixed and b"stdatomic.AddInt64(&requests, 1)" in fixed


def test_declared_with_a_value_or_for_other_builds(tmp_path: Path) -> None:
    _package(tmp_path, {"counter.go": "package p\n\nvar requests = 10\n", "serve.go": SERVE})
    found = _findings(tmp_path / "serve.go")
    assert found[0].fix is None and "starts at a value other than zero" in found[0].message
    index.forget()
    _package(
        tmp_path,
        {
            "counter.go": "//go:build linux\n\npackage p\n\nvar requests int\n",
            "counter_other.go": "//go:build !linux\n\npackage p\n\nvar requests int\n",
            "serve.go": SERVE,
        },
    )
    found = _findings(tmp_path / "serve.go")
    assert found[0].fix is None and "declared 2 times" in found[0].message


def test_a_zero_initialiser_goes(tmp_path: Path) -> None:
    _package(tmp_path, {"counter.go": "package p\n\n// n counts.\nvar requests = 0 // so far\n", "serve.go": SERVE})
    fixed = _fixed(tmp_path / "counter.go") or b""
    assert b"// n counts.\nvar requests atomic.Int64 // so far\n" in fixed


def test_a_silenced_race_asks_the_other_files_for_nothing(tmp_path: Path) -> None:
    serve = SERVE.replace("requests++", "requests++ //gofix-conc:ignore non-atomic-counter approximate on purpose")
    _package(tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve.go": serve, "report.go": REPORT})
    assert _findings(tmp_path / "counter.go") == []
    assert _findings(tmp_path / "report.go") == []
    assert _findings(tmp_path / "serve.go") == []


def test_a_generated_file_using_the_counter_leaves_it_without_fix(tmp_path: Path) -> None:
    generated = "// Code generated by stringer. DO NOT EDIT.\n\npackage p\n\nfunc count() int { return requests }\n"
    _package(tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve.go": SERVE, "gen.go": generated})
    found = _findings(tmp_path / "serve.go")
    assert found[0].fix is None and "gen.go, a generated file, uses it" in found[0].message


def test_a_var_block_keeps_its_comments_aligned(tmp_path: Path) -> None:
    block = (
        'package p\n\nimport "sync"\n\nvar (\n'
        "\tmu       sync.Mutex\n"
        "\ttotal    int // all time\n"
        "\trequests int // since the last reset\n"
        "\tlimit    int // most at once\n"
        ")\n"
    )
    _package(tmp_path, {"counter.go": block, "serve.go": SERVE})
    fixed = (_fixed(tmp_path / "counter.go") or b"").decode()
    assert (
        "\ttotal    int          // all time\n"
        "\trequests atomic.Int64 // since the last reset\n"
        "\tlimit    int          // most at once\n"
    ) in fixed


def test_two_counters_declared_in_one_file_are_both_fixed(tmp_path: Path) -> None:
    serve = SERVE.replace("requests++", "requests++\n\t\t\terrors++")
    report = REPORT.replace("log.Print(requests)", "log.Print(requests, errors)")
    paths = _package(
        tmp_path,
        {"counter.go": "package p\n\nvar requests int\n\nvar errors int\n", "serve.go": serve, "report.go": report},
    )
    results = list(run(paths, Settings(rules=(RULE,), fix=True), jobs=1))
    new = {r.path.name: (r.new or b"").decode() for r in results}
    assert new["counter.go"].count('"sync/atomic"') == 1
    assert "var requests atomic.Int64" in new["counter.go"] and "var errors atomic.Int64" in new["counter.go"]
    assert "log.Print(requests.Load(), errors.Load())" in new["report.go"]
    assert "errors.Add(1)" in new["serve.go"] and "requests.Add(1)" in new["serve.go"]


def test_a_race_only_tests_have_makes_every_part_unsafe(tmp_path: Path) -> None:
    test = SERVE.replace("// Serve handles", "// serveAll handles").replace("func Serve(", "func serveAll(")
    paths = _package(
        tmp_path, {"counter.go": "package p\n\nvar requests int\n", "serve_test.go": test, "report.go": REPORT}
    )
    parts = [f.fix for p in paths for f in _findings(p)]
    assert len(parts) == 3 and all(fix is not None and fix.safety.value == "unsafe" for fix in parts)
    assert all("only tests update requests from goroutines" in fix.message for fix in parts)  # type: ignore[union-attr]
