"""Names in Go code: which declaration an identifier refers to, where a
variable is written, which outer variables a func literal captures, and fresh
names that collide with nothing.

Resolution is lexical and per file, as Go's own: walk up from the use, look at
what each enclosing block, statement header or function declares before it.
Names not declared in the file (other files of the package, universe) resolve
to ``None``, and so do identifiers that name no variable at all: the field
names keying a struct literal (``T{name: v}``).

Scopes follow the spec: an ``if``/``for``/``switch`` header opens a scope
around its statement; a function's receiver, parameters and results share the
scope of its body, and a type switch alias or ``case v := <-ch`` shares the
scope of its clause, so ``x, err := f()`` there reuses the existing ``err``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from tree_sitter import Node

from gofix_conc.source import captures, spelled

T = TypeVar("T")

FUNCTIONS = frozenset({"function_declaration", "method_declaration", "func_literal"})
LOOPS = frozenset({"for_statement"})
_NAME_KINDS = ("identifier", "type_identifier", "package_identifier")
_CLAUSES = frozenset({"type_case", "default_case", "expression_case", "communication_case"})
# The nodes that declare names for a part of themselves (see header_declarations).
_HEADERS = frozenset(
    {
        "if_statement",
        "expression_switch_statement",
        "type_switch_statement",
        "for_clause",
        "for_statement",
        "communication_case",
        *FUNCTIONS,
    }
)
_EXPRESSION_KEYED = frozenset({"map_type", "slice_type", "array_type", "implicit_length_array_type"})


@dataclass(frozen=True)
class Declaration:
    name: str
    node: Node  # the identifier at the declaration
    kind: str  # var, const, param, result, receiver, func, type
    construct: Node  # short_var_declaration, var_spec, parameter_declaration, ...

    @property
    def key(self) -> tuple[int, int]:
        return self.node.start_byte, self.node.end_byte

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Declaration) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


def ancestors(node: Node) -> Iterator[Node]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def statements_before(node: Node, stop: Node | None = None) -> Iterator[Node]:
    """The statements before ``node`` in each block around it, innermost block first, up to ``stop``'s own."""
    child = node
    for ancestor in ancestors(node):
        if ancestor.type == "statement_list":
            for statement in ancestor.named_children:
                if statement.start_byte >= child.start_byte:
                    break
                yield statement
        if ancestor == stop:
            return
        child = ancestor


def enclosing(node: Node, kinds: Iterable[str], stop: Iterable[str] = FUNCTIONS) -> Node | None:
    """The nearest ancestor of one of ``kinds``, not crossing a ``stop`` node."""
    kinds, stop = frozenset(kinds), frozenset(stop)
    for parent in ancestors(node):
        if parent.type in kinds:
            return parent
        if parent.type in stop:
            return None
    return None


def enclosing_function(node: Node) -> Node | None:
    return next((a for a in ancestors(node) if a.type in FUNCTIONS), None)


def top_level(node: Node) -> Node:
    """The declaration directly under the source file that holds ``node``."""
    while node.parent is not None and node.parent.type != "source_file":
        node = node.parent
    return node


def contains(outer: Node, inner: Node) -> bool:
    return outer.start_byte <= inner.start_byte and inner.end_byte <= outer.end_byte


def _identifiers(node: Node | None) -> list[Node]:
    if node is None:
        return []
    if node.type == "identifier":
        return [node]
    return [c for c in node.named_children if c.type == "identifier"]


def _decls(nodes: Iterable[Node], kind: str, construct: Node) -> list[Declaration]:
    # children_by_field_name("name") also yields the commas between names.
    return [Declaration(n.text.decode(), n, kind, construct) for n in nodes if n.is_named and n.text != b"_"]


def _specs(declaration: Node, spec_types: tuple[str, ...]) -> list[Node]:
    """The specs directly under a ``var``/``const``/``type`` declaration, grouped or not.

    Not a query over the whole declaration: a func literal in an initializer
    may hold declarations of its own, which belong to its body.
    """
    found: list[Node] = []
    for child in declaration.named_children:
        if child.type in spec_types:
            found.append(child)
        elif child.type.endswith("_spec_list"):
            found += [c for c in child.named_children if c.type in spec_types]
    return found


def _spec_decls(declaration: Node, spec_type: str, kind: str) -> list[Declaration]:
    found: list[Declaration] = []
    for spec in _specs(declaration, (spec_type,)):
        found += _decls(spec.children_by_field_name("name"), kind, spec)
    return found


def _is_define(node: Node) -> bool:
    return any(c.type == ":=" for c in node.children)


# Memos for the tree being checked, keyed by node id and holding the node so that
# a node of another tree with the same id is never taken for it. The engine
# clears them for each file (forget()); they make a rule's repeated lookups cheap.
_DECLARED: dict[int, tuple[Node, list[Declaration]]] = {}
_RESOLVED: dict[int, tuple[Node, Declaration | None]] = {}
_PACKAGE: dict[int, tuple[Node, dict[str, Declaration]]] = {}
_BLOCKS: dict[int, tuple[Node, dict[str, list[tuple[int, Declaration]]]]] = {}
_SIGNATURES: dict[int, tuple[Node, list[Declaration]]] = {}
_REFERENCES: dict[int, tuple[Node, dict[tuple[int, int], list[Node]]]] = {}


_TABLES: list[dict[int, tuple[Node, Any]]] = [_DECLARED, _RESOLVED, _PACKAGE, _BLOCKS, _SIGNATURES, _REFERENCES]


def memo() -> dict[int, tuple[Node, Any]]:
    """A new memo table for :func:`remembered`, cleared with the others by :func:`forget`."""
    table: dict[int, tuple[Node, Any]] = {}
    _TABLES.append(table)
    return table


def forget() -> None:
    """Drop the memos (they hold nodes, and so trees, alive)."""
    for table in _TABLES:
        table.clear()


def remembered(table: dict[int, tuple[Node, T]], node: Node, compute: Callable[[Node], T]) -> T:
    """``compute(node)``, once per node of the tree being checked."""
    hit = table.get(node.id)
    if hit is not None and hit[0] == node:
        return hit[1]
    found = compute(node)
    table[node.id] = (node, found)
    return found


def declared_by(statement: Node) -> list[Declaration]:
    """What a statement (or top-level declaration) declares in its block."""
    return remembered(_DECLARED, statement, _declared_by)


def package_declarations(source_file: Node) -> dict[str, Declaration]:
    """What the file declares at the package level, by name (the first declaration of each)."""
    return remembered(_PACKAGE, source_file, _first_declarations)


def _first_declarations(source_file: Node) -> dict[str, Declaration]:
    found: dict[str, Declaration] = {}
    for top in source_file.named_children:
        for decl in declared_by(top):
            found.setdefault(decl.name, decl)
    return found


def _declared_by(statement: Node) -> list[Declaration]:
    kind = statement.type
    if kind == "short_var_declaration":
        return _decls(_identifiers(statement.child_by_field_name("left")), "var", statement)
    if kind == "var_declaration":
        return _spec_decls(statement, "var_spec", "var")
    if kind == "const_declaration":
        return _spec_decls(statement, "const_spec", "const")
    if kind == "type_declaration":
        specs = _specs(statement, ("type_spec", "type_alias"))
        names = [s.child_by_field_name("name") for s in specs]
        return _decls([n for n in names if n is not None], "type", statement)
    if kind == "function_declaration":
        return _decls(_identifiers(statement.child_by_field_name("name")), "func", statement)
    return []


def _parameters(params: Node | None, kind: str) -> list[Declaration]:
    if params is None:
        return []
    found: list[Declaration] = []
    for decl in params.named_children:
        found += _decls(decl.children_by_field_name("name"), kind, decl)
    return found


def _signature_declarations(function: Node) -> list[Declaration]:
    """The receiver, parameters and named results of a function."""
    return remembered(_SIGNATURES, function, _signature)


def _signature(function: Node) -> list[Declaration]:
    found = _parameters(function.child_by_field_name("receiver"), "receiver")
    found += _parameters(function.child_by_field_name("parameters"), "param")
    result = function.child_by_field_name("result")
    if result is not None and result.type == "parameter_list":
        found += _parameters(result, "result")
    return found


def _clause_declarations(clause: Node) -> list[Declaration]:
    """What a switch or select clause declares for its statements."""
    if clause.type == "communication_case":
        comm = clause.child_by_field_name("communication")
        if comm is not None and comm.type == "receive_statement" and _is_define(comm):
            return _decls(_identifiers(comm.child_by_field_name("left")), "var", comm)
        return []
    switch = clause.parent
    if clause.type in ("type_case", "default_case") and switch is not None and switch.type == "type_switch_statement":
        return _decls(_identifiers(switch.child_by_field_name("alias")), "var", switch)
    return []


def header_declarations(node: Node, child: Node) -> list[Declaration]:
    """What ``node`` declares for its part ``child`` (headers, cases, signatures)."""
    kind = node.type
    if kind in ("if_statement", "expression_switch_statement", "type_switch_statement"):
        init = node.child_by_field_name("initializer")
        found = list(declared_by(init)) if init is not None and init.end_byte <= child.start_byte else []
        if kind == "type_switch_statement" and child.type in _CLAUSES:
            found += _clause_declarations(child)  # the alias exists in the clauses only
        return found
    if kind == "for_clause":
        init = node.child_by_field_name("initializer")
        return declared_by(init) if init is not None and init.end_byte <= child.start_byte else []
    if kind == "for_statement":
        found: list[Declaration] = []
        for clause in node.named_children:
            if clause.type == "for_clause" and clause != child:
                init = clause.child_by_field_name("initializer")
                found += declared_by(init) if init is not None else []
            elif clause.type == "range_clause" and _is_define(clause) and clause.end_byte <= child.start_byte:
                found += _decls(_identifiers(clause.child_by_field_name("left")), "var", clause)
        return found
    if kind == "communication_case":
        comm = node.child_by_field_name("communication")
        return _clause_declarations(node) if comm is not None and comm != child else []
    if kind in FUNCTIONS:
        return _signature_declarations(node)
    return []


def _block_names(block: Node) -> dict[str, list[tuple[int, Declaration]]]:
    """What each statement of a block declares, by name: (end of the statement, declaration), in source order."""
    names: dict[str, list[tuple[int, Declaration]]] = {}
    for statement in block.named_children:
        for decl in declared_by(statement):
            names.setdefault(decl.name, []).append((statement.end_byte, decl))
    return names


def _block_declaration(block: Node, before: Node, name: str) -> Declaration | None:
    for end, decl in remembered(_BLOCKS, block, _block_names).get(name, ()):
        if end > before.start_byte:
            break
        return (_redeclared(decl) or decl) if decl.construct.type == "short_var_declaration" else decl
    return None


def _parameter_kind(declaration: Node) -> str:
    holder = declaration.parent
    function = holder.parent if holder is not None else None
    if holder is None or function is None or function.type not in FUNCTIONS:
        return "param"  # a function type's or an interface method's parameter
    if holder == function.child_by_field_name("receiver"):
        return "receiver"
    return "result" if holder == function.child_by_field_name("result") else "param"


def _self_declaration(ident: Node) -> Declaration | None:
    """The declaration ``ident`` makes, if it stands at a declaring position."""
    parent = ident.parent
    if parent is None:
        return None
    construct = parent.parent if parent.type == "expression_list" else parent
    if construct is None:
        return None
    decls: list[Declaration] = []
    if construct.type == "short_var_declaration" and parent == construct.child_by_field_name("left"):
        decls = declared_by(construct)
    elif construct.type in ("range_clause", "receive_statement"):
        if _is_define(construct) and parent == construct.child_by_field_name("left"):
            decls = _decls(_identifiers(parent), "var", construct)
    elif construct.type == "type_switch_statement" and parent == construct.child_by_field_name("alias"):
        decls = _decls([ident], "var", construct)
    elif construct.type in ("var_spec", "const_spec", "parameter_declaration", "variadic_parameter_declaration"):
        names = [n for n in construct.children_by_field_name("name") if n == ident]
        kind = {"var_spec": "var", "const_spec": "const"}.get(construct.type) or _parameter_kind(construct)
        decls = _decls(names, kind, construct)
    return next((d for d in decls if d.node == ident), None)


def _redeclared(own: Declaration) -> Declaration | None:
    """For ``a, err := f()``: the variable of the same scope it assigns instead of declaring."""
    block = own.construct.parent
    if block is None or block.type != "statement_list":
        return None  # in an if/for/switch header: a scope of its own, always a new variable
    earlier = _block_declaration(block, own.construct, own.name)
    if earlier is not None:
        return earlier
    holder = block.parent
    if holder is not None and holder.type == "block" and holder.parent is not None and holder.parent.type in FUNCTIONS:
        found = _signature_declarations(holder.parent)
    elif holder is not None and holder.type in _CLAUSES:
        found = _clause_declarations(holder)
    else:
        found = []
    return next((d for d in found if d.name == own.name), None)


def composite_key_kind(ident: Node) -> str | None:
    """For the key of a keyed literal element: ``field``, ``expression`` or ``unknown``; else None.

    ``T{n: 1}`` names a field when T is a struct, but ``map[string]int{n: 1}``
    uses the variable ``n``. The grammar parses both keys as identifiers; the
    literal's type decides, when this file declares it.
    """
    element = ident.parent
    keyed = element.parent if element is not None else None
    if element is None or element.type != "literal_element" or keyed is None or keyed.type != "keyed_element":
        return None
    if keyed.child_by_field_name("key") != element:
        return None
    literal = keyed.parent
    kind = _underlying_kind(_literal_type(literal) if literal is not None else None)
    if kind == "struct_type":
        return "field"
    return "expression" if kind in _EXPRESSION_KEYED else "unknown"


def _literal_type(literal_value: Node, depth: int = 0) -> Node | None:
    """The type of a ``{...}`` literal body, following elided types (``[]T{{...}}``)."""
    parent = literal_value.parent
    if parent is None or depth > 8:
        return None
    if parent.type == "composite_literal":
        return parent.child_by_field_name("type")
    if parent.type != "literal_element":
        return None
    holder = parent.parent
    if holder is None:
        return None
    outer_body = holder.parent if holder.type == "keyed_element" else holder
    outer = _type_body(_literal_type(outer_body, depth + 1) if outer_body is not None else None)
    if outer is None:
        return None
    if outer.type == "map_type":
        is_key = holder.type == "keyed_element" and holder.child_by_field_name("key") == parent
        element = outer.child_by_field_name("key" if is_key else "value")
    elif outer.type in ("slice_type", "array_type", "implicit_length_array_type"):
        element = outer.child_by_field_name("element")
    elif outer.type == "struct_type" and holder.type == "keyed_element":
        key = holder.child_by_field_name("key")
        element = struct_field_type(outer, key.text.decode()) if key is not None and key.text else None
    else:
        return None
    while element is not None and element.type == "pointer_type":
        element = element.named_children[0] if element.named_children else None  # &T elided too
    return element


def underlying(type_node: Node | None, pointers: bool = False) -> Node | None:
    """A type's literal form, names followed to their declarations in this file.

    A name declared elsewhere (``int``, a type of another file) comes back as
    its ``type_identifier``; with ``pointers``, ``*T`` is followed to ``T``'s.
    """
    for _ in range(8):
        if type_node is None:
            return None
        if type_node.type in ("parenthesized_type", "generic_type") or (pointers and type_node.type == "pointer_type"):
            type_node = type_node.named_children[0] if type_node.named_children else None
            continue
        if type_node.type != "type_identifier":
            return type_node
        spec = type_declaration(type_node, type_node.text.decode())
        if spec is None:
            return type_node
        type_node = spec.child_by_field_name("type")
    return None


def _type_body(type_node: Node | None) -> Node | None:
    body = underlying(type_node)
    return None if body is not None and body.type == "type_identifier" else body


def _underlying_kind(type_node: Node | None) -> str | None:
    body = _type_body(type_node)
    return body.type if body is not None else None


def type_declaration(near: Node, name: str) -> Node | None:
    """The ``type_spec``/``type_alias`` declaring type ``name``, innermost first, in this file."""
    for ancestor in ancestors(near):
        if ancestor.type == "statement_list" or ancestor.type == "source_file":
            for statement in ancestor.named_children:
                if statement.type != "type_declaration":
                    continue
                for spec in _specs(statement, ("type_spec", "type_alias")):
                    spec_name = spec.child_by_field_name("name")
                    if spec_name is not None and spec_name.text == name.encode():
                        return spec
    return None


def struct_field_type(struct: Node, field: str) -> Node | None:
    """The declared type of a field of a ``struct_type`` node (embedded fields included)."""
    for declaration in captures("(field_declaration) @f", struct).get("f", []):
        if declaration.parent is None or declaration.parent.parent != struct:
            continue  # a field of a nested struct type
        names = [n.text.decode() for n in declaration.children_by_field_name("name")]
        type_node = declaration.child_by_field_name("type")
        if field in names:
            return type_node
        if not names and type_node is not None and type_node.text.decode().lstrip("*").split(".")[-1] == field:
            return type_node
    return None


def resolve(ident: Node) -> Declaration | None:
    """The declaration an identifier refers to, or None if not in this file."""
    return remembered(_RESOLVED, ident, _resolve)


def _resolve(ident: Node) -> Declaration | None:
    if composite_key_kind(ident) in ("field", "unknown"):
        return None  # a field name; unknown keys are fields in practice (the type is elsewhere)
    name = ident.text.decode()
    own = _self_declaration(ident)
    if own is not None:
        if own.construct.type != "short_var_declaration":
            return own
        return _redeclared(own) or own
    child, node = ident, ident.parent
    while node is not None:
        if node.type == "statement_list":
            decl = _block_declaration(node, child, name)
            if decl is not None:
                return decl
        elif node.type == "source_file":
            return package_declarations(node).get(name)
        elif node.type in _HEADERS:
            for decl in header_declarations(node, child):
                if decl.name == name:
                    return decl
        child, node = node, node.parent
    return None


def named(within: Node, name: str) -> list[Node]:
    """The identifiers spelled ``name`` under ``within``, in source order.

    Found from where the name's bytes stand: a query over every identifier of
    a function costs more than looking at the few places the name is written.
    """
    spelling = name.encode()
    base = within.start_byte
    found = []
    for at in spelled(within.text or b"", spelling):
        node = within.descendant_for_byte_range(base + at, base + at + len(spelling))
        if node is not None and node.type == "identifier" and node.text == spelling:
            found.append(node)
    return found


def references(decl: Declaration, within: Node) -> list[Node]:
    """Every identifier under ``within`` that refers to ``decl`` (its declaration included).

    Memoized per declaration and scope: rules ask the same of a function's variables again and again.
    """
    found: dict[tuple[int, int], list[Node]] = remembered(_REFERENCES, decl.node, lambda _: {})
    key = (within.start_byte, within.end_byte)
    if key not in found:
        found[key] = [i for i in named(within, decl.name) if resolve(i) == decl]
    return list(found[key])


def is_write(ident: Node) -> bool:
    """Whether this use of a variable writes it or takes its address.

    The identifier that declares a variable is not a write; the same name
    reused by ``x, err := f()`` for an existing ``err`` is.
    """
    parent = ident.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    if parent is None:
        return False
    if parent.type == "expression_list":
        holder = parent.parent
        if holder is not None and holder.type in ("assignment_statement", "range_clause", "receive_statement"):
            return parent == holder.child_by_field_name("left") and not _is_define(holder)
        if holder is not None and holder.type == "short_var_declaration" and ident.type == "identifier":
            if parent != holder.child_by_field_name("left"):
                return False
            decl = resolve(ident)
            return decl is not None and decl.node != ident
        return False
    if parent.type in ("inc_statement", "dec_statement"):
        return True
    if parent.type == "unary_expression":
        return parent.child_by_field_name("operator").type == "&"  # type: ignore[union-attr]
    return False


def root_identifier(expr: Node) -> Node | None:
    """``x`` for ``x``, ``x.f.g``, ``x[i]``, ``(x)``: the variable an expression stands on."""
    while expr.type in ("selector_expression", "index_expression", "parenthesized_expression", "slice_expression"):
        inner = expr.child_by_field_name("operand") or next(iter(expr.named_children), None)
        if inner is None:
            return None
        expr = inner
    return expr if expr.type == "identifier" else None


def whole_operand(use: Node) -> Node:
    """``x.f[i]`` for ``x``: writing a part of a variable (``x.f = 1``, ``x[i]++``) writes the variable."""
    node = use
    while node.parent is not None and node.parent.type in ("selector_expression", "index_expression"):
        if node.parent.child_by_field_name("operand") != node:
            break
        node = node.parent
    return node


def writes(decl: Declaration, within: Node) -> list[Node]:
    """Uses of ``decl`` under ``within`` that write it (directly, or a part of it)."""
    found = []
    for ref in references(decl, within):
        if ref == decl.node:
            continue  # the declaration itself
        node = whole_operand(ref)
        if is_write(node) or (node != ref and is_write(ref)):
            found.append(ref)
    return found


def captured(literal: Node) -> dict[Declaration, list[Node]]:
    """The variables a func literal uses from outside it, with every such use.

    Package-level variables are shared rather than captured, constants and
    functions are no variables: none of them is listed.
    """
    found: dict[Declaration, list[Node]] = {}
    for ident in captures("(identifier) @id", literal).get("id", []):
        decl = resolve(ident)
        if decl is None or decl.kind in ("func", "type", "const") or contains(literal, decl.node):
            continue
        if top_level(decl.node).type in ("var_declaration", "const_declaration"):
            continue  # package-level: shared, not captured
        found.setdefault(decl, []).append(ident)
    return found


def declared_type(decl: Declaration) -> Node | None:
    """The type written at a variable's declaration (``var x T``, ``x T`` in a signature), if any."""
    if decl.construct.type in ("var_spec", "const_spec", "parameter_declaration", "variadic_parameter_declaration"):
        return decl.construct.child_by_field_name("type")
    return None


def initial_value(decl: Declaration) -> Node | None:
    """The expression a variable starts with (``x := v``, ``var x = v``), when one is paired with it."""
    construct = decl.construct
    if construct.type == "short_var_declaration":
        names, values = construct.child_by_field_name("left"), construct.child_by_field_name("right")
    elif construct.type in ("var_spec", "const_spec"):
        names, values = construct, construct.child_by_field_name("value")
    else:
        return None
    if names is None or values is None:
        return None
    if names is construct:
        idents = [n for n in construct.children_by_field_name("name") if n.is_named]  # not the commas
    else:
        idents = [c for c in names.named_children if c.type != "comment"]
    items = [c for c in values.named_children if c.type != "comment"]
    if len(idents) != len(items) or decl.node not in idents:
        return None  # v, ok := m[k] and the like: no single value per name
    return items[idents.index(decl.node)]


def names_in(node: Node) -> set[str]:
    names: set[str] = set()
    for kind in _NAME_KINDS:
        names.update(n.text.decode() for n in captures(f"({kind}) @n", node).get("n", []))
    return names


def fresh_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base2``, ``base3``... whichever ``taken`` does not hold."""
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


def declared_in_function(data: bytes, name: str, node: Node) -> bool:
    """Whether the top-level function around ``node`` declares ``name`` itself (a local that would hide
    a package or import of that name); ``data`` is the file's text."""
    top = top_level(node)
    if next(spelled(data, name.encode(), top.start_byte, top.end_byte), None) is None:
        return False  # a local declaring the name spells it as a word in the function
    for ident in captures("(identifier) @id", top).get("id", []):
        if data[ident.start_byte : ident.end_byte].decode() == name:
            decl = resolve(ident)
            if decl is not None and contains(top, decl.node):
                return True
    return False
