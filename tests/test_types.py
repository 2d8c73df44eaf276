"""Types as one file tells them: sizes, kinds, fields, what a variable holds."""

from __future__ import annotations

import textwrap

import pytest
from tree_sitter import Node

from gofix_conc import scopes
from gofix_conc.source import captures, parse
from gofix_conc.types import Type, Types, constant

SOURCE = """
package p

import "time"

const (
    pageSize = 4 << 10
    rows     = pageSize / 128
)

type Header struct {
    Name  string
    Flags uint8
}

type Page struct {
    Header
    Next   *Page
    Rows   [rows]Row
    Index  map[string]int
    Stamp  time.Time
    Buffer []byte
    Pad    bool
}

type Row struct {
    Key   int32
    Alive bool
    Score float64
}

type Remote struct {
    Conn  net.Conn
    Items [64]int64
}

func (h Header) Label() string { return h.Name }

func (p *Page) Reset() {}

func load() (Page, error) { return Page{}, nil }

func use(pages []Page) {
    a := Page{}
    b := &Row{}
    c, err := load()
    d := make([]Row, 3)
    var e Header
    f := *b
    for _, g := range pages {
        _ = g
    }
    _, _, _, _, _, _, _ = a, b, c, d, e, f, err
}
"""


@pytest.fixture(scope="module")
def root() -> Node:
    tree = parse(textwrap.dedent(SOURCE).encode()).root_node
    assert not tree.has_error
    return tree


def named(root: Node, name: str) -> Type:
    node = next(n for n in captures("(type_identifier) @t", root)["t"] if n.text == name.encode())
    return Type(node)


def variable(root: Node, name: str) -> scopes.Declaration:
    node = next(n for n in captures("(identifier) @id", root)["id"] if n.text == name.encode())
    decl = scopes.resolve(node)
    assert decl is not None
    return decl


def test_sizes_follow_go_alignment(root: Node) -> None:
    types = Types(root)
    assert types.size(named(root, "Header")) == 24  # string 16 + uint8, padded to 8
    assert types.size(named(root, "Row")) == 16  # int32, bool, padding, float64
    page = 24 + 8 + 32 * 16 + 8 + 24 + 24 + 1
    assert types.size(named(root, "Page")) == -(-page // 8) * 8


def test_unknown_parts_make_the_size_unknown_but_keep_a_lower_bound(root: Node) -> None:
    types = Types(root)
    assert types.size(named(root, "Remote")) is None
    assert types.min_size(named(root, "Remote")) == 64 * 8


def test_array_lengths_are_constant_expressions() -> None:
    tree = parse(b"package p\nconst k = 1 << 3\nvar x = (k + 2) * 4\n").root_node
    value = captures("(var_spec value: (expression_list (_) @v))", tree)["v"][0]
    assert constant(value) == 40


def test_kinds_and_fields(root: Node) -> None:
    types = Types(root)
    page = named(root, "Page")
    assert types.kind(page) == "struct"
    assert types.kind(Type(page.node, 1)) == "pointer"
    fields = types.fields(page)
    assert fields is not None
    assert {"Header", "Name", "Flags", "Next", "Rows", "Index"} <= set(fields)  # Name and Flags promoted
    assert types.kind(fields["Index"]) == "map"
    assert types.kind(fields["Rows"]) == "array"
    assert types.named_fields(page) == {"Next", "Rows", "Index", "Stamp", "Buffer", "Pad"}


def test_methods_by_receiver(root: Node) -> None:
    types = Types(root)
    assert types.value_receiver(named(root, "Header"), "Label")
    assert not types.value_receiver(named(root, "Page"), "Reset")
    assert not types.value_receiver(named(root, "Remote"), "Close")  # declared in another file, if anywhere
    stamp = captures("(qualified_type) @t", root)["t"][0]
    assert types.value_receiver(Type(stamp), "Unix")  # time.Time: value receivers throughout


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a", "Page"), ("b", "*Row"), ("c", "Page"), ("err", "error"), ("d", "[]Row"), ("e", "Header"), ("f", "Row")],
)
def test_what_a_variable_holds(root: Node, name: str, expected: str) -> None:
    types = Types(root)
    found = types.of_declaration(variable(root, name))
    assert found is not None
    assert types.name(found) == expected


def test_range_values_have_the_element_type(root: Node) -> None:
    types = Types(root)
    found = types.of_declaration(variable(root, "g"))
    assert found is not None and types.name(found) == "Page"
