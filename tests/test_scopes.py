"""Scope resolution on inline Go sources.

Identifiers are picked by name and occurrence: ``ids(src, "x")[2]`` is the
third identifier spelled ``x`` in source order.
"""

from __future__ import annotations

import textwrap

import pytest
from tree_sitter import Node

from gofix_conc import scopes
from gofix_conc.source import captures, parse


def tree(src: str) -> Node:
    root = parse(textwrap.dedent(src).encode()).root_node
    assert not root.has_error, root
    return root


def ids(root: Node, name: str) -> list[Node]:
    return [n for n in captures("(identifier) @id", root).get("id", []) if n.text == name.encode()]


def resolves_to(root: Node, name: str, use: int, declaration: int | None) -> None:
    """Identifier ``name`` number ``use`` resolves to number ``declaration`` (None: to nothing)."""
    found = scopes.resolve(ids(root, name)[use])
    if declaration is None:
        assert found is None, found
    else:
        assert found is not None, f"{name}[{use}] resolved to nothing"
        assert found.node == ids(root, name)[declaration], f"{name}[{use}] resolved to line {found.node.start_point}"


def test_if_header_shadows_until_the_end_of_the_if() -> None:
    root = tree("""
        package p

        func f() int {
            x := 1
            if x := 2; x > 1 {
                return x
            } else {
                return x + 1
            }
            return x
        }
    """)
    resolves_to(root, "x", 2, 1)  # condition
    resolves_to(root, "x", 3, 1)  # then branch
    resolves_to(root, "x", 4, 1)  # else branch sees the header too
    resolves_to(root, "x", 5, 0)  # after the if: the outer x


def test_for_header_and_range_variables() -> None:
    root = tree("""
        package p

        func f(i int, xs []int) {
            for i := 0; i < i+1; i++ {
                _ = i
            }
            for i, x := range xs {
                _ = i + x
            }
            _ = i
        }
    """)
    i = ids(root, "i")
    assert scopes.resolve(i[0]).kind == "param"  # type: ignore[union-attr]
    for use in (2, 3, 4, 5):
        resolves_to(root, "i", use, 1)
    resolves_to(root, "i", 7, 6)
    resolves_to(root, "i", 8, 0)


def test_range_expression_sees_the_outer_name() -> None:
    root = tree("""
        package p

        func f(xs []int) {
            for _, xs := range xs {
                _ = xs
            }
        }
    """)
    resolves_to(root, "xs", 2, 0)  # range xs: evaluated before the new xs exists
    resolves_to(root, "xs", 3, 1)


def test_short_declaration_reuses_a_variable_of_the_same_scope() -> None:
    root = tree("""
        package p

        func f() error {
            a, err := g()
            b, err := g()
            _, _ = a, b
            return err
        }
    """)
    resolves_to(root, "err", 1, 0)
    resolves_to(root, "err", 2, 0)
    assert scopes.is_write(ids(root, "err")[1])
    assert not scopes.is_write(ids(root, "err")[0])
    decl = scopes.resolve(ids(root, "err")[0])
    assert decl is not None
    assert scopes.writes(decl, root) == [ids(root, "err")[1]]


def test_short_declaration_in_an_inner_block_declares_a_new_variable() -> None:
    root = tree("""
        package p

        func f() error {
            a, err := g()
            if a {
                b, err := g()
                _ = b
                return err
            }
            return err
        }
    """)
    resolves_to(root, "err", 1, 1)
    resolves_to(root, "err", 2, 1)
    resolves_to(root, "err", 3, 0)


def test_short_declaration_reuses_parameters_and_named_results() -> None:
    root = tree("""
        package p

        func f(n int) (err error) {
            n, err := g()
            _ = n
            return
        }
    """)
    resolves_to(root, "n", 1, 0)
    resolves_to(root, "err", 1, 0)
    assert scopes.resolve(ids(root, "err")[0]).kind == "result"  # type: ignore[union-attr]


def test_header_short_declaration_is_always_new() -> None:
    root = tree("""
        package p

        func f() {
            v := 0
            for v := 1; v < 3; v++ {
            }
            if v, ok := m[0]; ok {
                _ = v
            }
            _ = v
        }
    """)
    resolves_to(root, "v", 1, 1)
    resolves_to(root, "v", 4, 4)
    resolves_to(root, "v", 5, 4)
    resolves_to(root, "v", 6, 0)


def test_type_switch_alias() -> None:
    root = tree("""
        package p

        func f(v any) int {
            switch v := v.(type) {
            case int:
                return v
            case string:
                n, v := len(v), 1
                return n + v
            default:
                _ = v
            }
            return 0
        }
    """)
    resolves_to(root, "v", 1, 1)  # the alias itself
    resolves_to(root, "v", 2, 0)  # the switched value is the parameter
    resolves_to(root, "v", 3, 1)
    resolves_to(root, "v", 4, 1)  # redeclared in the clause's scope: the alias
    resolves_to(root, "v", 5, 1)
    resolves_to(root, "v", 6, 1)
    resolves_to(root, "v", 7, 1)


def test_select_receive_declares_in_its_case() -> None:
    root = tree("""
        package p

        func f(ch chan int, v int) int {
            select {
            case v, ok := <-ch:
                if ok {
                    return v
                }
            case v = <-ch:
            }
            return v
        }
    """)
    resolves_to(root, "v", 1, 1)
    resolves_to(root, "v", 2, 1)
    resolves_to(root, "v", 3, 0)
    assert scopes.is_write(ids(root, "v")[3])
    assert not scopes.is_write(ids(root, "v")[1])
    resolves_to(root, "v", 4, 0)


def test_method_receiver_and_results() -> None:
    root = tree("""
        package p

        func (s *Server) Count() (n int, err error) {
            n = s.n
            return n, nil
        }
    """)
    s = scopes.resolve(ids(root, "s")[1])
    assert s is not None and s.kind == "receiver" and s.node == ids(root, "s")[0]
    assert scopes.resolve(ids(root, "s")[0]).kind == "receiver"  # type: ignore[union-attr]
    n = scopes.resolve(ids(root, "n")[2])
    assert n is not None and n.kind == "result" and n.node == ids(root, "n")[0]
    assert scopes.writes(n, root) == [ids(root, "n")[1]]


def test_struct_field_names_are_not_variables() -> None:
    root = tree("""
        package p

        type Stats struct {
            hits int
            inner struct{ hits int }
        }

        func f(keys []string) []Stats {
            hits := 1
            s := Stats{hits: hits}
            s.hits = hits
            all := []Stats{{hits: hits}, {inner: struct{ hits int }{hits: 2}}}
            p := &Stats{hits: 3}
            _ = p
            return append(all, s)
        }
    """)
    hits = ids(root, "hits")
    decl = scopes.resolve(hits[0])
    assert decl is not None
    # keys of Stats{...}, []Stats{{...}}, struct{...}{...}, &Stats{...}: field names
    assert [scopes.resolve(h) for h in (hits[1], hits[4], hits[6], hits[7])] == [None, None, None, None]
    assert scopes.references(decl, root) == [hits[0], hits[2], hits[3], hits[5]]


def test_map_and_array_keys_are_expressions() -> None:
    root = tree("""
        package p

        type Index map[string]int

        func f(name string, i int) {
            m := map[string]int{name: 1}
            idx := Index{name: 2}
            a := [...]string{i: "x"}
            nested := map[string][]int{name: {i: 1}}
            _, _, _, _ = m, idx, a, nested
        }
    """)
    for use in (1, 2, 3):
        resolves_to(root, "name", use, 0)
    resolves_to(root, "i", 1, 0)
    resolves_to(root, "i", 2, 0)
    assert scopes.composite_key_kind(ids(root, "name")[1]) == "expression"


def test_keys_of_types_declared_elsewhere_are_unknown_and_not_references() -> None:
    root = tree("""
        package p

        func f(timeout int) Options {
            return Options{timeout: timeout}
        }
    """)
    key = ids(root, "timeout")[1]
    assert scopes.composite_key_kind(key) == "unknown"
    assert scopes.resolve(key) is None
    resolves_to(root, "timeout", 2, 0)


def test_labels_and_selector_fields_are_not_identifiers() -> None:
    root = tree("""
        package p

        func f(loop int, s S) {
        loop:
            for {
                s.loop++
                break loop
            }
            _ = loop
        }
    """)
    assert len(ids(root, "loop")) == 2
    resolves_to(root, "loop", 1, 0)


def test_closures_in_closures_capture_outer_variables() -> None:
    root = tree("""
        package p

        var total int

        const limit = 3

        func f(items []int) int {
            count := 0
            var mu Mutex
            go func() {
                local := 0
                func() {
                    mu.Lock()
                    count++
                    local++
                    total++
                    _ = limit
                    mu.Unlock()
                }()
                _ = local
            }()
            return count
        }
    """)
    outer = captures("(func_literal) @f", root)["f"][0]
    inner = captures("(func_literal) @f", root)["f"][1]
    names = {d.name: uses for d, uses in scopes.captured(outer).items()}
    assert sorted(names) == ["count", "mu"]
    assert names["count"] == [ids(root, "count")[1]]
    assert len(names["mu"]) == 2
    assert sorted(d.name for d in scopes.captured(inner)) == ["count", "local", "mu"]


def test_func_literal_does_not_see_the_variable_it_initializes() -> None:
    root = tree("""
        package p

        func f() {
            var walk func(int)
            walk = func(n int) { walk(n - 1) }
            fib := func(n int) int { return fib(n) }
            _ = fib
        }
    """)
    resolves_to(root, "walk", 2, 0)
    resolves_to(root, "fib", 1, None)  # a compile error in Go: fib is not yet declared
    resolves_to(root, "fib", 2, 0)


def test_nested_declarations_in_an_initializer_stay_in_the_literal() -> None:
    root = tree("""
        package p

        func f() {
            var handler = func() {
                var n int
                _ = n
            }
            n := 1
            _, _ = handler, n
        }
    """)
    resolves_to(root, "n", 1, 0)
    resolves_to(root, "n", 3, 2)
    assert [d.name for d in scopes.declared_by(ids(root, "handler")[0].parent.parent)] == ["handler"]  # type: ignore[arg-type]


def test_package_level_declarations_in_any_order() -> None:
    root = tree("""
        package p

        func f() int { return hits + limit }

        var (
            hits, misses int
        )

        const limit = 10
    """)
    assert scopes.resolve(ids(root, "hits")[0]).kind == "var"  # type: ignore[union-attr]
    assert scopes.resolve(ids(root, "limit")[0]).kind == "const"  # type: ignore[union-attr]
    assert scopes.resolve(ids(root, "limit")[1]).kind == "const"  # type: ignore[union-attr]


def test_declared_type_and_initial_value() -> None:
    root = tree("""
        package p

        func f(n int64) {
            var a, b uint32
            c, d := 0, int32(5)
            v, ok := m[0]
            var e = len("x")
            _, _, _, _, _, _, _ = a, b, c, d, v, ok, e
        }
    """)

    def decl(name: str) -> scopes.Declaration:
        found = scopes.resolve(ids(root, name)[0])
        assert found is not None
        return found

    assert scopes.declared_type(decl("n")).text == b"int64"  # type: ignore[union-attr]
    assert scopes.declared_type(decl("b")).text == b"uint32"  # type: ignore[union-attr]
    assert scopes.initial_value(decl("a")) is None
    assert scopes.initial_value(decl("c")).text == b"0"  # type: ignore[union-attr]
    assert scopes.initial_value(decl("d")).text == b"int32(5)"  # type: ignore[union-attr]
    assert scopes.initial_value(decl("v")) is None
    assert scopes.initial_value(decl("e")).text == b'len("x")'  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("base", "taken", "expected"), [("sem", set(), "sem"), ("sem", {"sem"}, "sem2"), ("sem", {"sem", "sem2"}, "sem3")]
)
def test_fresh_name(base: str, taken: set[str], expected: str) -> None:
    assert scopes.fresh_name(base, taken) == expected


def test_underlying_follows_names_declared_in_the_file() -> None:
    root = tree("""
        package p

        type (
            Count  int64
            Alias  = Count
            Server struct{ hits Count }
        )

        func f(s *Server, c Alias, r Remote) {}
    """)
    params = {
        decl.name: scopes.declared_type(decl)
        for decl in (scopes.resolve(ids(root, n)[0]) for n in ("s", "c", "r"))
        if decl
    }
    server = scopes.underlying(params["s"], pointers=True)
    assert server is not None and server.type == "struct_type"
    assert scopes.underlying(params["s"]).type == "pointer_type"  # type: ignore[union-attr]
    assert scopes.underlying(params["c"]).text == b"int64"  # type: ignore[union-attr]
    assert scopes.underlying(params["r"]).text == b"Remote"  # type: ignore[union-attr]
    assert scopes.struct_field_type(server, "hits").text == b"Count"  # type: ignore[union-attr]
