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
from gofix_conc.codemods import inconsistent_locking as il
from tree_sitter import Node

from gofix_conc import guards, index, locks, scopes
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


# -- inconsistent-locking reads the package on demand, with the answers of reading it all --------


def _whole_package(view: index.PackageView) -> guards.Guards | None:
    """The reference: every file's :func:`locks.collect`, then every function's status, as the rule first did."""
    fields: dict[str, set[str]] = {}
    kinds: dict[tuple[str, str], str] = {}
    mutexes: dict[str, str] = {}
    for facts in view.files():
        for struct, sync_fields in facts.sync_fields.items():
            mutex_fields = {s.name: s.kind for s in sync_fields if s.kind != "Pool"}
            if mutex_fields:
                declared = locks.struct_fields(view.type_spec(struct))
                fields[struct] = {n for n, k in declared.items() if n not in mutex_fields and not locks.is_sync_type(k)}
                kinds.update({(struct, name): kind for name, kind in mutex_fields.items()})
        mutexes.update(locks.package_mutexes(facts.variables))
    variables = {
        name
        for facts in view.files()
        for name, specs in facts.variables.items()
        if mutexes and not any(locks.is_sync_type(s.child_by_field_name("type")) for s in specs)
    }
    kinds.update({("", name): kind for name, kind in mutexes.items()})
    if not fields and not mutexes:
        return None
    per_file = sorted((f.path, locks.collect(f.source.root, fields, variables, set(mutexes))) for f in view.files())
    accesses: dict[tuple[str, str], list[locks.Access]] = {}
    paths: dict[int, Path] = {}
    calls = [c for _, found in per_file for c in found.calls]
    started = {name for _, found in per_file for name in found.started}
    for path, found in per_file:
        for access in found.accesses:
            accesses.setdefault(access.key, []).append(access)
            paths[id(access.function)] = path
    declarations: dict[tuple[str, str], dict[int, Node]] = {}
    for function in [a.function for group in accesses.values() for a in group] + [c.caller for c in calls]:
        declarations.setdefault(guards.declaration_key(function), {}).setdefault(id(function), function)
    callers: dict[tuple[str, str], list[locks.Call]] = {}
    for call in calls:
        callers.setdefault(call.callee, []).append(call)
    exempt: dict[int, str] = {}
    concurrent: dict[int, str] = {}
    for key, nodes in declarations.items():
        for node in nodes.values():
            reason = guards.why_lock_held(node, lambda key=key: callers.get(key, []))
            if reason:
                exempt[id(node)] = reason
            elif key[1][:1].isupper():
                concurrent[id(node)] = "is exported and may run concurrently"
            elif key[1] in started:
                concurrent[id(node)] = "is started as a goroutine or used as a callback"
    changed = True
    while changed:
        changed = False
        for key, nodes in declarations.items():
            for node in nodes.values():
                if id(node) in concurrent or id(node) in exempt:
                    continue
                via = [
                    c
                    for c in callers.get(key, [])
                    if not c.locked and (c.goroutine or id(c.caller) in concurrent) and id(c.caller) not in exempt
                ]
                if via:
                    concurrent[id(node)] = f"is called without the lock from {guards.declaration_name(via[0].caller)}"
                    changed = True
    return guards.Guards(kinds, accesses, paths, concurrent, exempt)


class _Whole:
    def __init__(self, view: index.PackageView) -> None:
        self.package = _whole_package(view)

    def for_file(self, path: Path) -> guards.Guards | None:
        return self.package

    def in_package_order(self, package: guards.Guards) -> guards.Guards:
        return package


def _findings_both_ways(directory: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[tuple]]:
    settings = Settings(rules=("inconsistent-locking",))
    found = []
    for analyse in (il.package_guards, _Whole):
        monkeypatch.setattr(il, "package_guards", analyse)
        index.forget()
        results = [process(p, settings) for p in sorted(directory.glob("*.go"))]
        found.append([(r.path.name, f.line, f.message, f.fix) for r in results for f in r.findings])
    return found


ORDERS = {
    # a.go reads one key before the other, b.go's statement names both: the message follows the package's order
    "a.go": """\
        package p

        import "sync"

        type S struct {
        \tmu   sync.Mutex
        \tz, y int
        }

        var (
        \tgmu   sync.Mutex
        \thits  int
        \tlimit = 3
        )

        func (s *S) Peek() int { return s.y + s.z }

        func (s *S) Set() {
        \ts.mu.Lock()
        \ts.z, s.y = 1, 2
        \ts.mu.Unlock()
        }

        func count() {
        \tgmu.Lock()
        \thits++
        \tgmu.Unlock()
        }

        func Report() int { return hits + limit }
        """,
    "b.go": """\
        package p

        func (s *S) Sum() {
        \tprintln(s.z + s.y)
        }

        // helper is called from two callers: which one the message names depends on the order of the loop.
        func (s *S) helper() {
        \tprintln(s.y)
        }

        func (s *S) middle() { s.helper() }

        func (s *S) Top() { s.middle() }

        func (s *S) Other() { s.helper() }

        func (s *S) locked() {
        \ts.mu.Lock()
        \ts.helper()
        \ts.mu.Unlock()
        }

        func (s *S) run() { println(s.z) }

        func (s *S) Start() { go s.run() }

        func (s *S) tick() { println(s.y) }

        func (s *S) Serve() { register(s.tick) }

        func register(func()) {}
        """,
    "c.go": """\
        package p

        func (s *S) first() { s.second() }

        func (s *S) second() { println(s.z) }

        func (s *S) Entry() {
        \ts.second()
        \ts.first()
        }
        """,
}


@pytest.mark.parametrize("case", ["fixtures", "split", "orders"])
def test_reading_on_demand_finds_what_reading_the_whole_package_finds(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case == "orders":
        for name, text in ORDERS.items():
            (tmp_path / name).write_text(textwrap.dedent(text))
        directory = tmp_path
    else:
        directory = FIXTURES / "inconsistent-locking" / ("split" if case == "split" else "")
    on_demand, whole = _findings_both_ways(directory, monkeypatch)
    assert on_demand == whole
    assert on_demand


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
