"""gofix_conc.locks (held mutexes, the ...Locked convention) and the race tests of inconsistent-locking's unsafe fixes.

inconsistent-locking's fixes are all unsafe, so test_fixtures.py (which runs a
case's companion against its input and safe golden) cannot run its race
tests: they live beside the case as ``<case>_test.go.unsafe`` and run here,
failing under ``go test -race`` against the input and passing against the
unsafe golden.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import gobatch
import pytest
from conftest import FIXTURES
from tree_sitter import Node

from gofix_conc import index, locks, scopes
from gofix_conc.engine import Settings, process
from gofix_conc.source import captures, parse


def tree(code: str) -> Node:
    scopes.forget()
    return parse(("package p\n\n" + textwrap.dedent(code)).encode()).root_node


def marked(root: Node) -> Node:
    """The statement ``x = 1`` the test asks about."""
    return next(n for n in captures("(assignment_statement) @s", root)["s"] if n.text == b"x = 1")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("s.mu.Lock()\n\tx = 1\n\ts.mu.Unlock()", {"s.mu": "Lock"}),
        ("s.mu.Lock()\n\tdefer s.mu.Unlock()\n\tx = 1", {"s.mu": "Lock"}),
        ("s.mu.RLock()\n\tdefer s.mu.RUnlock()\n\tif ok {\n\t\tx = 1\n\t}", {"s.mu": "RLock"}),
        ("s.mu.Lock()\n\ts.mu.Unlock()\n\tx = 1", {}),
        ("if ok {\n\t\ts.mu.Lock()\n\t\ts.mu.Unlock()\n\t}\n\tx = 1", {}),
        ("s.Lock()\n\tfunc() {\n\t\tx = 1\n\t}()", {"s": "Lock"}),
        ("s.Lock()\n\tsort.Slice(v, func(i, j int) bool {\n\t\tx = 1\n\t\treturn true\n\t})", {"s": "Lock"}),
        ("mu.Lock()\n\tgo func() {\n\t\tx = 1\n\t}()", {}),
        ("mu.Lock()\n\ttime.AfterFunc(d, func() {\n\t\tx = 1\n\t})", {}),
        ("mu.Lock()\n\tf := func() {\n\t\tx = 1\n\t}\n\tf()", {}),
    ],
    ids=[
        "lock-unlock",
        "defer",
        "rlock-branch",
        "released",
        "branch",
        "on-the-spot",
        "sync-callback",
        "goroutine",
        "after-func",
        "stored",
    ],
)
def test_held(body: str, expected: dict[str, str]) -> None:
    root = tree(f"func (s *S) f() {{\n\t{body}\n}}\n")
    assert locks.held(marked(root)) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("func (s *S) flushLocked() {}", True),
        ("// purge drops everything. s.mu must be held.\nfunc (s *S) purge() {}", True),
        ("// evict is called with mu held.\nfunc (s *S) evict() {}", True),
        ("// The caller must hold c.mu.\nfunc (c *C) grow() {}", True),
        ("// Requires the lock.\nfunc (c *C) grow() {}", True),
        ("// grow doubles the buffer.\nfunc (c *C) grow() {}", False),
        ("// Lock locks the table.\n\n// unrelated\nfunc (c *C) Get() {}", False),
    ],
)
def test_by_convention(code: str, expected: bool) -> None:
    root = tree(code + "\n")
    declaration = next(c for c in root.named_children if c.type in ("function_declaration", "method_declaration"))
    assert locks.by_convention(declaration) is expected


def test_struct_fields_and_package_mutexes() -> None:
    root = tree(
        """\
        type S struct {
        \tsync.Mutex
        \tmu   *sync.RWMutex
        \ta, b int
        \tn    atomic.Int64
        \tdone chan struct{}
        }

        var (
        \tmu  sync.Mutex
        \trw  = sync.RWMutex{}
        \tall = map[string]int{}
        )
        """
    )
    spec = captures("(type_spec) @t", root)["t"][0]
    fields = locks.struct_fields(spec)
    assert list(fields) == ["Mutex", "mu", "a", "b", "n", "done"]
    assert [locks.mutex_kind(fields[n]) for n in ("Mutex", "mu", "a")] == ["Mutex", "RWMutex", None]
    assert [n for n, kind in fields.items() if locks.is_sync_type(kind)] == ["Mutex", "mu", "n", "done"]
    specs: dict[str, list[Node]] = {}
    for s in captures("(var_spec) @v", root)["v"]:
        specs.setdefault(s.child_by_field_name("name").text.decode(), []).append(s)  # type: ignore[union-attr]
    assert locks.package_mutexes(specs) == {"mu": "Mutex", "rw": "RWMutex"}


def test_writes() -> None:
    root = tree(
        """\
        func (s *S) f() {
        \ts.a = 1
        \ts.b[k] = 2
        \ts.c++
        \tdelete(s.d, k)
        \tp := &s.e
        \t_ = s.g[k]
        \ts.h.Close()
        \tuse(s.i)
        }
        """
    )
    selectors = captures("(selector_expression operand: (identifier) @r) @s", root)["s"]
    written = {n.text.decode() for n in selectors if n.text.startswith(b"s.") and locks.is_write(n)}  # type: ignore[union-attr]
    assert written == {"s.a", "s.b", "s.c", "s.d", "s.e"}


# -- inconsistent-locking across files -------------------------------------------


def _scan(path: Path) -> list[tuple[int, str]]:
    index.forget()
    result = process(path, Settings(rules=("inconsistent-locking",)))
    assert result.error is None, result.error
    return [(f.line, f.message) for f in result.findings]


def test_a_field_locked_in_one_file_and_read_in_another(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/p\n\ngo 1.22\n")
    (tmp_path / "pool.go").write_text(
        'package p\n\nimport "sync"\n\ntype Pool struct {\n\tmu    sync.Mutex\n\tidle []int\n}\n\n'
        "func (p *Pool) Put(c int) {\n\tp.mu.Lock()\n\tp.idle = append(p.idle, c)\n\tp.mu.Unlock()\n}\n"
    )
    stats = tmp_path / "stats.go"
    stats.write_text("package p\n\nfunc (p *Pool) Idle() int {\n\tn := len(p.idle)\n\treturn n\n}\n")
    found = _scan(stats)
    assert len(found) == 1 and found[0][0] == 4
    assert "p.idle is read without p.mu held, but written with it held in Put (pool.go:12)" in found[0][1]
    # A helper declared in the other file, whose one caller holds the lock, is not flagged.
    (tmp_path / "pool.go").write_text(
        (tmp_path / "pool.go").read_text()
        + "\nfunc (p *Pool) Drain() {\n\tp.mu.Lock()\n\tp.Idle()\n\tp.mu.Unlock()\n}\n"
    )
    assert _scan(stats) == []
    assert _scan(tmp_path / "pool.go") == []


def test_test_files_are_not_flagged(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/p\n\ngo 1.22\n")
    code = (FIXTURES / "inconsistent-locking" / "stats.go").read_bytes()
    (tmp_path / "stats_test.go").write_bytes(code)
    assert _scan(tmp_path / "stats_test.go") == []


# -- race tests of the unsafe fixes ----------------------------------------------------


def _race_cases() -> list[Path]:
    return sorted(p for p in (FIXTURES / "inconsistent-locking").rglob("*_test.go.unsafe"))


@pytest.mark.parametrize("companion", _race_cases(), ids=lambda p: p.name)
def test_unsafe_fix_removes_the_race(companion: Path, tmp_path: Path, go_cache: Path) -> None:
    case = companion.with_name(companion.name.removesuffix("_test.go.unsafe") + ".go")
    golden = case.with_name(case.name + ".unsafe.golden")
    test_name = companion.name.removesuffix(".unsafe")
    gomod = FIXTURES / "inconsistent-locking" / "go.mod"
    batch = gobatch.Batch()
    before = batch.add(gomod, {case.name: case.read_bytes(), test_name: companion.read_bytes()}, True)
    after = batch.add(gomod, {case.name: golden.read_bytes(), test_name: companion.read_bytes()}, True)
    outcomes = batch.run(tmp_path, go_cache)
    assert outcomes[before].test_ok is False, f"no race before the fix:\n{outcomes[before].test_output}"
    assert outcomes[after].vet_ok, outcomes[after].vet_output
    assert outcomes[after].test_ok, f"go test -race fails on the unsafe golden:\n{outcomes[after].test_output}"
