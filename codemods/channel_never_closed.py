"""A loop that reads a channel until it is closed, fed by goroutines that never close it.

## What it does
Finds a loop that ends only when a channel is closed (`for v := range ch`,
or `for { v, ok := <-ch; if !ok { break } ... }`) over a channel the same
function makes (`ch := make(chan T)`) and hands only to goroutines it starts
(`go func() {...}()`, `go produce(ch)` of a function of the package,
`g.Go(...)`), when none of those goroutines closes the channel on every way
out of it: no `close(ch)` at all, or an early `return` (a `select` case on
`ctx.Done()`, an error) that skips it. The finding is on the loop's `for`.

Not reported: a loop that has another way out (a `break` or `return` on a
count, a value, a `select` on `ctx.Done()` or a done channel); a channel
closed by other code of the function (a closer goroutine after `wg.Wait()`,
a `close` after the join, a `sync.Once`); a sender that closes with `defer`
or on every path (an `if`/`else` closing in each branch, a labelled close a
`goto` jumps to); copies of a sender started in a loop that count a shared
number down and close in the last one (`if left.Add(-1) == 0 { close(ch)
}`); senders that never return (`for { ... }` servers: the
consumer is meant to run forever); the function sending on the channel
itself; and channels the rule cannot see all the uses of: parameters,
fields, package variables, channels returned, stored, passed to other
calls or to function values that may run anywhere.

## Why is this bad?
`range` over a channel stops only when the channel is closed and drained.
When every sender has returned without closing it, nothing will ever send
or close again: the loop blocks forever. In `main` that is the runtime's
"all goroutines are asleep - deadlock!"; anywhere else the consumer
goroutine (and everything it holds) leaks silently, and the code after the
loop never runs.

## Example
```go
results := make(chan Result)
go func() {
        for _, job := range jobs {
                results <- run(job)
        }
}()
for r := range results {
        report(r)
}
```

Use instead:
```go
results := make(chan Result)
go func() {
        defer close(results)
        for _, job := range jobs {
                results <- run(job)
        }
}()
for r := range results {
        report(r)
}
```

## What the fix does
With one sending goroutine started once (a func literal): `defer
close(ch)` as its first statement (so it runs after every other deferred
call of the goroutine, some of which may still send), and a `close(ch)`
the goroutine already has on some paths is removed. With several senders
counted by the same `WaitGroup` (`wg.Done()` in each, `wg.Add` in the
function) or started by the same errgroup (`g.Go`): a closer goroutine
`go func() { wg.Wait(); close(ch) }()` just before the loop. A sender
that is a named function of the file gets `defer close(param)` first in
its body.

## Fix safety
`defer close(ch)` in the only sender is safe when the sender is a func
literal started once, nothing else sends on the channel (the function does
not, no goroutine the sender starts does, no function value it hands out
does) and its existing `close`, if any, was its last statement: once it
returns nothing can send again, so closing then changes nothing but ending
the loop.

Unsafe: the closer goroutine (a sender that calls `Done` before its last
send, or an `Add` after the closer started, would make the send panic on a
closed channel); removing a `close` that stood earlier in the sender (the
consumer now sees the close only when the goroutine returns); a named
function (every other caller's channel is now closed when it returns); a
sender with sends in a function value that may run after it returns.
No fix for several senders with no join, or a join the rule does not see.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from gofix_conc import channels, concurrency, goroutines, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import spelled


def check(ctx: FileContext) -> Iterator[Finding]:
    # The loops that read a channel until it is closed (channels.receive_loop):
    #   for v := range ch {...}    for { v, ok := <-ch; if !ok { break }; ... }
    for found in _loops(ctx):
        loop = found.loop
        decl = channels.local_channel(found.channel)
        if decl is None:
            continue  # a parameter, field or reassigned variable: its producer is out of sight
        if channels.other_ways_out(found):
            continue  # the loop can also end on a count, a value, a done channel
        channel = channels.analyse(ctx, decl)
        if channel.escapes or not channel.senders or channel.own_sends:
            continue  # code out of sight, or the function itself, may close it or send
        consumer = concurrency.goroutine_around(loop, channel.function)
        if any(s.body == consumer for s in channel.senders):
            continue  # the consumer is one of the senders
        if any(channel.goroutine_of(c) not in channel.senders for c in channel.closes):
            continue  # closed by other code: a closer goroutine, the function after a join, a sync.Once
        if any(s.multiplied and channels.last_one_closes(s) for s in channel.senders):
            continue  # the copies of a sender count down a shared number: the last one to finish closes
        skipped = [channels.closes_everywhere(s) for s in channel.senders]
        if any(exit_ is None for exit_ in skipped):
            continue  # a sender closes on every path, or never returns (the loop is meant to run forever)
        message = _message(ctx, found, channel, skipped)
        fix, why = plan_fix(ctx, found, channel)
        if why:
            message += f" (no fix: {why})"
        yield ctx.finding(loop.child(0) or loop, message, fix)


def _loops(ctx: FileContext) -> list[channels.ReceiveLoop]:
    """The receive loops over a channel made by the function they are in, in source order.

    Only those can be reported: the loop's channel is a variable whose value is
    a ``make(chan T)`` of the same function (channels.local_channel), so the
    loop lies in the function holding that call, and it names the variable.
    """
    homes: list[Node] = []
    names: set[bytes] = set()
    for call, _ in channels.made(ctx.root):
        names |= _declared_names(call)
        home = scopes.enclosing_function(call)
        if home is not None and not any(scopes.contains(h, home) for h in homes):
            homes = [h for h in homes if not scopes.contains(home, h)] + [home]
    loops = []
    for home in homes:
        for at in spelled(home.text or b"", b"for"):
            keyword = home.descendant_for_byte_range(home.start_byte + at, home.start_byte + at + 3)
            loop = keyword.parent if keyword is not None and keyword.type == "for" else None
            if loop is None or loop.type != "for_statement":
                continue  # the word in a comment or a string
            found = channels.receive_loop(loop)
            if found is not None and found.channel.text in names:
                loops.append(found)
    return sorted(loops, key=lambda f: f.loop.start_byte)


def _declared_names(made: Node) -> set[bytes]:
    """The names declared with ``made`` among their values (``a, ch := x, make(chan T)``)."""
    values = made.parent
    construct = values.parent if values is not None else None
    if construct is not None and construct.type == "short_var_declaration":
        left = construct.child_by_field_name("left")
        idents = left.named_children if left is not None else []
    elif construct is not None and construct.type == "var_spec":
        idents = construct.children_by_field_name("name")
    else:
        return set()
    return {i.text for i in idents if i.type == "identifier" and i.text is not None}


def _message(
    ctx: FileContext, found: channels.ReceiveLoop, channel: channels.Channel, skipped: list[Node | None]
) -> str:
    name = channel.decl.name
    loop = f"range over {name}" if found.until_closed is None else f"the receive loop on {name}"
    senders = channel.senders
    if len(senders) == 1 and not senders[0].multiplied:
        sender = senders[0]
        where = f"the goroutine started at line {sender.spawn.start_point.row + 1}"
        exit_ = skipped[0]
        assert exit_ is not None
        if not sender.closes:
            return f"{loop} never ends: {where}, its only sender, never closes it"
        how = "ends" if exit_.type == "block" else f"returns at line {exit_.start_point.row + 1}"
        return f"{loop} never ends when {where}, its only sender, {how} without closing it"
    return f"{loop} never ends: none of its senders closes it on every path"


# -- the fix -------------------------------------------------------------------


def plan_fix(ctx: FileContext, found: channels.ReceiveLoop, channel: channels.Channel) -> tuple[Fix | None, str | None]:
    senders = channel.senders
    if len(senders) == 1 and not senders[0].multiplied:
        return _close_in_sender(ctx, channel, senders[0])
    return _closer_goroutine(ctx, found, channel)


def _close_in_sender(
    ctx: FileContext, channel: channels.Channel, sender: channels.Sender
) -> tuple[Fix | None, str | None]:
    if not _in_this_file(ctx, sender.body):
        return None, f"the sender {_callee(sender)} is declared in another file"
    body = sender.body.child_by_field_name("body")
    assert body is not None
    edits: list[Edit] = []
    checks: list[str] = []
    last = _last_statement(body)
    for close in sender.closes:
        at = f"its close({sender.name}) at line {close.start_point.row + 1}"
        statement = channels.statement_of(close)
        if statement is None or not statements.alone_on_its_lines(ctx, statement):
            return None, f"{at} shares its line with other code or a comment"
        if (
            statement.parent is not None
            and len([c for c in statement.parent.named_children if c.type != "comment"]) == 1
        ):
            return None, f"{at} is all its branch does"
        if statement.type == "defer_statement":
            return (
                None,
                f"{at} is a conditional defer: with a second one it would close twice",
            )
        edits.append(statements.delete_lines(ctx, statement))
        if statement != last:
            checks.append(
                f"the close at line {close.start_point.row + 1} moves to the goroutine's return:"
                " the consumer now sees it only once the goroutine has finished what follows it"
            )
    edits.append(goroutines.prepend(ctx, body, [f"defer close({sender.name})"]))
    if sender.named:
        checks.append(
            f"{_callee(sender)} now closes the channel it is given when it returns: other callers must not use it"
            " after the call or close it themselves"
        )
    late = _late_sends(sender)
    if late is not None:
        checks.append(f"the function value at line {late.start_point.row + 1} may send after the goroutine returned")
    message = f"Close {channel.decl.name} when its only sender returns"
    if checks:
        return ctx.fix(f"{message} (check: {'; '.join(checks)})", edits, Safety.UNSAFE), None
    return ctx.fix(message, edits, Safety.SAFE), None


def _closer_goroutine(
    ctx: FileContext, found: channels.ReceiveLoop, channel: channels.Channel
) -> tuple[Fix | None, str | None]:
    groups = {channels.group_of(s) for s in channel.senders}
    if len(groups) != 1 or None in groups:
        return None, "its senders are not joined by one WaitGroup or errgroup"
    group = groups.pop()
    assert group is not None
    if concurrency.goroutine_around(found.loop, channel.function) is not None:
        return None, "the loop runs in a goroutine of its own"
    holder = statements.statement_holding(found.loop)
    if holder is None or holder.parent is None:
        return None, "the loop is not a statement of a block"
    block = holder.parent
    for sender in channel.senders:
        started = next((a for a in [sender.spawn, *scopes.ancestors(sender.spawn)] if a.parent == block), None)
        if started is None or started.end_byte > holder.start_byte:
            return None, "a sender is started after the loop or in another block"
        if sender.spawn.type == "go_statement" and not _added_before(channel.function, group, sender.spawn):
            return None, f"no {group}.Add in the function before the senders start"
    lines = ["go func() {", f"\t{group}.Wait()", f"\tclose({channel.decl.name})", "}()"]
    insert = statements.insert_before(ctx, holder, lines)
    if insert is None:
        return None, "the loop does not start its line"
    message = (
        f"Close {channel.decl.name} once {group}.Wait() returns, in a goroutine started before the loop"
        f" (check: every sender calls Done only after its last send on {channel.decl.name},"
        f" and nothing adds to {group} once the senders are started)"
    )
    return ctx.fix(message, [insert], Safety.UNSAFE), None


def _added_before(function: Node, group: str, spawn: Node) -> bool:
    return any(
        call.start_byte < spawn.start_byte and scopes.enclosing_function(call) == scopes.enclosing_function(spawn)
        for call in channels.group_calls(function, "Add", group)
    )


def _last_statement(block: Node) -> Node | None:
    found = [s for s in goroutines.statements(block) if s.type != "comment"]
    return found[-1] if found else None


def _late_sends(sender: channels.Sender) -> Node | None:
    """A func literal in the sender, not run on the spot, that sends: it may send after the sender returned."""
    for send in sender.sends:
        for ancestor in scopes.ancestors(send):
            if ancestor == sender.body:
                break
            if ancestor.type == "func_literal" and not concurrency.called_on_the_spot(ancestor):
                return ancestor
    return None


def _in_this_file(ctx: FileContext, node: Node) -> bool:
    return scopes.top_level(node).parent == ctx.root


def _callee(sender: channels.Sender) -> str:
    name = sender.body.child_by_field_name("name")
    return name.text.decode() if name is not None and name.text is not None else "function"


RULE = Rule(
    id="channel-never-closed",
    summary="range over a channel whose sending goroutines never close it, so the loop never ends",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    triggers=(b"make(chan",),
)
