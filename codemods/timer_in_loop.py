"""Timers and tickers created on every iteration of a loop.

## What it does
Finds, inside `for` loops:

- `time.After(d)` as a case of a `select` in a loop that can go on while
  the timer has not fired: a message loop, whose select also takes a message
  (receives from a channel that is not a timer's or a `Done()`, or sends
  one) or has a `default`, in a case that does not leave the loop;
- `t := time.NewTimer(d)` used only in that iteration, in such a message
  loop, or whose `Stop` is deferred inside the loop;
- `time.Tick(d)`;
- `x = time.AfterFunc(d, f)` that replaces the timer of the previous
  iteration without stopping it (timers kept per item, in a map or a slice,
  are intended and not reported).

Retry and poll loops are not reported: when every other case leaves the
loop (`case <-ctx.Done(): return`), an iteration that goes on has received
from its timer, which has fired and is gone. That is one timer per wait,
nothing next to the wait itself, and at most one left pending when the loop
ends, as in a `select` outside a loop, which is not reported either. This
holds before Go 1.23 as well. Nor are loops that count to a constant
(`for i := 0; i < 5; i++`, `for range 3`, and every loop around them): they
make a fixed number of timers per call, as that many selects in a row would.
A plain `<-time.After(d)` sleep is not reported.

## Why is this bad?
In a message loop every message leaves a timer behind that has not fired.
Before Go 1.23 such a timer is not garbage collected until it fires: a loop
that receives a message every millisecond with a one-minute timeout keeps
sixty thousand live timers. From Go 1.23 (modules whose go.mod says
`go 1.23` or later) the garbage collector reclaims unreferenced timers, so
this is no leak: what is left is an allocation (the timer and its channel,
about 200 bytes) for every message, in the loop that handles the most
messages; the message says which of the two it is. A ticker from
`time.Tick` was never collected before Go 1.23: one leaks per iteration and
keeps firing forever; later it is still a ticker made for a single tick.
A `defer t.Stop()` inside the loop keeps every timer, and a deferred call,
until the function returns, in every version. `time.AfterFunc` assigned
over the previous timer without `Stop` still runs every earlier callback: a
debounce that does not debounce.

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
Makes one timer (`time.NewTimer`; `time.NewTicker` for `time.Tick`) and
calls `Reset(d)` exactly where the old code made a new timer: right before
the `select` for `time.After`, in place of `t := time.NewTimer(d)`, right
before the statement holding `time.Tick`. The timeout restarts at the same
moment, with `d` evaluated at the same point. A `defer t.Stop()` inside the
loop, which piled up one deferred call per iteration, is removed.

The timer is made before the outermost loop of the function, with
`defer timer.Stop()`, only when every entry into the loop reaches the
`select` (loops without a condition, nothing before the `select` that can
leave them) and `d` is known before the loop. Otherwise it is made the first
time it is needed, so that a call that never waits (a frame already
buffered, a loop that runs no iteration) still makes no timer:

```go
var timer *time.Timer
for {
        if f, ok := r.buffered(); ok {
                return f, nil
        }
        if timer == nil {
                timer = time.NewTimer(idle)
        } else {
                timer.Reset(idle)
        }
        select {
        ...
```

From Go 1.23 that lazy timer needs no deferred `Stop` (it is collected like
the ones it replaces); before, a deferred closure stops it if it was made.

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
From Go 1.23 the `time.After`, `time.NewTimer` and `time.Tick` fixes are
safe: `Reset` on a timer (or ticker) whose value was not received discards
it, so each wait lasts `d` from the same moment as before, and the timer is
made on no path that had none. They are unsafe when:

- the module is older than Go 1.23: a timer that fires while `Stop` runs
  can deliver its value after the non-blocking drain, and the next wait then
  ends at once; the old code, with a fresh timer each time, never did. The
  fix message asks the reviewer to check that one early timeout is harmless;
- `d` of a `time.After` calls something and an earlier case of the `select`
  does too: `Reset` before the `select` evaluates `d` first;
- `d` of a `time.Tick` is not a positive constant: `time.Tick` returns nil
  for `d <= 0` (a receive that blocks forever) where `NewTicker` and `Reset`
  panic.

The `time.AfterFunc` fix is unsafe: earlier callbacks no longer run, which is
what a debounce means but not what the code did. A module built with
`GODEBUG=asynctimerchan=1` gets the pre-1.23 timers whatever its go.mod
says; the rule reads only go.mod.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from gofix_conc import imports, pools, scopes, types
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
    calls = time_calls(ctx.root)
    if not calls:
        return  # no call of a function named After, NewTimer, Tick or AfterFunc
    time_pkg = time_package(ctx)
    if time_pkg is None:
        return  # nothing can call time.After here
    for found in calls:
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


def time_calls(root: Node) -> list[Node]:
    """The calls TIME_CALLS captures as ``@call``, in source order.

    Looked up where the function's name is written rather than by a walk
    over the whole tree: most files importing time never call these four.
    """
    found = pools.method_calls(root, ("After", "NewTimer", "Tick", "AfterFunc"))
    return [call for call, operand, _ in found if operand.type == "identifier"]


# -- time.After in a select -------------------------------------------------


def check_after(ctx: FileContext, call: Node, loop: Node, time_pkg: str) -> Finding | None:
    select = select_of(call)
    if select is None:
        return None  # a plain sleep or an argument: one timer that fires and is gone
    if not abandons_timer(select, own_case(call), loop):
        return None  # every iteration that goes on waited for the timer: one allocation per wait
    if ctx.at_least(1, 23):
        message = (
            "time.After in a select inside a loop allocates a timer for every message the loop handles before it fires"
        )
    else:
        message = (
            "time.After in a select inside a loop creates a new timer every iteration,"
            " kept until it fires (before Go 1.23)"
        )
    duration = only_argument(call)
    statement = statement_holding(select)
    if duration is None or statement is None:
        return ctx.finding(call, message)
    timer = ctx.fresh_name(call, "timer")
    edits = all_or_none(
        *timer_edits(ctx, loop, statement, timer, duration, time_pkg),
        Edit(call.start_byte, call.end_byte, f"{timer}.C".encode()),
    )
    if edits is None:
        return ctx.finding(call, message)
    title = "Create the timer once and Reset it"
    if reorders_calls(ctx, select, call, duration):
        title += f" (check: {ctx.text(duration)} is now evaluated before the cases above it)"
        return ctx.finding(call, message, ctx.fix(title, edits, Safety.UNSAFE))
    if not ctx.at_least(1, 23):
        return ctx.finding(call, message, ctx.fix(title + STALE_VALUE, edits, Safety.UNSAFE))
    return ctx.finding(call, message, ctx.fix(title, edits))


# What a reviewer must check in a fix for a module older than Go 1.23.
STALE_VALUE = (
    " (check: before Go 1.23 a timer that fires while Stop runs can deliver its value after the drain,"
    " so one wait may end at once)"
)


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


# -- whether the loop goes on without the timer -------------------------------


def own_case(call: Node) -> Node:
    """The select case that receives from the timer."""
    return next(a for a in scopes.ancestors(call) if a.type == "communication_case")


def abandons_timer(select: Node, timer_case: Node, loop: Node) -> bool:
    """Whether the loop can go on while the timer has not fired: a message pump, not a retry.

    Some other case takes a message (receives from a channel that is not a
    timer's or a ``Done()``, or sends one), or a ``default`` makes the select
    not wait, and that case does not leave the loop. Then every message
    leaves a timer behind. When every other case leaves the loop, an
    iteration that goes on has waited for the timer: a retry or poll loop.
    """
    if counts_to_constant(loop):
        return False  # a fixed number of timers per call, as as many selects in a row
    for case in select.named_children:
        if case == timer_case or case.type not in ("communication_case", "default_case"):
            continue
        if case.type == "communication_case" and not takes_message(case):
            continue  # <-ctx.Done(), <-ticker.C: a signal or another clock
        body = next((c for c in case.named_children if c.type == "statement_list"), None)
        statements = [c for c in body.named_children if c.type != "comment"] if body is not None else []
        last = statements[-1] if statements else None
        if last is not None and leaves_loop(last, loop, select):
            continue
        if last is not None and last.type == "continue_statement":
            return True  # straight on to the next iteration
        if not leaves_after(select, loop):
            return True  # falls through to the rest of the iteration, and on
    return False


def counts_to_constant(loop: Node) -> bool:
    """``for i := 0; i < 4; i++`` or ``for range 4``, and every loop around it in the function too."""
    current: Node | None = loop
    while current is not None:
        clause = next((c for c in current.named_children if c.type in ("for_clause", "range_clause")), None)
        bound = None
        if clause is not None and clause.type == "range_clause":
            bound = clause.child_by_field_name("right")
        elif clause is not None and (condition := clause.child_by_field_name("condition")) is not None:
            operator = condition.child_by_field_name("operator") if condition.type == "binary_expression" else None
            if operator is not None and operator.type in ("<", "<="):
                bound = condition.child_by_field_name("right")
        if types.constant(bound) is None:
            return False
        current = loop_running(current)
    return True


def leaves_after(select: Node, loop: Node) -> bool:
    """Whether the statements after ``select`` in its block leave ``loop`` (a case that falls through)."""
    block = select.parent
    if block is None or block.type != "statement_list":
        return False
    in_loop_body = block.parent is not None and block.parent.parent == loop
    for statement in block.named_children:
        if statement.start_byte < select.end_byte or statement.type == "comment":
            continue
        if statement.type == "break_statement" and not statement.named_children:
            return in_loop_body  # ends the loop the select is directly in
        if leaves_loop(statement, loop, select):
            return True
        if may_leave(statement):
            return False  # a branch that may leave or go on
    return False


def takes_message(case: Node) -> bool:
    communication = case.child_by_field_name("communication")
    if communication is None:
        return False
    if communication.type == "send_statement":
        return True
    receive = communication.child_by_field_name("right") if communication.type == "receive_statement" else None
    receive = receive or (communication.named_children[0] if communication.named_children else None)
    channel = receive.child_by_field_name("operand") if receive is not None else None
    while channel is not None and channel.type == "parenthesized_expression" and channel.named_children:
        channel = channel.named_children[0]
    if channel is None:
        return False
    if channel.type == "selector_expression":
        field = channel.child_by_field_name("field")
        return field is None or field.text != b"C"  # t.C: another timer or ticker
    if channel.type == "call_expression":
        function = channel.child_by_field_name("function")
        name = function.child_by_field_name("field") if function is not None else None
        return name is None or name.text not in (b"Done", b"After", b"Tick")
    return True


_EXITS = frozenset(
    {"panic", "os.Exit", "log.Fatal", "log.Fatalf", "log.Fatalln", "log.Panic", "log.Panicf", "runtime.Goexit"}
)


def leaves_loop(statement: Node, loop: Node, select: Node) -> bool:
    """Whether ``statement``, the last of a case of ``select``, always leaves ``loop``."""
    kind = statement.type
    if kind in ("return_statement", "goto_statement"):
        return True
    if kind in ("break_statement", "continue_statement"):
        label = next((c for c in statement.named_children if c.type == "label_name"), None)
        if label is None:
            return False  # break ends the select, continue goes on with the loop
        labeled = [a for a in scopes.ancestors(statement) if a.type == "labeled_statement"]
        target = next((a for a in labeled if a.named_children[0].text == label.text), None)
        body = target.named_children[-1] if target is not None else None
        if kind == "break_statement":
            return body is not None and body != select  # break of the loop or of one around it
        return body is not None and body != loop  # continue of an outer loop
    if kind == "expression_statement" and statement.named_children:
        call = statement.named_children[0]
        function = call.child_by_field_name("function") if call.type == "call_expression" else None
        name = function.text.decode() if function is not None and function.text else ""
        return name in _EXITS or name.split(".")[-1] in ("Fatal", "Fatalf", "FailNow", "Skip", "Skipf", "SkipNow")
    if kind == "block":
        inner = next((c for c in statement.named_children if c.type == "statement_list"), None)
        last = [c for c in inner.named_children if c.type != "comment"] if inner is not None else []
        return bool(last) and leaves_loop(last[-1], loop, select)
    if kind == "if_statement":
        consequence, alternative = (
            statement.child_by_field_name("consequence"),
            statement.child_by_field_name("alternative"),
        )
        return (
            consequence is not None
            and alternative is not None
            and leaves_loop(consequence, loop, select)
            and leaves_loop(alternative, loop, select)
        )
    return False


def reached_every_iteration(statement: Node, loop: Node) -> bool:
    """Whether every entry into the outermost loop around ``statement`` runs it (before anything else can leave).

    Each loop from ``statement`` out has no condition (``for {}``, ``for i := 0; ; i++``),
    holds the next level directly in its body, and nothing before it there
    can return, break, continue or jump. Then a timer made before the loop
    is made on no path that made none before.
    """
    outermost = outermost_loop(loop)
    node = statement
    while True:
        block = node.parent
        holder = block.parent if block is not None else None
        owner = holder.parent if holder is not None else None
        if block is None or block.type != "statement_list" or owner is None or owner.type != "for_statement":
            return False
        if any(c.type in ("range_clause",) for c in owner.named_children):
            return False  # ranging over nothing runs no iteration
        clause = next((c for c in owner.named_children if c.type == "for_clause"), None)
        condition = clause.child_by_field_name("condition") if clause is not None else None
        bare = [c for c in owner.named_children if c.type not in ("block", "for_clause", "comment")]
        if condition is not None or bare:
            return False  # for cond {}: may run no iteration
        for earlier in block.named_children:
            if earlier.start_byte >= node.start_byte:
                break
            if may_leave(earlier):
                return False
        if owner == outermost:
            return True
        node = with_label(owner)


def may_leave(statement: Node) -> bool:
    """Whether a statement holds a return, break, continue or goto (outside func literals)."""
    jumps = ("return_statement", "break_statement", "continue_statement", "goto_statement")
    for kind in jumps:
        for found in captures(f"({kind}) @j", statement).get("j", []):
            if scopes.enclosing_function(found) == scopes.enclosing_function(statement):
                return True
    return False


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
    uses = [r for r in scopes.references(decl, function) if r != decl.node]
    stale_defers = [d for d in defers_of_stop(decl, uses) if scopes.enclosing_function(d) == function]
    hot = any(
        (select := select_of_timer_channel(use)) is not None and abandons_timer(select, own_case(use), loop)
        for use in uses
    )
    if stale_defers and not counts_to_constant(loop):
        message = (
            "time.NewTimer in a loop creates a new timer every iteration, and its Stop deferred in the loop"
            " keeps each one until the function returns"
        )
    elif not hot:
        return None  # a retry or poll loop, or a fixed number of iterations: nothing piles up
    elif ctx.at_least(1, 23):
        message = "time.NewTimer in a loop allocates a timer for every message the loop handles before it fires"
    else:
        message = "time.NewTimer in a loop creates a new timer every iteration"
    duration = only_argument(call)
    parent = declaration.parent
    if duration is None or parent is None or parent.type != "statement_list":
        return ctx.finding(call, message)
    if not ctx.source.starts_line(declaration.start_byte) or not all(alone_on_its_lines(ctx, d) for d in stale_defers):
        return ctx.finding(call, message)
    timer = decl.name if name_is_unique(ctx, decl) else ctx.fresh_name(call, "timer")
    edits = all_or_none(
        *timer_edits(ctx, loop, declaration, timer, duration, time_pkg, replace=True),
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
    title = "Create the timer once and Reset it"
    if hot and not ctx.at_least(1, 23):
        return ctx.finding(call, message, ctx.fix(title + STALE_VALUE, edits, Safety.UNSAFE))
    return ctx.finding(call, message, ctx.fix(title, edits))


def select_of_timer_channel(use: Node) -> Node | None:
    """The select whose case receives from ``t.C`` at this use of ``t``."""
    selector = use.parent
    if selector is None or selector.type != "selector_expression" or selector.parent is None:
        return None
    return select_of(selector)


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
    ticker = ctx.fresh_name(call, "ticker")
    edits = all_or_none(
        *timer_edits(ctx, loop, statement, ticker, duration, time_pkg, ticker=True),
        Edit(call.start_byte, call.end_byte, f"{ticker}.C".encode()),
    )
    if edits is None:
        return ctx.finding(call, message)
    title = "Create one ticker before the loop and Reset it"
    if not is_positive_constant(ctx, duration, time_pkg):
        title += f" (check: {ctx.text(duration)} is positive; time.Tick returned nil for d <= 0, Reset panics)"
        return ctx.finding(call, message, ctx.fix(title, edits, Safety.UNSAFE))
    if not ctx.at_least(1, 23):
        return ctx.finding(call, message, ctx.fix(title + STALE_VALUE.replace("timer", "ticker"), edits, Safety.UNSAFE))
    return ctx.finding(call, message, ctx.fix(title, edits))


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


def timer_edits(
    ctx: FileContext,
    loop: Node,
    statement: Node,
    name: str,
    duration: Node,
    time_pkg: str,
    replace: bool = False,
    ticker: bool = False,
) -> list[Edit | None]:
    """Make the timer once and restart it at ``statement`` (before it, or in its place with ``replace``).

    The timer is made before the loop only when every entry into the loop
    reaches ``statement`` and ``d`` is known there; otherwise it is made the
    first time ``statement`` runs, so no path gets a timer it did not have.
    """
    anchor = with_label(outermost_loop(loop))
    if reached_every_iteration(statement, loop) and available_before(ctx, duration, anchor, time_pkg):
        first = creation(ctx, loop, name, duration, time_pkg, ticker)
        restart = reset_lines(ctx, name, ctx.text(duration), ticker)
    else:
        first = insert_before(ctx, anchor, lazy_declaration(ctx, name, time_pkg, ticker))
        restart = lazy_lines(ctx, name, ctx.text(duration), time_pkg, ticker)
    if replace:
        text = f"\n{ctx.indent(statement)}".join(restart)
        return [first, Edit(statement.start_byte, statement.end_byte, text.encode())]
    return [first, insert_before(ctx, statement, restart)]


def creation(
    ctx: FileContext, loop: Node, name: str, duration: Node, time_pkg: str, ticker: bool = False
) -> Edit | None:
    """``name := time.NewTimer(d)`` and its deferred Stop, before the outermost loop of the function."""
    constructor = "NewTicker" if ticker else "NewTimer"
    lines = [f"{name} := {time_pkg}.{constructor}({ctx.text(duration)})", f"defer {name}.Stop()"]
    return insert_before(ctx, with_label(outermost_loop(loop)), lines)


def lazy_declaration(ctx: FileContext, name: str, time_pkg: str, ticker: bool = False) -> list[str]:
    """``var name *time.Timer``; before Go 1.23 with a deferred Stop of whatever it holds then."""
    lines = [f"var {name} *{time_pkg}.{'Ticker' if ticker else 'Timer'}"]
    if not ctx.at_least(1, 23):
        # A pending timer is only freed once it fires or is stopped before 1.23.
        lines += ["defer func() {", f"\tif {name} != nil {{", f"\t\t{name}.Stop()", "\t}", "}()"]
    return lines


def lazy_lines(ctx: FileContext, name: str, duration: str, time_pkg: str, ticker: bool = False) -> list[str]:
    """Make the timer the first time through, restart it after that."""
    constructor = "NewTicker" if ticker else "NewTimer"
    restart = reset_lines(ctx, name, duration, ticker)
    return [
        f"if {name} == nil {{",
        f"\t{name} = {time_pkg}.{constructor}({duration})",
        "} else {",
        *(f"\t{line}" for line in restart),
        "}",
    ]


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
