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

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_conc import imports, scopes
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, FixKind, Rule, Safety
from gofix_conc.source import Source, spelled
from gofix_conc.types import Type, Types, is_reference_kind

LARGE = 1024

# Every closure, checked for where its value goes:
#   go func() { ... }()    return func() { ... }    time.AfterFunc(d, func() { ... })
# found from the text: a func literal's keyword is followed, past blanks and comments, by its
# parameters' "(" (so are a method's and a func type's, which the tree then tells apart).
FUNC_KEYWORD = re.compile(rb"func\s*[(/]")
# Bytes of Go identifiers (non-ASCII letters are UTF-8 bytes of 0x80 and above).
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_" + bytes(range(0x80, 0x100)))
# Names followed by a "." (name.field) and names after a "(" (len(name)), blanks between; a "/"
# stands for a comment between. Each match starts and ends a whole name.
_SELECTED = re.compile(rb"([\w\x80-\xff]+)[ \t\r\n]*[./]")
_MEASURED = re.compile(rb"[(/][ \t\r\n]*([\w\x80-\xff]+)")

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
    file_types: list[Types] = []  # built when first asked; the package's other files read only when asked

    def types_of_file() -> Types:
        if not file_types:
            file_types.append(Types(ctx.root, ctx.package))
        return file_types[0]

    packages: dict[str, str] | None = None
    memo: dict[object, object] = {}  # what the types say of each captured variable
    for closure in closures(ctx.source):
        if not may_outlive(ctx.source, closure):
            continue  # called on the spot or handed to a synchronous helper, whatever it captures
        if not may_capture_large(ctx.source, types_of_file, closure, memo):
            continue  # no variable it captures is a large struct, or a slice or map it only takes the length of
        types = types_of_file()
        if packages is None:
            packages = {i.local_name: i.path for i in imports.imports(ctx.source)}
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


def closures(source: Source) -> Iterator[Node]:
    """The file's func literals in source order, found from their keyword without walking the whole tree."""
    data, root = source.data, source.root
    for match in FUNC_KEYWORD.finditer(data):
        at = match.start()
        if at and data[at - 1] in _NAME_BYTES:
            continue  # the end of a longer name
        # The keyword is not named: the smallest named node around it is what it starts (no walk up for a parent).
        node = root.named_descendant_for_byte_range(at, at + 4)
        if node is not None and node.type == "func_literal" and node.start_byte == at:
            yield node


# Names of the functions and methods stored_as looks for: any other callee neither keeps nor wraps the closure.
_KEEPER_NAMES = frozenset(n.encode() for n in {name for _, name in KEEPERS} | KEEPER_METHODS)
_WRAPPER_NAMES = frozenset(name.encode() for _, name in WRAPPERS)


def may_outlive(source: Source, expr: Node, depth: int = 0) -> bool:
    """False when :func:`stored_as` is sure to return None: its shapes, without resolving names."""
    node, parent = expr, expr.parent  # each .parent walks down from the root: asked once per node
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None or depth > 4:
        return False
    kind = parent.type
    if kind == "call_expression":
        if parent.child_by_field_name("function") != node:
            return False
        statement = parent.parent
        return statement is not None and statement.type == "go_statement"
    if kind == "argument_list":
        call = parent.parent
        name = _callee_name(call) if call is not None else None
        if name in _KEEPER_NAMES:
            return True
        return name in _WRAPPER_NAMES and may_outlive(source, call, depth + 1)  # type: ignore[arg-type]
    if kind == "send_statement":
        return parent.child_by_field_name("value") == node
    if kind in ("literal_element", "keyed_element", "literal_value"):
        return may_outlive(source, parent, depth)
    if kind == "composite_literal" or (
        kind == "unary_expression" and _text(parent.child_by_field_name("operator")) == "&"
    ):
        return _literal_may_outlive(source, parent, depth + 1)
    holder = parent.parent if kind == "expression_list" else None
    if holder is None:
        return False
    if holder.type == "return_statement":
        return True
    target = _assigned_to(holder, parent, node)
    if target is None or target.type != "identifier" or target.text == b"_":
        return target is not None and target.type in ("selector_expression", "index_expression")
    if holder.type in ("var_spec", "short_var_declaration"):
        # The target declares the variable, or reuses one of its block or signature: same function.
        if _top_level(source, target).type == "var_declaration":
            return True
        function = scopes.enclosing_function(target)
    else:
        decl = scopes.resolve(target)
        if decl is None or _top_level(source, decl.node).type == "var_declaration":
            return True
        function = scopes.enclosing_function(decl.node)
    if function is None:
        return False
    # The variable's references are among the identifiers of the function spelled as it is.
    word = target.text or b""
    for at in spelled(source.data, word, function.start_byte, function.end_byte):
        end = at + len(word)
        if at != target.start_byte:
            ref = source.root.descendant_for_byte_range(at, end)
            is_name = ref is not None and ref.type == "identifier" and ref.start_byte == at and ref.end_byte == end
            if is_name and may_outlive(source, ref, depth + 1):  # type: ignore[arg-type]
                return True
    return False


def _top_level(source: Source, node: Node) -> Node:
    """scopes.top_level in one step down from the root instead of a walk up through parents."""
    root = source.root
    if root.type != "source_file":
        return scopes.top_level(node)  # a file the parser could not make a source file of: its root
    return root.child_with_descendant(node) or node


_OUTLIVING = scopes.memo()


def _literal_may_outlive(source: Source, literal: Node, depth: int) -> bool:
    """:func:`may_outlive` of a composite literal, once per depth: a table of test cases holds many closures."""
    hit = _OUTLIVING.get(literal.id)
    if hit is None or hit[0] != literal:
        hit = _OUTLIVING[literal.id] = (literal, {})
    if depth not in hit[1]:
        hit[1][depth] = may_outlive(source, literal, depth)
    return hit[1][depth]  # type: ignore[no-any-return]


def _callee_name(call: Node) -> bytes | None:
    function = call.child_by_field_name("function")
    if function is not None and function.type == "selector_expression":
        function = function.child_by_field_name("field")
    return function.text if function is not None and function.type in ("identifier", "field_identifier") else None


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
    target = _assigned_to(holder, parent, node)
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


def _assigned_to(holder: Node, values: Node, node: Node) -> Node | None:
    """What ``node``, one of the ``values`` of an assignment or declaration ``holder``, is assigned to."""
    if (holder.child_by_field_name("right") or holder.child_by_field_name("value")) != values:
        return None
    index = [c for c in values.named_children if c.type != "comment"].index(node)
    if holder.type == "var_spec":
        targets = holder.children_by_field_name("name")
    else:
        left = holder.child_by_field_name("left")
        targets = [c for c in left.named_children if c.type != "comment"] if left is not None else []
    return targets[index] if index < len(targets) and len(targets) == len(values.named_children) else None


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


def may_capture_large(
    source: Source, types_of_file: Callable[[], Types], closure: Node, memo: dict[object, object]
) -> bool:
    """False when no variable ``closure`` captures can be flagged, whatever else it does.

    Such a variable is declared on the way out of the closure (earlier statements of the blocks
    around it, headers, signatures) and spelled inside it; every use reads a declared field of a
    struct (``name.field``) or the length of a slice or map (``len(name)``); and the struct, or
    what the pointer points to, takes :data:`LARGE` bytes or more. Cheapest checks first: the
    text, the uses' shapes, the kind of the type, its field names, its size last. ``memo`` keeps
    what the types say per declaration.
    """
    if _top_level(source, closure).type in ("var_declaration", "const_declaration"):
        return False  # every variable it can capture is declared in a package-level value: shared
    text = source.data[closure.start_byte : closure.end_byte]
    candidates = set(_SELECTED.findall(text))
    if b"len" in text or b"cap" in text:
        candidates.update(_MEASURED.findall(text))
    if not candidates:
        return False  # no name is read as name.field or len(name)
    for decl in outer_declarations(closure):
        word = decl.name.encode()
        if word not in candidates or decl.kind not in ("var", "param", "receiver", "result"):
            continue  # no use of it can be read as name.field or len(name), or no variable
        reads = _reads(source, closure, decl, word)
        if not reads:
            continue  # a use that needs the variable itself, or no use of it (a word in a string or comment)
        types = types_of_file()
        if ("kind", decl) not in memo:
            memo["kind", decl] = captured_type(types, decl)
        found = memo["kind", decl]
        if found is None:
            continue  # neither a struct nor a pointer to one, nor a slice or map
        declared, _, pointee = found  # type: ignore[misc]
        fields = types.fields(declared) if pointee is not None else {}
        if any(_not_read_by_copy(field, pointee, fields) and scopes.resolve(use) == decl for use, field in reads):
            continue  # a method of the struct, a field of a slice, the length of a struct
        if pointee is not None:
            if ("size", decl) not in memo:
                memo["size", decl] = types.min_size(pointee)
            if memo["size", decl] < LARGE:  # type: ignore[operator]
                continue
        return True
    return False


def _not_read_by_copy(field: bytes | None, pointee: Type | None, fields: dict[str, Type] | None) -> bool:
    """A use selecting ``field`` (None: taking the length) that large_and_partly_used does not copy."""
    if pointee is None:
        return field is not None  # a slice or map: only its length is copied
    return field is None or fields is None or field.decode() not in fields


def outer_declarations(closure: Node) -> Iterator[scopes.Declaration]:
    """The declarations in scope at ``closure`` other than the package's, innermost first (shadowed ones too)."""
    child, node = closure, closure.parent
    while node is not None and node.type != "source_file":
        if node.type == "statement_list":
            for end, declared in scopes.remembered(_STATEMENTS, node, _statement_declarations):
                if end > child.start_byte:
                    break
                yield from declared
        else:
            yield from scopes.header_declarations(node, child)
        child, node = node, node.parent


_STATEMENTS = scopes.memo()


# The statements that declare variables in a block: the only declarations a closure's capture can be.
_DECLARING_STATEMENTS = frozenset({"short_var_declaration", "var_declaration"})


def _statement_declarations(block: Node) -> list[tuple[int, list[scopes.Declaration]]]:
    return [(s.end_byte, scopes.declared_by(s)) for s in block.named_children if s.type in _DECLARING_STATEMENTS]


# An identifier and the field it selects; None when it is the argument of len or cap.
Read = tuple[Node, "bytes | None"]


def _reads(source: Source, closure: Node, decl: scopes.Declaration, word: bytes) -> list[Read] | None:
    """The identifiers spelled as ``decl`` in ``closure`` that select a field (with its name) or are measured (None).

    None when a use of ``decl`` stands elsewhere: only the identifiers that do are resolved.
    """
    found: list[Read] = []
    for at in spelled(source.data, word, closure.start_byte, closure.end_byte):
        end = at + len(word)
        node = source.root.descendant_for_byte_range(at, end)
        if node is not None and node.type == "identifier" and node.start_byte == at and node.end_byte == end:
            shape = _read_shape(node)
            if shape is None and scopes.resolve(node) == decl:
                return None
            if shape is not None:
                found.append((node, shape or None))
    return found


def _read_shape(use: Node) -> bytes | None:
    """The field name of ``use.field``, b"" for ``len(use)``/``cap(use)`` (the builtin perhaps shadowed), else None."""
    parent = use.parent
    if parent is not None and parent.type == "selector_expression" and parent.child_by_field_name("operand") == use:
        field = parent.child_by_field_name("field")
        return field.text if field is not None and field.text else None
    node = use
    while node.parent is not None and node.parent.type == "parenthesized_expression":
        node = node.parent
    arguments = node.parent
    if arguments is None or arguments.type != "argument_list" or arguments.named_child_count != 1:
        return None
    function = arguments.parent.child_by_field_name("function") if arguments.parent is not None else None
    measured = function is not None and function.type == "identifier" and function.text in (b"len", b"cap")
    return b"" if measured else None


def captured_type(types: Types, decl: scopes.Declaration) -> tuple[Type, str, Type | None] | None:
    """The declared type of a captured variable, its kind, and for a struct (or pointer to one) the struct.

    None when no use can make it flagged: not a slice or map, nor a struct with known fields or a
    pointer to one (a method's pointer receiver neither).
    """
    if decl.kind not in ("var", "param", "receiver", "result"):
        return None
    declared = types.of_declaration(decl)
    if declared is None:
        return None
    kind = types.kind(declared)
    if decl.kind == "receiver" and kind == "pointer":
        return None  # the method's object: its caller keeps it alive anyway
    if kind in ("slice", "map"):
        return declared, kind, None
    pointee = types.pointee(declared) if kind == "pointer" else declared
    if pointee is None or types.kind(pointee) != "struct" or types.fields(declared) is None:
        return None
    return declared, kind, pointee


def large_and_partly_used(
    types: Types, decl: scopes.Declaration, uses: list[Node]
) -> tuple[str, list[Copy], str] | None:
    """How to describe the captured value, the copies that replace it, and its kind; None if not flagged."""
    found = captured_type(types, decl)
    if found is None:
        return None
    declared, kind, pointee = found
    copies: dict[str, Copy] = {}
    if pointee is None:
        for use in uses:
            call = length_call(use)
            if call is None:
                return None
            name = _text(call.child_by_field_name("function"))
            entry = copies.setdefault(_text(call), Copy(_text(call), f"{decl.name}{name.title()}"))
            entry.uses.append(call)
        return types.name(declared), list(copies.values()), kind
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
    indexed = parent is not None and parent.type == "index_expression" and not reference
    if indexed and scopes.is_write(scopes.whole_operand(node)):
        return None
    if parent is not None and parent.type == "slice_expression" and kind == "array":
        return None  # slicing the array field aliases it
    if types.min_size(current) >= LARGE:
        return None  # the field itself is large: copying it saves nothing
    return node, local_name(_text(node.child_by_field_name("field")), _text(use))


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
