"""Integer counters that goroutines update with plain `++`, `--`, `+=` or `-=`.

## What it does
Finds `x++`, `x--`, `x += n` and `x -= n` inside a goroutine (`go func() {...}()`
or `g.Go(func() error {...})`) on an integer that the goroutine shares with
other code: a variable captured from the enclosing function, a package-level
variable or a struct field. It reports them when another goroutine can touch
the value at the same time: the goroutine is started in a loop (and not
waited for in the same iteration), or by a callback that may run many times
(an HTTP handler), another goroutine uses the variable while this one may
run, the function reads or writes it while the goroutine may still run
(before `wg.Wait()`, a channel receive or a similar join), or, for
package-level variables and fields, the goroutine may outlive the function.
The message says which of these it is.

Not reported, because something orders the accesses (happens-before, as
`gofix_conc.concurrency` reads it from the code):
- a single goroutine that writes while its parent waits for it: the parent
  reads after `wg.Wait()`, errgroup's `Wait()`, `<-done`, a receive from a
  result channel (`<-chans[i]`), ranging over a channel the goroutine closes;
- the parent's writes before the `go` statement (the `go` orders them);
- a goroutine started in a loop and waited for before the next iteration;
- two goroutines one of which was waited for before the other started,
  `synctest.Wait()` between them included, and code after `synctest.Test`/
  `synctest.Run`, which return once every goroutine of the bubble exited;
- goroutines started by a callback that runs at most once (`once.Do`,
  `t.Run`, `synctest.Test`, `time.AfterFunc`, `sync.OnceFunc`);
- goroutines passing one token around a ring of channels
  (`<-turn[i]; n++; turn[i+1] <- true`, the function putting at most one
  token in): they take turns;
- updates made while the same goroutine holds a mutex (`mu.Lock()` before,
  `mu.Unlock()` after or deferred), and floating-point accumulators.

## Why is this bad?
`x++` is a read, an add and a write. Two goroutines doing it at once lose
updates: the count comes out low, differently on every run, and the race
detector reports a data race. Reading the variable while a goroutine writes
it is a data race too: the reader may see a stale or torn value.

## Example
```go
var requests int
var wg sync.WaitGroup
for _, u := range urls {
        wg.Add(1)
        go func() {
                defer wg.Done()
                fetch(u)
                requests++
        }()
}
wg.Wait()
log.Printf("%d requests", requests)
```

Use instead:
```go
var requests atomic.Int64
var wg sync.WaitGroup
for _, u := range urls {
        wg.Add(1)
        go func() {
                defer wg.Done()
                fetch(u)
                requests.Add(1)
        }()
}
wg.Wait()
log.Printf("%d requests", requests.Load())
```

## What the fix does
For a variable local to the function, the fix turns it into a `sync/atomic`
typed counter chosen from its declared type (`int64` and `int` become
`atomic.Int64`, `uint64` and `uint` `atomic.Uint64`, `int32` `atomic.Int32`,
`uint32` `atomic.Uint32`, `uintptr` `atomic.Uintptr`) and rewrites every use
in the function: increments become `Add`, assignments `Store`, reads `Load`,
with conversions where the declared type was `int` or `uint`
(`int(requests.Load())`). `x := 5` becomes `var x atomic.Int64` followed by
`x.Store(5)`. Modules older than Go 1.19 get `atomic.AddInt64(&x, 1)` and
`atomic.LoadInt64(&x)`, the variable kept (or made) a fixed-size integer.

An unexported package-level variable becomes the same atomic type with every
use in every file of the package rewritten together (files of other builds
and the package's own `_test.go` files included, locals of the same name left
alone). That is one fix per file, applied all together or not at all: the
file with the racy update carries its part on its findings, and every other
file that declares or uses the variable gets a finding of its own
(`requests becomes atomic.Int64: goroutines at serve.go:14 update it without
synchronisation; this file's uses are rewritten with it`). `sync/atomic` is
imported where the new code names it (the declaration's file; every file
before Go 1.19). No fix, and the finding says why, when the variable is
exported, declared in several files (for other builds), with other variables,
with a nonzero value or in a `var (...)` block with a value or a trailing
comment, when one of its uses anywhere in the package cannot be rewritten
(below), a file using it does not parse, or `//go:linkname` or assembly
refers to it. Struct fields are reported without a fix.

## Fix safety
The fix is safe when the goroutines only update the counter: every use of
the variable is rewritten and conversions keep each expression's type, so
the program computes what it did, without the lost updates. It is unsafe
when a goroutine also reads the counter (`if n < max { n++ }`,
`n++; if n%100 == 0 {...}`): each atomic operation is atomic, the read and
the update together are not, so a decision taken on the read can still be
stale. The race detector no longer sees that logic race: the reviewer must
check whether the code needs a lock or `CompareAndSwap` instead. For a
package-level variable any function of the package may run alongside the
goroutines: its fix is unsafe when one function reads the variable and
writes it (`n := requests; requests = 0` loses the updates in between: it
needs `Swap`).

There is no fix when a use cannot be rewritten: the
address is taken (`&x`, so something may write it through a pointer), the
variable is assigned together with others (`x, err = f()`), it is a function
parameter or result, or it is declared in an `if`/`for` header or a grouped
`var` with an initializer. Counters of 8- or 16-bit types and of named integer
types are reported without a fix (`sync/atomic` has no type for them).
A literal keyed with the variable's name whose type is declared in another
file is taken for a struct literal (its key a field name, left alone).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import concurrency, layout, scopes
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import captures

# Counter updates, the operand captured:
#   x++    x--    s.f++    x += n    x -= n
UPDATES = """
[(inc_statement . (_) @target)
 (dec_statement . (_) @target)
 (assignment_statement left: (expression_list . (_) @target .) operator: ["+=" "-="])] @update
"""

INTEGERS = frozenset(
    {"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "byte", "rune"}
)
NON_INTEGERS = frozenset({"float32", "float64", "complex64", "complex128", "string", "bool"})
# Declared type -> (sync/atomic type, its value type)
ATOMIC = {
    "int": ("Int64", "int64"),
    "int64": ("Int64", "int64"),
    "uint": ("Uint64", "uint64"),
    "uint64": ("Uint64", "uint64"),
    "int32": ("Int32", "int32"),
    "rune": ("Int32", "int32"),
    "uint32": ("Uint32", "uint32"),
    "uintptr": ("Uintptr", "uintptr"),
}
_PRINTERS = frozenset(
    f"{pkg}.{name}"
    for pkg in ("fmt", "log")
    for name in ("Print", "Printf", "Println", "Sprint", "Sprintf", "Sprintln", "Fprint", "Fprintf", "Fprintln")
) | {"fmt.Errorf", "log.Fatalf", "log.Panicf"}


@dataclass(frozen=True)
class Counter:
    """What an update writes: a variable or a field path, where it lives and its type."""

    target: Node  # x or s.f at the update
    root: Node  # the identifier the target stands on
    decl: scopes.Declaration | None  # None: declared in another file or package
    shared: bool  # package-level or a field: uses outside this file or function are unseen
    type_name: str | None  # int, uint64, ... (None: unknown)


def check(ctx: FileContext) -> Iterator[Finding]:
    fixes: dict[scopes.Declaration, Fix | None] = {}
    for match in candidate_updates(ctx):
        target = _operand(match)
        counter = counter_of(ctx, match, target)
        if counter is None:
            continue  # not an integer variable or field we can follow
        goroutine = concurrency.goroutine_of(match, counter.decl)
        if goroutine is None:
            continue  # not inside a goroutine, or the variable is the goroutine's own
        if concurrency.holds_lock(match, goroutine.literal):
            continue  # the goroutine holds a mutex around the update
        reason = concurrency.race_reason(match, goroutine, uses(ctx, counter), counter.shared)
        if reason is None:
            continue  # nothing else touches the counter while the goroutine runs
        fix = None
        if not counter.shared and counter.decl is not None and counter.target.type == "identifier":
            if counter.decl not in fixes:
                fixes[counter.decl] = plan_fix(ctx, counter)
            fix = fixes[counter.decl]
        what = f"field {ctx.text(target)}" if target.type == "selector_expression" else ctx.text(target)
        yield ctx.finding(match, f"non-atomic update of {what} in a goroutine: {reason}", fix)


def candidate_updates(ctx: FileContext) -> list[Node]:
    """The updates :data:`UPDATES` captures inside goroutines, in source order.

    Only an update in a goroutine's func literal can be reported (see
    :func:`concurrency.goroutine_of`), so the query runs on those literals
    alone, and not on one whose text holds none of ``++ -- += -=``.
    """
    data = ctx.source.data
    return [
        update
        for literal in concurrency.outermost(concurrency.goroutine_literals(ctx.source))
        if any(op in data[literal.start_byte : literal.end_byte] for op in (b"++", b"--", b"+=", b"-="))
        for update in captures(UPDATES, literal).get("update", [])
    ]


def _operand(update: Node) -> Node:
    node = update.named_children[0]
    if node.type == "expression_list":
        node = node.named_children[0]
    while node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node


# -- what is updated -----------------------------------------------------------


def counter_of(ctx: FileContext, update: Node, target: Node) -> Counter | None:
    """The integer an update writes, or None (not a variable or field, not an integer)."""
    if target.type not in ("identifier", "selector_expression"):
        return None  # m[k]++ is a map or slice element: another hazard
    root = scopes.root_identifier(target)
    if root is None or any(a.type == "index_expression" for a in _chain(root, target)):
        return None
    decl = scopes.resolve(root)
    if decl is not None and decl.kind not in ("var", "param", "result", "receiver"):
        return None  # a constant or a type: no counter
    package_level = decl is None or scopes.enclosing_function(decl.node) is None
    type_name = counter_type(ctx, decl, target)
    if type_name is not None and type_name not in INTEGERS:
        return None  # floating point accumulators and the like
    is_step = update.type in ("inc_statement", "dec_statement")
    if type_name is None and not is_step:
        return None  # x += v on an unknown type may well be a float or a string
    if decl is None and target.type == "identifier" and ctx.text(target) in ("_",):
        return None
    shared = package_level or target.type == "selector_expression"
    return Counter(target, root, decl, shared, type_name)


def _chain(root: Node, target: Node) -> list[Node]:
    nodes, node = [], root
    while node != target and node.parent is not None:
        node = node.parent
        nodes.append(node)
    return nodes


def counter_type(ctx: FileContext, decl: scopes.Declaration | None, target: Node) -> str | None:
    """The predeclared type a counter has (``int``...), ``named`` for other types, None when unknown."""
    if decl is None:
        return None
    type_node = scopes.declared_type(decl)
    if type_node is None and (value := scopes.initial_value(decl)) is not None:
        return _basic_name(value_type(value))
    if target.type == "identifier":
        return _basic_name(type_node)
    for field in _field_names(target):
        struct = scopes.underlying(type_node, pointers=True)
        if struct is None or struct.type != "struct_type":
            return None
        type_node = scopes.struct_field_type(struct, field)
    return _basic_name(type_node)


def _field_names(target: Node) -> list[str]:
    names: list[str] = []
    while target.type == "selector_expression":
        field = target.child_by_field_name("field")
        names.insert(0, field.text.decode() if field is not None and field.text else "")
        target = target.child_by_field_name("operand")  # type: ignore[assignment]
    return names


def _basic_name(type_node: Node | str | None, depth: int = 0) -> str | None:
    if isinstance(type_node, str) or type_node is None:
        return type_node
    if type_node.type != "type_identifier" or depth > 8:
        return None
    name = type_node.text.decode() if type_node.text else ""
    if name in INTEGERS or name in NON_INTEGERS:
        return name
    underlying = scopes.underlying(type_node)
    if underlying is None or underlying == type_node:
        return None  # declared in another file (or a cycle): unknown
    return "named" if _basic_name(underlying, depth + 1) in INTEGERS else None


def value_type(expr: Node, depth: int = 0) -> Node | str | None:
    """The type of an initializer as far as the file tells: a type node or a basic type name."""
    kind = expr.type
    if depth > 8:
        return None
    if kind == "int_literal":
        return "int"
    if kind == "float_literal":
        return "float64"
    if kind == "rune_literal":
        return "rune"
    if kind == "imaginary_literal":
        return "complex128"
    if kind in ("parenthesized_expression", "unary_expression") and expr.named_children:
        return value_type(expr.named_children[-1], depth + 1)
    if kind == "binary_expression":
        left, right = expr.child_by_field_name("left"), expr.child_by_field_name("right")
        found = [value_type(side, depth + 1) for side in (left, right) if side is not None]
        typed = [t for t in found if t is not None and t != "int"]
        return typed[0] if typed else (found[0] if found and None not in found else None)
    if kind == "call_expression":
        function = expr.child_by_field_name("function")
        name = function.text.decode() if function is not None and function.type == "identifier" else ""
        if name in ("len", "cap", "copy"):
            return "int"
        if name in INTEGERS or name in NON_INTEGERS:
            return name
        return None
    if kind == "identifier":
        decl = scopes.resolve(expr)
        if decl is None or decl.kind not in ("var", "param", "result", "const"):
            return None
        declared = scopes.declared_type(decl)
        value = scopes.initial_value(decl)
        return declared if declared is not None else value_type(value, depth + 1) if value is not None else None
    return None


# -- where it runs and whether it races: gofix_conc.concurrency, shared with concurrent-map-write ----


def uses(ctx: FileContext, counter: Counter) -> list[Node]:
    """Every other place that reads or writes the counter (for a field: the field or the whole value)."""
    scope = ctx.root
    if counter.decl is not None and not counter.shared:
        scope = scopes.top_level(counter.decl.node)
    name = counter.root.text
    found: list[Node] = []
    path = _field_names(counter.target)
    for ident in captures("(identifier) @id", scope).get("id", []):
        if ident.text != name or ident == counter.root or (counter.decl is not None and ident == counter.decl.node):
            continue
        if scopes.composite_key_kind(ident) in ("field", "unknown"):
            continue  # T{hits: 1}: a field name
        if scopes.resolve(ident) != counter.decl:
            continue
        node, fields = ident, []
        while node.parent is not None and node.parent.type == "selector_expression" and len(fields) < len(path):
            field = node.parent.child_by_field_name("field")
            fields.append(field.text.decode() if field is not None and field.text else "")
            node = node.parent
        if fields == path[: len(fields)] and (len(fields) == len(path) or node.type == "identifier"):
            found.append(node)
    return found


# -- the fix -------------------------------------------------------------------


@dataclass(frozen=True)
class Spelling:
    """How the fixed code spells the counter's operations, typed (Go 1.19) or with functions."""

    package: str  # the local name of sync/atomic
    name: str
    declared: str  # int, uint64, ...
    kind: str  # Int64, Uint64, ...
    base: str  # int64, uint64, ...: what Load returns
    typed: bool

    def load(self) -> str:
        return f"{self.name}.Load()" if self.typed else f"{self.package}.Load{self.kind}(&{self.name})"

    def read(self) -> str:
        return self.load() if self.declared == self.base else f"{self.declared}({self.load()})"

    def add(self, delta: str) -> str:
        return f"{self.name}.Add({delta})" if self.typed else f"{self.package}.Add{self.kind}(&{self.name}, {delta})"

    def store(self, value: str) -> str:
        return (
            f"{self.name}.Store({value})" if self.typed else f"{self.package}.Store{self.kind}(&{self.name}, {value})"
        )

    def convert(self, value: Node) -> str:
        """``value`` as an operand of the atomic's type: ``n`` for ``int64``, ``int64(n)`` for ``int``."""
        text = value.text.decode() if value.text else ""
        if self.declared == self.base or _literal_int(value) is not None:
            return text
        inner = _converted(value, self.declared)
        if inner is not None:
            return self.convert(inner)  # uint(n) becomes uint64(n), not uint64(uint(n))
        return f"{self.base}({text})"

    def negate(self, value: Node) -> str | None:
        """``-value`` in the atomic's type; for unsigned counters the two's complement Go's docs use."""
        text = value.text.decode() if value.text else ""
        literal = _literal_int(value)
        if self.base.startswith("u"):
            if literal is not None:
                return f"^{self.base}({literal - 1})" if literal > 0 else "0"
            if not _is_variable(value):
                return None  # -uint64(c) does not compile for a constant c
            return f"-{self.convert(value)}"
        converted = self.convert(value)
        primary = value.type in _PRIMARY or converted != text
        return f"-{converted}" if primary else f"-({converted})"


_PRIMARY = frozenset(
    {
        "identifier",
        "int_literal",
        "call_expression",
        "selector_expression",
        "index_expression",
        "parenthesized_expression",
    }
)


_CONSTANT_LITERALS = frozenset({"int_literal", "float_literal", "interpreted_string_literal", "true", "false", "nil"})


def _converted(value: Node, type_name: str) -> Node | None:
    """``x`` for ``T(x)`` when T is ``type_name``."""
    function = value.child_by_field_name("function") if value.type == "call_expression" else None
    arguments = value.child_by_field_name("arguments") if value.type == "call_expression" else None
    if function is None or arguments is None or function.text != type_name.encode():
        return None
    args = [a for a in arguments.named_children if a.type != "comment"]
    return args[0] if len(args) == 1 and args[0].type != "variadic_argument" else None


def _is_variable(value: Node) -> bool:
    """Whether an expression depends on a variable, so that it is no constant."""
    for ident in captures("(identifier) @id", value).get("id", []):
        call = scopes.enclosing(ident, ("call_expression",), stop=())
        if call is not None and call.child_by_field_name("function") is not None:
            function = call.child_by_field_name("function")
            if function is not None and function.text in (b"len", b"cap", b"unsafe.Sizeof", b"unsafe.Offsetof"):
                continue  # len of an array variable is a constant
        decl = scopes.resolve(ident)
        if decl is not None and decl.kind in ("var", "param", "result", "receiver"):
            return True
    return False


def _literal_int(value: Node) -> int | None:
    if value.type != "int_literal" or not value.text:
        return None
    text = value.text.decode().replace("_", "").lower()
    if len(text) > 1 and text[0] == "0" and text[1].isdigit():
        text = "0o" + text[1:]  # 0755 is octal in Go
    try:
        return int(text, 0)
    except ValueError:
        return None


def plan_fix(ctx: FileContext, counter: Counter) -> Fix | None:
    """Turn a local counter into a sync/atomic one, rewriting every use; None when a use cannot be."""
    decl = counter.decl
    if decl is None or decl.kind != "var" or counter.type_name not in ATOMIC:
        return None  # parameters and results keep their types; byte, int16, named types have no atomic
    function = scopes.top_level(decl.node)
    package, import_edits = ctx.import_name("sync/atomic")
    if any(scopes.resolve(i) is not None for i in _identifiers_named(function, package)):
        return None  # a local variable hides the package name here
    kind, base = ATOMIC[counter.type_name]
    spell = Spelling(package, decl.name, counter.type_name, kind, base, ctx.at_least(1, 19))
    edits = declaration_edits(ctx, decl, spell)
    if edits is None:
        return None
    for ref in scopes.references(decl, function):
        if ref == decl.node:
            continue
        edit = use_edit(ref, spell)
        if edit is None:
            return None  # &x, x, err = f(), ...: the variable escapes a rewrite
        edits.append(edit)
    padding = layout.realign_comments(ctx.source, edits)
    if padding is None:
        return None
    message = f"Make {decl.name} an {package}.{kind}" if spell.typed else f"Update {decl.name} with {package}.Add{kind}"
    safety = Safety.SAFE
    if reads_and_updates(decl, function):
        safety = Safety.UNSAFE
        message += (
            f" (check: a goroutine reads {decl.name} and updates it; each atomic operation is atomic,"
            " the read and the update together are not)"
        )
    try:
        return ctx.fix(message, [*import_edits, *edits, *padding], safety)
    except ValueError:
        return None  # two rewrites of one expression (x += x): left to a human


def reads_and_updates(decl: scopes.Declaration, function: Node) -> bool:
    """Whether a goroutine both reads the counter and updates it: ``if n < max { n++ }``, ``n++; if n%100 == 0``.

    Atomics make the race detector quiet there, but another goroutine can
    still update the counter between the read and the update: what the code
    decides from the read may be stale, as it was before the fix.
    """
    updated: set[int] = set()
    read: set[int] = set()
    for ref in scopes.references(decl, function):
        literal = concurrency.goroutine_around(ref, None)
        if ref == decl.node or literal is None:
            continue
        parent = ref.parent
        while parent is not None and parent.type == "parenthesized_expression":
            parent = parent.parent
        is_update = parent is not None and (
            parent.type in ("inc_statement", "dec_statement")
            or (
                parent.type == "expression_list"
                and parent.parent is not None
                and parent.parent.type == "assignment_statement"
                and parent == parent.parent.child_by_field_name("left")
            )
        )
        (updated if is_update else read).add(literal.id)
    return bool(updated & read)


def _identifiers_named(node: Node, name: str) -> list[Node]:
    return [i for i in captures("(identifier) @id", node).get("id", []) if i.text == name.encode()]


def use_edit(ref: Node, spell: Spelling) -> Edit | None:
    """The rewrite of one use of the counter, None when it cannot be rewritten."""
    node, parent = ref, ref.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    if parent is None:
        return None
    if parent.type in ("inc_statement", "dec_statement"):
        step = "1" if parent.type == "inc_statement" else f"^{spell.base}(0)" if spell.base.startswith("u") else "-1"
        return Edit(parent.start_byte, parent.end_byte, spell.add(step).encode())
    statement = parent.parent
    is_assignment = statement is not None and statement.type == "assignment_statement"
    if is_assignment and parent == statement.child_by_field_name("left"):  # type: ignore[union-attr]
        return _assignment_edit(statement, spell)  # type: ignore[arg-type]
    if scopes.is_write(ref) or scopes.is_write(node):
        return None  # &x, x, err := f(), for x = range ...: not a plain read
    call = parent.parent if parent.type == "argument_list" else None
    function = call.child_by_field_name("function") if call is not None else None
    only_argument = len([a for a in parent.named_children if a.type != "comment"]) == 1
    if function is not None and only_argument and function.text == spell.base.encode():
        return Edit(call.start_byte, call.end_byte, spell.load().encode())  # type: ignore[union-attr]
    if function is not None and only_argument and function.text in _NARROW:
        # uint32(n): converting the atomic's int64 keeps the same low bits as converting an int did.
        return Edit(ref.start_byte, ref.end_byte, spell.load().encode())
    if _compared_with_literal(node):
        return Edit(ref.start_byte, ref.end_byte, spell.load().encode())  # n > 0 holds in any integer type
    if function is not None and function.text is not None and function.text.decode() in _PRINTERS:
        return Edit(ref.start_byte, ref.end_byte, spell.load().encode())  # %d and %v print any integer alike
    return Edit(ref.start_byte, ref.end_byte, spell.read().encode())


# Integer types no wider than 32 bits: a conversion to one of them reads the same from an int as from an int64.
_NARROW = frozenset({b"int8", b"int16", b"int32", b"uint8", b"uint16", b"uint32", b"byte", b"rune"})


def _compared_with_literal(node: Node) -> bool:
    parent = node.parent
    if parent is None or parent.type != "binary_expression":
        return False
    operator = parent.child_by_field_name("operator")
    left, right = parent.child_by_field_name("left"), parent.child_by_field_name("right")
    other = right if left == node else left
    comparison = operator is not None and operator.type in ("==", "!=", "<", "<=", ">", ">=")
    return comparison and other is not None and _literal_int(other) is not None


def _assignment_edit(statement: Node, spell: Spelling) -> Edit | None:
    left, right = statement.child_by_field_name("left"), statement.child_by_field_name("right")
    operator = statement.child_by_field_name("operator")
    if left is None or right is None or operator is None:
        return None
    values = [v for v in right.named_children if v.type != "comment"]
    if len([t for t in left.named_children if t.type != "comment"]) != 1 or len(values) != 1:
        return None  # x, y = ...: one of several targets
    value = values[0]
    if operator.type == "+=":
        text = spell.add(spell.convert(value))
    elif operator.type == "-=":
        negated = spell.negate(value)
        if negated is None:
            return None
        text = spell.add(negated)
    elif operator.type == "=":
        text = spell.store(spell.convert(value))
    else:
        return None  # x *= 2 and the like: no atomic operation does it
    return Edit(statement.start_byte, statement.end_byte, text.encode())


def declaration_edits(ctx: FileContext, decl: scopes.Declaration, spell: Spelling) -> list[Edit] | None:
    """``x := v`` / ``var x T = v`` rewritten as an atomic counter (plus ``x.Store(v)``)."""
    construct = decl.construct
    if construct.type == "var_spec" and construct.parent is not None and construct.parent.type == "var_spec_list":
        return _grouped_spec_edits(ctx, construct, spell)
    statement = construct.parent if construct.type == "var_spec" else construct
    if statement is None or statement.parent is None or statement.parent.type != "statement_list":
        return None  # declared in an if/for/switch header
    if not ctx.source.starts_line(statement.start_byte):
        return None
    if construct.type == "short_var_declaration":
        left, right = construct.child_by_field_name("left"), construct.child_by_field_name("right")
        names = [n for n in (left.named_children if left else []) if n.type != "comment"]
        values = [v for v in (right.named_children if right else []) if v.type != "comment"]
        type_text = None
    else:
        names = construct.children_by_field_name("name")
        value_list = construct.child_by_field_name("value")
        values = [v for v in (value_list.named_children if value_list else []) if v.type != "comment"]
        type_node = construct.child_by_field_name("type")
        type_text = ctx.text(type_node) if type_node is not None else None
    if values and len(values) != len(names):
        return None  # a, b := f(): one call for several names
    index = names.index(decl.node)
    value = values[index] if values else None
    if len(names) > 1 and not all(
        v.type in ("int_literal", "float_literal", "interpreted_string_literal") for v in values
    ):
        return None  # splitting would reorder the evaluation of the other values
    if not spell.typed and spell.declared == spell.base:
        return []  # already a fixed-size integer: atomic.AddInt64(&x, 1) works on it as it is
    indent = ctx.indent(statement)
    lines = [_declaration(spell, value)]
    others = [i for i in range(len(names)) if i != index]
    if others:
        other_names = ", ".join(ctx.text(names[i]) for i in others)
        other_values = ", ".join(ctx.text(values[i]) for i in others) if values else ""
        if construct.type == "short_var_declaration":
            lines.append(f"{other_names} := {other_values}")
        else:
            typed = f" {type_text}" if type_text else ""
            lines.append(f"var {other_names}{typed}" + (f" = {other_values}" if values else ""))
    if spell.typed and value is not None and not _is_zero(value):
        lines.append(spell.store(spell.convert(value)))
    if len(lines) > 1 and _line_rest(ctx, statement.end_byte).strip():
        return None  # a comment after the statement would end up after the wrong line
    text = f"\n{indent}".join(lines)
    return [Edit(statement.start_byte, statement.end_byte, text.encode())]


def _declaration(spell: Spelling, value: Node | None) -> str:
    if spell.typed:
        return f"var {spell.name} {spell.package}.{spell.kind}"
    if value is None or _is_zero(value):
        return f"var {spell.name} {spell.base}"
    return f"var {spell.name} {spell.base} = {spell.convert(value)}"


def _grouped_spec_edits(ctx: FileContext, spec: Node, spell: Spelling) -> list[Edit] | None:
    """``var ( x int; ... )``: only the type changes, so gofmt's alignment of the group holds."""
    type_node = spec.child_by_field_name("type")
    if (
        type_node is None
        or spec.child_by_field_name("value") is not None
        or len(spec.children_by_field_name("name")) != 1
    ):
        return None
    if _line_rest(ctx, spec.end_byte).strip():
        return None  # a trailing comment aligned with its neighbours'
    if not spell.typed and spell.declared == spell.base:
        return []
    new_type = f"{spell.package}.{spell.kind}" if spell.typed else spell.base
    return [Edit(type_node.start_byte, type_node.end_byte, new_type.encode())]


def _line_rest(ctx: FileContext, offset: int) -> str:
    end = ctx.source.data.find(b"\n", offset)
    return ctx.source.data[offset : len(ctx.source.data) if end < 0 else end].decode()


def _is_zero(value: Node) -> bool:
    if _literal_int(value) == 0:
        return True
    function = value.child_by_field_name("function") if value.type == "call_expression" else None
    arguments = value.child_by_field_name("arguments") if value.type == "call_expression" else None
    if function is None or arguments is None or function.text is None:
        return False
    args = [a for a in arguments.named_children if a.type != "comment"]
    return function.text.decode() in INTEGERS and len(args) == 1 and _literal_int(args[0]) == 0


RULE = Rule(
    id="non-atomic-counter",
    summary="integer counters updated with ++ or += by concurrent goroutines without synchronization",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    triggers=(b"go ", b"go\t", b".Go("),  # goroutines: go statements, wg.Go / errgroup Go
)

from . import _package_counters  # noqa: E402  (it imports this module's helpers when it runs)

RULE = _package_counters.extend(RULE)  # package-level counters: one fix per file of the package
