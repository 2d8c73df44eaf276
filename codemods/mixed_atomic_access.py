"""Variables and fields used through `sync/atomic` in one place and plainly in another.

## What it does
Finds a plain read or write (`x`, `x = v`, `x++`, `s.n += d`) of a variable
or struct field that other code of the package accesses through
`sync/atomic` functions (`atomic.AddInt64(&x, 1)`, `atomic.LoadInt32(&s.n)`,
`atomic.StoreUint64`, `atomic.CompareAndSwapInt32`, `Swap...`), when the
plain access can run while the atomic ones do. The atomic calls and the
plain access may be in different files.

A field counts when it is reached through a value whose type the file
shows: a method's receiver, a parameter or variable declared `*T`/`T`.

Not reported:
- accesses of a value being built (a local variable holding `&T{...}`,
  `T{...}` or `new(T)` in the function that built it), composite literals,
  and `init` functions;
- in the function that starts the goroutines doing the atomic operations,
  plain accesses before the first `go` statement or after the join
  (`wg.Wait()`, a receive from a channel the goroutines signal on);
- local variables of which no goroutine does an atomic operation while the
  plain access may run;
- reads while a mutex is held, when every write of the value (atomic or
  not) holds a mutex too;
- in `_test.go` files, plain accesses of fields and package variables
  outside the function that starts the goroutines (a test reads results
  after the code it calls has joined its goroutines).

The rule is off by default (`--select mixed-atomic-access` turns it on). On
the standard library, 13 findings: 4 false positives (a value initialised or
closed under an exclusive-access protocol the comments describe, a goroutine
started from a named function) and 7 deliberate plain reads in
`internal/sync/mutex.go`'s slow path, where an atomic load keeps behaviour but
a maintainer would not take it: the protocol, not the race detector, orders
those reads. It also parses every file of a package that mentions
`sync/atomic` as soon as one file of it is checked. Run it on code you own.

## Why is this bad?
Atomic operations synchronise only with other atomic operations on the same
word. One plain read of a variable that another goroutine updates with
`atomic.AddInt64` is a data race: the read may be torn on 32-bit platforms,
may be hoisted out of a loop by the compiler (a spin that never ends), and
the race detector reports it. A plain write beside atomic ones loses their
updates.

## Example
```go
var hits int64

func handle() {
        atomic.AddInt64(&hits, 1)
}

func report() {
        log.Printf("%d hits", hits)
}
```

Use instead:
```go
func report() {
        log.Printf("%d hits", atomic.LoadInt64(&hits))
}
```

## What the fix does
Rewrites the plain access with the function family the atomic calls already
use on the value (`Int64` for `atomic.AddInt64`): a read becomes
`atomic.LoadT(&x)`, `x = v` becomes `atomic.StoreT(&x, v)`, `x++` and
`x += d` become `atomic.AddT(&x, 1)` and `atomic.AddT(&x, d)`, `x--` and
`x -= d` `atomic.AddT(&x, -1)`/`atomic.AddT(&x, -(d))` (signed types only),
importing `sync/atomic` when the file does not (aliased when the name is
taken).

## Fix safety
The fix is safe when the value's declared type is the one the atomic calls
work on (`int64` for `AddInt64`), the atomic calls agree on it, and the
access is a single read or write in a statement that touches the value once:
each plain access then becomes the atomic access of the same value with the
same result type, and only the race goes.

It is unsafe when the function reads the value and also writes it
(`if x > 0 { x = 0 }`, `x = x * 2`): each access becomes atomic, the
sequence does not, so the decision can still be taken on a stale value; the
reviewer should check whether a `CompareAndSwap` loop or a lock is needed.
There is no fix when the declared type is unknown or differs (a named type,
`int` beside `AddInt64`), the atomic calls use different widths, the address
is taken (`&x` outside an atomic call), the write assigns several values at
once, or the value is a pointer (`atomic.LoadPointer` needs `unsafe`).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from gofix_conc import concurrency, index, layout, locks, scopes
from gofix_conc.context import FileContext
from gofix_conc.index import PackageView
from gofix_conc.model import Edit, Finding, FixKind, Rule, Safety
from gofix_conc.source import Source, matches, spelled

# Atomic calls on an address:  atomic.AddInt64(&x, 1)   atomic.LoadInt32(&s.n)
ATOMIC_CALLS = """
(call_expression
  function: (selector_expression operand: (identifier) @package field: (field_identifier) @function)
  arguments: (argument_list . (unary_expression operator: "&" operand: (_) @target))) @call
"""
# Plain uses that may be the value:  x   s.n
USES = "[(identifier) @use (selector_expression field: (field_identifier)) @use]"

_FUNCTION = re.compile(r"(Add|Load|Store|Swap|CompareAndSwap|And|Or)(Int32|Int64|Uint32|Uint64|Uintptr|Pointer)")
_WRITES = frozenset({"Add", "Store", "Swap", "CompareAndSwap", "And", "Or"})
_GO_TYPES = {"Int32": "int32", "Int64": "int64", "Uint32": "uint32", "Uint64": "uint64", "Uintptr": "uintptr"}


@dataclass(frozen=True)
class AtomicUse:
    key: tuple[str, ...]  # ("var", name), ("field", T, f) or ("local", start byte of the declaration)
    kind: str  # Int64, Uint32, ...
    write: bool
    call: Node
    locked: bool  # a mutex is held
    name: bytes  # the variable's or field's name: x for &x, n for &s.n


def check(ctx: FileContext) -> Iterator[Finding]:
    view = ctx.package
    own_name = view.path.name  # the members are files of view's directory: their names tell them apart
    others = [m for name, m in _atomic_members(view) if name != own_name]
    own = _atomic_name(ctx.source)
    if own is None and not others:
        return  # no file of the package uses sync/atomic: nothing else is parsed
    if ctx.is_test_file and not _starts_goroutines(ctx):
        return  # see the doc: a test file's plain access counts only in or beside a goroutine the file starts
    atomics: dict[tuple[str, ...], list[AtomicUse]] = {}
    found = list(atomic_uses(ctx.source, own, view, own=True)) if own is not None else []
    for member in others:
        found += _sibling_uses(member.path, member.raw, view)
    for use in found:
        atomics.setdefault(use.key, []).append(use)
    if not atomics:
        return
    yield from _plain_uses(ctx, atomics)


# Per package: its files whose text holds "sync/atomic", with their names.
_MEMBERS: dict[tuple[str, str, bool], list[tuple[str, index.Member]]] = index.package_cache({})


def _atomic_members(view: PackageView) -> list[tuple[str, index.Member]]:
    key = (os.path.dirname(str(view.path)), view.name, view.is_test)
    found = _MEMBERS.get(key)
    if found is None:
        package = index.package(view.path.parent, view.name, view.is_test)
        found = _MEMBERS[key] = [(m.path.name, m) for m in package.mentioning("sync/atomic")]
    return found


def _atomic_name(source: Source) -> str | None:
    """The name the file imports ``sync/atomic`` under (not ``_`` or ``.``): its first such import spec.

    Found from where the path is written rather than from every import of the file.
    """
    data, root = source.data, source.root
    at = data.find(b"sync/atomic")
    while at >= 0:
        spec = root.descendant_for_byte_range(at, at + 11)
        for _ in range(3):  # the path's content, the string literal, the import spec
            if spec is None or spec.type == "import_spec":
                break
            spec = spec.parent
        declaration = spec.parent if spec is not None and spec.type == "import_spec" else None
        if declaration is not None and declaration.type == "import_spec_list":
            declaration = declaration.parent
        if declaration is not None and declaration.type == "import_declaration" and declaration.parent == root:
            path, name = spec.child_by_field_name("path"), spec.child_by_field_name("name")  # type: ignore[union-attr]
            if path is not None and source.text(path).strip('"`') == "sync/atomic":
                alias = source.text(name) if name is not None else None
                if alias not in ("_", "."):
                    return alias or "atomic"
        at = data.find(b"sync/atomic", at + 11)
    return None


_SIBLINGS: OrderedDict[tuple, list[AtomicUse]] = index.package_cache(OrderedDict())  # type: ignore[type-arg]


def _sibling_uses(path: Path, raw: bytes, view: PackageView) -> list[AtomicUse]:
    """The atomic calls of another file of the package (kept while its text stays the same): parsed on a miss only."""
    key = (path, raw)
    found = _SIBLINGS.get(key)
    if found is None:
        source = index.source_for(path, raw)
        name = _atomic_name(source)
        found = _SIBLINGS[key] = list(atomic_uses(source, name, view, own=False)) if name else []
        while len(_SIBLINGS) > 1024:
            _SIBLINGS.popitem(last=False)
    return found


def atomic_uses(source: Source, atomic: str, view: PackageView, own: bool) -> Iterator[AtomicUse]:
    for match in atomic_calls(source, atomic):
        found = _FUNCTION.fullmatch(match["function"][0].text.decode())  # type: ignore[union-attr]
        if found is None:
            continue
        target = match["target"][0]
        key = value_key(target, view, own)
        if key is None:
            continue
        call = match["call"][0]
        function = scopes.enclosing_function(call)
        locked = function is not None and bool(locks.held(call))
        last = target.child_by_field_name("field") if target.type == "selector_expression" else target
        yield AtomicUse(key, found[2], found[1] in _WRITES, call, locked, (last.text if last else None) or b"")


def atomic_calls(source: Source, atomic: str) -> list[dict[str, list[Node]]]:
    """The matches of :data:`ATOMIC_CALLS` on package ``atomic``, in source order: found from the package
    name's occurrences in the text, the query run on each call it starts rather than on the whole file."""
    found = []
    word = atomic.encode()
    for at in spelled(source.data, word):
        leaf = source.root.descendant_for_byte_range(at, at + len(word))
        if leaf is None or leaf.type != "identifier" or (leaf.start_byte, leaf.end_byte) != (at, at + len(word)):
            continue  # part of a longer token, or not a token at all
        selector = leaf.parent
        call = selector.parent if selector is not None and selector.type == "selector_expression" else None
        if call is None or call.type != "call_expression" or call.child_by_field_name("function") != selector:
            continue  # not the package of a called function
        found += [match for match in matches(ATOMIC_CALLS, call) if match["call"][0] == call]
    return found


def value_key(target: Node, view: PackageView, own: bool) -> tuple[str, ...] | None:
    """What an expression names: a package variable, a field of a known struct type, or a local variable."""
    while target.type == "parenthesized_expression" and target.named_children:
        target = target.named_children[0]
    if target.type == "identifier":
        name = target.text.decode()  # type: ignore[union-attr]
        decl = scopes.resolve(target)
        if decl is None:
            return ("var", name) if view.variables(name) else None
        if decl.kind != "var":
            return None
        if scopes.enclosing_function(decl.node) is None:
            return ("var", name)
        return ("local", str(decl.node.start_byte)) if own else None
    if target.type == "selector_expression":
        operand, field = target.child_by_field_name("operand"), target.child_by_field_name("field")
        if operand is None or field is None or operand.type != "identifier":
            return None
        struct = operand_type(operand)
        return ("field", struct, field.text.decode()) if struct else None  # type: ignore[union-attr]
    return None


def operand_type(operand: Node) -> str | None:
    """The struct type name of ``s`` in ``s.f``: a receiver or parameter ``*T``/``T``, ``v := &T{...}``."""
    decl = scopes.resolve(operand)
    if decl is None or decl.kind not in ("var", "param", "receiver"):
        return None
    declared = scopes.declared_type(decl)
    if decl.kind == "receiver":
        declared = decl.construct.child_by_field_name("type")
    if declared is None:
        value = scopes.initial_value(decl)
        if value is not None and value.type == "unary_expression" and value.named_children:
            value = value.named_children[-1]
        if value is not None and value.type == "composite_literal":
            declared = value.child_by_field_name("type")
        elif value is not None and value.type == "call_expression" and _calls_new(value):
            args = value.child_by_field_name("arguments")
            declared = args.named_children[0] if args is not None and args.named_children else None
    if declared is None:
        return None
    return index.receiver_base(declared)[1] or None


def _calls_new(call: Node) -> bool:
    function = call.child_by_field_name("function")
    return function is not None and function.text == b"new"


def _plain_uses(ctx: FileContext, atomics: dict[tuple[str, ...], list[AtomicUse]]) -> Iterator[Finding]:
    view = ctx.package
    plain: list[tuple[Node, tuple[str, ...]]] = []
    names = {u.name for uses in atomics.values() for u in uses}
    if not any(name in ctx.source.data for name in names):
        return  # the file never names what is accessed atomically
    for node in _named(ctx, names):
        parent = node.parent
        if node.type == "identifier" and parent is not None and parent.type == "selector_expression":
            continue  # x in x.f: the struct, not the word
        if scopes.enclosing_function(node) is None or scopes.composite_key_kind(node) in ("field", "unknown"):
            continue  # a declaration at the package level, or a key of a composite literal
        key = value_key(node, view, own=True)
        if key is None or key not in atomics:
            continue
        parent = node.parent
        while parent is not None and parent.type == "parenthesized_expression":
            parent = parent.parent
        if (
            parent is not None
            and parent.type == "unary_expression"
            and parent.child_by_field_name("operator").type == "&"
        ):  # type: ignore[union-attr]
            continue  # the address: the atomic call itself, or a pointer handed on
        if key[0] == "field" and not _same_type_everywhere(view, key, atomics[key]):
            continue  # a build variant declares the field with another type (fd_windows.go beside fd_unix.go)
        if _being_built(node) or _in_init(node):
            continue
        if not _may_run_concurrently(ctx, node, key, atomics[key]):
            continue
        if not scopes.is_write(node) and locks.held(node) and all(u.locked for u in atomics[key] if u.write):
            continue  # every write holds a lock, and so does this read
        plain.append((node, key))
    for node, key in plain:
        what = ctx.text(node)
        kind = atomics[key][0].kind
        verb = "written" if scopes.is_write(node) else "read"
        message = f"{what} is {verb} plainly but accessed with atomic.*{kind} elsewhere: a data race"
        yield ctx.finding(node, message, _fix(ctx, node, key, atomics[key], plain))


def _starts_goroutines(ctx: FileContext) -> bool:
    """Whether the file has a go statement or a func literal run by ``g.Go``: goroutine_start needs one."""
    return bool(
        concurrency.go_statements(ctx.root, ctx.source.data)
        or concurrency.goroutine_literals(ctx.root, ctx.source.data)
    )


def _named(ctx: FileContext, names: set[bytes]) -> list[Node]:
    """The captures of :data:`USES` whose identifier or field is one of ``names``, in source order: found from
    the occurrences of the names in the text rather than from every identifier of the file."""
    data, root = ctx.source.data, ctx.root
    found = []
    for start, end in sorted((at, at + len(name)) for name in names if name for at in spelled(data, name)):
        leaf = root.descendant_for_byte_range(start, end)
        if leaf is None or leaf.start_byte != start or leaf.end_byte != end:
            continue  # part of a longer token, or not a token at all
        if leaf.type == "identifier":
            found.append(leaf)
        elif leaf.type == "field_identifier" and leaf.parent is not None and leaf.parent.type == "selector_expression":
            found.append(leaf.parent)
    return found


def _same_type_everywhere(view: PackageView, key: tuple[str, ...], uses: list[AtomicUse]) -> bool:
    """Whether every declaration of the struct declares the field with a type the atomic calls work on."""
    expected = {_GO_TYPES.get(u.kind, "unsafe.Pointer") for u in uses}
    declared = [locks.struct_fields(spec).get(key[2]) for spec in view.types(key[1])]
    return all(d is None or d.text is None or d.text.decode() in expected for d in declared)


def _being_built(node: Node) -> bool:
    """``s.n`` where ``s`` holds a value the function is building (``s := &T{}``): not shared yet."""
    if node.type != "selector_expression":
        return False
    operand = node.child_by_field_name("operand")
    decl = scopes.resolve(operand) if operand is not None and operand.type == "identifier" else None
    value = scopes.initial_value(decl) if decl is not None and decl.kind == "var" else None
    if value is not None and value.type == "unary_expression" and value.named_children:
        value = value.named_children[-1]
    if value is None:
        return False
    function = value.child_by_field_name("function") if value.type == "call_expression" else None
    return value.type == "composite_literal" or (function is not None and function.text == b"new")


def _in_init(node: Node) -> bool:
    top = scopes.top_level(node)
    name = top.child_by_field_name("name") if top.type == "function_declaration" else None
    return name is not None and name.text == b"init"


def _may_run_concurrently(ctx: FileContext, node: Node, key: tuple[str, ...], uses: list[AtomicUse]) -> bool:
    """Whether the plain access may run while a goroutine does the atomic operations."""
    function = scopes.top_level(node)
    spawns = []
    for use in uses:
        if not scopes.contains(function, use.call):
            continue
        literal = concurrency.goroutine_around(use.call, None)
        start = concurrency.goroutine_start(literal) if literal is not None else None
        if start is not None:
            spawns.append(start)
    if concurrency.goroutine_around(node, None) is not None:
        return True  # a goroutine: it runs beside the other users
    if spawns:
        return any(concurrency.runs_concurrently(node, spawn) for spawn in spawns)
    # Nothing started here runs the atomics: locals are then safe, and see the doc for test files.
    return not (key[0] == "local" or ctx.is_test_file)


def _fix(
    ctx: FileContext,
    node: Node,
    key: tuple[str, ...],
    uses: list[AtomicUse],
    plain: list[tuple[Node, tuple[str, ...]]],
):  # type: ignore[no-untyped-def]
    kinds = {u.kind for u in uses}
    if len(kinds) != 1 or (kind := kinds.pop()) not in _GO_TYPES:
        return None  # mixed widths, or a pointer
    if _declared_type(ctx, node, key) != _GO_TYPES[kind]:
        return None  # the atomic functions would need a conversion
    name = _atomic_name(ctx.source)
    edits: list[Edit] = []
    if name is None:
        name, edits = ctx.import_name("sync/atomic")
    target = ctx.text(node)
    signed = kind.startswith("Int")
    parent = node.parent
    if parent is not None and parent.type in ("inc_statement", "dec_statement"):
        delta = "1" if parent.type == "inc_statement" else "-1" if signed else f"^{_GO_TYPES[kind]}(0)"
        replaced, text = parent, f"{name}.Add{kind}(&{target}, {delta})"
    elif scopes.is_write(node):
        statement = parent.parent if parent is not None else None
        if statement is None or statement.type != "assignment_statement" or len(parent.named_children) != 1:
            return None  # several values at once, or a range/receive target
        right = statement.child_by_field_name("right")
        operator = statement.child_by_field_name("operator")
        if right is None or operator is None or len(right.named_children) != 1:
            return None
        value = ctx.text(right)
        if operator.type == "=":
            text = f"{name}.Store{kind}(&{target}, {value})"
        elif operator.type == "+=":
            text = f"{name}.Add{kind}(&{target}, {value})"
        elif operator.type == "-=" and signed:
            simple = right.named_children[0].type in ("identifier", "int_literal")
            text = f"{name}.Add{kind}(&{target}, {'-' + value if simple else f'-({value})'})"
        else:
            return None
        replaced = statement
    else:
        replaced, text = node, f"{name}.Load{kind}(&{target})"
    edit = Edit(replaced.start_byte, replaced.end_byte, text.encode())
    padding = layout.realign_comments(ctx.source, [edit])
    if padding is None:
        return None  # aligned trailing comments the edit would break
    edits += [edit, *padding]
    function = scopes.top_level(node)
    here = [n for n, k in plain if k == key and scopes.contains(function, n)]
    reads = any(not scopes.is_write(n) for n in here)
    writes = any(scopes.is_write(n) for n in here)
    statement = _statement_of(node)
    twice = statement is not None and sum(1 for n in here if scopes.contains(statement, n)) > 1
    safety = Safety.UNSAFE if (reads and writes) or twice else Safety.SAFE
    verb = text.split(".", 1)[1].split("(", 1)[0]
    return ctx.fix(f"Use atomic.{verb}", edits, safety)


def _statement_of(node: Node) -> Node | None:
    for current in [node, *scopes.ancestors(node)]:
        if current.parent is not None and current.parent.type in ("statement_list", "block"):
            return current
    return None


def _declared_type(ctx: FileContext, node: Node, key: tuple[str, ...]) -> str | None:
    if key[0] == "field":
        declared = locks.struct_fields(ctx.package.type_spec(key[1])).get(key[2])
        return declared.text.decode() if declared is not None and declared.text else None
    decl = scopes.resolve(node) if node.type == "identifier" else None
    if decl is None:
        specs = ctx.package.variables(key[1]) if key[0] == "var" else []
        declared = specs[0].child_by_field_name("type") if len(specs) == 1 else None
    else:
        declared = scopes.declared_type(decl)
    return declared.text.decode() if declared is not None and declared.text else None


RULE = Rule(
    id="mixed-atomic-access",
    summary="variables and fields accessed through sync/atomic in one place and plainly in another",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    default_enabled=False,  # see the doc: deliberate plain accesses under an exclusive-access protocol
)
