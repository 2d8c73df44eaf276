"""Goroutines whose function does not recover from panics.

## What it does
Finds `go` statements (`go func() {...}()`, `go f(x)`, `go s.m(x)`, `go cb()`)
whose function has no top-level deferred recover: neither a deferred closure
that calls `recover()` itself, nor a deferred call to a helper that does (a
function or method of this file whose body calls `recover()`, or a name listed
in `helpers`). Where the recover stands among the defers does not matter. A
`go f(x)` whose `f` is declared in the same file and recovers is protected, and
so is a func literal that only defers calls and then calls such a function.
`_test.go` files are not checked unless `include-tests = true`. Functions declared
in other files or packages are not looked into: `go f()` of such a function is
flagged, and a deferred call of one counts only when it is listed in `helpers`.

## Why is this bad?
A panic that no deferred function of its own goroutine recovers ends the whole
program: every request in flight, every other goroutine, with no chance for
the caller to handle it. One bad input in a background worker takes the
service down. `recover()` only works when the deferred function calls it
directly: `defer recover()`, or a deferred closure that calls a helper which
calls `recover()`, recovers nothing.

## Example
```go
go func() {
        defer wg.Done()
        process(job)
}()
```

Use instead:
```go
go func() {
        defer func() {
                if r := recover(); r != nil {
                        log.Printf("panic in goroutine: %v\\n%s", r, debug.Stack())
                }
        }()
        defer wg.Done()
        process(job)
}()
```

## What the fix does
Inserts the deferred recover as the goroutine's first statement, so it runs
last and also catches panics in the other deferred calls. `go f(x)` becomes
`go func() { defer ...; f(x) }()`; a function value or argument that could
change before the goroutine starts is bound to a fresh local before the `go`,
so it is still evaluated there. Missing imports are added, aliased when their
name is taken (`stdlog "log"`). The handler is Go code in which `r` is the
recovered value and packages go by their default names (renamed when the
import gets an alias). `r` is scoped to the `if`, so it hides no outer `r` the
handler could name. Helpers match a deferred call by its text (`recoverPanic`,
for one declared in another file of the package), by package name and function
(`safe.Recover`, whatever the import's alias) or by import path and function
(`example.com/lib/safe.Recover`):

```toml
[rules.goroutine-without-recover]
handler = 'panics.Report(r)'                  # default: log.Printf("panic in goroutine: %v\\n%s", r, debug.Stack())
handler-imports = ["example.com/internal/panics"]   # default: ["log", "runtime/debug"]
helpers = ["safe.Recover", "panics.Guard"]    # deferred calls that count as a recover
include-tests = false                         # also check _test.go files
```

## Fix safety
After the fix a panic ends only its goroutine, so work that the goroutine
hands over at its end may never be handed over: a channel send or `close`,
`wg.Done()` or `mu.Unlock()` that is not deferred. Where the program crashed
before, whoever waits for that now waits forever. The fix is unsafe when the
goroutine's function (as far as this file shows it) does any of these outside a
`defer`. A handler that is not gofmt-formatted makes the output not gofmt-clean.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import goroutines, scopes
from gofix_conc.context import FileContext
from gofix_conc.imports import default_name, imports
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import Source, captures, parse

# Every goroutine:  go <call>
GO_STATEMENTS = "(go_statement) @go"

# A call of recover, whose enclosing function decides whether it recovers:
#   recover()
RECOVER_CALLS = '(call_expression function: (identifier) @f (#eq? @f "recover")) @call'

# Functions and methods of the file, by name:
#   func name(...) {...}        func (r T) name(...) {...}
DECLARATIONS = "[(function_declaration name: (identifier) @name) (method_declaration name: (field_identifier) @name)]"

# What a goroutine may hand over to whoever waits for it, when done outside a defer:
#   ch <- v     close(ch)     wg.Done()     mu.Unlock()
HANDOFFS = """
[
  (send_statement) @h
  (expression_statement (call_expression function: (identifier) @f (#eq? @f "close")) @h)
  (expression_statement (call_expression
    function: (selector_expression field: (field_identifier) @m (#match? @m "^(Done|Unlock|RUnlock)$"))) @h)
]
"""

MESSAGE = "goroutine has no deferred recover: a panic in it crashes the whole program"


def check(ctx: FileContext) -> Iterator[Finding]:
    if ctx.is_test_file and not ctx.option("include-tests"):
        return  # a panic in a test goroutine fails the test run, which is what tests want
    handler: Handler | None = None
    for go in captures(GO_STATEMENTS, ctx.root).get("go", []):
        bodies = goroutine_bodies(ctx, go)
        if bodies and all(is_protected(ctx, body) for body in bodies):
            continue
        handler = handler or prepare_handler(ctx)  # the same for every goroutine of the file
        yield ctx.finding(go, MESSAGE, plan_fix(ctx, go, bodies, handler))


def plan_fix(ctx: FileContext, go: Node, bodies: list[Node] | None, handler: Handler) -> Fix | None:
    if not ctx.source.starts_line(go.start_byte):
        return None  # in a one-line func literal: opening it up is for gofmt, not for edits
    if any(declared_in_function(ctx, name, go) for name in handler.packages):
        return None  # an imported package hidden by a local of the goroutine's function
    started = goroutines.start_goroutine_with(ctx, go, handler.lines)
    if started is None:
        return None
    edits = [*handler.import_edits, *started.edits]
    if started.before_go:
        edits.append(ctx.lines_before(go, started.before_go))
    unsafe = any(hands_over_outside_defer(body) for body in bodies or [])
    return ctx.fix("Recover and log panics in the goroutine", edits, Safety.UNSAFE if unsafe else Safety.SAFE)


# -- what the goroutine runs ------------------------------------------------


def goroutine_bodies(ctx: FileContext, go: Node) -> list[Node] | None:
    """The body (bodies, for a method name several types share) the goroutine runs; None when unknown."""
    literal = goroutines.literal_of(go)
    if literal is not None:
        body = literal.child_by_field_name("body")
        return [body] if body is not None else None
    call = goroutines.call_of(go)
    function = call.child_by_field_name("function") if call is not None else None
    return callee_bodies(ctx, function) if function is not None else None


def callee_bodies(ctx: FileContext, function: Node) -> list[Node] | None:
    """Bodies of the functions a call expression's function part may be, as far as this file shows."""
    found: list[Node] = []
    if function.type == "identifier":
        decl = scopes.resolve(function)
        if decl is None:
            return None  # another file of the package, or a builtin
        if decl.kind == "func":
            found = [decl.construct]
        else:
            literal = bound_literal(decl)
            found = [literal] if literal is not None else []
    elif function.type == "selector_expression":
        operand = function.child_by_field_name("operand")
        name = function.child_by_field_name("field")
        if operand is None or name is None or is_package(ctx, operand):
            return None  # another package
        found = [d for d in declarations(ctx, ctx.text(name)) if d.type == "method_declaration"]
        receiver = type_name(ctx, operand)
        if receiver is not None:
            found = [d for d in found if receiver_type(ctx, d) == receiver]
    bodies = [b for d in found if (b := d.child_by_field_name("body")) is not None]
    return bodies or None


def bound_literal(decl: scopes.Declaration) -> Node | None:
    """The func literal a local variable is declared with and never reassigned."""
    construct = decl.construct
    right = construct.child_by_field_name("right") or construct.child_by_field_name("value")
    left = construct.child_by_field_name("left")
    names = left.named_children if left is not None else construct.children_by_field_name("name")
    if right is None or decl.node not in names or len(names) != len(right.named_children):
        return None
    value = right.named_children[names.index(decl.node)]
    function = scopes.enclosing_function(construct)
    if value.type != "func_literal" or function is None:
        return None
    rewritten = [w for w in scopes.writes(decl, scopes.top_level(function)) if w != decl.node]
    return None if rewritten else value


def declarations(ctx: FileContext, name: str) -> list[Node]:
    return _declarations_by_name(ctx.source).get(name, [])


@functools.lru_cache(maxsize=8)
def _declarations_by_name(source: Source) -> dict[str, list[Node]]:
    """One query per file (and pass), however many goroutines ask."""
    found: dict[str, list[Node]] = {}
    for name in captures(DECLARATIONS, source.root).get("name", []):
        if name.parent is not None:
            found.setdefault(source.text(name), []).append(name.parent)
    return found


def type_name(ctx: FileContext, operand: Node) -> str | None:
    """``T`` for a variable declared ``x T``, ``x *T``, ``x := T{...}`` or ``x := &T{...}``; else None."""
    decl = scopes.resolve(operand) if operand.type == "identifier" else None
    if decl is None:
        return None
    declared = decl.construct.child_by_field_name("type")
    if declared is None and decl.construct.type == "short_var_declaration":
        right = decl.construct.child_by_field_name("right")
        value = right.named_children[0] if right is not None and len(right.named_children) == 1 else None
        if value is not None and value.type == "unary_expression":
            value = value.child_by_field_name("operand")
        if value is not None and value.type == "composite_literal":
            declared = value.child_by_field_name("type")
    return type_name_of(ctx, declared)


def receiver_type(ctx: FileContext, method: Node) -> str | None:
    receiver = method.child_by_field_name("receiver")
    declaration = receiver.named_children[0] if receiver is not None and receiver.named_children else None
    return type_name_of(ctx, declaration.child_by_field_name("type")) if declaration is not None else None


def type_name_of(ctx: FileContext, declared: Node | None) -> str | None:
    while declared is not None and declared.type in ("pointer_type", "generic_type"):
        declared = declared.named_children[0]
    return ctx.text(declared) if declared is not None and declared.type == "type_identifier" else None


def is_package(ctx: FileContext, operand: Node) -> bool:
    """``x`` in ``x.F`` names an imported package (not shadowed by a local declaration)."""
    if operand.type != "identifier" or scopes.resolve(operand) is not None:
        return False
    return ctx.text(operand) in {i.local_name for i in imports(ctx.source)}


# -- protection -------------------------------------------------------------


def is_protected(ctx: FileContext, body: Node) -> bool:
    """A top-level defer recovers, or the body only defers calls and then calls a protected function."""
    statements = [s for s in goroutines.statements(body) if s.type != "comment"]
    if has_deferred_recover(ctx, body):
        return True
    rest = [s for s in statements if s.type != "defer_statement"]
    return len(rest) == 1 and delegates_to_protected(ctx, rest[0])


def has_deferred_recover(ctx: FileContext, body: Node) -> bool:
    return any(defers_recover(ctx, s) for s in goroutines.statements(body) if s.type == "defer_statement")


def defers_recover(ctx: FileContext, defer: Node) -> bool:
    call = next((c for c in defer.named_children if c.type == "call_expression"), None)
    function = call.child_by_field_name("function") if call is not None else None
    if function is None:
        return False
    if function.type == "func_literal":
        return calls_recover(function)
    if is_configured_helper(ctx, function):
        return True
    bodies = callee_bodies(ctx, function)
    return bodies is not None and all(calls_recover(b.parent) for b in bodies if b.parent is not None)


def calls_recover(function: Node) -> bool:
    """``function`` itself calls recover (a call in a nested func literal recovers nothing)."""
    calls = captures(RECOVER_CALLS, function).get("call", [])
    return any(scopes.enclosing_function(c) == function for c in calls if scopes.resolve(c.named_children[0]) is None)


def is_configured_helper(ctx: FileContext, function: Node) -> bool:
    """The deferred function is listed in ``helpers``: by its text, or as package path + name."""
    helpers = set(ctx.option("helpers") or [])
    text = ctx.text(function)
    if text in helpers:
        return True
    operand = function.child_by_field_name("operand") if function.type == "selector_expression" else None
    if operand is None or not is_package(ctx, operand):
        return False
    field = ctx.text(function.child_by_field_name("field"))  # type: ignore[arg-type]
    imported = next(i for i in imports(ctx.source) if i.local_name == ctx.text(operand))
    return f"{default_name(imported.path)}.{field}" in helpers or f"{imported.path}.{field}" in helpers


def delegates_to_protected(ctx: FileContext, statement: Node) -> bool:
    """``f(a, b.c)`` with f protected: nothing else in the goroutine can panic in practice."""
    call = statement.named_children[0] if statement.type == "expression_statement" else None
    if call is None or call.type != "call_expression":
        return False
    arguments = call.child_by_field_name("arguments")
    simple = ("identifier", "selector_expression", "int_literal", "interpreted_string_literal", "true", "false", "nil")
    if arguments is None or any(a.type not in simple for a in arguments.named_children):
        return False
    bodies = callee_bodies(ctx, call.child_by_field_name("function"))  # type: ignore[arg-type]
    # One level only: the callee itself must defer the recover (no chains, no recursion).
    return bodies is not None and all(has_deferred_recover(ctx, b) for b in bodies)


def hands_over_outside_defer(body: Node) -> bool:
    def deferred(node: Node) -> bool:
        return any(a.type == "defer_statement" for a in scopes.ancestors(node) if scopes.contains(body, a))

    return any(not deferred(h) for h in captures(HANDOFFS, body).get("h", []))


# -- the handler ------------------------------------------------------------


@dataclass(frozen=True)
class Handler:
    """The deferred recover for one file: its lines, the imports it adds and the package names it uses."""

    lines: list[str]
    import_edits: list[Edit]
    packages: list[str]


def prepare_handler(ctx: FileContext) -> Handler:
    template = textwrap.dedent(str(ctx.option("handler"))).strip()
    paths = [str(p) for p in ctx.option("handler-imports") or []]
    names, edits = ctx.import_names(*paths) if paths else ({}, [])
    renames = {default_name(p): names[p] for p in paths}
    prefix = b"package p\nfunc _() {\n"
    tree = parse(prefix + template.encode() + b"\n}\n")
    if tree.root_node.has_error:
        raise ValueError(f"[rules.goroutine-without-recover] handler is not Go statements: {template!r}")
    text = template.encode()
    identifiers = captures("[(identifier) (package_identifier)] @id", tree.root_node).get("id", [])
    for ident in sorted(identifiers, key=lambda n: n.start_byte, reverse=True):
        new = renames.get(ident.text.decode()) if scopes.resolve(ident) is None else None
        if new is not None:
            start, end = ident.start_byte - len(prefix), ident.end_byte - len(prefix)
            text = text[:start] + new.encode() + text[end:]
    body = [f"\t\t{line}" for line in text.decode().splitlines() if line.strip()]
    # r is the handler's own name for the value and lives only in the if: an outer r (an
    # *http.Request, say) is hidden from nothing that could still name it, so r is always free.
    lines = ["defer func() {", "\tif r := recover(); r != nil {", *body, "\t}", "}()"]
    return Handler(lines, edits, list(names.values()))


def declared_in_function(ctx: FileContext, name: str, go: Node) -> bool:
    top = scopes.top_level(go)
    for ident in captures("(identifier) @id", top).get("id", []):
        if ctx.text(ident) == name:
            decl = scopes.resolve(ident)
            if decl is not None and scopes.contains(top, decl.node):
                return True
    return False


RULE = Rule(
    id="goroutine-without-recover",
    summary="goroutines whose function does not recover from panics",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    default_options={
        "handler": 'log.Printf("panic in goroutine: %v\\n%s", r, debug.Stack())',
        "handler-imports": ["log", "runtime/debug"],
        "helpers": [],
        "include-tests": False,
    },
    triggers=(b"go ", b"go\t"),
)
