"""Timers and tickers created on every iteration of a loop.

## What it does
Finds, inside `for` loops:

- `time.After(d)` as a case of a `select` (a plain `<-time.After(d)` sleep is left alone);
- `t := time.NewTimer(d)` whose timer is only used in that iteration (`t.C`, `t.Stop`, `t.Reset`);
- `time.Tick(d)`;
- `x = time.AfterFunc(d, f)` that replaces the timer of the previous
  iteration without stopping it (timers kept per item, in a map or a slice,
  are intended and not reported).

## Why is this bad?
Each iteration allocates a timer and its channel. A busy message loop with
an idle timeout makes one for every message, and before Go 1.23 a timer that
has not fired yet is not garbage collected: a loop that receives a message
every millisecond with a one-minute timeout keeps sixty thousand live timers.
A ticker from `time.Tick` was never collected before Go 1.23: one leaks per
iteration and keeps firing forever. `time.AfterFunc` assigned over the
previous timer without `Stop` still runs every earlier callback: a debounce
that does not debounce.

## Example
```go
for {
        select {
        case m := <-msgs:
                handle(m)
        case <-time.After(idle):
                return ErrIdle
        }
}
```

Use instead:
```go
timer := time.NewTimer(idle)
defer timer.Stop()
for {
        timer.Reset(idle)
        select {
        case m := <-msgs:
                handle(m)
        case <-timer.C:
                return ErrIdle
        }
}
```

## What the fix does
Creates one timer (`time.NewTimer`; `time.NewTicker` for `time.Tick`) before
the outermost loop of the function, with `defer timer.Stop()`, and calls
`Reset(d)` exactly where the old code made a new timer: right before the
`select` for `time.After`, in place of `t := time.NewTimer(d)`, right before
the statement holding `time.Tick`. The timeout still restarts at the same
moment, with `d` evaluated at the same point, so `d` may depend on values
computed in the loop (the timer is then created with `0` and first armed by
`Reset`). A `defer t.Stop()` inside the loop, which piled up one deferred call
per iteration, is removed. The timer is created even when the loop ends
before it is used (a retry loop whose first attempt succeeds): one timer per
call instead of one per wait.

Before Go 1.23 `Reset` does not discard a value the timer already sent, so
for older modules the fix first stops the timer and drains its channel
without blocking (a `case <-t.C:` may already have taken the value):

```go
if !timer.Stop() {
        select {
        case <-timer.C:
        default:
        }
}
timer.Reset(idle)
```

A `time.Tick` ticker is `Reset` before every use, which keeps the old timing
(a full `d` after each arrival). For a steady rate, which is what a rate
limiter usually means, drop the `Reset` by hand.

For `time.AfterFunc` the fix stops the previous timer before replacing it.

## Fix safety
The `time.AfterFunc` fix is unsafe: earlier callbacks no longer run, which is
what a debounce means but not what the code did. The `time.Tick` fix is unsafe
unless `d` is a positive constant: `time.Tick` returns nil for `d <= 0`
where `NewTicker` and `Reset` panic. The `time.After` fix is unsafe when
moving `d` before the `select` reorders calls in `d` with calls in the cases
before it. Before Go 1.23, a timer that fires in the very instant its
`Stop` runs can still deliver its value after the drain; the runtime gives no
way to rule that out.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from gofix_conc import imports, scopes
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, FixKind, Rule, Safety
from gofix_conc.source import captures
from gofix_conc.statements import (
    alone_on_its_lines,
    delete_lines,
    insert_before,
    loop_running,
    outermost_loop,
    statement_holding,
    with_label,
)

# Calls into a package, filtered to the time package afterwards:
#   time.After(d)   time.NewTimer(d)   time.Tick(d)   time.AfterFunc(d, f)
TIME_CALLS = """
(call_expression
  function: (selector_expression
    operand: (identifier) @pkg
    field: (field_identifier) @fn (#any-of? @fn "After" "NewTimer" "Tick" "AfterFunc"))
  arguments: (argument_list)) @call
"""

# Calls that stop or move a timer, to tell a debounce from a dropped timer:
#   x.Stop()   x.Reset(d)
STOP_CALLS = """
(call_expression
  function: (selector_expression operand: (_) @timer field: (field_identifier) @m (#any-of? @m "Stop" "Reset"))) @call
"""

_UNITS = frozenset({"Nanosecond", "Microsecond", "Millisecond", "Second", "Minute", "Hour"})
_LITERALS = frozenset({"int_literal", "float_literal", "rune_literal", "true", "false", "nil", "iota"})


def check(ctx: FileContext) -> Iterator[Finding]:
    time_pkg = time_package(ctx)
    if time_pkg is None:
        return  # nothing can call time.After here
    for found in captures(TIME_CALLS, ctx.root).get("call", []):
        selector = found.child_by_field_name("function")
        pkg = selector.child_by_field_name("operand")  # type: ignore[union-attr]
        if ctx.text(pkg) != time_pkg or scopes.resolve(pkg) is not None:  # type: ignore[arg-type]
            continue  # a local variable (a fake clock) or another package
        loop = loop_running(found)
        if loop is None:
            continue  # runs once per call, not per iteration
        name = ctx.text(selector.child_by_field_name("field"))  # type: ignore[union-attr,arg-type]
        if name == "After":
            finding = check_after(ctx, found, loop, time_pkg)
        elif name == "NewTimer":
            finding = check_new_timer(ctx, found, loop, time_pkg)
        elif name == "Tick":
            finding = check_tick(ctx, found, loop, time_pkg)
        else:
            finding = check_after_func(ctx, found, loop)
        if finding is not None:
            yield finding


# -- time.After in a select -------------------------------------------------


def check_after(ctx: FileContext, call: Node, loop: Node, time_pkg: str) -> Finding | None:
    select = select_of(call)
    if select is None:
        return None  # a plain sleep or an argument: one timer that fires and is gone
    message = "time.After in a select inside a loop creates a new timer every iteration"
    duration = only_argument(call)
    statement = statement_holding(select)
    if duration is None or statement is None:
        return ctx.finding(call, message)
    timer = ctx.fresh_name(call, "timer")
    edits = all_or_none(
        creation(ctx, loop, timer, duration, time_pkg),
        insert_before(ctx, statement, reset_lines(ctx, timer, ctx.text(duration))),
        Edit(call.start_byte, call.end_byte, f"{timer}.C".encode()),
    )
    if edits is None:
        return ctx.finding(call, message)
    safety = Safety.UNSAFE if reorders_calls(ctx, select, call, duration) else Safety.SAFE
    return ctx.finding(call, message, ctx.fix("Create the timer once before the loop and Reset it", edits, safety))


def select_of(call: Node) -> Node | None:
    """The select whose case receives from ``call``: ``case [v :=] <-call:``."""
    unary = call.parent
    receive = unary.parent if unary is not None else None
    case = receive.parent if receive is not None else None
    if unary is None or unary.type != "unary_expression" or receive is None or case is None:
        return None
    if receive.type != "receive_statement" or receive.child_by_field_name("right") != unary:
        return None
    if case.type != "communication_case" or case.child_by_field_name("communication") != receive:
        return None
    return case.parent


def reorders_calls(ctx: FileContext, select: Node, call: Node, duration: Node) -> bool:
    """Whether ``d`` calls something and an earlier case does too: Reset moves ``d`` first."""
    if not has_effects(ctx, duration):
        return False
    for case in select.named_children:
        if case.type != "communication_case" or case.end_byte >= call.start_byte:
            continue
        communication = case.child_by_field_name("communication")
        if communication is not None and has_effects(ctx, communication, skip_time_after=True):
            return True
    return False


def has_effects(ctx: FileContext, node: Node, skip_time_after: bool = False) -> bool:
    """Calls or receives in an expression; a case's own receive and time.After are not counted."""
    calls = captures("(call_expression) @c", node).get("c", [])
    if skip_time_after:
        calls = [c for c in calls if not ctx.text(c.child_by_field_name("function")).endswith(".After")]  # type: ignore[arg-type]
    receives = [
        u
        for u in captures('(unary_expression operator: "<-") @u', node).get("u", [])
        if not (u.parent is not None and u.parent.type == "receive_statement")
    ]
    return bool(calls or receives)


# -- t := time.NewTimer(d) in the loop --------------------------------------


def check_new_timer(ctx: FileContext, call: Node, loop: Node, time_pkg: str) -> Finding | None:
    declaration = call.parent.parent if call.parent is not None else None
    if declaration is None or declaration.type != "short_var_declaration" or call.parent.type != "expression_list":  # type: ignore[union-attr]
        return None  # stored or passed on: a timer per item
    left = declaration.child_by_field_name("left")
    if left is None or len(left.named_children) != 1 or len(call.parent.named_children) != 1:  # type: ignore[union-attr]
        return None
    decl = scopes.resolve(left.named_children[0])
    function = scopes.enclosing_function(call)
    if decl is None or function is None or not iteration_local(decl, function):
        return None  # the timer outlives the iteration: one per iteration is needed
    message = "time.NewTimer in a loop creates a new timer every iteration"
    duration = only_argument(call)
    parent = declaration.parent
    if duration is None or parent is None or parent.type != "statement_list":
        return ctx.finding(call, message)
    if not ctx.source.starts_line(declaration.start_byte):
        return ctx.finding(call, message)
    uses = [r for r in scopes.references(decl, function) if r != decl.node]
    stale_defers = [
        d for d in defers_of_stop(decl, uses) if scopes.enclosing_function(d) == function and alone_on_its_lines(ctx, d)
    ]
    timer = decl.name if name_is_unique(ctx, decl) else ctx.fresh_name(call, "timer")
    reset = f"\n{ctx.indent(declaration)}".join(reset_lines(ctx, timer, ctx.text(duration)))
    edits = all_or_none(
        creation(ctx, loop, timer, duration, time_pkg),
        Edit(declaration.start_byte, declaration.end_byte, reset.encode()),
        *(delete_lines(ctx, d) for d in stale_defers),
    )
    if edits is None:
        return ctx.finding(call, message)
    if timer != decl.name:
        edits += [
            Edit(u.start_byte, u.end_byte, timer.encode())
            for u in uses
            if not any(scopes.contains(d, u) for d in stale_defers)
        ]
    return ctx.finding(call, message, ctx.fix("Create the timer once before the loop and Reset it", edits))


def iteration_local(decl: scopes.Declaration, function: Node) -> bool:
    """Every use is ``<-t.C``, ``t.Stop()`` or ``t.Reset(d)`` in the function itself, not in a closure.

    A stored ``t.C`` (``timeout = t.C``) may be read after a later iteration
    made its own timer: with one shared timer it would see that Reset.
    """
    for use in scopes.references(decl, function):
        if use == decl.node:
            continue
        selector = use.parent
        if selector is None or selector.type != "selector_expression" or selector.child_by_field_name("operand") != use:
            return False
        field = selector.child_by_field_name("field")
        user = selector.parent
        if field is None or user is None:
            return False
        if field.text == b"C":
            used = user.type == "unary_expression" and user.child_by_field_name("operator").type == "<-"  # type: ignore[union-attr]
        else:
            used = field.text in (b"Stop", b"Reset") and user.type == "call_expression"
        if not used or scopes.enclosing_function(use) != function:
            return False  # stored, passed on, or held by a goroutine or callback past the iteration
    return True


def defers_of_stop(decl: scopes.Declaration, uses: list[Node]) -> list[Node]:
    """``defer t.Stop()`` statements on the timer: one deferred call piled up per iteration."""
    found = []
    for use in uses:
        call = use.parent.parent if use.parent is not None else None
        statement = call.parent if call is not None else None
        if statement is None or statement.type != "defer_statement" or call.type != "call_expression":  # type: ignore[union-attr]
            continue
        if use.parent.child_by_field_name("field").text == b"Stop":  # type: ignore[union-attr]
            found.append(statement)
    return found


def name_is_unique(ctx: FileContext, decl: scopes.Declaration) -> bool:
    """No other declaration of the name in the whole top-level declaration: safe to hoist as is."""
    top = scopes.top_level(decl.node)
    same = [i for i in captures("(identifier) @i", top).get("i", []) if i.text.decode() == decl.name]
    taken_by_import = any(i.local_name == decl.name for i in imports.imports(ctx.source))
    return not taken_by_import and all(scopes.resolve(i) == decl for i in same)


# -- time.Tick ---------------------------------------------------------------


def check_tick(ctx: FileContext, call: Node, loop: Node, time_pkg: str) -> Finding | None:
    message = "time.Tick in a loop starts a new ticker every iteration"
    if not ctx.at_least(1, 23):
        message += ", and none of them is ever stopped"
    duration = only_argument(call)
    statement = statement_holding(call)
    if duration is None or statement is None or not ctx.at_least(1, 15):
        return ctx.finding(call, message)  # Ticker.Reset is from Go 1.15
    if not available_before(ctx, duration, with_label(outermost_loop(loop)), time_pkg):
        return ctx.finding(call, message)  # nothing to create the ticker with
    ticker = ctx.fresh_name(call, "ticker")
    edits = all_or_none(
        creation(ctx, loop, ticker, duration, time_pkg, ticker=True),
        insert_before(ctx, statement, reset_lines(ctx, ticker, ctx.text(duration), ticker=True)),
        Edit(call.start_byte, call.end_byte, f"{ticker}.C".encode()),
    )
    if edits is None:
        return ctx.finding(call, message)
    safety = Safety.SAFE if is_positive_constant(ctx, duration, time_pkg) else Safety.UNSAFE
    return ctx.finding(call, message, ctx.fix("Create one ticker before the loop and Reset it", edits, safety))


# -- x = time.AfterFunc(d, f) ------------------------------------------------


def check_after_func(ctx: FileContext, call: Node, loop: Node) -> Finding | None:
    values = call.parent
    assignment = values.parent if values is not None else None
    if assignment is None or assignment.type != "assignment_statement" or len(values.named_children) != 1:  # type: ignore[union-attr]
        return None  # the timer is kept per item, or dropped on purpose
    operator = assignment.child_by_field_name("operator")
    left = assignment.child_by_field_name("left")
    if operator is None or operator.type != "=" or left is None or len(left.named_children) != 1:
        return None
    target = left.named_children[0]
    root = scopes.root_identifier(target)
    if target.type not in ("identifier", "selector_expression") or root is None:
        return None  # m[id] = ...: one timer per key
    decl = scopes.resolve(root)
    if decl is not None and scopes.contains(loop, decl.node):
        return None  # a new variable every iteration: one timer per item
    if is_stopped_in(ctx, loop, target) or is_nil_guarded(ctx, assignment, target):
        return None  # a debounce that stops, resets or keeps the previous timer
    message = "time.AfterFunc in a loop replaces the previous timer without stopping it; every callback still runs"
    name = ctx.text(target)
    stop = insert_before(ctx, assignment, [f"if {name} != nil {{", f"\t{name}.Stop()", "}"])
    if assignment.parent is None or assignment.parent.type != "statement_list" or stop is None:
        return ctx.finding(call, message)
    return ctx.finding(call, message, ctx.fix("Stop the previous timer before replacing it", [stop], Safety.UNSAFE))


def is_stopped_in(ctx: FileContext, loop: Node, target: Node) -> bool:
    """``x.Stop()`` or ``x.Reset(d)`` somewhere in the loop."""
    name = "".join(ctx.text(target).split())
    stopped = captures(STOP_CALLS, loop).get("timer", [])
    return any("".join(ctx.text(t).split()) == name for t in stopped)


def is_nil_guarded(ctx: FileContext, assignment: Node, target: Node) -> bool:
    """``if x == nil { x = time.AfterFunc(...) }``: created once, nothing is dropped."""
    block = assignment.parent.parent if assignment.parent is not None else None
    statement = block.parent if block is not None else None
    if statement is None or statement.type != "if_statement" or statement.child_by_field_name("consequence") != block:
        return False
    condition = statement.child_by_field_name("condition")
    wanted = f"{''.join(ctx.text(target).split())}==nil"
    return condition is not None and "".join(ctx.text(condition).split()) == wanted


# -- shared: where things go -------------------------------------------------


def time_package(ctx: FileContext) -> str | None:
    """The name the file imports package time under, if it does."""
    for spec in imports.imports(ctx.source):
        if spec.path == "time" and spec.name not in ("_", "."):
            return spec.local_name
    return None


def only_argument(call: Node) -> Node | None:
    arguments = call.child_by_field_name("arguments")
    values = [a for a in arguments.named_children if a.type != "comment"] if arguments is not None else []
    if not values or values[0].start_point.row != values[-1].end_point.row:
        return None  # a duration spread over lines would need re-indenting
    return values[0] if len(values) == 1 else None


def all_or_none(*edits: Edit | None) -> list[Edit] | None:
    return None if any(e is None for e in edits) else list(edits)  # type: ignore[arg-type]


def creation(
    ctx: FileContext, loop: Node, name: str, duration: Node, time_pkg: str, ticker: bool = False
) -> Edit | None:
    """``name := time.NewTimer(d)`` and its deferred Stop, before the outermost loop of the function."""
    anchor = with_label(outermost_loop(loop))
    if ticker:
        lines = [f"{name} := {time_pkg}.NewTicker({ctx.text(duration)})"]
    elif available_before(ctx, duration, anchor, time_pkg):
        lines = [f"{name} := {time_pkg}.NewTimer({ctx.text(duration)})"]
    else:
        # d is only known in the loop, and Reset arms the timer before any use.
        lines = [f"{name} := {time_pkg}.NewTimer(0)"]
        if not ctx.at_least(1, 23):
            # Nothing can have received from the new timer yet, so this receive
            # only waits for a send already under way: the loop's first
            # non-blocking drain would miss it and let it out after Reset.
            lines += [f"if !{name}.Stop() {{", f"\t<-{name}.C", "}"]
    lines.append(f"defer {name}.Stop()")
    return insert_before(ctx, anchor, lines)


def reset_lines(ctx: FileContext, name: str, duration: str, ticker: bool = False) -> list[str]:
    """Restart the timer; before Go 1.23 stop it and drain a stale value without blocking first."""
    reset = f"{name}.Reset({duration})"
    if ctx.at_least(1, 23):
        return [reset]
    drain = ["select {", f"case <-{name}.C:", "default:", "}"]
    if ticker:
        return [f"{name}.Stop()", *drain, reset]
    return [f"if !{name}.Stop() {{", *(f"\t{line}" for line in drain), "}", reset]


def available_before(ctx: FileContext, expr: Node, anchor: Node, time_pkg: str) -> bool:
    """Whether ``expr`` can be evaluated before the loop: no calls, nothing declared in the loop."""
    kind = expr.type
    if kind in _LITERALS:
        return True
    if kind == "identifier":
        decl = scopes.resolve(expr)
        if decl is None or decl.kind in ("const", "func", "type"):
            return True  # another file of the package, or nothing evaluated
        return scopes.top_level(decl.node).type == "var_declaration" or decl.node.end_byte <= anchor.start_byte
    if kind == "selector_expression":
        operand = expr.child_by_field_name("operand")
        return operand is not None and available_before(ctx, operand, anchor, time_pkg)
    if kind in ("binary_expression", "parenthesized_expression"):
        return all(available_before(ctx, c, anchor, time_pkg) for c in expr.named_children)
    if kind == "unary_expression":
        operator = expr.child_by_field_name("operator")
        operand = expr.child_by_field_name("operand")
        if operator is None or operator.type == "<-" or operand is None:
            return False
        return available_before(ctx, operand, anchor, time_pkg)
    if kind == "call_expression" and is_duration_conversion(ctx, expr, time_pkg):
        argument = only_argument(expr)
        return argument is not None and available_before(ctx, argument, anchor, time_pkg)
    return False


def is_duration_conversion(ctx: FileContext, call: Node, time_pkg: str) -> bool:
    function = call.child_by_field_name("function")
    return function is not None and ctx.text(function) == f"{time_pkg}.Duration"


def is_positive_constant(ctx: FileContext, expr: Node, time_pkg: str, depth: int = 0) -> bool:
    """``100 * time.Millisecond``, ``time.Second``, a named constant of such a value."""
    kind = expr.type
    if depth > 8:
        return False
    if kind in ("int_literal", "float_literal"):
        try:
            return (
                float(ctx.text(expr).replace("_", "")) > 0
                if kind == "float_literal"
                else int(ctx.text(expr).replace("_", ""), 0) > 0
            )
        except ValueError:
            return False
    if kind == "selector_expression":
        operand, field = expr.child_by_field_name("operand"), expr.child_by_field_name("field")
        return operand is not None and field is not None and ctx.text(operand) == time_pkg and ctx.text(field) in _UNITS
    if kind == "parenthesized_expression":
        return is_positive_constant(ctx, expr.named_children[0], time_pkg, depth + 1)
    if kind == "binary_expression":
        operator = expr.child_by_field_name("operator")
        sides = [expr.child_by_field_name("left"), expr.child_by_field_name("right")]
        return (
            operator is not None
            and operator.type in ("*", "+")
            and all(s is not None and is_positive_constant(ctx, s, time_pkg, depth + 1) for s in sides)
        )
    if kind == "call_expression" and is_duration_conversion(ctx, expr, time_pkg):
        argument = only_argument(expr)
        return argument is not None and is_positive_constant(ctx, argument, time_pkg, depth + 1)
    if kind == "identifier":
        decl = scopes.resolve(expr)
        if decl is None or decl.kind != "const":
            return False
        value = scopes.initial_value(decl)
        return value is not None and is_positive_constant(ctx, value, time_pkg, depth + 1)
    return False


RULE = Rule(
    id="timer-in-loop",
    summary="timers and tickers created on every iteration of a loop",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    triggers=(b'"time"',),  # only files importing the time package
)
