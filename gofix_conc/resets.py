"""What code does to a resettable object's contents: `*bytes.Buffer`, `*strings.Builder`, a package type with `Reset()`.

Each use of such an object cleans it (``Reset()``, ``Truncate(0)``,
``*b = (*b)[:0]``), writes it (``Write``, ``fmt.Fprintf(b, ...)``,
``*b = append(*b, ...)``), reads it, or does something else; from those, the
first use after the object is taken from a pool, and whether a ``Put`` of a
pool hands an object back written since its last ``Reset``.
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_conc import pools, scopes
from gofix_conc.context import FileContext
from gofix_conc.imports import imports
from gofix_conc.pools import PoolCall, PoolKey, asserted_type, call_arguments, unparen
from gofix_conc.source import Source, captures

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
_RESET_TYPES = {"bytes": "Buffer", "strings": "Builder"}

# what a use of a pooled object does to its contents
CLEAN, WRITE, NEUTRAL, READ, OTHER = "clean", "write", "neutral", "read", "other"


# -- the Get side: the first use after the object is taken -----------------------


def reset_type(ctx: FileContext, kind: Node | None) -> str | None:
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


def taken_into(assertion: Node) -> tuple[Node, scopes.Declaration] | None:
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


def first_use(
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
        args = call_arguments(call)
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
    if parent.type == "argument_list" and call_arguments(parent.parent)[:1] == [ref]:  # type: ignore[arg-type]
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
    if function is None or call_arguments(call)[1:2] != [ref]:
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
    value = unparen(items[0])
    same = [i for i in captures("(identifier) @id", value).get("id", []) if i.text == ref.text]
    if not same:
        return CLEAN
    if value.type == "slice_expression" and value.text.replace(b" ", b"") == b"(*" + ref.text + b")[:0]":
        return CLEAN
    function = value.child_by_field_name("function") if value.type == "call_expression" else None
    if function is not None and function.text == b"append":
        return WRITE
    return OTHER


# -- the Put side: does the pool ever get an object back dirty? ------------------


def dirty_put(ctx: FileContext, key: PoolKey) -> PoolCall | None:
    """A Put of the pool whose object was written since its last Reset, if the package has one."""
    for put in pools.package_calls(ctx.package, key, "Put"):
        args = call_arguments(put.call)
        if len(args) == 1 and _state_before(ctx, put.source, unparen(args[0]), put.call, 1) == WRITE:
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
        arg = unparen(arg.named_children[-1])
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
    value = unparen(items[0])
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
    args = call_arguments(call)
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
        found = asserted_type(decl)
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
            args = call_arguments(call)
            if len(args) > position and _state_before(ctx, f.source, unparen(args[position]), call, depth - 1) == WRITE:
                return WRITE
    return OTHER
