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
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import index, scopes
from gofix_conc.imports import imports
from gofix_conc.index import PackageView
from gofix_conc.source import Source, spelled
from gofix_conc.types import Type, Types

# Method calls on some receiver:  pool.Put(b)   s.pool.Get()   pools[i].Put(b)
CALLS = """
(call_expression
  function: (selector_expression operand: (_) @operand field: (field_identifier) @method)
  arguments: (argument_list)) @call
"""

PoolKey = tuple[str, ...]


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
    operand = _unparen(operand)
    if not _is_pool(types, operand, sync, package):
        return None
    if operand.type == "index_expression":  # an element of an array of pools: the array
        inner = operand.child_by_field_name("operand")
        return _place(types, _unparen(inner)) if inner is not None else None
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
        root = _unparen(root.child_by_field_name("operand") or root)
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
    expr = _unparen(expr)
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


def _unparen(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node
