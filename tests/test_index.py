"""The package index: what a package declares across its files, seen from one of them."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from gofix_conc import cache, goroutines, imports, index, package, scopes
from gofix_conc.context import FileContext
from gofix_conc.engine import Settings, _batches, process, run
from gofix_conc.source import Source, captures
from gofix_conc.types import Type, Types, constant


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(dedent(text))
    return directory


def view_of(path: Path) -> index.PackageView:
    return index.view(path, Source(path.read_bytes()))


@pytest.fixture(autouse=True)
def fresh_index() -> None:
    index.forget()  # tests rewrite files within one modification-time tick


TYPES = """\
    package p

    import "sync"

    const size = 2 << 10

    type Big struct {
    \tID   string
    \tdata [size]byte
    }

    type Guarded struct {
    \tmu    sync.Mutex
    \tsync.RWMutex
    \tstate *sync.Mutex
    \tbufs  sync.Pool
    \tn     int
    }

    func (b Big) Name() string { return b.ID }

    func (b *Big) Clear() { b.ID = "" }

    var registry = map[string]Big{}

    var scratch = &sync.Pool{New: func() any { return new(Big) }}

    var plain, other sync.Pool

    func safely() {
    \tif r := recover(); r != nil {
    \t\tprintln(r)
    \t}
    }

    func notRecovering() {
    \tdefer func() { recover() }()
    }
    """

USE = """\
    package p

    func use(b Big) int { return len(b.ID) }
    """


def test_sizes_and_constants_across_files(tmp_path: Path) -> None:
    write(tmp_path, {"types.go": TYPES, "use.go": USE})
    path = tmp_path / "use.go"
    source = Source(path.read_bytes())
    view = index.view(path, source)
    param = captures("(parameter_declaration type: (_) @t)", source.root)["t"][0]
    assert Types(source.root).size(Type(param)) is None  # one file alone does not know Big
    types = Types(source.root, view)
    assert types.size(Type(param)) == 16 + 2048
    assert types.kind(Type(param)) == "struct" and set(types.fields(Type(param)) or {}) == {"ID", "data"}
    assert types.value_receiver(Type(param), "Name") and not types.value_receiver(Type(param), "Clear")
    length = captures("(array_type length: (_) @n)", view.siblings[0].source.root)["n"][0]
    assert constant(length) is None or constant(length) == 2048  # resolved in its own file
    size_use = Source(b"package p\n\nvar a [size * 2]int\n")
    other = captures("(array_type length: (_) @n)", size_use.root)["n"][0]
    assert constant(other) is None and constant(other, package=view) == 4096


def test_methods_functions_and_recover_across_files(tmp_path: Path) -> None:
    write(tmp_path, {"types.go": TYPES, "use.go": USE})
    view = view_of(tmp_path / "use.go")
    assert {(m.name, m.pointer) for m in view.methods("Big")} == {("Name", False), ("Clear", True)}
    assert view.method("Big", "Clear") is not None and view.method("Big", "Missing") is None
    assert view.functions("use") and view.functions("safely")
    assert view.calls_recover(view.functions("safely")[0])
    assert not view.calls_recover(view.functions("notRecovering")[0])  # recover in a nested closure
    assert not view.declared_in_sibling(view.functions("use")[0])
    assert view.declared_in_sibling(view.functions("safely")[0])
    assert view.kind("registry") == "var" and view.kind("size") == "const" and view.kind("Big") == "type"
    assert view.kind("safely") == "func" and view.kind("nothing") is None


def test_mutex_fields_pools_and_package_variables(tmp_path: Path) -> None:
    write(tmp_path, {"types.go": TYPES, "use.go": USE})
    view = view_of(tmp_path / "use.go")
    mutexes = {(f.name, f.kind, f.pointer) for f in view.mutex_fields("Guarded")}
    assert mutexes == {("mu", "Mutex", False), ("RWMutex", "RWMutex", False), ("state", "Mutex", True)}
    assert [(f.name, f.pointer) for f in view.pool_fields("Guarded")] == [("bufs", False)]
    assert view.mutex_fields("Big") == []
    assert set(view.pools()) == {"scratch", "plain", "other"}
    assert [s.type for s in view.variables("registry")] == ["var_spec"]


def test_sync_under_another_name(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.go": 'package p\n\nimport s "sync"\n\ntype T struct {\n\tlock s.Mutex\n}\n\nvar pool s.Pool\n',
            "b.go": "package p\n",
        },
    )
    view = view_of(tmp_path / "b.go")
    assert [f.name for f in view.mutex_fields("T")] == ["lock"] and set(view.pools()) == {"pool"}


def test_test_packages_are_separate(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "p.go": "package p\n\nfunc Exported() {}\n",
            "internal_test.go": "package p\n\nfunc helper() {}\n",
            "external_test.go": "package p_test\n\nfunc outside() {}\n",
            "other_test.go": "package p_test\n\nfunc alsoOutside() {}\n",
        },
    )
    plain = view_of(tmp_path / "p.go")
    assert plain.siblings == [] and not plain.functions("helper")  # non-test code cannot see tests
    internal = view_of(tmp_path / "internal_test.go")
    assert [f.path.name for f in internal.siblings] == ["p.go"] and internal.functions("Exported")
    external = view_of(tmp_path / "external_test.go")
    assert [f.path.name for f in external.siblings] == ["other_test.go"]
    assert not external.functions("Exported") and external.functions("alsoOutside")
    # an import added to p.go shares the package scope with the internal test when go test builds it
    assert "helper" in plain.sibling_names() and "outside" not in plain.sibling_names()


def test_build_constrained_variants(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "fd_unix.go": "//go:build unix\n\npackage p\n\ntype fd struct {\n\tn int\n}\n\n"
            "type same struct{ b [2048]byte }\n",
            "fd_windows.go": "//go:build windows\n\npackage p\n\ntype fd struct {\n\th uintptr\n\tx int32\n}\n\n"
            "type same struct{ b [2048]byte }\n",
            "ignored.go": "//go:build ignore\n\npackage main\n\nfunc main() {}\n",
            "use.go": "package p\n\nfunc use(f fd, s same) {}\n",
        },
    )
    view = view_of(tmp_path / "use.go")
    assert sorted(f.path.name for f in view.siblings) == ["fd_unix.go", "fd_windows.go"]  # not package main
    assert len(view.types("fd")) == 2
    assert view.type_spec("fd") is None  # declared differently per platform: no one layout
    assert view.type_spec("same") is not None
    assert not view.functions("main")


def test_the_checked_file_wins_over_its_copy_on_disk(tmp_path: Path) -> None:
    write(tmp_path, {"types.go": TYPES, "use.go": USE})
    path = tmp_path / "use.go"
    edited = Source(path.read_bytes() + b"\nfunc added() {}\n")  # text of the fix loop, not yet written
    view = index.view(path, edited)
    assert view.functions("added") and [f.path.name for f in view.siblings] == ["types.go"]


def test_each_file_is_parsed_once_and_nothing_is_read_unless_asked(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {"types.go": TYPES, "use.go": USE, "more.go": "package p\n"})
    parsed: list[int] = []
    real = Source.__init__

    def counting(self: Source, raw: bytes) -> None:
        parsed.append(len(raw))
        real(self, raw)

    monkeypatch.setattr(Source, "__init__", counting)
    path = tmp_path / "use.go"
    view = index.view(path, Source(path.read_bytes()))
    assert view.name == "p" and len(parsed) == 1  # no sibling read yet
    view.functions("use")  # declared in the file itself
    assert len(parsed) == 1
    view.functions("safely")
    assert len(parsed) == 2  # types.go, the one file whose text holds the name
    view.functions("Big")
    assert len(parsed) == 2  # parsed once
    more = tmp_path / "more.go"
    again = index.view(more, index.source_for(more, more.read_bytes()))  # the engine's parse of more.go
    assert len(parsed) == 3
    assert [f.path.name for f in again.siblings] == ["types.go", "use.go"]
    assert len(parsed) == 3  # types.go kept; use.go is the tree the first view was given
    assert [f.path.name for f in view.siblings] == ["more.go", "types.go"] and len(parsed) == 3


def test_package_siblings_keeps_its_shape(tmp_path: Path) -> None:
    write(tmp_path, {"types.go": TYPES, "use.go": USE})
    path = tmp_path / "use.go"
    found = package.siblings(path, Source(path.read_bytes()))
    assert found.name == "p" and [f.path.name for f in found.files] == ["types.go"]
    assert set(found.functions) >= {"safely", "Name", "Clear"} and "Big" in found.types
    assert [i.path for i in found.imports()] == ["sync"]


def test_import_names_avoid_sibling_declarations(tmp_path: Path) -> None:
    write(tmp_path, {"debug.go": "package p\n\nvar debug = false\n", "main.go": "package p\n\nfunc f() {}\n"})
    path = tmp_path / "main.go"
    assert "debug" in imports.package_names(path, Source(path.read_bytes()))


def test_stable_variable_asks_the_index(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "state.go": "package p\n\nvar current int\n\nconst limit = 3\n\nfunc next() int { return 0 }\n",
            "run.go": "package p\n\nfunc work(a, b int, f func() int) {}\n\n"
            "func start() {\n\tgo work(current, limit, next)\n}\n",
        },
    )
    path = tmp_path / "run.go"
    source = Source(path.read_bytes())
    ctx = FileContext(path, source, (1, 22), {})
    go = captures("(go_statement) @g", source.root)["g"][0]
    arguments = captures("(argument_list (identifier) @a)", go)["a"]
    scopes.forget()
    stable = {a.text.decode(): goroutines.is_stable(ctx, a, go) for a in arguments}
    assert stable == {"current": False, "limit": True, "next": True}


def test_closure_rule_sizes_a_struct_of_another_file(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/p\n\ngo 1.24\n")
    write(
        tmp_path,
        {
            "types.go": TYPES,
            "worker.go": "package p\n\nfunc run(b Big, done chan<- string) {\n"
            "\tgo func() {\n\t\tdone <- b.ID\n\t}()\n}\n",
        },
    )
    result = process(tmp_path / "worker.go", Settings(rules=("closure-captures-large-value",)))
    assert [f.message for f in result.findings] == ["goroutine captures b (Big, 2 KiB) but only uses b.ID"]


def test_cache_key_follows_the_content_of_the_package(tmp_path: Path) -> None:
    write(tmp_path, {"types.go": TYPES, "use.go": USE})
    before = cache.package_digest(tmp_path)
    cache.package_digest.cache_clear()
    (tmp_path / "types.go").touch()  # a new modification time, the same content
    assert cache.package_digest(tmp_path) == before
    cache.package_digest.cache_clear()
    (tmp_path / "types.go").write_text(dedent(TYPES).replace("2 << 10", "4 << 10"))  # same size, new content
    assert cache.package_digest(tmp_path) != before


def test_callee_of_another_file_names_the_bindings(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "handler.go": "package p\n\nfunc handle(token string) {}\n\ntype S struct{}\n\n"
            "func (S) serve(conn int) {}\n",
            "run.go": "package p\n\nfunc start(ready chan string, s S, next func() int) {\n"
            "\tgo handle(<-ready)\n\tgo s.serve(next())\n}\n",
        },
    )
    path = tmp_path / "run.go"
    source = Source(path.read_bytes())
    ctx = FileContext(path, source, (1, 22), {})
    scopes.forget()
    first, second = captures("(go_statement) @g", source.root)["g"]
    assert goroutines.start_goroutine_with(ctx, first, []).before_go == ["token := <-ready"]  # type: ignore[union-attr]
    assert goroutines.start_goroutine_with(ctx, second, []).before_go == ["conn := next()"]  # type: ignore[union-attr]


# -- the engine works through one directory at a time ---------------------------

LOCKED = """\
    package p

    import "sync"

    type S struct {
    \tmu sync.Mutex
    \tn  int
    }

    func (s *S) Set(n int) {
    \ts.mu.Lock()
    \ts.n = n
    \ts.mu.Unlock()
    }
    """


def test_a_directory_is_never_split_and_results_keep_their_order(tmp_path: Path) -> None:
    files = [tmp_path / d / f"{i}.go" for i in range(5) for d in ("a", "b", "c")]  # interleaved
    batches = _batches(files, 4)
    for batch in batches:
        directories = [files[i].parent for i in batch]
        assert directories == sorted(directories, key=directories.index)  # grouped
    owners = {files[i].parent: n for n, b in enumerate(batches) for i in b}
    assert all(owners[files[i].parent] == n for n, b in enumerate(batches) for i in b)
    assert sorted(i for b in batches for i in b) == list(range(len(files)))
    for d in "abc":
        (tmp_path / d).mkdir()
    for path in files:
        path.write_text("package p\n\nfunc f() {}\n")
    settings = Settings(rules=("inconsistent-locking",))
    assert [r.path for r in run(files, settings, jobs=2)] == files
    assert [r.path for r in run(files, settings, jobs=1)] == files


def test_a_package_is_parsed_once_and_released_when_done(tmp_path: Path, monkeypatch) -> None:
    files = {f"f{i}.go": LOCKED.replace("S", f"S{i}") for i in range(6)}
    files["use.go"] = "package p\n\nfunc (s *S0) Get() int { return s.n }\n"
    write(tmp_path, files)
    parsed: list[bytes] = []
    real = Source.__init__

    def counting(self: Source, raw: bytes) -> None:
        parsed.append(raw)
        real(self, raw)

    monkeypatch.setattr(Source, "__init__", counting)
    paths = sorted(tmp_path.glob("*.go"))
    results = list(run(paths, Settings(rules=("inconsistent-locking",)), jobs=1))
    assert any(r.findings for r in results)  # the rule read the whole package
    assert len(parsed) == len(paths)  # each file once, whichever asked first
    assert not index._HERE and not index._PACKAGES  # nothing of the directory is kept after it


def test_a_lookup_parses_only_files_that_may_declare_the_name(tmp_path: Path, monkeypatch) -> None:
    write(
        tmp_path,
        {
            "types.go": "package p\n\ntype (\n\tSmall int\n\tBig struct{ buf [4096]byte }\n)\n",
            "rewrite.go": "package p\n\nfunc rewrite(b Big) Big { return b }\n",
            "method.go": "package p\n\nfunc (b *Big) Len() int { return len(b.buf) }\n",
            "use.go": "package p\n\nfunc use() { _ = Big{} }\n",
        },
    )
    parsed: list[bytes] = []
    real = Source.__init__

    def counting(self: Source, raw: bytes) -> None:
        parsed.append(raw)
        real(self, raw)

    monkeypatch.setattr(Source, "__init__", counting)
    view = view_of(tmp_path / "use.go")
    assert [n.text for n in view.types("Big")] == [b"Big struct{ buf [4096]byte }"]
    assert [m.name for m in view.methods("Big")] == ["Len"]
    assert len(parsed) == 3  # use.go, types.go and method.go; rewrite.go only uses Big
