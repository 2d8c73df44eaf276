"""Names in Go code: which declaration an identifier refers to, where a
variable is written, which outer variables a func literal captures, and fresh
names that collide with nothing.

Resolution is lexical and per file, as Go's own: walk up from the use, look at
what each enclosing block, statement header or function declares before it.
Names not declared in the file (other files of the package, universe) resolve
to ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc.source import captures

FUNCTIONS = frozenset({"function_declaration", "method_declaration", "func_literal"})
LOOPS = frozenset({"for_statement"})
_NAME_KINDS = ("identifier", "type_identifier", "package_identifier")


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
    return [Declaration(n.text.decode(), n, kind, construct) for n in nodes if n.text != b"_"]


def _spec_decls(declaration: Node, spec_type: str, kind: str) -> list[Declaration]:
    found: list[Declaration] = []
    for spec in captures(f"({spec_type}) @s", declaration).get("s", []):
        found += _decls(spec.children_by_field_name("name"), kind, spec)
    return found


def _is_define(node: Node) -> bool:
    return any(c.type == ":=" for c in node.children)


def declared_by(statement: Node) -> list[Declaration]:
    """What a statement (or top-level declaration) declares in its block."""
    kind = statement.type
    if kind == "short_var_declaration":
        return _decls(_identifiers(statement.child_by_field_name("left")), "var", statement)
    if kind == "var_declaration":
        return _spec_decls(statement, "var_spec", "var")
    if kind == "const_declaration":
        return _spec_decls(statement, "const_spec", "const")
    if kind == "type_declaration":
        names = [s.child_by_field_name("name") for s in statement.named_children]
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


def header_declarations(node: Node, child: Node) -> list[Declaration]:
    """What ``node`` declares for its part ``child`` (headers, cases, signatures)."""
    kind = node.type
    if kind in ("if_statement", "expression_switch_statement", "type_switch_statement"):
        init = node.child_by_field_name("initializer")
        found = declared_by(init) if init is not None and init.end_byte <= child.start_byte else []
        alias = node.child_by_field_name("alias")
        if alias is not None and alias.end_byte <= child.start_byte:
            found += _decls(_identifiers(alias), "var", node)
        return found
    if kind == "for_clause":
        init = node.child_by_field_name("initializer")
        return declared_by(init) if init is not None and init.end_byte <= child.start_byte else []
    if kind == "for_statement":
        found: list[Declaration] = []
        for clause in node.named_children:
            if clause.type == "for_clause" and clause is not child:
                init = clause.child_by_field_name("initializer")
                found += declared_by(init) if init is not None else []
            elif clause.type == "range_clause" and _is_define(clause) and clause.end_byte <= child.start_byte:
                found += _decls(_identifiers(clause.child_by_field_name("left")), "var", clause)
        return found
    if kind == "communication_case":
        comm = node.child_by_field_name("communication")
        if comm is not None and comm.type == "receive_statement" and _is_define(comm) and comm is not child:
            return _decls(_identifiers(comm.child_by_field_name("left")), "var", comm)
        return []
    if kind in FUNCTIONS:
        found = _parameters(node.child_by_field_name("receiver"), "receiver")
        found += _parameters(node.child_by_field_name("parameters"), "param")
        result = node.child_by_field_name("result")
        if result is not None and result.type == "parameter_list":
            found += _parameters(result, "result")
        return found
    return []


def _block_declaration(block: Node, before: Node, name: str) -> Declaration | None:
    for statement in block.named_children:
        if statement.end_byte > before.start_byte:
            break
        for decl in declared_by(statement):
            if decl.name == name:
                return decl
    return None


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
    elif construct.type in ("var_spec", "const_spec", "parameter_declaration"):
        decls = _decls([n for n in construct.children_by_field_name("name") if n == ident], "var", construct)
    return next((d for d in decls if d.node == ident), None)


def resolve(ident: Node) -> Declaration | None:
    """The declaration an identifier refers to, or None if not in this file."""
    name = ident.text.decode()
    own = _self_declaration(ident)
    if own is not None and own.construct.type != "short_var_declaration":
        return own
    child, node = ident, ident.parent
    while node is not None:
        if node.type == "statement_list":
            decl = _block_declaration(node, child, name)
            if decl is not None:
                return decl
        elif node.type == "source_file":
            for top in node.named_children:
                for decl in declared_by(top):
                    if decl.name == name:
                        return decl
        else:
            for decl in header_declarations(node, child):
                if decl.name == name:
                    return decl
        child, node = node, node.parent
    return own


def references(decl: Declaration, within: Node) -> list[Node]:
    """Every identifier under ``within`` that refers to ``decl``."""
    ids = captures("(identifier) @id", within).get("id", [])
    name = decl.name.encode()
    return [i for i in ids if i.text == name and resolve(i) == decl]


def is_write(ident: Node) -> bool:
    """Whether this use of a variable writes it or takes its address."""
    parent = ident.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    if parent is None:
        return False
    if parent.type == "expression_list":
        holder = parent.parent
        if holder is not None and holder.type in ("assignment_statement", "range_clause", "receive_statement"):
            return parent == holder.child_by_field_name("left")
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


def writes(decl: Declaration, within: Node) -> list[Node]:
    """Uses of ``decl`` under ``within`` that write it (directly, or a part of it)."""
    found = []
    for ref in references(decl, within):
        node = ref
        # x.f = 1 and x[i]++ write x too: climb to the whole operand.
        while node.parent is not None and node.parent.type in ("selector_expression", "index_expression"):
            if node.parent.child_by_field_name("operand") != node:
                break
            node = node.parent
        if is_write(node) or (node is not ref and is_write(ref)):
            found.append(ref)
    return found


def captured(literal: Node) -> dict[Declaration, list[Node]]:
    """The variables a func literal uses from outside it, with every such use."""
    found: dict[Declaration, list[Node]] = {}
    for ident in captures("(identifier) @id", literal).get("id", []):
        decl = resolve(ident)
        if decl is None or decl.kind in ("func", "type") or contains(literal, decl.node):
            continue
        if decl.construct.parent is not None and decl.construct.parent.type == "source_file":
            continue  # package-level: shared, not captured
        if top_level(decl.node).type in ("var_declaration", "const_declaration"):
            continue
        found.setdefault(decl, []).append(ident)
    return found


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
