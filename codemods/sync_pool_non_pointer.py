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

from gofix_conc import index, pools, resets, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.pools import PoolCall, PoolKey, call_arguments, unparen
from gofix_conc.source import captures, matches
from gofix_conc.types import Type, Types, contains_lock


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
    args = call_arguments(call.call)
    if len(args) != 1:
        return None
    value = pools.allocating_type(types, args[0])
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
    if contains_lock(types, Type(kinds[0])):
        return None, f"a {element} holds a sync or atomic value: copying it out of the pointer copies a lock"
    body, value = literal_new
    if not _returns(ctx, types, value, element):
        return None, f"New does not visibly return a {element}"
    edits = _new_edits(ctx, body, value, next(iter(gets)).name)
    pointer_names: dict[scopes.Declaration, str] = {}
    for variable, statement in gets.items():
        pointer = pointer_names[variable] = ctx.fresh_name(statement, variable.name + "p")
        call = unparen(statement.child_by_field_name("right").named_children[0]).child_by_field_name("operand")  # type: ignore[union-attr]
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
    if assertion is None or assertion.type != "type_assertion_expression" or call_arguments(call):  # type: ignore[arg-type]
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
    args = call_arguments(call) if call is not None else []
    if statement is None or statement.type not in ("expression_statement", "defer_statement") or len(args) != 1:
        return None
    if not _own_line(ctx, statement):
        return None
    arg = unparen(args[0])
    root = arg if arg.type == "identifier" else arg.child_by_field_name("operand")
    if arg.type not in ("identifier", "slice_expression") or root is None or root.type != "identifier":
        return None
    decl = scopes.resolve(root)
    return (statement, arg, decl) if decl is not None else None


def _returns(ctx: FileContext, types: Types, value: Node, element: str) -> bool:
    """Whether New's value is visibly of type ``element``."""
    value = unparen(value)
    if value.type in ("composite_literal", "type_conversion_expression"):
        return ctx.text(value.child_by_field_name("type")) == element  # type: ignore[arg-type]
    if value.type == "call_expression":
        function = value.child_by_field_name("function")
        args = call_arguments(value)
        if function is not None and function.text == b"make" and args and scopes.resolve(function) is None:
            return ctx.text(args[0]) == element
    found = types.of_expression(value)
    return found is not None and types.name(found) == element


def _new_edits(ctx: FileContext, statement: Node, value: Node, base: str) -> list[Edit]:
    """``return &T{...}``, or ``v := value`` then ``return &v``."""
    if unparen(value).type == "composite_literal":
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
    reset_type = resets.reset_type(ctx, kind)
    if reset_type is None:
        return None  # not a pointer to a type with Reset()
    taken = resets.taken_into(assertion)
    if taken is None:
        return None  # not stored in a variable of this function
    statement, decl = taken
    function = scopes.enclosing_function(statement)
    if function is None:
        return None
    first = resets.first_use(ctx, decl, statement, function, reset_type)
    if first is None:
        return None  # reset first, passed on, or not written
    if call.key not in dirty:
        dirty[call.key] = resets.dirty_put(ctx, call.key)
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


def _where(ctx: FileContext, put: PoolCall) -> str:
    line = put.call.start_point.row + 1
    if put.source is ctx.source:
        return f"on line {line}"
    holder = next((f for f in ctx.package.files() if f.source is put.source), None)
    return f"in {holder.path.name}:{line}" if holder is not None else f"on line {line} of another file"


# -- small helpers -------------------------------------------------------------


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


RULE = Rule(
    id="sync-pool-non-pointer",
    summary="sync.Pool Put of a non-pointer value (an allocation per Put), or a pooled buffer written before Reset",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    triggers=(b".Put(", b".Get().("),
)
