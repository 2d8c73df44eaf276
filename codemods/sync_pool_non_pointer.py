"""`sync.Pool` misuse: values that allocate on every `Put`, and pooled buffers written before a `Reset`.

## What it does
Finds two pitfalls of `sync.Pool`, for pools the source shows (a package
variable or field of type `sync.Pool`/`*sync.Pool`, an array of them, a
function returning one), with their `Get` and `Put` calls followed across
every file of the package:

- `Put` of a value that is not pointer-shaped: a slice, a string, a struct or
  an array value (`pool.Put(buf[:0])`, `pool.Put(s)`). Reported on the `Put(`.
  Not reported: pointers, maps, channels and funcs, interface values, `nil`,
  constants, zero-size and one-byte values and structs or arrays holding just
  one pointer (none of these allocate), and values whose type the source does
  not show. A pool whose `New` returns a slice but which is never `Put` a
  non-pointer is not reported either.
- An object with a `Reset` method (`*bytes.Buffer`, `*strings.Builder`, or a
  type of the package with a `Reset()` method) taken from a pool and written
  (`Write`, `WriteString`, `fmt.Fprintf(buf, ...)`, `io.Copy(buf, ...)`,
  `*b = append(*b, ...)`, a `Write...`/`Append...` method of the package's
  type) before any `Reset`, when some `Put` of the same pool in the package
  returns an object that was not reset: its last use before the `Put` writes
  it or hands it to a function (for a helper `func putBuffer(b *T) {
  pool.Put(b) }`, its callers' last use before the call counts; deferred
  `Reset`s run before a deferred `Put`). Reported on the first statement
  that writes it.
  Not reported: the first use after `Get` resets (`Reset()`, `Truncate(0)`,
  `*b = (*b)[:0]`, `*b = T{}`); every `Put` of the pool resets first (or puts
  a new object): a pool that only ever holds clean objects hands out clean
  ones; the object leaves the function before it is written (returned,
  passed on: the writer is elsewhere), or its first use is not a write: a
  read of the old contents first (`String`, `Bytes`, `Len`, `WriteTo`, an
  `AppendX(dst []byte) []byte` method, which appends the object to `dst`)
  may be deliberate, and a `Reset` would change what it reads (the
  arguments of a deferred call are read at the `defer`). A
  `bytes.Buffer` drained before its `Put` (`b.WriteTo(w)`, `io.Copy(w, b)`)
  is not known to be dirty, nor an object cleared before its `Put` by hand
  (`p.buf = p.buf[:0]`, `p.err = nil`) or by a package function that calls
  `Reset()` on it.
  Uses are read in source order, not along each path: a `Put` on an early
  return that skips the `Reset` is not seen, nor a `Get` wrapped in a helper
  (`b := getBuffer()`), nor a `Put` through a method of the object's type.

## Why is this bad?
A pool stores `any`. Converting a slice, string, struct or array value to an
interface copies it to the heap, so `pool.Put(buf)` allocates on every call:
the pool, there to save allocations, makes one each time (staticcheck
SA6002). Storing a pointer (`*[]byte`) puts the pointer itself in the
interface, with no allocation.

`Get` returns any object some earlier user put back. A buffer put back
without a `Reset` still holds that user's bytes; the next user who appends to
it writes after them, and sends, hashes or stores the old data with its own:
stale bytes, a leak of one request's data into another.

## Example
```go
var bufPool = sync.Pool{New: func() any { return make([]byte, 0, 512) }}

func render(v int) string {
        buf := bufPool.Get().([]byte)
        buf = strconv.AppendInt(buf, int64(v), 10)
        s := string(buf)
        bufPool.Put(buf[:0])
        return s
}
```

Use instead:
```go
var bufPool = sync.Pool{New: func() any { buf := make([]byte, 0, 512); return &buf }}

func render(v int) string {
        bufp := bufPool.Get().(*[]byte)
        buf := *bufp
        buf = strconv.AppendInt(buf, int64(v), 10)
        s := string(buf)
        *bufp = buf[:0]
        bufPool.Put(bufp)
        return s
}
```

## What the fix does
For a `Put` of a non-pointer, the pointer form, when the engine can rewrite
every use of the pool: `New` returns `&v` (`&T{...}` for a composite
literal), each `x := pool.Get().(T)` becomes `xp := pool.Get().(*T)` and
`x := *xp`, and each `pool.Put(x)` (or `pool.Put(x[:0])`) stores the value
through the pointer first: `*xp = x[:0]` then `pool.Put(xp)`.

For a buffer written before a `Reset`: `x.Reset()` on the line after the
`Get`.

## Fix safety
The pointer form is unsafe. It changes the pool's dynamic type from `T` to
`*T`, so it is offered only when the pool is an unexported package variable
declared with `New: func() any { return v }` in the same file as every `Get`
and `Put` (fixes edit one file; no other file of the package, tests
included, names the pool), every `Get` is `x := pool.Get().(T)` and every
`Put` puts `x` or a reslice of it, for an `x` of such a `Get`. Within those
shapes the program keeps the same values; a reviewer must check that nothing
the rule cannot see reaches the pool (assembly, `go:linkname`, reflection)
and that a `Put` of one `x` twice (already a bug) is not relied on. A value
holding a `sync` or `sync/atomic` type gets no fix (`x := *xp` would copy
the lock once more). Otherwise the finding has no fix and says why.

The `Reset` is safe for `*bytes.Buffer` and `*strings.Builder`: on the
object `New` returns it does nothing, and on one a previous user left dirty
it drops exactly the bytes the writer was not meant to see. That holds when
every `New` of the package returns an empty buffer (`new(bytes.Buffer)`,
`&strings.Builder{}`, `bytes.NewBuffer(nil)`, `bytes.NewBuffer(make([]byte,
0, n))`); a `New` that writes into it (`bytes.NewBufferString("log: ")`)
makes the fix unsafe: the `Reset` drops that too. For a type of
the package, what its `Reset` does is the package's own code (it may do more
than clear), so the fix is unsafe: check that `Reset` only empties the value.
A `Reset` with a value receiver works on a copy (it clears only through
pointer fields, or nothing): no fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from gofix_conc import index, pools, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.imports import imports
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.pools import PoolCall, PoolKey
from gofix_conc.source import LITERALS, Source, captures, matches
from gofix_conc.types import Type, Types

_ALLOCATING = frozenset({"slice", "string", "struct", "array"})
_POINTER_SHAPED = frozenset({"pointer", "map", "chan", "func"})
# Methods of bytes.Buffer / strings.Builder by what they do to the contents.
_WRITERS = frozenset({"Write", "WriteString", "WriteByte", "WriteRune", "ReadFrom"})
_NEUTRAL = frozenset({"Grow", "Cap"})
# Methods that read the contents (what a previous user left, right after a Get).
_READERS = frozenset(
    {"Len", "Available", "Bytes", "String", "AvailableBuffer", "WriteTo", "Next", "UnreadByte", "UnreadRune"}
)
# Methods of bytes.Buffer that consume what they read: a Buffer read to the end is empty again.
_DRAINING = frozenset({"WriteTo", "Read", "ReadByte", "ReadRune", "ReadBytes", "ReadString", "Next"})
# Functions that write into their first argument.
_WRITING_FUNCTIONS = {
    "fmt": frozenset({"Fprint", "Fprintf", "Fprintln"}),
    "io": frozenset({"Copy", "CopyN", "CopyBuffer", "WriteString"}),
    "binary": frozenset({"Write"}),
}
_LITERALS = LITERALS | {"literal_value", "literal_element"}
_RESET_TYPES = {"bytes": "Buffer", "strings": "Builder"}

# what a use of a pooled object does to its contents
CLEAN, WRITE, NEUTRAL, READ, OTHER = "clean", "write", "neutral", "read", "other"


def check(ctx: FileContext) -> Iterator[Finding]:
    types = Types(ctx.root, ctx.package)
    fixes: dict[PoolKey, tuple[Fix | None, str | None]] = {}
    dirty: dict[PoolKey, PoolCall | None] = {}
    for call in pools.calls(ctx.source, ctx.package, types=types):
        finding = _check_put(ctx, types, call, fixes) if call.method == "Put" else _check_get(ctx, types, call, dirty)
        if finding is not None:
            yield finding


# -- Put of a non-pointer ------------------------------------------------------


def _check_put(
    ctx: FileContext, types: Types, call: PoolCall, fixes: dict[PoolKey, tuple[Fix | None, str | None]]
) -> Finding | None:
    args = _arguments(call.call)
    if len(args) != 1:
        return None
    value = put_value(types, args[0])
    if value is None:
        return None  # a pointer-shaped value, a constant, or a type the source does not show
    if call.key not in fixes:
        fixes[call.key] = plan_pointer_form(ctx, types, call.key)
    fix, why = fixes[call.key]
    pool = ctx.text(call.operand)
    message = f"{pool}.Put of a {value} value, not a pointer: every Put allocates to box it in an interface"
    if why:
        message += f" (no fix: {why})"
    return ctx.finding(_method_position(call.call), message, fix)


def put_value(types: Types, arg: Node) -> str | None:
    """The type of a value whose conversion to ``any`` allocates (slice, string, struct, array); else None."""
    arg = _unparen(arg)
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
    expr = _unparen(expr)
    if expr.type in ("type_assertion_expression", "type_conversion_expression"):
        kind = expr.child_by_field_name("type")
        return Type(kind) if kind is not None else None
    if expr.type == "identifier":
        decl = scopes.resolve(expr)
        if decl is not None and decl.kind == "var" and decl.construct.type == "short_var_declaration":
            asserted = _asserted_type(decl)
            if asserted is not None:
                return asserted
    if expr.type == "slice_expression":
        operand = expr.child_by_field_name("operand")
        inner = value_type(types, operand) if operand is not None else None
        if inner is not None and types.kind(inner) in ("slice", "string"):
            return inner
        return None  # a slice of an array: a type with no node to name it
    return pools.type_of(types, expr)


def _asserted_type(decl: scopes.Declaration) -> Type | None:
    """``T`` for ``x := v.(T)`` and ``x, ok := v.(T)``."""
    left = decl.construct.child_by_field_name("left")
    right = decl.construct.child_by_field_name("right")
    names = [c for c in left.named_children if c.type != "comment"] if left is not None else []
    values = [c for c in right.named_children if c.type != "comment"] if right is not None else []
    if len(values) != 1 or not names or names[0] != decl.node:
        return None
    value = _unparen(values[0])
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


# -- the pointer form ----------------------------------------------------------


def plan_pointer_form(ctx: FileContext, types: Types, key: PoolKey) -> tuple[Fix | None, str | None]:
    """``New`` returning ``&v``, ``Get().(*T)``, ``Put(p)`` for every use of the pool; or no fix and why."""
    if key[0] != "var":
        return None, "only a package-level pool gets the pointer form"
    name = key[1]
    if name[:1].isupper():
        return None, "the pool is exported: other packages may use it"
    specs = ctx.package.own.variables.get(name, [])
    if len(specs) != 1:
        return None, "the pool is declared in another file; the fix edits one file"
    literal_new = _new_function(ctx, specs[0], name)
    if literal_new is None:
        return None, "the pool has no New of the form func() any { return v }"
    if _named_elsewhere(ctx, name):
        return None, "another file of the package uses the pool; the fix edits one file"
    decl = scopes.resolve(_spec_name(specs[0], name))  # type: ignore[arg-type]
    if decl is None:
        return None, "the pool's declaration is not found"
    gets: dict[scopes.Declaration, Node] = {}  # variable -> its Get statement
    puts: list[tuple[Node, Node, scopes.Declaration]] = []  # (statement, argument, variable)
    asserted: set[str] = set()
    kinds: list[Node] = []  # the asserted types
    for ref in scopes.references(decl, ctx.root):
        if ref == decl.node:
            continue
        get = _get_site(ctx, ref)
        if get is not None:
            statement, variable, kind = get
            gets[variable] = statement
            asserted.add(ctx.text(kind))
            kinds.append(kind)
            continue
        put = _put_site(ctx, ref)
        line = ref.start_point.row + 1
        if put is None and _method_call(ref, "Put") is not None:
            return None, f"the Put on line {line} does not put x or a reslice of it, alone on its line"
        if put is None:
            return None, f"a use of {name} on line {line} is not x := {name}.Get().(T) or Put"
        puts.append(put)
    if len(asserted) != 1:
        return None, "Get asserts several types" if asserted else "the pool is never taken with x := Get().(T)"
    element = next(iter(asserted))
    for statement, arg, variable in puts:
        if variable not in gets:
            return None, f"the Put on line {statement.start_point.row + 1} does not put a value taken with x := Get()"
        if arg.type == "slice_expression" and types.kind(Type(kinds[0])) == "array":
            return None, "a Put reslices an array"
    if _holds_lock(types, Type(kinds[0]), 0):
        return None, f"a {element} holds a sync or atomic value: copying it out of the pointer copies a lock"
    body, value = literal_new
    if not _returns(ctx, types, value, element):
        return None, f"New does not visibly return a {element}"
    edits = _new_edits(ctx, body, value, next(iter(gets)).name)
    pointer_names: dict[scopes.Declaration, str] = {}
    for variable, statement in gets.items():
        pointer = pointer_names[variable] = ctx.fresh_name(statement, variable.name + "p")
        call = _unparen(statement.child_by_field_name("right").named_children[0]).child_by_field_name("operand")  # type: ignore[union-attr]
        indent = ctx.indent(statement)
        text = f"{pointer} := {ctx.text(call)}.(*{element})\n{indent}{variable.name} := *{pointer}"  # type: ignore[arg-type]
        edits.append(Edit(statement.start_byte, statement.end_byte, text.encode()))
    for statement, arg, variable in puts:
        pointer = pointer_names[variable]
        if not _unchanged_since_get(variable, gets[variable], statement, arg, [a for _, a, _ in puts]):
            edits.append(ctx.lines_before(statement, [f"*{pointer} = {ctx.text(arg)}"]))
        edits.append(Edit(arg.start_byte, arg.end_byte, pointer.encode()))
    message = (
        f"Keep *{element} in {name}: New returns a pointer, Get asserts *{element}, Put passes the pointer"
        " (check: nothing outside this file reaches the pool: assembly, go:linkname, reflection)"
    )
    return ctx.fix(message, edits, Safety.UNSAFE), None


def _holds_lock(types: Types, t: Type, depth: int) -> bool:
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
        return element is not None and _holds_lock(types, element, depth + 1)
    if kind == "struct":
        return any(_holds_lock(types, f, depth + 1) for f in (types.fields(t) or {}).values())
    return False


def _unchanged_since_get(
    variable: scopes.Declaration, get: Node, statement: Node, arg: Node, put_args: list[Node]
) -> bool:
    """``defer pool.Put(x)`` right after ``x := pool.Get().(T)``: the pointer still holds x, no store needed."""
    if statement.type != "defer_statement" or arg.type != "identifier":
        return False
    function = scopes.enclosing_function(get)
    if function is None:
        return False
    refs = [r for r in scopes.references(variable, function) if r != variable.node and r not in put_args]
    # With no other use, x := *xp would be declared and not used.
    return bool(refs) and not any(get.end_byte <= r.start_byte < statement.start_byte for r in refs)


def _spec_name(spec: Node, name: str) -> Node | None:
    return next((n for n in spec.children_by_field_name("name") if n.text == name.encode()), None)


def _new_function(ctx: FileContext, spec: Node, name: str) -> tuple[Node, Node] | None:
    """(body, returned value) of ``var p = sync.Pool{New: func() any { return v }}``."""
    names = [n for n in spec.children_by_field_name("name") if n.is_named]
    value = spec.child_by_field_name("value")
    items = [c for c in value.named_children if c.type != "comment"] if value is not None else []
    if len(names) != 1 or len(items) != 1 or spec.child_by_field_name("type") is not None:
        return None
    literal = items[0]
    if literal.type == "unary_expression" and literal.named_children:
        literal = literal.named_children[-1]
    sync = pools.sync_name(ctx.source)
    if literal.type != "composite_literal" or ctx.text(literal.child_by_field_name("type")) != f"{sync}.Pool":  # type: ignore[arg-type]
        return None
    for element in captures("(keyed_element) @e", literal).get("e", []):
        parts = [c for c in element.named_children if c.type != "comment"]
        if element.parent is None or element.parent.parent != literal or len(parts) != 2 or parts[0].text != b"New":
            continue
        function = parts[1].named_children[0] if parts[1].type == "literal_element" else parts[1]
        if function.type != "func_literal":
            return None
        body = function.child_by_field_name("body")
        listed = next((c for c in body.named_children if c.type == "statement_list"), None) if body else None
        inner = [c for c in listed.named_children if c.type != "comment"] if listed is not None else []
        if len(inner) != 1 or inner[0].type != "return_statement":
            return None
        returned = [c for c in inner[0].named_children if c.type == "expression_list"]
        values = [c for c in returned[0].named_children if c.type != "comment"] if returned else []
        return (inner[0], values[0]) if len(values) == 1 else None
    return None


def _named_elsewhere(ctx: FileContext, name: str) -> bool:
    word = re.compile(rb"\b" + re.escape(name.encode()) + rb"\b")
    package = index.package(ctx.path.parent, ctx.package.name, True)
    return any(m.path != ctx.path and word.search(m.raw) for m in package.members)


def _get_site(ctx: FileContext, ref: Node) -> tuple[Node, scopes.Declaration, Node] | None:
    """(statement, variable, asserted type) for ``x := pool.Get().(T)`` alone on its line."""
    call = _method_call(ref, "Get")
    assertion = call.parent if call is not None else None
    if assertion is None or assertion.type != "type_assertion_expression" or _arguments(call):  # type: ignore[arg-type]
        return None
    kind = assertion.child_by_field_name("type")
    values = assertion.parent
    statement = values.parent if values is not None else None
    if kind is None or statement is None or statement.type != "short_var_declaration":
        return None
    left = statement.child_by_field_name("left")
    names = [c for c in left.named_children if c.type != "comment"] if left is not None else []
    if len(names) != 1 or len(values.named_children) != 1 or not _own_line(ctx, statement):  # type: ignore[union-attr]
        return None
    decl = scopes.resolve(names[0])
    if decl is None or decl.node != names[0] or kind.type == "pointer_type":
        return None
    return statement, decl, kind


def _put_site(ctx: FileContext, ref: Node) -> tuple[Node, Node, scopes.Declaration] | None:
    """(statement, argument, variable) for ``pool.Put(x)``/``pool.Put(x[:n])``, alone or deferred."""
    call = _method_call(ref, "Put")
    statement = call.parent if call is not None else None
    args = _arguments(call) if call is not None else []
    if statement is None or statement.type not in ("expression_statement", "defer_statement") or len(args) != 1:
        return None
    if not _own_line(ctx, statement):
        return None
    arg = _unparen(args[0])
    root = arg if arg.type == "identifier" else arg.child_by_field_name("operand")
    if arg.type not in ("identifier", "slice_expression") or root is None or root.type != "identifier":
        return None
    decl = scopes.resolve(root)
    return (statement, arg, decl) if decl is not None else None


def _returns(ctx: FileContext, types: Types, value: Node, element: str) -> bool:
    """Whether New's value is visibly of type ``element``."""
    value = _unparen(value)
    if value.type in ("composite_literal", "type_conversion_expression"):
        return ctx.text(value.child_by_field_name("type")) == element  # type: ignore[arg-type]
    if value.type == "call_expression":
        function = value.child_by_field_name("function")
        args = _arguments(value)
        if function is not None and function.text == b"make" and args and scopes.resolve(function) is None:
            return ctx.text(args[0]) == element
    found = types.of_expression(value)
    return found is not None and types.name(found) == element


def _new_edits(ctx: FileContext, statement: Node, value: Node, base: str) -> list[Edit]:
    """``return &T{...}``, or ``v := value`` then ``return &v``."""
    if _unparen(value).type == "composite_literal":
        return [Edit(value.start_byte, value.start_byte, b"&")]
    local = ctx.fresh_name(statement, base)
    block = scopes.enclosing(statement, ("block",))
    one_line = block is not None and block.start_point.row == statement.start_point.row
    separator = "; " if one_line else "\n" + ctx.indent(statement)
    text = f"{local} := {ctx.text(value)}{separator}return &{local}"
    return [Edit(statement.start_byte, statement.end_byte, text.encode())]


# -- written before Reset ------------------------------------------------------


def _check_get(ctx: FileContext, types: Types, call: PoolCall, dirty: dict[PoolKey, PoolCall | None]) -> Finding | None:
    assertion = call.call.parent
    if assertion is None or assertion.type != "type_assertion_expression":
        return None
    kind = assertion.child_by_field_name("type")
    reset_type = _reset_type(ctx, kind)
    if reset_type is None:
        return None  # not a pointer to a type with Reset()
    taken = _taken_into(assertion)
    if taken is None:
        return None  # not stored in a variable of this function
    statement, decl = taken
    function = scopes.enclosing_function(statement)
    if function is None:
        return None
    first = _first_use(ctx, decl, statement, function, reset_type)
    if first is None:
        return None  # reset first, passed on, or not written
    if call.key not in dirty:
        dirty[call.key] = _dirty_put(ctx, call.key)
    put = dirty[call.key]
    if put is None:
        return None  # every Put of the pool resets (or puts a new object): Get hands out clean objects
    where = _where(ctx, put)
    message = (
        f"{decl.name} from {ctx.text(call.operand)}.Get() is written before any Reset, and the Put {where}"
        " returns objects without Reset: the previous user's bytes are still there"
    )
    fix, why = _reset_fix(ctx, statement, decl, kind)
    if why:
        message += f" (no fix: {why})"
    return ctx.finding(statements.statement_holding(first) or first, message, fix)


def _reset_type(ctx: FileContext, kind: Node | None) -> str | None:
    """``bytes.Buffer``, ``strings.Builder`` or a type of the package with ``Reset()``, from ``*T``."""
    if kind is None or kind.type != "pointer_type" or not kind.named_children:
        return None
    base = kind.named_children[0]
    if base.type == "qualified_type":
        package, _, name = base.text.decode().partition(".")
        for i in imports(ctx.source):
            if i.local_name == package and _RESET_TYPES.get(i.path) == name:
                return base.text.decode()
        return None
    if base.type != "type_identifier":
        return None
    method = ctx.package.method(base.text.decode(), "Reset")
    params = method.node.child_by_field_name("parameters") if method is not None else None
    if params is None or any(c.type.endswith("parameter_declaration") for c in params.named_children):
        return None
    return base.text.decode()


def _taken_into(assertion: Node) -> tuple[Node, scopes.Declaration] | None:
    """(statement, variable) for ``x := pool.Get().(*T)`` or ``x = ...`` on a local variable."""
    values = assertion.parent
    statement = values.parent if values is not None else None
    if statement is None or statement.type not in ("short_var_declaration", "assignment_statement"):
        return None
    left = statement.child_by_field_name("left")
    names = [c for c in left.named_children if c.type != "comment"] if left is not None else []
    if len(names) != 1 or names[0].type != "identifier" or len(values.named_children) != 1:  # type: ignore[union-attr]
        return None
    decl = scopes.resolve(names[0])
    if decl is None or decl.kind != "var" or scopes.top_level(decl.node).type == "var_declaration":
        return None
    return statement, decl


def _first_use(
    ctx: FileContext, decl: scopes.Declaration, statement: Node, function: Node, reset_type: str
) -> Node | None:
    """The first use after the Get when it writes the object; None when it resets it or does anything else."""
    for ref in scopes.references(decl, function):
        if ref.start_byte < statement.end_byte:
            continue
        if _runs_deferred(ref, function):
            continue  # runs at the end
        if scopes.enclosing_function(ref) != function:
            return None  # used by a closure: not followed
        effect = use_effect(ctx, ref, reset_type)
        if effect == NEUTRAL:
            continue
        return ref if effect == WRITE else None  # a read first: the code looks at what it was handed
    return None


def _runs_deferred(ref: Node, function: Node) -> bool:
    """``defer pool.Put(b)``, ``defer b.Reset()``, ``defer func() { ... b ... }()``: the use runs at the end.

    ``defer log.Print(b.String())`` reads ``b`` now: a deferred call's arguments are evaluated at the defer.
    """
    statement = _deferred(ref, function)
    if statement is None or scopes.enclosing_function(statement) != function:
        return False
    call = next((c for c in statement.named_children if c.type == "call_expression"), None)
    function = call.child_by_field_name("function") if call is not None else None
    if function is not None and function.type == "func_literal" and scopes.contains(function, ref):
        return True
    parent = ref.parent
    if parent is not None and parent.type == "selector_expression" and parent.parent == call:
        return True  # defer b.Reset()
    return parent is not None and parent.type == "argument_list" and parent.parent == call  # defer pool.Put(b)


def use_effect(ctx: FileContext, ref: Node, reset_type: str) -> str:
    """What one use of a pooled object does to its contents: clean, write, neutral or other."""
    parent = ref.parent
    if parent is None:
        return OTHER
    if parent.type == "selector_expression" and parent.child_by_field_name("operand") == ref:
        call = parent.parent
        field = parent.child_by_field_name("field")
        if call is None or call.type != "call_expression" or field is None:
            return OTHER
        method = field.text.decode()
        args = _arguments(call)
        if method == "Reset" and not args:
            return CLEAN
        if method == "Truncate" and len(args) == 1 and args[0].text == b"0":
            return CLEAN
        if method in _NEUTRAL:
            return NEUTRAL
        if method in _READERS:
            return READ
        if "." in reset_type:
            return WRITE if method in _WRITERS else OTHER
        declared = ctx.package.method(reset_type, method)
        if declared is None or not method.startswith(("Write", "Append")):
            return OTHER
        return READ if _appends_to_argument(declared.node) else WRITE
    if parent.type == "argument_list" and _arguments(parent.parent)[:1] == [ref]:  # type: ignore[arg-type]
        return WRITE if _writes_first_argument(ctx, parent.parent) else OTHER  # type: ignore[arg-type]
    if parent.type == "unary_expression" and parent.child_by_field_name("operator").type == "*":  # type: ignore[union-attr]
        return _overwrite_effect(ref, parent)
    return OTHER


def _appends_to_argument(method: Node) -> bool:
    """``func (t *T) AppendText(dst []byte) []byte``: it appends the object to ``dst``, it does not write it."""
    params = method.child_by_field_name("parameters")
    result = method.child_by_field_name("result")
    first = next((c for c in params.named_children if c.type == "parameter_declaration"), None) if params else None
    kind = first.child_by_field_name("type") if first is not None else None
    if kind is None or result is None:
        return False
    if result.type == "parameter_list":
        results = [c for c in result.named_children if c.type == "parameter_declaration"]
        result = results[0].child_by_field_name("type") if len(results) == 1 else None
    return result is not None and result.text == kind.text


def _drains(ctx: FileContext, ref: Node) -> bool:
    """``b.WriteTo(w)``, ``b.Next(n)``, ``io.Copy(w, b)``: a ``bytes.Buffer`` read to its end is empty again."""
    parent = ref.parent
    if parent is not None and parent.type == "selector_expression":
        field = parent.child_by_field_name("field")
        return field is not None and field.text.decode() in _DRAINING
    call = parent.parent if parent is not None and parent.type == "argument_list" else None
    function = call.child_by_field_name("function") if call is not None else None
    if function is None or _arguments(call)[1:2] != [ref]:
        return False
    path, name = _package_function(ctx, function)
    return path == "io" and name in ("Copy", "CopyN", "CopyBuffer")


def _writes_first_argument(ctx: FileContext, call: Node) -> bool:
    function = call.child_by_field_name("function")
    path, name = _package_function(ctx, function) if function is not None else ("", "")
    package = path.rsplit("/", 1)[-1] if path in ("fmt", "io", "encoding/binary") else ""
    return name in _WRITING_FUNCTIONS.get(package, frozenset())


def _package_function(ctx: FileContext, function: Node) -> tuple[str, str]:
    """(import path, name) when ``function`` is ``pkg.Name`` of an imported package, else empty strings."""
    if function.type != "selector_expression":
        return "", ""
    package = function.child_by_field_name("operand")
    field = function.child_by_field_name("field")
    if package is None or package.type != "identifier" or scopes.resolve(package) is not None or field is None:
        return "", ""
    path = next((i.path for i in imports(ctx.source) if i.local_name == package.text.decode()), "")
    return (path, field.text.decode()) if path else ("", "")


def _overwrite_effect(ref: Node, star: Node) -> str:
    """``*b = (*b)[:0]`` and ``*b = T{}`` reset; ``*b = append(*b, ...)`` writes."""
    values = star.parent
    statement = values.parent if values is not None else None
    if statement is None or statement.type != "assignment_statement" or statement.child_by_field_name("left") != values:
        return OTHER
    operator = statement.child_by_field_name("operator")
    right = statement.child_by_field_name("right")
    items = [c for c in right.named_children if c.type != "comment"] if right is not None else []
    if operator is None or operator.text != b"=" or len(items) != 1 or len(values.named_children) != 1:  # type: ignore[union-attr]
        return OTHER
    value = _unparen(items[0])
    same = [i for i in captures("(identifier) @id", value).get("id", []) if i.text == ref.text]
    if not same:
        return CLEAN
    if value.type == "slice_expression" and value.text.replace(b" ", b"") == b"(*" + ref.text + b")[:0]":
        return CLEAN
    function = value.child_by_field_name("function") if value.type == "call_expression" else None
    if function is not None and function.text == b"append":
        return WRITE
    return OTHER


def _reset_fix(ctx: FileContext, statement: Node, decl: scopes.Declaration, kind: Node) -> tuple[Fix | None, str]:
    """``x.Reset()`` on the line after the Get; or no fix and why."""
    if not _own_line(ctx, statement):
        return None, "the Get is not a statement on its own line"
    end = ctx.source.data.find(b"\n", statement.end_byte)
    rest = ctx.source.data[statement.end_byte : end].strip() if end >= 0 else b"?"
    if rest and not rest.startswith(b"//"):
        return None, "code follows the Get on its line"
    at = end + 1
    edit = Edit(at, at, f"{ctx.indent(statement)}{decl.name}.Reset()\n".encode())
    message = f"Reset {decl.name} right after Get"
    base = kind.named_children[0]
    if base.type == "qualified_type":
        if _filling_new(ctx):
            message += " (check: a New of the package returns a buffer with contents; Reset drops them)"
            return ctx.fix(message, [edit], Safety.UNSAFE), ""
        return ctx.fix(message, [edit], Safety.SAFE), ""
    method = ctx.package.method(base.text.decode(), "Reset")
    receiver = method.node.child_by_field_name("receiver") if method is not None else None
    declared = receiver.named_children[0].child_by_field_name("type") if receiver and receiver.named_children else None
    if declared is None or declared.type != "pointer_type":
        return None, f"{base.text.decode()}.Reset has a value receiver (it works on a copy): check what it clears"
    message += f" (check: {base.text.decode()}.Reset only empties the value)"
    return ctx.fix(message, [edit], Safety.UNSAFE), ""


# A New returning an empty buffer: new(bytes.Buffer), &strings.Builder{}, bytes.NewBuffer(nil),
# bytes.NewBuffer(make([]byte, 0, n)).
_EMPTY_BUFFER = re.compile(
    rb"^(new\(\w+\.(Buffer|Builder)\)|&\w+\.(Buffer|Builder)\{\}"
    rb"|\w+\.NewBuffer\((nil|make\(\[\]byte,\s*0(,\s*[\w.*+ ]+)?\))\))$"
)
_BUFFER_VALUE = re.compile(rb"^(&?\w+\.(Buffer|Builder)\s*\{|\w+\.NewBuffer)")
_BUFFER_NAMES = re.compile(rb"\w+\.(Buffer|Builder|NewBuffer\w*)\b")
_NEW_FUNCTIONS = """
[(keyed_element (literal_element) @key (literal_element (func_literal) @f))
 (assignment_statement
   left: (expression_list (selector_expression field: (field_identifier) @key))
   right: (expression_list (func_literal) @f))]
"""


def _filling_new(ctx: FileContext) -> bool:
    """Whether some ``New`` of the package may return a buffer with contents (``bytes.NewBufferString(...)``).

    A ``New`` that returns anything else than an empty ``bytes.Buffer``/``strings.Builder`` and mentions one
    (or calls a function of the package that does) counts: a ``Reset`` after ``Get`` would drop its contents.
    """
    for f in ctx.package.files():
        if b"New" not in f.source.data:
            continue
        for match in matches(_NEW_FUNCTIONS, f.source.root):
            key, function = match["key"][0], match["f"][0]
            if key.text != b"New":
                continue
            body = function.child_by_field_name("body")
            text = body.text or b"" if body is not None else b""
            listed = next((c for c in body.named_children if c.type == "statement_list"), None) if body else None
            inner = [c for c in listed.named_children if c.type != "comment"] if listed is not None else []
            value = inner[0].named_children[0] if len(inner) == 1 and inner[0].type == "return_statement" else None
            value = value.named_children[0] if value is not None and value.type == "expression_list" else value
            if value is None:
                if _BUFFER_NAMES.search(text):
                    return True  # several statements that make a buffer
                continue
            if _EMPTY_BUFFER.match(re.sub(rb"\s+", b" ", value.text)):
                continue
            if _BUFFER_VALUE.match(value.text):
                return True  # bytes.NewBufferString(s), &bytes.Buffer{...}
            called = value.child_by_field_name("function") if value.type == "call_expression" else None
            declarations = ctx.package.functions(called.text.decode()) if called and called.type == "identifier" else []
            if any(_BUFFER_NAMES.search(d.text or b"") for d in declarations):
                return True  # newBuffer(): a function of the package that makes one
    return False


# -- the Put side: does the pool ever get an object back dirty? ------------------


def _dirty_put(ctx: FileContext, key: PoolKey) -> PoolCall | None:
    """A Put of the pool whose object was written since its last Reset, if the package has one."""
    for put in pools.package_calls(ctx.package, key, "Put"):
        args = _arguments(put.call)
        if len(args) == 1 and _state_before(ctx, put.source, _unparen(args[0]), put.call, 1) == WRITE:
            return put
    return None


def _state_before(ctx: FileContext, source: Source, arg: Node, at: Node, depth: int) -> str:
    """The contents of ``arg`` when ``at`` (a Put, or a call of a putting helper) runs: clean, write or other."""
    if _is_new_object(arg):
        return CLEAN
    if arg.type != "identifier":
        return OTHER
    decl = scopes.resolve(arg)
    function = scopes.enclosing_function(decl.node) if decl is not None else None
    if decl is None or function is None:
        return OTHER
    reset_type = _declared_reset_type(decl)
    refs = [r for r in scopes.references(decl, function) if r != arg and r != decl.node]
    frame = scopes.enclosing_function(at)
    deferred = _deferred(at, function)
    if frame != function and deferred is None:
        # A Put in a closure that runs at its own time: only what the closure did before it counts.
        order = [r for r in refs if scopes.enclosing_function(r) == frame and r.start_byte < arg.start_byte]
    elif deferred is not None:
        # Statements deferred after the Put's run before it, the last deferred first; closures are not followed.
        own = [r for r in refs if scopes.enclosing_function(r) == function or scopes.contains(deferred, r)]
        plain = [r for r in own if _deferred(r, function) is None]
        inside = [r for r in own if scopes.contains(deferred, r) and r.start_byte < arg.start_byte]
        later = [r for r in own if r.start_byte > deferred.end_byte and r not in plain]
        order = inside or plain + later[::-1]
    else:
        order = [
            r
            for r in refs
            if scopes.enclosing_function(r) == function
            and _deferred(r, function) is None
            and r.start_byte < arg.start_byte
        ]
    for ref in reversed(order):
        effect = _effect_before_put(ctx, ref, reset_type)
        if effect != NEUTRAL:
            return effect
    if frame != function and deferred is None:
        return OTHER
    if decl.kind in ("param", "receiver") and depth > 0:
        return _callers_state(ctx, source, decl, function, depth)
    return CLEAN if decl.kind == "var" else OTHER  # taken from the pool or made here, never written


def _deferred(node: Node, function: Node) -> Node | None:
    """The defer statement of ``function`` that runs ``node`` (inside a deferred closure too)."""
    for ancestor in scopes.ancestors(node):
        if ancestor == function:
            return None
        if ancestor.type == "defer_statement":
            return ancestor
    return None


def _is_new_object(arg: Node) -> bool:
    """``T{...}``, ``&T{...}``, ``new(T)``: an object no one has written yet."""
    if arg.type == "unary_expression" and arg.text.startswith(b"&") and arg.named_children:
        arg = _unparen(arg.named_children[-1])
    if arg.type == "call_expression":
        function = arg.child_by_field_name("function")
        return function is not None and function.text == b"new" and scopes.resolve(function) is None
    return arg.type == "composite_literal"


def _effect_before_put(ctx: FileContext, ref: Node, reset_type: str) -> str:
    effect = use_effect(ctx, ref, reset_type or "?")
    parent = ref.parent
    if reset_type == "bytes.Buffer" and _drains(ctx, ref):
        return OTHER  # read out, maybe to its end: not known to be dirty
    if effect == READ:
        return NEUTRAL
    if effect != OTHER or parent is None:
        return effect
    if parent.type == "argument_list":
        if _resetting_helper(ctx, parent.parent, ref):  # type: ignore[arg-type]
            return OTHER  # func clean(b *T) { b.Reset() }: cleared, maybe
        return WRITE  # handed to a function (an encoder, a formatter) since its last Reset
    if parent.type == "selector_expression" and (parent.parent is None or parent.parent.type != "call_expression"):
        if not scopes.is_write(parent):
            return NEUTRAL  # reading a field
        return OTHER if _clears_field(parent) else WRITE  # r.buf = r.buf[:0] clears by hand; r.buf = ... writes
    return effect


_ZERO_VALUES = frozenset({"nil", "true", "false"})


def _clears_field(field: Node) -> bool:
    """``r.buf = r.buf[:0]``, ``r.err = nil``, ``r.n = 0``, ``r.s = ""``: a hand-written reset of one field."""
    values = field.parent
    statement = values.parent if values is not None else None
    if statement is None or statement.type != "assignment_statement" or len(values.named_children) != 1:  # type: ignore[union-attr]
        return False
    right = statement.child_by_field_name("right")
    items = [c for c in right.named_children if c.type != "comment"] if right is not None else []
    if len(items) != 1:
        return False
    value = _unparen(items[0])
    if value.type == "slice_expression":
        operand = value.child_by_field_name("operand")
        end = value.child_by_field_name("end")
        return operand is not None and operand.text == field.text and end is not None and end.text == b"0"
    if value.type == "composite_literal":
        body = value.child_by_field_name("body")
        return body is not None and not body.named_children
    return value.type in _ZERO_VALUES or value.text in (b"0", b'""', b"``")


def _resetting_helper(ctx: FileContext, call: Node, ref: Node) -> bool:
    """``clean(b)`` for a package function whose body calls ``Reset()`` on that parameter."""
    function = call.child_by_field_name("function")
    args = _arguments(call)
    if function is None or function.type != "identifier" or ref not in args:
        return False
    local = scopes.resolve(function)
    if local is not None and local.kind != "func":
        return False
    position = args.index(ref)
    for declaration in ctx.package.functions(function.text.decode()):
        parameters = declaration.child_by_field_name("parameters")
        names = [
            n.text for p in (parameters.named_children if parameters else []) for n in p.children_by_field_name("name")
        ]
        body = declaration.child_by_field_name("body")
        if position < len(names) and body is not None:
            needle = names[position] + b".Reset()"
            if needle in body.text:
                return True
    return False


def _declared_reset_type(decl: scopes.Declaration) -> str:
    kind = scopes.declared_type(decl)
    if kind is None and decl.construct.type == "short_var_declaration":
        found = _asserted_type(decl)
        kind = found.node if found is not None else None
    if kind is None or kind.type != "pointer_type" or not kind.named_children:
        return ""
    return kind.named_children[0].text.decode()


def _callers_state(ctx: FileContext, source: Source, decl: scopes.Declaration, function: Node, depth: int) -> str:
    """For ``func putBuffer(b *T) { pool.Put(b) }``: WRITE when a caller in the package hands it a written object."""
    if function.type != "function_declaration":
        return OTHER  # methods and closures: their callers are not followed
    name = function.child_by_field_name("name")
    params = [
        n
        for p in function.child_by_field_name("parameters").named_children  # type: ignore[union-attr]
        for n in p.children_by_field_name("name")
    ]
    if name is None or decl.node not in params:
        return OTHER
    position = params.index(decl.node)
    needle = name.text + b"("  # type: ignore[operator]
    for f in ctx.package.files():
        if needle not in f.source.data:
            continue
        for call in captures("(call_expression function: (identifier) @f) @call", f.source.root).get("call", []):
            if call.child_by_field_name("function").text != name.text:  # type: ignore[union-attr]
                continue
            args = _arguments(call)
            if (
                len(args) > position
                and _state_before(ctx, f.source, _unparen(args[position]), call, depth - 1) == WRITE
            ):
                return WRITE
    return OTHER


def _where(ctx: FileContext, put: PoolCall) -> str:
    line = put.call.start_point.row + 1
    if put.source is ctx.source:
        return f"on line {line}"
    holder = next((f for f in ctx.package.files() if f.source is put.source), None)
    return f"in {holder.path.name}:{line}" if holder is not None else f"on line {line} of another file"


# -- small helpers -------------------------------------------------------------


def _arguments(call: Node | None) -> list[Node]:
    arguments = call.child_by_field_name("arguments") if call is not None else None
    return [a for a in arguments.named_children if a.type != "comment"] if arguments is not None else []


def _method_call(ref: Node, method: str) -> Node | None:
    """The call ``ref.method(...)`` that ``ref`` is the receiver of."""
    selector = ref.parent
    if selector is None or selector.type != "selector_expression" or selector.child_by_field_name("operand") != ref:
        return None
    field = selector.child_by_field_name("field")
    call = selector.parent
    if field is None or field.text != method.encode() or call is None or call.type != "call_expression":
        return None
    return call if call.child_by_field_name("function") == selector else None


def _method_position(call: Node) -> Node:
    """The ``Put(`` of ``pool.Put(x)``."""
    function = call.child_by_field_name("function")
    field = function.child_by_field_name("field") if function is not None else None
    return field if field is not None else call


def _own_line(ctx: FileContext, statement: Node) -> bool:
    """The statement starts its line and is a statement of a block."""
    parent = statement.parent
    return parent is not None and parent.type == "statement_list" and ctx.source.starts_line(statement.start_byte)


def _unparen(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node


RULE = Rule(
    id="sync-pool-non-pointer",
    summary="sync.Pool Put of a non-pointer value (an allocation per Put), or a pooled buffer written before Reset",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    triggers=(b".Put(", b".Get().("),
)
