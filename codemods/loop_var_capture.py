"""Loop variables captured by goroutines, deferred calls and stored closures (before Go 1.22).

## What it does
In modules whose `go.mod` declares a Go version older than 1.22, finds a
goroutine (`go func() {...}()`, `g.Go(func() error {...})`), a deferred
closure (`defer func() {...}()`) or a stored closure (assigned to a variable,
field or element declared outside the loop, appended, sent on a channel,
passed to `time.AfterFunc`, `http.HandleFunc`, `t.Cleanup`, or run by
`t.Run` with `t.Parallel()`) inside a loop that uses a variable declared by
the loop clause: the key or value of `for k, v := range`, or a variable of
`for i := 0; ...; i++`. The finding is on the `go` or `defer` keyword, or on
the stored closure's `func` keyword.

Not reported: modules on Go 1.22 or later (each iteration has its own
variables), `go f(v)` and `defer f(v)` (the arguments are evaluated at the
statement), a loop body that already starts with `v := v`, closures called on
the spot (`func() { use(v) }()`), goroutines the iteration waits for before
the next one starts (`go ...; wg.Wait()` in the body), and closures that do
not use the loop's variables.

## Why is this bad?
Before Go 1.22 a loop clause declares its variables once for the whole loop;
every iteration assigns them. A closure created in the loop captures that one
variable, not its current value. A goroutine that runs later, a deferred call
that runs when the function returns, or a closure called after the loop, all
see whichever value the variable holds then: usually the last element, the
same one for every closure. With goroutines the loop's write and the
goroutine's read also race: `go test -race` reports them, and the results are
wrong or duplicated in a way that changes from run to run.

## Example
```go
for _, u := range urls {
        wg.Add(1)
        go func() {
                defer wg.Done()
                fetch(u)
        }()
}
```

Use instead:
```go
for _, u := range urls {
        u := u
        wg.Add(1)
        go func() {
                defer wg.Done()
                fetch(u)
        }()
}
```

## What the fix does
Inserts `v := v` as the first statement of the loop body, one line per
captured variable of that loop in the order the clause declares them. Each
iteration then has its own variable, which is what Go 1.22 does for every
loop. Comments and the rest of the body are left as they are; a loop body on
one line is opened up as gofmt would lay it out.

## Fix safety
The fix is safe when the loop body and its closures only read the captured
variable: the copy holds the iteration's value, the closures see exactly
that value, and code in the iteration reads the same value it did.

It is unsafe when the loop body or a closure writes the variable or takes its
address (`i++` in the body, `v = trim(v)`, `&v`): after the copy those writes
go to the iteration's variable, not the loop's, so for a `for i := ...; i++`
loop the writes no longer steer the loop, and a pointer taken in one
iteration no longer sees later iterations' values. The message says which
variable is written; a reviewer must check that this is what the code meant.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import concurrency, goroutines, scopes
from gofix_conc.context import FileContext
from gofix_conc.model import Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import captures

# Loops that declare variables in their clause:
#   for k, v := range xs {...}     for i := 0; i < n; i++ {...}
LOOPS = """
(for_statement body: (block) @body) @loop
"""

# What can outlive the iteration: goroutines, deferred calls, func literals.
#   go ...    defer ...    func(...) {...}
CLOSURES = """
[(go_statement) (defer_statement) (func_literal)] @construct
"""

# Functions that keep a func literal passed to them to call it later.
_KEEPERS = frozenset(
    {
        "AfterFunc",
        "HandleFunc",
        "Handle",
        "Cleanup",
        "SetFinalizer",
        "Go",
        "TryGo",
    }
)


@dataclass(frozen=True)
class Capture:
    """A construct that outlives the iteration and the loop variables it uses."""

    construct: Node  # go_statement, defer_statement or func_literal
    what: str  # a goroutine, a deferred call, a stored closure
    uses: dict[scopes.Declaration, list[Node]]  # loop variable -> its uses in the closure


def check(ctx: FileContext) -> Iterator[Finding]:
    if ctx.at_least(1, 22):
        return  # each iteration has its own variables from Go 1.22 on
    for loop in captures(LOOPS, ctx.root).get("loop", []):
        variables = loop_variables(loop)
        if not variables:
            continue  # for cond {...}, for range ch {...}, for k = range ...: nothing declared
        body = loop.child_by_field_name("body")
        assert body is not None
        found = [c for c in captured_in(ctx, loop, body, variables) if c.uses]
        if not found:
            continue
        copied = [d for d in variables if any(d in c.uses for c in found)]
        fix = plan_fix(ctx, loop, body, copied)
        for capture in found:
            used = [d.name for d in variables if d in capture.uses]
            names = " and ".join(used)
            shared = f"one {names}" if len(used) == 1 else f"the same {names}"
            message = (
                f"loop {'variables' if len(used) > 1 else 'variable'} {names} captured by {capture.what}:"
                f" before Go 1.22 every iteration shares {shared}, so it may see a later iteration's value"
            )
            yield ctx.finding(_position(capture.construct), message, fix)


def loop_variables(loop: Node) -> list[scopes.Declaration]:
    """The variables a loop clause declares, in declaration order."""
    for clause in loop.named_children:
        if clause.type in ("range_clause", "for_clause"):
            return [d for d in scopes.header_declarations(loop, loop.child_by_field_name("body")) if d.kind == "var"]
    return []


def captured_in(ctx: FileContext, loop: Node, body: Node, variables: list[scopes.Declaration]) -> Iterator[Capture]:
    """The goroutines, deferred calls and stored closures of the loop body, with the loop variables they use."""
    function = scopes.enclosing_function(loop)
    wanted = set(variables)
    for construct in captures(CLOSURES, body).get("construct", []):
        if not _runs_in_iteration(construct, loop, function):
            continue  # inside a closure that may itself outlive the iteration: that closure is reported
        if construct.type == "go_statement":
            literal = goroutines.literal_of(construct)
            if literal is None or concurrency.joined_each_iteration(construct, loop):
                continue  # go f(v) evaluates v now; a goroutine waited for in the iteration is done with v
            yield Capture(construct, "a goroutine", _uses(literal, wanted))
        elif construct.type == "defer_statement":
            literal = goroutines.literal_of(construct)
            if literal is None or scopes.enclosing_function(construct) != function:
                continue  # defer f(v) evaluates v now; a defer in an inner closure runs when it returns
            yield Capture(construct, "a deferred call", _uses(literal, wanted))
        else:
            what = stored_as(construct, loop)
            if what is not None:  # go func(){...}() and defer func(){...}() were taken above
                yield Capture(construct, what, _uses(construct, wanted))


def _runs_in_iteration(construct: Node, loop: Node, function: Node | None) -> bool:
    """Whether the iteration runs ``construct`` itself: every func literal between them is called on the spot."""
    for ancestor in scopes.ancestors(construct):
        if ancestor in (loop, function):
            return True
        if ancestor.type == "func_literal" and not concurrency.called_on_the_spot(ancestor):
            return False
    return True


def stored_as(literal: Node, loop: Node) -> str | None:
    """How a func literal outlives the iteration, or None when it does not (as far as the code shows)."""
    if concurrency.called_on_the_spot(literal):
        return None  # runs now, inside the iteration
    parent = literal.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    if parent is None:
        return None
    if parent.type == "argument_list" and parent.parent is not None:
        call = parent.parent
        function = call.child_by_field_name("function")
        name = (
            function.child_by_field_name("field") if function and function.type == "selector_expression" else function
        )
        text = name.text.decode() if name is not None and name.text else ""
        if text == "append":
            return "a stored closure"
        if text in ("Go", "TryGo"):
            return None if concurrency.joined_each_iteration(call, loop) else "a goroutine"
        if text in _KEEPERS:
            return f"a closure kept by {text}"
        if text == "Run" and _calls_parallel(literal):
            return "a parallel subtest"
        return None  # a synchronous helper (sort.Slice, t.Run without Parallel, ...)
    if parent.type == "send_statement":
        return "a closure sent on a channel"
    if parent.type == "expression_list" and parent.parent is not None:
        holder = parent.parent
        if holder.type == "assignment_statement" and parent == holder.child_by_field_name("right"):
            left = holder.child_by_field_name("left")
            if left is not None and any(_outlives(target, loop) for target in left.named_children):
                return "a stored closure"
        if holder.type == "return_statement":
            return None  # returning ends the loop: the variable changes no more
    return None


def _outlives(target: Node, loop: Node) -> bool:
    """Whether an assignment target lives beyond the iteration (declared outside the loop, or a field/element)."""
    if target.type not in ("identifier", "selector_expression", "index_expression"):
        return False
    root = scopes.root_identifier(target)
    if root is None:
        return True  # f().field = ...: somewhere else
    decl = scopes.resolve(root)
    return decl is None or not scopes.contains(loop, decl.node)


def _calls_parallel(literal: Node) -> bool:
    body = literal.child_by_field_name("body")
    for call in captures("(call_expression function: (selector_expression) @f)", body).get("f", []) if body else []:
        field = call.child_by_field_name("field")
        if field is not None and field.text == b"Parallel" and scopes.enclosing_function(call) == literal:
            return True
    return False


def _uses(literal: Node, wanted: set[scopes.Declaration]) -> dict[scopes.Declaration, list[Node]]:
    return {decl: uses for decl, uses in scopes.captured(literal).items() if decl in wanted}


def _position(construct: Node) -> Node:
    """The ``go``/``defer`` keyword, or the ``func`` keyword of a stored closure."""
    return construct.children[0] if construct.children else construct


# -- the fix -------------------------------------------------------------------


def plan_fix(ctx: FileContext, loop: Node, body: Node, copied: list[scopes.Declaration]) -> Fix | None:
    """``v := v`` first in the loop body for each captured variable."""
    edit = goroutines.prepend(ctx, body, [f"{d.name} := {d.name}" for d in copied])
    written = [d.name for d in copied if _written(d, loop)]
    names = ", ".join(d.name for d in copied)
    copies = "; ".join(f"{d.name} := {d.name}" for d in copied)
    message = f"Copy {names} in each iteration ({copies})"
    if written:
        which = ", ".join(written)
        message += (
            f" (check: the loop writes {which} or takes its address; after the copy those writes change"
            f" the iteration's {which}, not the loop's)"
        )
        return ctx.fix(message, [edit], Safety.UNSAFE)
    return ctx.fix(message, [edit], Safety.SAFE)


def _written(decl: scopes.Declaration, loop: Node) -> bool:
    """Whether the loop body or its closures write the variable or take its address."""
    body = loop.child_by_field_name("body")
    return body is not None and bool(scopes.writes(decl, body))


RULE = Rule(
    id="loop-var-capture",
    summary="loop variables captured by goroutines, deferred calls or stored closures before Go 1.22",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    triggers=(b"for ",),
)
