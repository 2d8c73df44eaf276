"""Types as far as the package's source tells them: what a variable was
declared or built as, the fields of structs declared in the package, and value sizes.

There is no type checker here. A type is its type expression in the source
(``Config``, ``*Config``, ``[]Item``, ``[4 << 10]byte``); names resolve to the
file's top-level type declarations, then (given the package index) to those
of the package's other files, and so do the constants an array length names
and the methods of a type. Anything declared in another package is unknown:
sizes come back as ``None`` (exact) or count as 0 (lower bound), kinds as
``"unknown"``, except for a few standard-library types whose layout is fixed.
A name declared differently in build-constrained variants is unknown too.

Sizes are those of 64-bit platforms (amd64, arm64), with Go's alignment rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import scopes
from gofix_conc.index import PackageView

# The predeclared types: kind, size, alignment.
BASIC: dict[str, tuple[str, int, int]] = {
    **{n: ("basic", 1, 1) for n in ("bool", "int8", "uint8", "byte")},
    **{n: ("basic", 2, 2) for n in ("int16", "uint16")},
    **{n: ("basic", 4, 4) for n in ("int32", "uint32", "rune", "float32")},
    **{n: ("basic", 8, 8) for n in ("int", "uint", "int64", "uint64", "uintptr", "float64", "complex64")},
    "complex128": ("basic", 16, 8),
    "string": ("string", 16, 8),
    "error": ("interface", 16, 8),
    "any": ("interface", 16, 8),
}
# Standard-library types whose layout does not change between releases.
QUALIFIED: dict[str, tuple[str, int, int]] = {
    "time.Duration": ("basic", 8, 8),
    "time.Month": ("basic", 8, 8),
    "time.Weekday": ("basic", 8, 8),
    "time.Time": ("struct", 24, 8),
    "sync.Mutex": ("struct", 8, 4),
    "sync.RWMutex": ("struct", 24, 4),
    "atomic.Bool": ("struct", 4, 4),
    "atomic.Int32": ("struct", 4, 4),
    "atomic.Uint32": ("struct", 4, 4),
    "atomic.Int64": ("struct", 8, 8),
    "atomic.Uint64": ("struct", 8, 8),
    "http.Header": ("map", 8, 8),
    "url.Values": ("map", 8, 8),
    "context.Context": ("interface", 16, 8),
    "io.Reader": ("interface", 16, 8),
    "io.Writer": ("interface", 16, 8),
    "http.Handler": ("interface", 16, 8),
    "http.ResponseWriter": ("interface", 16, 8),
    "unsafe.Pointer": ("pointer", 8, 8),
}
# Values whose methods all have value receivers: a copy behaves as the original.
VALUE_METHOD_TYPES = frozenset({"time.Duration", "time.Month", "time.Weekday", "time.Time"})
_REFERENCE_KINDS = frozenset({"pointer", "slice", "map", "chan", "func", "interface"})
_SIZES = {"pointer": 8, "map": 8, "chan": 8, "func": 8, "slice": 24, "interface": 16, "string": 16}
# Names never looked up in the package: the predeclared types (shadowing them is legal, and not done).
PREDECLARED = frozenset(BASIC) | {"comparable"}


@dataclass(frozen=True)
class Type:
    """A type expression in the source, seen through ``pointers`` extra ``*``."""

    node: Node
    pointers: int = 0


def is_reference_kind(kind: str) -> bool:
    """Whether a copy of such a value still refers to the same thing (pointer, slice, map, ...)."""
    return kind in _REFERENCE_KINDS


class Types:
    """The type declarations, methods and functions of one file, and of its package when given."""

    def __init__(self, root: Node, package: PackageView | None = None) -> None:
        self.root = root
        self.package = package
        self.declared: dict[str, Node] = {}  # type name -> type_spec
        self.functions: dict[str, Node] = {}
        self.methods: dict[str, dict[str, bool]] = {}  # type name -> method -> pointer receiver
        for top in root.named_children:
            if top.type == "type_declaration":
                for spec in top.named_children:
                    name = spec.child_by_field_name("name")
                    if spec.type == "type_spec" and name is not None:
                        self.declared[name.text.decode()] = spec
            elif top.type == "function_declaration":
                name = top.child_by_field_name("name")
                if name is not None:
                    self.functions[name.text.decode()] = top
            elif top.type == "method_declaration":
                self._add_method(top)

    def _add_method(self, method: Node) -> None:
        receiver = method.child_by_field_name("receiver")
        name = method.child_by_field_name("name")
        params = [p for p in receiver.named_children if p.type == "parameter_declaration"] if receiver else []
        kind = params[0].child_by_field_name("type") if params else None
        if kind is None or name is None:
            return
        pointer = kind.type == "pointer_type"
        base = kind.named_children[0] if pointer and kind.named_children else kind
        if base.type == "generic_type":
            base = base.child_by_field_name("type") or base
        self.methods.setdefault(base.text.decode(), {})[name.text.decode()] = pointer

    def spec(self, name: str) -> Node | None:
        """The ``type_spec`` declaring ``name``: in this file, else in the package's other files."""
        found = self.declared.get(name)
        if found is None and self.package is not None and name not in PREDECLARED:
            found = self.package.type_spec(name)
        return found

    def function(self, name: str) -> Node | None:
        found = self.functions.get(name)
        if found is None and self.package is not None:
            declared = self.package.functions(name)
            found = declared[0] if len(declared) == 1 else None
        return found

    # -- what a type is ------------------------------------------------------

    def underlying(self, t: Type) -> Type:
        """Follow names declared in this file, parentheses and ``*`` into ``pointers``."""
        node, pointers = t.node, t.pointers
        for _ in range(16):
            if node.type == "parenthesized_type" and node.named_children:
                node = node.named_children[0]
            elif node.type == "pointer_type" and node.named_children:
                node, pointers = node.named_children[0], pointers + 1
            elif node.type == "type_identifier" and (spec := self.spec(node.text.decode())) is not None:
                inner = spec.child_by_field_name("type")
                if inner is None or spec.child_by_field_name("type_parameters") is not None:
                    return Type(node, pointers)  # generic: unknown layout
                node = inner
            else:
                break
        return Type(node, pointers)

    def pointee(self, t: Type) -> Type | None:
        """What a pointer type points to, still under its own name (``Config`` for ``*Config``)."""
        if t.pointers:
            return Type(t.node, t.pointers - 1)
        node = t.node
        while node.type == "parenthesized_type" and node.named_children:
            node = node.named_children[0]
        if node.type == "pointer_type" and node.named_children:
            return Type(node.named_children[0])
        u = self.underlying(t)
        return Type(u.node, u.pointers - 1) if u.pointers else None

    def kind(self, t: Type) -> str:
        """pointer, slice, map, chan, func, interface, array, struct, string, basic or unknown."""
        node = t.node
        while node.type == "parenthesized_type" and node.named_children:
            node = node.named_children[0]
        if t.pointers or (node.type == "pointer_type" and node.named_children):
            return "pointer"  # whatever it points to: no name to look up in the package
        u = self.underlying(t)
        if u.pointers:
            return "pointer"
        return {
            "slice_type": "slice",
            "map_type": "map",
            "channel_type": "chan",
            "function_type": "func",
            "interface_type": "interface",
            "array_type": "array",
            "implicit_length_array_type": "array",
            "struct_type": "struct",
        }.get(u.node.type) or self._named_kind(u.node)

    def _named_kind(self, node: Node) -> str:
        text = node.text.decode()
        known = BASIC.get(text) if node.type == "type_identifier" else QUALIFIED.get(text)
        return known[0] if known else "unknown"

    def name(self, t: Type) -> str:
        """The type as written, on one line: ``struct{...}`` for a literal struct."""
        text = t.node.text.decode()
        if "\n" in text or t.node.type in ("struct_type", "interface_type"):
            text = re.sub(r"\{.*\}", "{...}", " ".join(text.split()))
        return "*" * t.pointers + text

    def value_receiver(self, t: Type, method: str) -> bool:
        """Whether calling ``method`` on a ``t`` value cannot modify it: a value receiver, seen in this file."""
        text = t.node.text.decode()
        if t.pointers or t.node.type not in ("type_identifier", "qualified_type"):
            return False
        if text in VALUE_METHOD_TYPES:
            return True
        own = self.methods.get(text, {}).get(method)
        if own is None and self.package is not None and t.node.type == "type_identifier":
            found = self.package.method(text, method)
            own = found.pointer if found is not None else None
        return own is False  # declared in another package: unknown

    def fields(self, t: Type) -> dict[str, Type] | None:
        """The fields of a struct type (or pointer to one), promoted ones included; None if unknown."""
        u = self.underlying(t)
        if u.pointers > 1 or u.node.type != "struct_type":
            return None
        found: dict[str, Type] = {}
        promoted: dict[str, Type] = {}
        body = next((c for c in u.node.named_children if c.type == "field_declaration_list"), None)
        for decl in body.named_children if body is not None else []:
            if decl.type != "field_declaration":
                continue
            kind = decl.child_by_field_name("type")
            if kind is None:
                continue
            names = decl.children_by_field_name("name")
            for name in names:
                found[name.text.decode()] = Type(kind)
            if not names:  # embedded: its own name, and its fields promoted when not through a pointer
                found[kind.text.decode().split(".")[-1].lstrip("*")] = Type(kind)
                inner = self.fields(Type(kind)) if kind.type != "pointer_type" else None
                for name, field in (inner or {}).items():
                    promoted.setdefault(name, field)
        return {**promoted, **found}

    def named_fields(self, t: Type) -> set[str]:
        """The fields a struct declares by name: not embedded, not promoted."""
        u = self.underlying(t)
        body = next((c for c in u.node.named_children if c.type == "field_declaration_list"), None)
        if u.pointers > 1 or u.node.type != "struct_type" or body is None:
            return set()
        return {n.text.decode() for d in body.named_children for n in d.children_by_field_name("name")}

    def element(self, t: Type) -> Type | None:
        """The element type of a slice, array, map (its value), channel, or pointer to array."""
        u = self.underlying(t)
        if u.pointers > 1 or (u.pointers == 1 and u.node.type not in ("array_type",)):
            return None
        value = u.node.child_by_field_name("element") or u.node.child_by_field_name("value")
        return Type(value) if value is not None else None

    # -- sizes ---------------------------------------------------------------

    def size(self, t: Type) -> int | None:
        """The exact size in bytes, or None when some part is declared elsewhere."""
        layout = self._layout(t, exact=True)
        return layout[0] if layout is not None else None

    def min_size(self, t: Type) -> int:
        """A lower bound of the size: parts declared elsewhere count as 0 bytes."""
        layout = self._layout(t, exact=False)
        return layout[0] if layout is not None else 0

    def _layout(self, t: Type, exact: bool, depth: int = 0) -> tuple[int, int] | None:
        if depth > 16:
            return None
        u = self.underlying(t)
        kind = self.kind(u)
        if kind in _SIZES:
            return _SIZES[kind], 8
        node = u.node
        if kind == "array":
            length = constant(node.child_by_field_name("length"), package=self.package)
            element = node.child_by_field_name("element")
            inner = self._layout(Type(element), exact, depth + 1) if element is not None else None
            if length is None or inner is None:
                return None if exact else (0, 1)
            return length * inner[0], inner[1]
        if kind == "struct":
            known = QUALIFIED.get(node.text.decode())
            if known is not None:
                return known[1], known[2]
            return self._struct_layout(node, exact, depth)
        known = (BASIC if node.type == "type_identifier" else QUALIFIED).get(node.text.decode())
        if known is not None:
            return known[1], known[2]
        return None if exact else (0, 1)

    def _struct_layout(self, node: Node, exact: bool, depth: int) -> tuple[int, int] | None:
        offset, align = 0, 1
        body = next((c for c in node.named_children if c.type == "field_declaration_list"), None)
        for decl in body.named_children if body is not None else []:
            kind = decl.child_by_field_name("type") if decl.type == "field_declaration" else None
            if kind is None:
                continue
            inner = self._layout(Type(kind), exact, depth + 1)
            if inner is None:
                return None
            for _ in decl.children_by_field_name("name") or [kind]:
                offset = -(-offset // inner[1]) * inner[1] + inner[0]
            align = max(align, inner[1])
        return -(-offset // align) * align, align

    # -- what a variable holds -----------------------------------------------

    def of_declaration(self, decl: scopes.Declaration, depth: int = 0) -> Type | None:
        """The type a variable, parameter or receiver was declared with or initialised to."""
        construct = decl.construct
        declared = construct.child_by_field_name("type")
        if construct.type in ("parameter_declaration", "var_spec") and declared is not None:
            return Type(declared)
        if construct.type == "var_spec":
            names = construct.children_by_field_name("name")
            return self._nth_value(construct.child_by_field_name("value"), names.index(decl.node), depth)
        if construct.type == "short_var_declaration":
            left = construct.child_by_field_name("left")
            names = [c for c in left.named_children] if left is not None else []
            if decl.node not in names:
                return None
            return self._nth_value(construct.child_by_field_name("right"), names.index(decl.node), depth)
        if construct.type == "range_clause":
            left = construct.child_by_field_name("left")
            ranged = construct.child_by_field_name("right")
            position = [c for c in left.named_children].index(decl.node) if left is not None else 0
            over = self.of_expression(ranged, depth + 1) if ranged is not None else None
            if over is None or position != 1:
                return None  # the index or key: an int, or a key type nobody captures for its size
            return self.element(over)
        return None

    def _nth_value(self, values: Node | None, index: int, depth: int) -> Type | None:
        if values is None:
            return None
        items = [c for c in values.named_children if c.type != "comment"]
        if len(items) > index and (len(items) > 1 or index == 0):
            return self.of_expression(items[index], depth + 1)
        if len(items) == 1 and items[0].type == "call_expression":
            return self._call_result(items[0], index)
        return None

    def of_expression(self, expr: Node, depth: int = 0) -> Type | None:
        """The type of an expression, where the file alone says it."""
        if depth > 8:
            return None
        kind = expr.type
        if kind == "parenthesized_expression" and expr.named_children:
            return self.of_expression(expr.named_children[0], depth + 1)
        if kind == "composite_literal":
            declared = expr.child_by_field_name("type")
            return Type(declared) if declared is not None else None
        if kind == "unary_expression":
            operator = expr.child_by_field_name("operator")
            operand = expr.child_by_field_name("operand")
            inner = self.of_expression(operand, depth + 1) if operand is not None else None
            if inner is None or operator is None:
                return None
            if operator.type == "&":
                return Type(inner.node, inner.pointers + 1)
            return self.pointee(inner) if operator.type == "*" else None
        if kind == "identifier":
            decl = scopes.resolve(expr)
            if decl is None and self.package is not None:
                return self._package_variable(expr.text.decode())
            return self.of_declaration(decl, depth + 1) if decl is not None and decl.kind in ("var", "param") else None
        if kind == "selector_expression":
            operand = expr.child_by_field_name("operand")
            field = expr.child_by_field_name("field")
            outer = self.of_expression(operand, depth + 1) if operand is not None else None
            found = self.fields(outer) if outer is not None else None
            return found.get(field.text.decode()) if found is not None and field is not None else None
        if kind == "index_expression":
            operand = expr.child_by_field_name("operand")
            outer = self.of_expression(operand, depth + 1) if operand is not None else None
            return self.element(outer) if outer is not None else None
        if kind == "call_expression":
            return self._call_result(expr, 0)
        return None

    def _package_variable(self, name: str) -> Type | None:
        """The declared type of a package-level variable of another file (``var cache Table``)."""
        if self.package is None or any(i.local_name == name for i in self.package.own.imports):
            return None  # an imported package's name: no need to read the other files
        specs = self.package.variables(name)
        declared = specs[0].child_by_field_name("type") if len(specs) == 1 else None
        return Type(declared) if declared is not None else None

    def _call_result(self, call: Node, index: int) -> Type | None:
        function = call.child_by_field_name("function")
        arguments = call.child_by_field_name("arguments")
        args = [a for a in arguments.named_children if a.type != "comment"] if arguments is not None else []
        if function is None or function.type not in ("identifier", "type_identifier"):
            return None
        name = function.text.decode()
        if name in ("make", "new") and args and scopes.resolve(function) is None:
            return Type(args[0], 1 if name == "new" else 0) if index == 0 else None
        if index == 0 and self.spec(name) is not None:
            return Type(function)  # a conversion
        declaration = self.function(name)
        result = declaration.child_by_field_name("result") if declaration is not None else None
        if result is None or declaration.child_by_field_name("type_parameters") is not None:  # type: ignore[union-attr]
            return None
        if result.type != "parameter_list":
            return Type(result) if index == 0 else None
        kinds = [
            decl.child_by_field_name("type")
            for decl in result.named_children
            if decl.type == "parameter_declaration"
            for _ in (decl.children_by_field_name("name") or [None])
        ]
        found = kinds[index] if index < len(kinds) else None
        return Type(found) if found is not None else None


def operate(op: str, left: int, right: int) -> int | None:
    """A binary operator of Go's integer constant expressions; None when Go rejects it or it is not one."""
    if op in ("/", "%") and right == 0:
        return None
    if op in ("<<", ">>") and not 0 <= right < 64:
        return None
    results = {
        "+": lambda: left + right,
        "-": lambda: left - right,
        "*": lambda: left * right,
        "/": lambda: int(left / right),
        "%": lambda: left % right,
        "<<": lambda: left << right,
        ">>": lambda: left >> right,
        "&": lambda: left & right,
        "|": lambda: left | right,
    }
    return results[op]() if op in results else None


def constant(expr: Node | None, depth: int = 0, package: PackageView | None = None) -> int | None:
    """The value of an integer constant expression: literals, operators, constants in scope.

    With ``package``, constants declared in the package's other files count too.
    """
    if expr is None or depth > 16:
        return None
    kind = expr.type
    if kind == "int_literal":
        try:
            return int(expr.text.decode().replace("_", ""), 0)
        except ValueError:
            return None
    if kind == "parenthesized_expression" and expr.named_children:
        return constant(expr.named_children[0], depth + 1, package)
    if kind == "binary_expression":
        left = constant(expr.child_by_field_name("left"), depth + 1, package)
        right = constant(expr.child_by_field_name("right"), depth + 1, package)
        operator = expr.child_by_field_name("operator")
        if left is None or right is None or operator is None:
            return None
        return operate(operator.type, left, right)
    if kind == "identifier":
        decl = scopes.resolve(expr)
        if decl is None and package is not None:
            specs = package.constants(expr.text.decode())
            return _spec_value(specs[0], expr.text.decode(), depth, package) if len(specs) == 1 else None
        if decl is None or decl.kind != "const":
            return None
        return _spec_value(decl.construct, decl.name, depth, package)
    return None


def _spec_value(spec: Node, name: str, depth: int, package: PackageView | None) -> int | None:
    value = spec.child_by_field_name("value")
    names = [n.text.decode() for n in spec.children_by_field_name("name") if n.is_named]
    items = [c for c in value.named_children if c.type != "comment"] if value is not None else []
    if name not in names or len(items) != len(names):
        return None  # iota and implicit repetition: not evaluated
    return constant(items[names.index(name)], depth + 1, package)


def contains_lock(types: Types, t: Type, depth: int = 0) -> bool:
    """Whether a value of type ``t`` holds a ``sync`` or ``sync/atomic`` type (``go vet`` copylocks)."""
    if depth > 8:
        return False
    u = types.underlying(t)
    if u.pointers:
        return False
    if u.node.type == "qualified_type":
        return u.node.text.decode().split(".")[0] in ("sync", "atomic")
    kind = types.kind(t)
    if kind == "array":
        element = types.element(t)
        return element is not None and contains_lock(types, element, depth + 1)
    if kind == "struct":
        return any(contains_lock(types, f, depth + 1) for f in (types.fields(t) or {}).values())
    return False
