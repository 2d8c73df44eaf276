"""Editing goroutines: statements at the start of a goroutine's function,
with ``go f(x)`` turned into ``go func() { ...; f(x) }()`` when needed.

Go evaluates the function value and the arguments of ``go f(x)`` at the go
statement. A wrapping closure evaluates them when it runs, so every argument
whose value could differ by then is first bound to a fresh local:

    go handle(conn, <-ready, i)   ⇒   ready2 := <-ready
                                      go func() {
                                          defer ...
                                          handle(conn, ready2, i)
                                      }()

A bound argument is named after the callee's parameter when the callee is
declared in this file and the name is free (``func handle(c net.Conn, token
string)`` gives ``token := <-ready``), else after the expression
(``emails[i]`` gives ``email``, ``<-tokens`` ``token``).

Literals, func literals, constants and variables that nothing writes after the
go statement (per-iteration loop variables from Go 1.22 on) are left in place.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import gofmt, imports, scopes
from gofix_conc.context import FileContext
from gofix_conc.model import Edit
from gofix_conc.source import LITERALS

_LITERALS = LITERALS | {"iota", "func_literal"}


def call_of(go: Node) -> Node | None:
    call = go.named_children[0] if go.named_children else None
    return call if call is not None and call.type == "call_expression" else None


def literal_of(go: Node) -> Node | None:
    """The func literal a ``go func() {...}()`` runs, else None."""
    call = call_of(go)
    function = call.child_by_field_name("function") if call else None
    while function is not None and function.type == "parenthesized_expression":
        function = function.named_children[0]
    return function if function is not None and function.type == "func_literal" else None


def statements(block: Node) -> list[Node]:
    """A block's statements (and comments), whatever the grammar nests them in."""
    inner = next((c for c in block.named_children if c.type == "statement_list"), None)
    holder = inner if inner is not None else block
    return [c for c in holder.named_children]


def prepend(ctx: FileContext, block: Node, lines: list[str]) -> Edit:
    """Put ``lines`` first in ``block``; a one-line block is opened up, gofmt-style."""
    source = ctx.source
    close_indent = source.indent_at(block.end_byte - 1)
    inner = close_indent + ctx.indent_unit()
    added = "".join(f"\n{inner}{line}" for line in lines)
    if block.start_point.row != block.end_point.row:
        # After the whole opening line, so a comment after "{" stays where it is.
        at = source.data.index(b"\n", block.start_byte)
        if source.data[at - 1 : at] == b"\r":
            at -= 1
        return Edit(at, at, added.encode())
    body = "".join(f"\n{inner}{ctx.text(s)}" for s in statements(block))
    return Edit(block.start_byte, block.end_byte, f"{{{added}{body}\n{close_indent}}}".encode())


def _loop_header_var(decl: scopes.Declaration) -> bool:
    construct = decl.construct
    parent = construct.parent
    return construct.type == "range_clause" or (parent is not None and parent.type == "for_clause")


def is_stable(ctx: FileContext, expr: Node, go: Node) -> bool:
    """Whether ``expr`` has the same value at the go statement and when the goroutine starts."""
    kind = expr.type
    if kind in _LITERALS:
        return True
    if kind == "parenthesized_expression":
        return all(is_stable(ctx, c, go) for c in expr.named_children)
    if kind == "identifier":
        return _stable_variable(ctx, expr, go)
    if kind == "selector_expression":
        operand = expr.child_by_field_name("operand")
        return operand is not None and is_stable(ctx, operand, go)
    if kind == "unary_expression":
        operator = expr.child_by_field_name("operator")
        operand = expr.child_by_field_name("operand")
        if operator is None or operand is None or operator.type == "<-":
            return False
        return (operator.type == "&" and operand.type == "identifier") or is_stable(ctx, operand, go)
    if kind == "binary_expression":
        return all(
            is_stable(ctx, c, go) for c in (expr.child_by_field_name("left"), expr.child_by_field_name("right")) if c
        )
    if kind == "composite_literal":
        body = expr.child_by_field_name("body")
        return body is not None and all(is_stable(ctx, e, go) for e in _elements(body))
    return False


def _elements(literal_value: Node) -> list[Node]:
    found = []
    for element in literal_value.named_children:
        if element.type == "keyed_element":
            element = element.named_children[-1]
        if element.type == "literal_element":
            element = element.named_children[0]
        if element.type != "comment":
            found.append(element)
    return found


def _stable_variable(ctx: FileContext, ident: Node, go: Node) -> bool:
    decl = scopes.resolve(ident)
    if decl is None:
        name = ident.text.decode()
        if any(i.local_name == name for i in imports.imports(ctx.source)):
            return True  # the package of pkg.F
        return ctx.package.kind(name) != "var"  # another file's variable: anything may change it
    if decl.kind in ("func", "const", "type"):
        return True
    function = scopes.enclosing_function(go)
    if function is None or scopes.top_level(decl.construct).type == "var_declaration":
        return False  # package-level variable: anything may change it
    loop = scopes.enclosing(go, scopes.LOOPS)
    in_header = _loop_header_var(decl)
    if in_header and not ctx.at_least(1, 22) and loop is not None and scopes.contains(loop, decl.node):
        return False  # one variable shared by all iterations
    declared_in_iteration = loop is not None and scopes.contains(loop, decl.node)
    for write in scopes.writes(decl, scopes.top_level(function)):
        if scopes.contains(decl.construct, write) and write.start_byte <= decl.node.end_byte:
            continue  # the declaration itself
        if in_header and decl.construct.parent is not None and write.parent is not None:
            clause = decl.construct.parent
            if clause.type == "for_clause" and scopes.contains(clause.child_by_field_name("update") or clause, write):
                continue  # from Go 1.22 the update runs on the next iteration's copy
        if declared_in_iteration and write.end_byte <= go.start_byte and scopes.enclosing_function(write) == function:
            continue  # written before the go statement in the same iteration
        return False
    return True


@dataclass(frozen=True)
class GoroutineEdit:
    """Edits that put statements first in a goroutine, and what must precede the go."""

    edits: list[Edit]
    before_go: list[str]  # statements (bindings) to insert right before the go statement


def start_goroutine_with(ctx: FileContext, go: Node, lines: list[str]) -> GoroutineEdit | None:
    """Make ``lines`` the first statements the goroutine runs; None when it cannot be done."""
    literal = literal_of(go)
    if literal is not None:
        body = literal.child_by_field_name("body")
        if body is None:
            return None
        return GoroutineEdit([prepend(ctx, body, lines)], [])
    call = call_of(go)
    if call is None or not ctx.source.starts_line(go.start_byte):
        return None
    if any(n.start_point.row != n.end_point.row for n in _raw_strings(call)):
        return None  # re-indenting would change a multi-line raw string
    arguments = call.child_by_field_name("arguments")
    function = call.child_by_field_name("function")
    if arguments is None or function is None:
        return None
    bindings: list[tuple[str, Node]] = []
    replaced: list[Edit] = []
    callee = declared_callee(ctx, go)
    names = parameter_names(callee) if callee is not None else []
    values = [
        a.named_children[0] if a.type == "variadic_argument" and a.named_children else a
        for a in arguments.named_children
        if a.type != "comment"
    ]
    parameters = {v.start_byte: n for v, n in zip(values, names, strict=False)}
    parts = [function, *(a for a in arguments.named_children if a.type != "comment")]
    for part in parts:
        if part.type in ("type_identifier", "slice_type", "map_type", "channel_type", "array_type", "pointer_type"):
            continue  # a type argument to make/new: nothing to evaluate
        if part.type == "variadic_argument" and part.named_children:
            part = part.named_children[0]  # bind the slice of `xs...`; the call keeps its `...`
        if is_stable(ctx, part, go):
            continue
        name = binding_name(ctx, go, part, parameters.get(part.start_byte), "fn" if part is function else "arg")
        bindings.append((name, part))
        replaced.append(Edit(part.start_byte - call.start_byte, part.end_byte - call.start_byte, name.encode()))
    call_text = ctx.source.data[call.start_byte : call.end_byte]
    for edit in sorted(replaced, key=lambda e: e.start, reverse=True):
        call_text = call_text[: edit.start] + edit.text + call_text[edit.end :]
    indent = ctx.indent(go)
    inner = indent + ctx.indent_unit()
    body_call = call_text.decode().replace("\n", "\n" + ctx.indent_unit())
    body = "".join(f"{inner}{line}\n" for line in [*lines, body_call])
    text = f"go func() {{\n{body}{indent}}}()"
    before = []
    if bindings:
        names = ", ".join(n for n, _ in bindings)
        # gofmt spaces a binary operator by the depth it stands at: a, b := x, y is one level deeper.
        depth = 1 if len(bindings) == 1 else 2
        values = ", ".join(gofmt.respace(v, depth) for _, v in bindings)
        before.append(f"{names} := {values}")
    return GoroutineEdit([Edit(go.start_byte, go.end_byte, text.encode())], before)


def declared_callee(ctx: FileContext, go: Node) -> Node | None:
    """The declaration of the function ``go f(x)`` / ``go r.m(x)`` runs, when the package has it."""
    call = call_of(go)
    function = call.child_by_field_name("function") if call is not None else None
    if function is None:
        return None
    if function.type == "identifier":
        decl = scopes.resolve(function)
        if decl is None:
            found = ctx.package.functions(function.text.decode())  # another file's function
            return found[0] if len(found) == 1 else None
        construct = decl.construct if decl.kind == "func" else None
        return construct if construct is not None and construct.type == "function_declaration" else None
    name = function.child_by_field_name("field") if function.type == "selector_expression" else None
    operand = function.child_by_field_name("operand") if function.type == "selector_expression" else None
    if name is None or operand is None:
        return None
    imported = {i.local_name for i in imports.imports(ctx.source)}
    if operand.type == "identifier" and operand.text.decode() in imported and scopes.resolve(operand) is None:
        return None  # pkg.F of another package
    methods = ctx.package.methods_named(name.text.decode())
    return methods[0].node if len(methods) == 1 else None  # one method of that name: no guessing the receiver's type


def parameter_names(function: Node) -> list[str]:
    params = function.child_by_field_name("parameters")
    return [
        name.text.decode()
        for declaration in (params.named_children if params is not None else [])
        if declaration.type in ("parameter_declaration", "variadic_parameter_declaration")
        for name in declaration.children_by_field_name("name")
        if name.is_named
    ]


def binding_name(ctx: FileContext, go: Node, value: Node, parameter: str | None, fallback: str = "arg") -> str:
    """The callee's parameter name when free, else a name the expression suggests."""
    if parameter is not None and parameter != "_":
        name = ctx.fresh_name(go, parameter)
        if name == parameter:
            return name
    suggested = _suggested_name(value)
    return ctx.fresh_name(go, suggested if suggested != "arg" else fallback)


def _suggested_name(value: Node) -> str:
    """``emails[i]`` → email, ``<-tokens`` → token, ``s.conn`` → conn, ``time.After(d)`` → after."""
    node = value
    for _ in range(8):
        if node.type in ("index_expression", "unary_expression", "parenthesized_expression", "slice_expression"):
            inner = node.child_by_field_name("operand") or next(iter(node.named_children), None)
            singular = node.type in ("index_expression", "unary_expression")
            if inner is None:
                break
            if singular and inner.type == "identifier":
                return _singular(inner.text.decode())
            if singular and inner.type == "selector_expression":
                field = inner.child_by_field_name("field")
                return _singular(_lower(field.text.decode())) if field is not None else "arg"
            node = inner
        elif node.type == "selector_expression":
            field = node.child_by_field_name("field")
            return _lower(field.text.decode()) if field is not None else "arg"
        elif node.type == "call_expression":
            function = node.child_by_field_name("function")
            node = function if function is not None else node
            if function is None:
                break
        elif node.type == "identifier":
            return node.text.decode()
        else:
            break
    return "fn" if value.type == "func_literal" else "arg"


def _singular(name: str) -> str:
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss") and len(name) > 2:
        return name[:-1]
    return name


def _lower(name: str) -> str:
    lowered = name[:1].lower() + name[1:]
    return lowered if lowered.isidentifier() and lowered not in _KEYWORDS else "arg"


_KEYWORDS = frozenset(
    [
        "break",
        "case",
        "chan",
        "const",
        "continue",
        "default",
        "defer",
        "else",
        "fallthrough",
        "for",
        "func",
        "go",
        "goto",
        "if",
        "import",
        "interface",
        "map",
        "package",
        "range",
        "return",
        "select",
        "struct",
        "switch",
        "type",
        "var",
    ]
)


def _raw_strings(node: Node) -> list[Node]:
    from gofix_conc.source import captures

    return captures("(raw_string_literal) @s", node).get("s", [])
