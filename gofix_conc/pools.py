"""`sync.Pool`s of a package: which pool a `Get`/`Put` call uses, and every such call across the package.

A pool is known by where it lives, so calls in different files meet:

    var bufPool sync.Pool            ("var", "bufPool")          bufPool.Put(b)
    var pools [4]sync.Pool           ("var", "pools")            pools[i].Put(b)
    type S struct{ pool sync.Pool }  ("field", "S", "pool")      s.pool.Put(b)
    func poolFor(n int) *sync.Pool   ("call", "poolFor")         poolFor(n).Put(b)
    p := &sync.Pool{}                ("local", decl offsets)     p.Put(b)   (this file only)

The receiver is a pool when its type, as :class:`gofix_conc.types.Types`
reads it from the source, is `sync.Pool` or `*sync.Pool` (the file's name for
package sync), or when it names a package-level pool the index found.

A pool stores `any`: what a `Put` of a value costs is whether converting it to
an interface allocates (a slice, string, struct or array value does; a pointer,
or a struct holding just one, does not).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import index, scopes
from gofix_conc.imports import imports
from gofix_conc.index import PackageView
from gofix_conc.source import LITERALS, Source, captures, spelled
from gofix_conc.types import Type, Types

# Method calls on some receiver:  pool.Put(b)   s.pool.Get()   pools[i].Put(b)
CALLS = """
(call_expression
  function: (selector_expression operand: (_) @operand field: (field_identifier) @method)
  arguments: (argument_list)) @call
"""

PoolKey = tuple[str, ...]

_ALLOCATING = frozenset({"slice", "string", "struct", "array"})
_POINTER_SHAPED = frozenset({"pointer", "map", "chan", "func"})
_LITERALS = LITERALS | {"literal_value", "literal_element"}


@dataclass(frozen=True)
class PoolCall:
    """One ``Get()`` or ``Put(x)`` on a pool."""

    call: Node
    method: str  # Get or Put
    operand: Node  # the pool expression
    key: PoolKey
    source: Source  # the file it is in


def sync_name(source: Source) -> str | None:
    """The file's name for package sync; None when not imported (or only as _ or .)."""
    return next((i.local_name for i in imports(source) if i.path == "sync" and i.name not in ("_", ".")), None)


def calls(
    source: Source, package: PackageView, methods: tuple[str, ...] = ("Get", "Put"), types: Types | None = None
) -> Iterator[PoolCall]:
    """The ``Get``/``Put`` calls on pools in one file (``types``: the file's, when the caller has them)."""
    sync = sync_name(source)
    # A pool's type is written `sync.Pool` in some file of the package (types are read from its source only).
    if (sync is None or b".Pool" not in source.data) and not _pools_elsewhere(package):
        return  # no file of the package can declare a pool
    types = types if types is not None else Types(source.root, package)
    for call, operand, name in method_calls(source.root, methods):
        key = pool_key(types, operand, sync, package)
        if key is not None:
            yield PoolCall(call, name, operand, key, source)


def method_calls(within: Node, methods: tuple[str, ...]) -> list[tuple[Node, Node, str]]:
    """The CALLS matches under ``within`` naming one of ``methods``: (call, operand, method), in the query's order.

    Looked up where a method's name is written: a walk over every call of the
    file costs more, and most calls are of other methods. (Not specific to
    pools: timer-in-loop and lock-os-thread-without-unlock find their calls so too.)
    """
    data = within.text or b""
    base = within.start_byte
    found = []
    for name in methods:
        spelling = name.encode()
        for at in spelled(data, spelling):
            method = within.descendant_for_byte_range(base + at, base + at + len(spelling))
            selector = method.parent if method is not None and method.type == "field_identifier" else None
            if selector is None or selector.type != "selector_expression":
                continue  # in a comment or a string, or a method's declaration
            operand, call = selector.child_by_field_name("operand"), selector.parent
            if selector.child_by_field_name("field") != method or operand is None or call is None:
                continue
            arguments = call.child_by_field_name("arguments")
            if call.type != "call_expression" or call.child_by_field_name("function") != selector:
                continue  # a method value, not a call
            if arguments is not None and arguments.type == "argument_list":
                found.append((call, operand, name))
    # a.b().c(): both calls start at a; the query gives the inner one first
    return sorted(found, key=lambda f: (f[0].start_byte, f[0].end_byte))


def _pools_elsewhere(package: PackageView) -> bool:
    """Whether another file of the package writes ``sync.Pool`` (read from the text, nothing parsed)."""
    files = index.package(package.path.parent, package.name, package.is_test).members
    return any(b".Pool" in m.raw for m in files if m.path != package.path)


def package_calls(package: PackageView, key: PoolKey, method: str) -> list[PoolCall]:
    """Every call of ``method`` on the pool ``key`` in the package (this file first)."""
    files = [package.own] if key[0] == "local" else list(package.files())
    needle = f".{method}(".encode()
    return [
        call
        for f in files
        if needle in f.source.data
        for call in calls(f.source, package, (method,))
        if call.key == key
    ]


def pool_key(types: Types, operand: Node, sync: str | None, package: PackageView) -> PoolKey | None:
    """Where the pool ``operand`` stands for lives; None when it is no pool the source shows."""
    operand = unparen(operand)
    if not _is_pool(types, operand, sync, package):
        return None
    if operand.type == "index_expression":  # an element of an array of pools: the array
        inner = operand.child_by_field_name("operand")
        return _place(types, unparen(inner)) if inner is not None else None
    return _place(types, operand)


def _is_pool(types: Types, operand: Node, sync: str | None, package: PackageView) -> bool:
    found = type_of(types, operand)
    if found is not None:
        u = types.underlying(found)
        if package.declared_in_sibling(u.node):  # a field type written in another file, with its imports
            holder = package.file_of(u.node)
            sync = sync_name(holder.source) if holder is not None else None
        return sync is not None and _names_pool(u, sync)
    root = operand
    if root.type == "index_expression":
        root = unparen(root.child_by_field_name("operand") or root)
    if root.type == "identifier" and scopes.resolve(root) is None:
        return root.text.decode() in package.pools()  # var p = sync.Pool{...} in another file
    return False


def _names_pool(u: Type, sync: str) -> bool:
    return u.pointers <= 1 and u.node.type == "qualified_type" and u.node.text.decode() == f"{sync}.Pool"


def _place(types: Types, operand: Node) -> PoolKey | None:
    if operand.type == "identifier":
        decl = scopes.resolve(operand)
        name = operand.text.decode()
        if decl is None or scopes.top_level(decl.node).type == "var_declaration":
            return ("var", name)
        return ("local", str(decl.key))  # only ever compared within one file
    if operand.type == "selector_expression":
        owner = operand.child_by_field_name("operand")
        field = operand.child_by_field_name("field")
        outer = type_of(types, owner) if owner is not None else None
        struct = struct_name(outer)
        if struct is None or field is None:
            return None
        return ("field", struct, field.text.decode())
    if operand.type == "call_expression":
        function = operand.child_by_field_name("function")
        decl = scopes.resolve(function) if function is not None and function.type == "identifier" else None
        if function is not None and function.type == "identifier" and (decl is None or decl.kind == "func"):
            return ("call", function.text.decode())
    return None


def type_of(types: Types, expr: Node) -> Type | None:
    """:meth:`Types.of_expression`, receivers included (``s.pool``, ``*s`` in a method of ``*S``)."""
    expr = unparen(expr)
    if expr.type == "identifier":
        decl = scopes.resolve(expr)
        declared = scopes.declared_type(decl) if decl is not None and decl.kind == "receiver" else None
        if declared is not None:
            return Type(declared)
    elif expr.type == "unary_expression" and expr.child_by_field_name("operator") is not None:
        operator = expr.child_by_field_name("operator").type  # type: ignore[union-attr]
        operand = expr.child_by_field_name("operand")
        inner = type_of(types, operand) if operand is not None and operator in ("*", "&") else None
        if inner is None:
            return None
        return types.pointee(inner) if operator == "*" else Type(inner.node, inner.pointers + 1)
    elif expr.type in ("selector_expression", "index_expression"):
        operand = expr.child_by_field_name("operand")
        outer = type_of(types, operand) if operand is not None else None
        if outer is None:
            return None
        if expr.type == "index_expression":
            return types.element(outer)
        field = expr.child_by_field_name("field")
        fields = types.fields(outer)
        return fields.get(field.text.decode()) if fields is not None and field is not None else None
    return types.of_expression(expr)


def struct_name(found: Type | None) -> str | None:
    """``S`` for a value of type ``S`` or ``*S`` (a type of this package)."""
    if found is None or found.pointers > 1:
        return None
    node = found.node
    if node.type == "pointer_type" and node.named_children and not found.pointers:
        node = node.named_children[0]
    return node.text.decode() if node.type == "type_identifier" else None


# -- what a Put of a value costs ------------------------------------------------


def allocating_type(types: Types, arg: Node) -> str | None:
    """The type of a value whose conversion to ``any`` allocates (slice, string, struct, array); else None."""
    arg = unparen(arg)
    if arg.type == "composite_literal" and _static(arg):
        return None  # a literal of constants is boxed from read-only data
    if arg.type == "slice_expression":
        operand = arg.child_by_field_name("operand")
        inner = value_type(types, operand) if operand is not None else None
        element = types.element(inner) if inner is not None and types.kind(inner) == "array" else None
        if element is not None:
            return f"[]{types.name(element)}"  # a slice of an array
    found = value_type(types, arg)
    if found is None or _type_parameter(found, arg):
        return None
    kind = types.kind(found)
    if kind not in _ALLOCATING or _pointer_shaped(types, found, 0):
        return None
    size = types.size(found)
    if size is not None and size <= 1:
        return None  # zero-size and one-byte values are boxed without allocating
    return types.name(found) if kind != "slice" or found.node.type != "slice_type" else found.node.text.decode()


def _type_parameter(found: Type, at: Node) -> bool:
    """Whether the type is a type parameter of a function around ``at`` (it may hide a package type's name)."""
    if found.node.type != "type_identifier":
        return False
    name = found.node.text
    for function in scopes.ancestors(at):
        if function.type == "function_declaration":
            params = function.child_by_field_name("type_parameters")
            names = captures("(type_parameter_declaration name: (identifier) @n)", params) if params else {}
            if any(n.text == name for n in names.get("n", [])):
                return True
        elif function.type == "method_declaration":
            receiver = function.child_by_field_name("receiver")
            arguments = captures("(type_arguments (type_elem (type_identifier) @n))", receiver) if receiver else {}
            if any(n.text == name for n in arguments.get("n", [])):
                return True
    return False


def _static(literal: Node) -> bool:
    """A composite literal whose elements are all literals."""
    body = literal.child_by_field_name("body")
    for value in captures("(literal_value (_) @v)", body).get("v", []) if body is not None else []:
        inner = value.named_children if value.type in ("literal_element", "keyed_element") else [value]
        for part in inner:
            if part.type not in _LITERALS and part.type != "field_identifier":
                return False
    return True


def value_type(types: Types, expr: Node) -> Type | None:
    """The type of ``expr``, with what :class:`Types` leaves out: type assertions, conversions, reslices."""
    expr = unparen(expr)
    if expr.type in ("type_assertion_expression", "type_conversion_expression"):
        kind = expr.child_by_field_name("type")
        return Type(kind) if kind is not None else None
    if expr.type == "identifier":
        decl = scopes.resolve(expr)
        if decl is not None and decl.kind == "var" and decl.construct.type == "short_var_declaration":
            asserted = asserted_type(decl)
            if asserted is not None:
                return asserted
    if expr.type == "slice_expression":
        operand = expr.child_by_field_name("operand")
        inner = value_type(types, operand) if operand is not None else None
        if inner is not None and types.kind(inner) in ("slice", "string"):
            return inner
        return None  # a slice of an array: a type with no node to name it
    return type_of(types, expr)


def asserted_type(decl: scopes.Declaration) -> Type | None:
    """``T`` for ``x := v.(T)`` and ``x, ok := v.(T)``."""
    left = decl.construct.child_by_field_name("left")
    right = decl.construct.child_by_field_name("right")
    names = [c for c in left.named_children if c.type != "comment"] if left is not None else []
    values = [c for c in right.named_children if c.type != "comment"] if right is not None else []
    if len(values) != 1 or not names or names[0] != decl.node:
        return None
    value = unparen(values[0])
    kind = value.child_by_field_name("type") if value.type == "type_assertion_expression" else None
    return Type(kind) if kind is not None else None


def _pointer_shaped(types: Types, t: Type, depth: int) -> bool:
    """A struct or array holding exactly one pointer-shaped value is stored in an interface as is.

    A lone field (or element) of another package's type counts as one: it may be a pointer.
    """
    if depth > 8:
        return False
    kind = types.kind(t)
    if kind in _POINTER_SHAPED or (depth and kind == "unknown"):
        return True  # a pointer, or a type of another package that may be one
    u = types.underlying(t)
    if kind == "array":
        length = u.node.child_by_field_name("length")
        element = types.element(t)
        return (
            length is not None
            and length.text == b"1"
            and element is not None
            and _pointer_shaped(types, element, depth + 1)
        )
    if kind == "struct":
        fields = types.fields(t)
        sized = [f for f in (fields or {}).values() if types.size(f) != 0]
        return len(sized) == 1 and _pointer_shaped(types, sized[0], depth + 1)
    return False


# -- small helpers -------------------------------------------------------------


def call_arguments(call: Node | None) -> list[Node]:
    """The arguments of a call, comments left out."""
    arguments = call.child_by_field_name("arguments") if call is not None else None
    return [a for a in arguments.named_children if a.type != "comment"] if arguments is not None else []


def unparen(node: Node) -> Node:
    """The expression inside any parentheses."""
    while node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node
