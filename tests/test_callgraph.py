"""The package call graph: recursion directly, through methods and across files, and what is no edge."""

from __future__ import annotations

from pathlib import Path

from gofix_conc import callgraph, index, scopes
from gofix_conc.source import Source


def _graph(tmp_path: Path, files: dict[str, str]) -> callgraph.Graph:
    index.forget()
    scopes.forget()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    first = tmp_path / next(iter(files))
    return callgraph.graph(index.view(first, Source(first.read_bytes())))


def test_mutual_recursion_across_files(tmp_path: Path) -> None:
    graph = _graph(
        tmp_path,
        {
            "a.go": "package p\n\nfunc parse(s string) int {\n\treturn list(s) + 1\n}\n",
            "b.go": (
                'package p\n\nfunc list(s string) int {\n\tif s == "" {\n\t\treturn 0\n\t}\n\treturn parse(s[1:])\n}\n'
            ),
        },
    )
    assert graph.cycle("parse") == ["parse", "list", "parse"]
    assert graph.cycle("list") == ["list", "parse", "list"]


def test_methods_through_receivers_fields_and_parameters(tmp_path: Path) -> None:
    graph = _graph(
        tmp_path,
        {
            "t.go": (
                "package p\n\ntype node struct{ left *node }\n\ntype walker struct{}\n\n"
                "func (n *node) walk(w *walker) { w.visit(n.left) }\n\n"
                "func (w *walker) visit(n *node) {\n\tif n != nil {\n\t\tn.walk(w)\n\t}\n}\n\n"
                "func (n *node) size() int {\n\tif n.left == nil {\n\t\treturn 1\n\t}\n\treturn n.left.size() + 1\n}\n"
            )
        },
    )
    assert graph.cycle("node.walk") == ["node.walk", "walker.visit", "node.walk"]
    assert graph.cycle("node.size") == ["node.size", "node.size"]


def test_func_values_interfaces_goroutines_and_other_packages_are_no_edges(tmp_path: Path) -> None:
    graph = _graph(
        tmp_path,
        {
            "x.go": (
                'package p\n\nimport "strings"\n\ntype v interface{ visit() }\n\ntype t struct{}\n\n'
                "func (x t) visit() {\n\tvar i v = x\n\ti.visit()\n}\n\n"
                "func value(f func()) {\n\tf()\n}\n\n"
                "func shadow() {\n\tshadow := func() {}\n\tshadow()\n}\n\n"
                "func spawn(n int) {\n\tgo spawn(n - 1)\n\tgo func() { spawn(n - 1) }()\n}\n\n"
                'func Index(s string) int {\n\treturn strings.Index(s, "x")\n}\n'
            )
        },
    )
    for key in ("t.visit", "value", "shadow", "spawn", "Index"):
        assert graph.cycle(key) is None, key
