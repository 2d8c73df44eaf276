"""Goroutines and stored closures that keep a large value alive for one field of it.

## What it does
Finds a goroutine, or a closure that outlives the statement creating it
(returned, stored in a variable, field or map, sent on a channel, passed to
`time.AfterFunc`, `context.AfterFunc`, `http.HandleFunc`/`Handle`,
`t.Cleanup`, `runtime.SetFinalizer`, an errgroup's `Go`), that captures a
large value but only reads some fields of it or its length:

- a struct of 1 KiB or more (its size known from the types declared in the
  package, in this file or another), or a pointer to one, of which only
  fields are read;
- a slice or map of which only `len` or `cap` is used.

The length of an array is a constant: `len(buf)` does not capture `buf` and is
not flagged.

Closures called on the spot or handed to synchronous helpers (`sort.Slice`,
`slices.SortFunc`, ...) are not flagged, nor are closures that write the value,
call its methods or take its address: they need the variable itself. A
method's pointer receiver is not flagged either (the caller keeps the object
alive anyway).

## Why is this bad?
A Go closure captures variables, not the values it reads: for as long as the
closure can run, the whole variable stays reachable. The compiler copies small
variables that are never reassigned into the closure; a large one is moved to
the heap and the closure holds a reference to all of it. So a 4 KiB request
struct held by a `time.AfterFunc` callback, a config struct held by every
registered handler, or a slice whose backing array a goroutine keeps alive
just to know its length cannot be freed while the closure lives, though the
closure reads a few bytes of it. Copying those bytes into locals before the
closure lets the large value stay on the stack, or be freed as soon as the
function is done with it.

## Example
```go
func schedule(req Request) *time.Timer {
        return time.AfterFunc(req.Deadline, func() {
                cancel(req.ID)
        })
}
```

Use instead:
```go
func schedule(req Request) *time.Timer {
        id := req.ID
        return time.AfterFunc(req.Deadline, func() {
                cancel(id)
        })
}
```

## What the fix does
Declares one local per field read (`timeout := cfg.Timeout`, named after the
field) or per length (`itemsLen := len(items)`) right before the statement
that creates the closure, and uses the locals inside the closure. A closure
that reads more than `max-fields` distinct fields (default 4) is not flagged:
it uses much of the value.

```toml
[rules.closure-captures-large-value]
max-fields = 4
```

## Fix safety
The closure read the fields when it ran; the locals hold them as they were
when it was created. The fix is safe only when nothing can change the value in
between: no assignment to the variable or its fields after the closure is
created (nor before it in a loop that comes back around, nor in another
closure), no pointer to it taken, no method that may modify it called (a write to
another declared field does not count). Through a pointer, for a named result
(which `return` assigns), or for a map handed in from elsewhere (which other
references can modify), the fix is always unsafe. The copies are evaluated
before the whole statement holding the closure rather than when the closure
would have read them; with nothing changing the value in between, that is the
same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_conc import imports, scopes
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, FixKind, Rule, Safety
from gofix_conc.source import captures
from gofix_conc.types import Type, Types, is_reference_kind

LARGE = 1024

# Every closure, checked for where its value goes:
#   go func() { ... }()    return func() { ... }    time.AfterFunc(d, func() { ... })
CLOSURES = "(func_literal) @closure"

# Functions that keep the closure they are given, by import path.
KEEPERS = {
    ("time", "AfterFunc"),
    ("context", "AfterFunc"),
    ("net/http", "HandleFunc"),
    ("net/http", "Handle"),
    ("runtime", "SetFinalizer"),
    ("runtime", "AddCleanup"),
}
# Methods that keep it whatever the receiver: ServeMux and routers, testing.T, errgroup and WaitGroup.
KEEPER_METHODS = frozenset({"HandleFunc", "Handle", "Cleanup", "Go"})
# Wrappers whose result holds the closure: stored when the result is.
WRAPPERS = {
    ("net/http", "HandlerFunc"),
    ("net/http", "StripPrefix"),
    ("net/http", "TimeoutHandler"),
    ("net/http", "MaxBytesHandler"),
    ("sync", "OnceFunc"),
    ("sync", "OnceValue"),
    ("sync", "OnceValues"),
    ("builtin", "append"),
}
_GO_KEYWORDS = (
    "break case chan const continue default defer else fallthrough for func go goto if import interface map "
    "package range return select struct switch type var"
)
_GO_PREDECLARED = (
    "any append bool byte cap clear close comparable complex complex64 complex128 copy delete error false float32 "
    "float64 imag int int8 int16 int32 int64 iota len make max min new nil panic print println real recover rune "
    "string true uint uint8 uint16 uint32 uint64 uintptr"
)
_RESERVED = frozenset(_GO_KEYWORDS.split()) | frozenset(_GO_PREDECLARED.split())


@dataclass
class Copy:
    """One value copied out of the captured variable, and where the closure reads it."""

    text: str  # cfg.Timeout, len(items)
    base: str  # the local's name before collisions are resolved
    first_field: str | None = None  # the first field selected (Limits in cfg.Limits.Max), None for len and cap
    uses: list[Node] = field(default_factory=list)


def check(ctx: FileContext) -> Iterator[Finding]:
    types = Types(ctx.root, ctx.package)  # types of the package's other files read only when asked
    packages = {i.local_name: i.path for i in imports.imports(ctx.source)}
    for closure in captures(CLOSURES, ctx.root).get("closure", []):
        how = stored_as(closure, packages)
        if how is None:
            continue  # called on the spot or handed to a synchronous helper
        statement = holding_statement(ctx, closure)
        for decl, uses in scopes.captured(closure).items():
            found = large_and_partly_used(types, decl, uses)
            if found is None or not found[1]:
                continue
            described, copies, kind = found
            if len(copies) > int(ctx.option("max-fields")):
                continue  # the closure uses much of the value
            used = ", ".join(c.text for c in copies)
            message = f"{how} captures {decl.name} ({described}) but only uses {used}"
            fix = None
            if statement is not None and not scopes.contains(statement, decl.node):
                lines, edits = [], []
                for copy in copies:
                    name = ctx.fresh_name(closure, copy.base)
                    lines.append(f"{name} := {copy.text}")
                    edits += [Edit(u.start_byte, u.end_byte, name.encode()) for u in copy.uses]
                edits.append(ctx.lines_before(statement, lines))
                safety = Safety.UNSAFE if may_change(ctx, types, decl, closure, kind, copies) else Safety.SAFE
                noun = "a local" if len(copies) == 1 else "locals"
                fix = ctx.fix(f"Copy {used} into {noun} before the closure", edits, safety)
            yield ctx.finding(closure, message, fix)


# -- where the closure goes --------------------------------------------------


def stored_as(expr: Node, packages: dict[str, str], depth: int = 0) -> str | None:
    """How the value of ``expr`` (a closure) outlives its statement, or None when it does not."""
    node = expr
    while node.parent is not None and node.parent.type == "parenthesized_expression":
        node = node.parent
    parent = node.parent
    if parent is None or depth > 4:
        return None
    kind = parent.type
    if kind == "call_expression":
        called = parent.child_by_field_name("function") == node
        return "goroutine" if called and parent.parent is not None and parent.parent.type == "go_statement" else None
    if kind == "argument_list" and parent.parent is not None:
        call = parent.parent
        callee = _callee(call, packages)
        if callee in KEEPERS or (callee[0] == "" and callee[1] in KEEPER_METHODS):
            return f"closure passed to {_text(call.child_by_field_name('function'))}"
        return stored_as(call, packages, depth + 1) if callee in WRAPPERS else None
    if kind == "send_statement" and parent.child_by_field_name("value") == node:
        return "closure sent on a channel"
    if kind in ("literal_element", "keyed_element", "literal_value"):
        return stored_as(parent, packages, depth)  # up to the composite literal holding it
    if kind == "composite_literal" or (
        kind == "unary_expression" and _text(parent.child_by_field_name("operator")) == "&"
    ):
        return stored_as(parent, packages, depth + 1)
    if kind != "expression_list" or parent.parent is None:
        return None
    holder = parent.parent
    if holder.type == "return_statement":
        return "returned closure"
    values = holder.child_by_field_name("right") or holder.child_by_field_name("value")
    if values != parent:
        return None
    index = [c for c in parent.named_children if c.type != "comment"].index(node)
    if holder.type == "var_spec":
        targets = holder.children_by_field_name("name")
    else:
        left = holder.child_by_field_name("left")
        targets = [c for c in left.named_children if c.type != "comment"] if left is not None else []
    target = targets[index] if index < len(targets) and len(targets) == len(parent.named_children) else None
    if target is None:
        return None
    if target.type == "selector_expression":
        return "closure stored in a field"
    if target.type == "index_expression":
        return "closure stored in a map or slice element"
    if target.type != "identifier" or target.text == b"_":
        return None
    decl = scopes.resolve(target)
    if decl is None or scopes.top_level(decl.node).type == "var_declaration":
        return "closure stored in a package variable"
    function = scopes.enclosing_function(decl.node)
    for ref in scopes.references(decl, function) if function is not None else []:
        if ref != target and ref != decl.node and not scopes.is_write(ref):
            how = stored_as(ref, packages, depth + 1)
            if how is not None:
                return how
    return None


def _callee(call: Node, packages: dict[str, str]) -> tuple[str, str]:
    """(import path, name) of a package function; ("", name) for a method; ("builtin", name); ("?", name)."""
    function = call.child_by_field_name("function")
    if function is not None and function.type == "identifier" and scopes.resolve(function) is None:
        return "builtin", _text(function)  # or a function of another file of the package: never a keeper
    if function is None or function.type != "selector_expression":
        return "?", _text(function)
    operand = function.child_by_field_name("operand")
    name = _text(function.child_by_field_name("field"))
    if operand is not None and operand.type == "identifier" and scopes.resolve(operand) is None:
        path = packages.get(_text(operand))
        if path is not None:
            return path, name
    return "", name


def holding_statement(ctx: FileContext, closure: Node) -> Node | None:
    """The statement, starting its own line, before which the copies go."""
    node = closure
    while node.parent is not None and node.parent.type != "statement_list":
        node = node.parent
        if node.type in scopes.FUNCTIONS:
            return None
    return node if node.parent is not None and ctx.source.starts_line(node.start_byte) else None


# -- what the closure uses ---------------------------------------------------


def large_and_partly_used(
    types: Types, decl: scopes.Declaration, uses: list[Node]
) -> tuple[str, list[Copy], str] | None:
    """How to describe the captured value, the copies that replace it, and its kind; None if not flagged."""
    if decl.kind not in ("var", "param", "receiver", "result"):
        return None
    declared = types.of_declaration(decl)
    if declared is None:
        return None
    kind = types.kind(declared)
    if decl.kind == "receiver" and kind == "pointer":
        return None  # the method's object: its caller keeps it alive anyway
    copies: dict[str, Copy] = {}
    if kind in ("slice", "map"):
        for use in uses:
            call = length_call(use)
            if call is None:
                return None
            name = _text(call.child_by_field_name("function"))
            entry = copies.setdefault(_text(call), Copy(_text(call), f"{decl.name}{name.title()}"))
            entry.uses.append(call)
        return types.name(declared), list(copies.values()), kind
    pointee = types.pointee(declared) if kind == "pointer" else declared
    if pointee is None or types.kind(pointee) != "struct" or types.fields(declared) is None:
        return None
    size = types.min_size(pointee)
    if size < LARGE:
        return None
    for use in uses:
        chain = field_chain(types, use, declared)
        if chain is None:
            return None
        node, base = chain
        if node is None:
            continue  # len of an array field: a constant, nothing is captured for it
        first = _text(use.parent.child_by_field_name("field")) if use.parent is not None else None
        entry = copies.setdefault(_text(node), Copy(_text(node), base, first))
        entry.uses.append(node)
    exact = types.size(pointee) is not None
    amount = f"{'' if exact else 'at least '}{_kib(size)}"
    described = f"{types.name(declared)}, {'pointing to ' if kind == 'pointer' else ''}{amount}"
    return described, list(copies.values()), kind


def length_call(use: Node) -> Node | None:
    """``len(x)`` or ``cap(x)`` around the identifier ``use``, with the builtin not shadowed."""
    node = use
    while node.parent is not None and node.parent.type == "parenthesized_expression":
        node = node.parent
    arguments = node.parent
    call = arguments.parent if arguments is not None else None
    if arguments is None or call is None or arguments.type != "argument_list" or len(arguments.named_children) != 1:
        return None
    function = call.child_by_field_name("function")
    if function is None or function.type != "identifier" or _text(function) not in ("len", "cap"):
        return None
    return call if scopes.resolve(function) is None else None


def field_chain(types: Types, use: Node, declared: Type) -> tuple[Node | None, str] | None:
    """The longest field selection ``x.f.g`` on ``use`` that the closure only reads, with a name for it.

    (None, "") for ``len(x.arr)`` of an array field, a constant; None when the use needs the variable.
    """
    node, current = use, declared
    while (parent := node.parent) is not None and parent.type == "selector_expression":
        fields = types.fields(current)
        name = _text(parent.child_by_field_name("field"))
        if fields is None or name not in fields or parent.child_by_field_name("operand") != node:
            break
        node, current = parent, fields[name]
        if types.kind(current) == "pointer":
            break  # stop at a pointer: what it points to is still read when the closure runs
    if node is use:
        return None  # the whole value, or a method of it
    kind = types.kind(current)
    parent = node.parent
    call = length_call(node)
    if call is not None and kind == "array":
        return None, ""
    if call is not None and kind in ("slice", "string"):
        name = local_name(_text(node.child_by_field_name("field")), _text(use))
        return call, f"{name}{_text(call.child_by_field_name('function')).title()}"  # the length, not the elements
    if scopes.is_write(node):
        return None  # the closure writes the field or takes its address: a copy would lose that
    reference = is_reference_kind(kind)
    if parent is not None and parent.type == "selector_expression" and not reference:
        method = _text(parent.child_by_field_name("field"))
        if not types.value_receiver(current, method):
            return None  # a method that may modify the field in place
    if parent is not None and parent.type == "index_expression" and not reference and _written_through(node):
        return None
    if parent is not None and parent.type == "slice_expression" and kind == "array":
        return None  # slicing the array field aliases it
    if types.min_size(current) >= LARGE:
        return None  # the field itself is large: copying it saves nothing
    return node, local_name(_text(node.child_by_field_name("field")), _text(use))


def _written_through(node: Node) -> bool:
    top = node
    while top.parent is not None and top.parent.type in ("selector_expression", "index_expression"):
        if top.parent.child_by_field_name("operand") != top:
            break
        top = top.parent
    return scopes.is_write(top)


# -- fix safety --------------------------------------------------------------


def may_change(
    ctx: FileContext, types: Types, decl: scopes.Declaration, closure: Node, kind: str, copies: list[Copy]
) -> bool:
    """Whether the copied values may differ between the closure's creation and its run."""
    if kind == "pointer" or decl.kind == "result":
        return True  # the pointee is shared; a named result is assigned by return statements
    function = scopes.enclosing_function(decl.node)
    if function is None:
        return True
    if kind == "map" and not _made_here(decl):
        return True  # whoever handed the map over can still insert into it
    for ref in scopes.references(decl, function):
        if scopes.contains(closure, ref):
            continue  # the closure's own uses: reads, checked above
        if ref == decl.node:
            if _shared_loop_variable(ctx, decl, closure):
                return True  # before Go 1.22 the loop assigns the same variable again
            continue
        change = _changes(types, ref, kind)
        if change == "address":
            return True  # a pointer may be used to write it at any time
        if change == "alias":
            return True  # the map is handed on: anything may insert into it
        if change == "write" and _runs_after(ref, closure, decl, function) and _overlaps(types, decl, ref, copies):
            return True
    return False


def _changes(types: Types, ref: Node, kind: str) -> str | None:
    """What a use outside the closure does to the value: address, alias, write, or None (read)."""
    top = ref
    while top.parent is not None and top.parent.type in ("selector_expression", "index_expression"):
        if top.parent.child_by_field_name("operand") != top:
            break
        top = top.parent
    holder = top.parent
    addressed = (
        holder is not None
        and holder.type == "unary_expression"
        and _text(holder.child_by_field_name("operator")) == "&"
    )
    if kind == "slice":
        return "write" if scopes.is_write(ref) else None  # only assigning the variable changes its length
    if kind == "map":
        if top == ref and holder is not None and holder.type == "argument_list":
            if length_call(ref) is not None:
                return None
            callee = holder.parent.child_by_field_name("function") if holder.parent is not None else None
            return "write" if _text(callee) in ("delete", "clear") else "alias"
        if top != ref and top.type == "index_expression":
            return "write" if scopes.is_write(top) or addressed else None
        if holder is not None and holder.type == "range_clause":
            return None
        return "write" if scopes.is_write(ref) else "alias"
    if addressed:
        return "address"
    if scopes.is_write(top) or scopes.is_write(ref):
        return "write"
    if holder is not None and holder.type == "call_expression" and holder.child_by_field_name("function") == top:
        receiver = top.child_by_field_name("operand") if top.type == "selector_expression" else None
        receiver_type = types.of_expression(receiver) if receiver is not None else None
        method = _text(top.child_by_field_name("field"))
        if receiver_type is None:
            return "write"
        shared = is_reference_kind(types.kind(receiver_type))  # through a pointer: the variable itself stays
        called_field = method in (types.fields(receiver_type) or {})  # a func-typed field, not a method
        if not (shared or called_field or types.value_receiver(receiver_type, method)):
            return "write"  # a method with a pointer receiver may modify it
    return None


def _overlaps(types: Types, decl: scopes.Declaration, ref: Node, copies: list[Copy]) -> bool:
    """Whether a write at ``ref`` may reach a copied field: not when both name distinct declared fields."""
    parent = ref.parent
    if parent is None or parent.type != "selector_expression" or parent.child_by_field_name("operand") != ref:
        return True  # the whole variable
    declared = types.of_declaration(decl)
    own = types.named_fields(declared) if declared is not None else set()
    written = _text(parent.child_by_field_name("field"))
    return written not in own or any(
        c.first_field is None or c.first_field == written or c.first_field not in own for c in copies
    )


def _runs_after(ref: Node, closure: Node, decl: scopes.Declaration, function: Node) -> bool:
    """Whether a write at ``ref`` may run after the closure is created."""
    if ref.start_byte >= closure.end_byte:
        return True
    for around in scopes.ancestors(ref):
        if around == function:
            break
        if around.type == "func_literal" and not scopes.contains(around, closure):
            return True  # another closure: it may run at any time
        repeats = around.type in ("for_statement", "func_literal") and scopes.contains(around, closure)
        if repeats and not scopes.contains(around, decl.node):
            return True  # the loop (or enclosing closure) comes back around to the write
    return False


def _shared_loop_variable(ctx: FileContext, decl: scopes.Declaration, closure: Node) -> bool:
    construct = decl.construct
    in_header = construct.type == "range_clause" or (
        construct.parent is not None and construct.parent.type == "for_clause"
    )
    loop = scopes.enclosing(decl.node, scopes.LOOPS)
    return in_header and not ctx.at_least(1, 22) and loop is not None and scopes.contains(loop, closure)


def _made_here(decl: scopes.Declaration) -> bool:
    """A map created by this declaration (make or a literal), not one handed over."""
    construct = decl.construct
    if construct.type not in ("short_var_declaration", "var_spec"):
        return False
    values = construct.child_by_field_name("right") or construct.child_by_field_name("value")
    if values is None or len(values.named_children) != 1:
        return construct.type == "var_spec" and values is None  # var m map[K]V: a nil map
    value = values.named_children[0]
    return value.type == "composite_literal" or _text(value.child_by_field_name("function")) == "make"


# -- names -------------------------------------------------------------------


def local_name(field_name: str, variable: str) -> str:
    """``timeout`` for ``Timeout``, ``httpClient`` for ``HTTPClient``, ``reqType`` for ``Type``."""
    head = len(field_name) - len(field_name.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    if head == len(field_name):
        name = field_name.lower()
    elif head > 1:
        name = field_name[: head - 1].lower() + field_name[head - 1 :]
    else:
        name = field_name[:1].lower() + field_name[1:]
    if name in _RESERVED or name == "_":
        return variable + field_name[:1].upper() + field_name[1:]
    return name


def _kib(size: int) -> str:
    return f"{size / 1024:.1f}".rstrip("0").rstrip(".") + " KiB"


def _text(node: Node | None) -> str:
    return node.text.decode() if node is not None and node.text is not None else ""


RULE = Rule(
    id="closure-captures-large-value",
    summary="goroutines and stored closures that keep a large value alive for a field or its length",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    default_options={"max-fields": 4},
    triggers=(b"func(",),  # func literals, as gofmt writes them
)
