"""A large array on the stack of a recursive function: every stack growth copies it once per active call.

## What it does
Finds a local array of 8 KiB or more (`var buf [16 << 10]byte`,
`t := [4096]uint64{}`, a variable of a named array type), or an array
parameter of that size, in a function that calls itself: directly or through
other functions and methods of the same package, in any of its files. Sizes
come from the declarations (constants and element types declared anywhere in
the package; 64-bit layouts). The finding is on the array's declaration, or
on the `func` line for a parameter; the message names the chain of calls.

Not reported: arrays under 8 KiB; arrays over 128 KiB (the compiler already
puts such variables on the heap); arrays whose address is taken, or whose
slices are stored, returned, or passed to code that may keep them (a method
through an interface, another package's function, a function of the
package that stores, returns, sends or passes on that parameter): they escape to the heap
anyway, or may; arrays in functions that do not recurse, or recurse only
through a func value or an interface (where a call goes is unknown), or
through a generated file (not read: the compiler's rewrite rules alone are
8 MB); arrays in func literals; a recursion that goes through a `go` statement (a new
goroutine has a stack of its own); locals of struct type and receivers, however
large (only arrays are looked at).

## Why is this bad?
A goroutine's stack starts small and grows by copying: when it runs out, the
runtime allocates one twice the size and copies every frame into it. A
recursive function with a large frame fills the stack quickly and pays for
the copy of all of its active frames at each doubling, and the stack, once
grown, is kept until the collector shrinks it. With a 16 KiB buffer per call,
a depth of 100 is a 1.6 MiB stack copied several times over.

## Example
```go
func walk(dir string) error {
        var buf [96 << 10]byte
        n, err := readDir(dir, buf[:])
        ...
        for _, sub := range subdirs(buf[:n]) {
                walk(sub)
        }
}
```

Use instead:
```go
func walk(dir string) error {
        buf := make([]byte, 96<<10)
        n, err := readDir(dir, buf[:])
        ...
}
```

## What the fix does
For an array over 64 KiB declared as `var x [N]T` or `x := [N]T{}` and used
only by index, slice, `len`/`cap` and `range` over its indexes, it declares
`x := make([]T, N)` instead: the backing array goes to the heap, the frame
keeps a slice header. Below 64 KiB a `make` of constant size stays on the
stack too (the compiler's limit for implicit allocations), so there is no
fix, only the finding: make the buffer smaller, allocate it once for the
whole recursion and pass it down, or turn the recursion into a loop.

## Fix safety
The fix is always unsafe: the heap allocation happens on every call (a
reviewer weighs garbage against stack copying), and the variable becomes a
reference, which is the same for the uses the fix accepts but not a
decision a tool should take for a hot path. There is no fix for parameters,
named array types, literals with elements, grouped declarations, or arrays
copied, compared or ranged over by value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import callgraph, flows, gofmt, scopes, sizes
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.types import PREDECLARED, Type, Types

# Declarations in function bodies and signatures that can hold an array, found from the type's text:
#   var buf [N]byte      t := [N]T{}      var t = block{}      func f(a [N]T)
# the type is the `type` of a var_spec or parameter_declaration, or of a composite literal that is a value of a
# var_spec or the right side of a short_var_declaration.
_MIN = 8 << 10  # smaller frames are not worth a finding
_STACK_LIMIT = 128 << 10  # larger declared variables are put on the heap by the compiler
_IMPLICIT_LIMIT = 64 << 10  # make([]T, n) of constant size up to this stays on the stack


@dataclass(frozen=True)
class Candidate:
    name: str
    ident: Node  # the declared name
    construct: Node  # var_spec, short_var_declaration, parameter_declaration
    function: Node  # the function_declaration / method_declaration
    type: Node  # the array type as written (or the name of an array type)
    size: int


def check(ctx: FileContext) -> Iterator[Finding]:
    data = ctx.source.data
    here = sizes.directory(ctx)
    arrays = sizes.array_types_at(data, _MIN)
    mentions = sizes.mentions(data, sizes.large_array_names(ctx, here, _MIN))
    if not arrays and not mentions:
        return  # most files: no [N]T written that may be large, no type of the package that may be one named
    graph: callgraph.Graph | None = None
    types = sizes.type_texts(ctx, here)
    for candidate in _large_arrays(ctx, here, types, _constructs(ctx.root, arrays, mentions)):
        parameter = candidate.construct.type == "parameter_declaration"
        uses = [] if parameter else flows.array_uses(candidate.ident, candidate.function, ctx.package)
        if any(kind in ("address", "element address", "escaping slice") for kind, _ in uses):
            continue  # its address or a slice of it may leave the frame: the array is (or may be) on the heap
        key = callgraph.key_of(candidate.function)
        if key is None or not callgraph.called_by_name(ctx, key):
            continue  # nothing in the package calls it by name: no recursion to look for
        if not callgraph.may_recurse(ctx, key.rsplit(".", 1)[-1]):
            continue  # no chain of names called leads back to it: the graph (which parses the package) has none
        graph = graph or callgraph.graph(ctx.package)
        chain = graph.cycle(key)
        if chain is None:
            continue  # not recursive, or only through func values and interfaces
        yield _finding(ctx, candidate, chain, uses)


def _finding(ctx: FileContext, candidate: Candidate, chain: list[str], uses: list[tuple[str, Node]]) -> Finding:
    what = "parameter" if candidate.construct.type == "parameter_declaration" else "local"
    calls = " -> ".join(chain)
    message = (
        f"{what} {candidate.name} ({ctx.text(candidate.type)}, {_kib(candidate.size)}) is in the frame of "
        f"recursive {_name(candidate.function)} ({calls}): every stack growth copies it once per active call"
    )
    fix, why = _plan_fix(ctx, candidate, uses)
    if why:
        message += f" (no fix: {why})"
    node = candidate.function if what == "parameter" else candidate.ident
    return ctx.finding(node, message, fix)


# -- the arrays ----------------------------------------------------------------------


def _large_arrays(
    ctx: FileContext, here: sizes.Directory, texts: sizes.TypeTexts, constructs: list[Node]
) -> Iterator[Candidate]:
    types: Types | None = None
    called: dict[str, bool] = {}  # by function name: callgraph.may_be_called
    for construct in constructs:
        function = scopes.enclosing_function(construct)
        if function is None or function.type not in ("function_declaration", "method_declaration"):
            continue  # package level, or a func literal (its recursion would go through a func value)
        parameter = construct.type == "parameter_declaration"
        if parameter and construct.parent != function.child_by_field_name("parameters"):
            continue  # a result, a receiver, or a func type's parameter inside the body
        pairs: list[tuple[Node, Node, int | None]] = []
        for ident, kind in _declared(construct):
            if kind is None or ident.text == b"_" or kind.text is None:
                continue
            if kind.type == "type_identifier":
                if kind.text.decode() not in PREDECLARED:  # never arrays: skipped before any lookup
                    pairs.append((ident, kind, None))  # looked up below
                continue
            try:
                given = sizes.text_size(ctx, here, texts, kind)
            except sizes.Unknown:
                pairs.append((ident, kind, None))
                continue
            if not any(s is not None and s >= _MIN and (parameter or s <= _STACK_LIMIT) for s in given):
                continue  # the size Types gives is not in the range of a finding
            known = next(iter(given)) if len(given) == 1 else None
            pairs.append((ident, kind, known))  # with the size Types gives, when the text tells it exactly
        if not pairs:
            continue
        key = callgraph.key_of(function)
        name = key.rsplit(".", 1)[-1] if key is not None else ""
        if name not in called:
            called[name] = bool(name) and callgraph.may_be_called(ctx, name)
        if not called[name]:
            continue  # nothing calls it by name: no recursion (checked before the sizes, which read other files)
        for ident, kind, known in pairs:
            if kind.type == "type_identifier" and not sizes.declared_as_array(ctx, kind.text or b""):
                continue  # no declaration of the package gives that name an array type
            if known is None:
                types = types or Types(ctx.root, ctx.package)
                if types.kind(Type(kind)) != "array":
                    continue
                size = types.size(Type(kind))
            else:
                size = known
            if size is None or size < _MIN:
                continue
            if not parameter and size > _STACK_LIMIT:
                continue  # the compiler puts it on the heap already
            yield Candidate(ident.text.decode(), ident, construct, function, kind, size)  # type: ignore[union-attr]


def _constructs(root: Node, arrays: list[int], mentions: list[tuple[int, int]]) -> list[Node]:
    """The declarations (var_spec, short_var_declaration, parameter_declaration) whose type is written at one of
    the offsets of ``arrays`` (an array type) or ``mentions`` (a type name), in source order."""
    found: dict[int, Node] = {}
    spans = [(at, at + 1, "array_type") for at in arrays]
    spans += [(start, end, "type_identifier") for start, end in mentions]
    for start, end, kind in spans:
        node = root.named_descendant_for_byte_range(start, end)
        if node is None or node.type != kind or node.start_byte != start:
            continue  # in a comment or a string, an index, a map, a generic's type parameters, ...
        construct = _declaration_of(node)
        if construct is not None:
            found.setdefault(construct.start_byte, construct)
    return [found[at] for at in sorted(found)]


def _declaration_of(kind: Node) -> Node | None:
    """The declaration ``kind`` is the written type of, directly or as the type of a composite literal value."""
    parent = kind.parent
    if parent is None:
        return None
    if parent.type in ("var_spec", "parameter_declaration"):
        return parent if parent.child_by_field_name("type") == kind else None
    if parent.type != "composite_literal" or parent.child_by_field_name("type") != kind:
        return None
    values = parent.parent
    holder = values.parent if values is not None and values.type == "expression_list" else None
    if holder is None:
        return None
    if holder.type == "var_spec" and holder.child_by_field_name("value") == values:
        return holder
    if holder.type == "short_var_declaration" and holder.child_by_field_name("right") == values:
        return holder
    return None


def _declared(construct: Node) -> list[tuple[Node, Node | None]]:
    """(name, type as written or of its composite literal) for each name a declaration introduces."""
    if construct.type == "short_var_declaration":
        left, right = construct.child_by_field_name("left"), construct.child_by_field_name("right")
        names = [n for n in left.named_children if n.type != "comment"] if left is not None else []
        values = [v for v in right.named_children if v.type != "comment"] if right is not None else []
    else:
        names = [n for n in construct.children_by_field_name("name") if n.is_named]
        written = construct.child_by_field_name("type")
        if written is not None:
            return [(n, written) for n in names]
        value = construct.child_by_field_name("value")
        values = [v for v in value.named_children if v.type != "comment"] if value is not None else []
    if len(names) != len(values):
        return []
    return [(n, _literal_type(v)) for n, v in zip(names, values, strict=True) if n.type == "identifier"]


def _literal_type(value: Node | None) -> Node | None:
    """The array type of ``[N]T{...}``."""
    if value is None or value.type != "composite_literal":
        return None
    kind = value.child_by_field_name("type")
    return kind if kind is not None and kind.type in ("array_type", "type_identifier") else None


# -- the fix ---------------------------------------------------------------------------


def _plan_fix(ctx: FileContext, candidate: Candidate, uses: list[tuple[str, Node]]) -> tuple[Fix | None, str | None]:
    if candidate.size <= _IMPLICIT_LIMIT:
        return None, (
            "a make() of this size stays on the stack too; make the array smaller, allocate it once and pass it "
            "down, or turn the recursion into a loop"
        )
    if candidate.construct.type == "parameter_declaration":
        return None, "it is a parameter; changing the signature is the caller's business too"
    if candidate.type.type != "array_type":
        return None, f"{ctx.text(candidate.type)} is a named type that other code may expect"
    if any(kind in ("value", "range value") for kind, _ in uses):
        return None, f"{candidate.name} is copied, compared or ranged over by value, which a slice does not do"
    if any(kind == "constant length" for kind, _ in uses):
        return None, f"len({candidate.name}) is used as a constant, which the length of a slice is not"
    statement, replaced = _declaration_statement(candidate)
    if statement is None:
        return None, "the declaration holds other names or elements"
    element = ctx.text(candidate.type.child_by_field_name("element"))  # type: ignore[arg-type]
    length = gofmt.respace(candidate.type.child_by_field_name("length"), depth=2)  # type: ignore[arg-type]
    text = f"{candidate.name} := make([]{element}, {length})"
    message = (
        f"Allocate {candidate.name} with make([]{element}, {length}) (check: it is now allocated on the heap on "
        "every call, and the function must not rely on the array being copied)"
    )
    return ctx.fix(message, [Edit(replaced.start_byte, replaced.end_byte, text.encode())], Safety.UNSAFE), None


def _declaration_statement(candidate: Candidate) -> tuple[Node | None, Node]:
    """The statement to replace: ``var x [N]T`` alone, or ``x := [N]T{}`` with an empty literal."""
    construct = candidate.construct
    if construct.type == "var_spec":
        holder = construct.parent
        names = [n for n in construct.children_by_field_name("name") if n.is_named]
        if holder is None or holder.type != "var_declaration" or len(names) != 1:
            return None, construct
        if construct.child_by_field_name("value") is not None or construct.child_by_field_name("type") is None:
            return None, construct
        return holder, holder
    left = construct.child_by_field_name("left")
    right = construct.child_by_field_name("right")
    if left is None or right is None or len(left.named_children) != 1 or len(right.named_children) != 1:
        return None, construct
    literal = right.named_children[0]
    body = literal.child_by_field_name("body")
    if body is None or body.named_children:
        return None, construct  # elements: a make would lose them
    return construct, construct


def _name(function: Node) -> str:
    return callgraph.key_of(function) or "function"


def _kib(size: int) -> str:
    return f"{size >> 10} KiB" if size % 1024 == 0 else f"{size / 1024:.1f} KiB"


RULE = Rule(
    id="large-stack-in-recursion",
    summary="a large array in the frame of a recursive function, copied at every stack growth",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.UNSAFE,
    triggers=(b"]",),
)
