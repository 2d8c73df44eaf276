"""A channel closed while another goroutine may still send on it.

## What it does
Finds `close(ch)` on a channel the function makes (`ch := make(chan T)`)
when a goroutine started in the function may still send on it at that
moment: the function (the receiver) closes it while a sender is not yet
joined, one of several senders closes it while the others may still run, a
sender started in a loop closes it (its other copies may still send, and
close it again), or another goroutine closes it while the function or a
sender may still send. Senders are the goroutines of the function that send
on the channel, `select` sends included: func literals, and functions of
the package the channel is passed to (`go produce(ch)`). The finding is on
the `close(` call.

Not reported: a `close` after the senders' join (`wg.Wait()`, errgroup's
`Wait()`, a receive from a done channel the senders signal on, a receive
from the channel itself); a closer goroutine that waits first (`go func() {
wg.Wait(); close(ch) }()`); a `defer close(ch)` with a `defer wg.Wait()`
registered after it (defers run last in, first out); a close after a call
given the senders' WaitGroup (`if !waitTimeout(&wg, d) { return }`: the
helper may wait for them); the only sender
closing its own channel; copies of a sender started in a loop that count a
shared number down and close in the last one (`if left.Add(-1) == 0 {
close(ch) }`, a counter under a mutex); a close through a `sync.Once`; a
goroutine that was joined before the close;
channels the rule cannot see all the uses of (parameters, fields, package
variables, channels returned, stored or passed to other calls).

## Why is this bad?
A send on a closed channel panics ("send on closed channel"), and so does
a second `close`. Closing is the sender's job: it tells receivers that
nothing more will come, which only the side that sends can know. When the
receiver closes, or one of several senders does before the others are done,
whichever goroutine sends next crashes the program; the race makes it
rare, timing dependent and hard to reproduce.

## Example
```go
results := make(chan int)
var wg sync.WaitGroup
for _, part := range parts {
        wg.Add(1)
        go func() {
                defer wg.Done()
                results <- sum(part)
                close(results)
        }()
}
```

Use instead:
```go
results := make(chan int)
var wg sync.WaitGroup
for _, part := range parts {
        wg.Add(1)
        go func() {
                defer wg.Done()
                results <- sum(part)
        }()
}
go func() {
        wg.Wait()
        close(results)
}()
```

## What the fix does
Detection, with a fix in one shape: when every sender is counted by the
same `WaitGroup` (or started by the same errgroup) and the function (or a
goroutine of it) calls `wg.Wait()` as a statement after the senders start,
the `close(ch)` (or `defer close(ch)`) statement is removed from where it
is and put right after that `wg.Wait()`, where no sender can run any more.

## Fix safety
The fix is always unsafe. A reviewer must check that each sender calls
`Done` only after its last send, that nothing adds to the group once
`Wait` may have returned, and that moving the close later keeps the
program's order: a consumer that ranged over the channel until the early
close now ends only once every sender is done, and code that ran after the
close (in the goroutine that closed) no longer runs before it. There is no
fix when the function itself reads the channel until it is closed before
`Wait` (that loop would never end), when the senders are not joined by one
group, or when the `Wait` is not a statement of its own (`return
g.Wait()`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from tree_sitter import Node

from gofix_conc import channels, concurrency, goroutines, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import captures, spelled


def check(ctx: FileContext) -> Iterator[Finding]:
    closes = list(spelled(ctx.source.data, b"close"))
    if not closes:
        return  # a finding is a close(ch) call of this file: the builtin's name must be written here
    gos = concurrency.go_statements(ctx.source)
    starts = [*gos, *concurrency.goroutine_literals(ctx.source)]
    if not starts:
        return  # race needs a goroutine (a sender or the closer) started in the channel's function
    seen: set[int] = set()
    # The channels the function makes, the variable captured from its declaration:
    #   ch := make(chan T)    var ch = make(chan T, n)
    for made, _ in channels.made(ctx.root):
        home = scopes.enclosing_function(made)
        if home is None or not any(home.start_byte <= s.start_byte < home.end_byte for s in starts):
            continue  # senders and the closer are goroutines started in the function that makes the channel
        if not _may_close(home, closes, gos):
            continue  # the channel's closes are close calls in its function or in functions it runs with go f(ch)
        decl = _declared(made)
        if decl is None:
            continue  # not a local variable made once and never reassigned
        channel = channels.analyse(ctx, decl)
        if channel.escapes or not (channel.senders or channel.own_sends):
            continue  # code out of sight may send or close, or nothing sends at all
        for close in channel.closes:
            if close.start_byte in seen or scopes.top_level(close).parent != ctx.root:
                continue  # reported for another channel, or in another file
            if _through_once(close):
                continue  # sync.Once: closed once, by design
            reason = race(channel, close)
            if reason is None:
                continue
            seen.add(close.start_byte)
            name = ctx.text(close.child_by_field_name("arguments").named_children[0])  # type: ignore[union-attr]
            message = f"close({name}) while {reason}: a send on a closed channel panics"
            fix, why = plan_fix(ctx, channel, close)
            if why:
                message += f" (no fix: {why})"
            yield ctx.finding(close, message, fix)


def _may_close(home: Node, closes: list[int], gos: list[Node]) -> bool:
    """``close`` is written in ``home``, or ``home`` runs ``go f(...)``, whose function (out of sight) may close."""
    start, end = home.start_byte, home.end_byte
    if any(start <= at < end for at in closes):
        return True
    for go in gos:
        if start <= go.start_byte < end:
            call = go.named_children[0] if go.named_children else None
            function = call.child_by_field_name("function") if call is not None else None
            if function is None or function.type != "func_literal":
                return True
    return False


def _declared(made: Node) -> scopes.Declaration | None:
    holder = made.parent
    if holder is None or holder.type != "expression_list" or holder.parent is None:
        return None
    statement = holder.parent
    if statement.type not in ("short_var_declaration", "var_spec"):
        return None
    names = statement.child_by_field_name("left") if statement.type == "short_var_declaration" else statement
    idents = [n for n in (names.named_children if names is not None else []) if n.type == "identifier"]
    for ident in idents:
        decl = channels.local_channel(ident)
        if decl is not None and scopes.initial_value(decl) == made:
            return decl
    return None


def _through_once(close: Node) -> bool:
    for ancestor in scopes.ancestors(close):
        if ancestor.type == "func_literal":
            call = concurrency.callback_caller(ancestor)
            function = call.child_by_field_name("function") if call is not None else None
            field = function.child_by_field_name("field") if function is not None else None
            return field is not None and field.text == b"Do"
    return False


def race(channel: channels.Channel, close: Node) -> str | None:
    """Why a send on the channel may come after ``close``, or None."""
    closer = channel.goroutine_of(close)
    locks = concurrency.held_locks(close, closer.body if closer is not None else channel.function)
    for sender in channel.senders:
        line = sender.spawn.start_point.row + 1
        if _recovers(sender):
            continue  # the sender recovers from the panic of a send on a closed channel: by design
        if locks and all(concurrency.held_locks(send, sender.body) & locks for send in sender.sends):
            continue  # close and sends under one mutex: the sender checks a closed flag under it, as a rule
        if sender is closer:
            loop = statements.loop_running(sender.spawn)
            if channels.last_one_closes(sender):
                continue  # the copies count down a shared number: the last one to finish closes
            if sender.in_loop and (loop is None or not concurrency.joined_each_iteration(sender.spawn, loop)):
                return f"other copies of the goroutine started in a loop at line {line} may still send on it"
            continue
        if _sends_after(channel, sender, close, closer):
            who = "a sender" if closer in channel.senders else "the receiver"
            return f"the goroutine started at line {line} may still send on it ({who} closes it)"
    if closer is not None:
        for send in channel.own_sends:
            if concurrency.runs_concurrently(send, closer.spawn) and not channels.waits_before(close, closer.body):
                return f"the function may still send on it (line {send.start_point.row + 1})"
    return None


def _recovers(sender: channels.Sender) -> bool:
    """A ``defer func() { ... recover() ... }()`` among the sender's own statements."""
    body = sender.body.child_by_field_name("body")
    return body is not None and any(
        s.type == "defer_statement" and s.text is not None and b"recover()" in s.text
        for s in goroutines.statements(body)
    )


def _sends_after(
    channel: channels.Channel, sender: channels.Sender, close: Node, closer: channels.Sender | None
) -> bool:
    """Whether ``sender`` may still send when ``close`` runs.

    Receiving one value from the channel itself is no join unless only one
    value is ever sent: the senders may have more to send.
    """

    def ignore(statement: Node) -> bool:
        return not once and channels.receives_only_from(statement, channel)

    once = channels.sends_once(channel)
    spawn = sender.spawn
    if closer is None:
        deferred = scopes.enclosing(close, ("defer_statement",)) is not None
        if deferred:
            waits = _deferred_joins(close)
            return any(
                not _joined_at(spawn, exit_, ignore) and not _waits_first(waits, exit_)
                for exit_ in channels.exits(channel.function)
            )
        if close.start_byte < spawn.start_byte:
            return False  # closed before the sender starts: a bug of another kind, or a loop the rule does not order
        if _group_handed_before(sender, close, channel.function):
            return False  # waitTimeout(&wg, d): a helper that may wait for the senders
        return not concurrency.joined_between(spawn, close, ignore)
    if scopes.contains(closer.body, spawn) and close.start_byte < spawn.start_byte:
        return False  # the closer starts the sender after the close (on another path, or a bug of another kind)
    if scopes.contains(spawn, closer.spawn) and all(s.start_byte < closer.spawn.start_byte for s in sender.sends):
        return False  # the sender is done sending when it starts the closer
    if _group_handed_before(sender, close, closer.body):
        return False  # the closer hands the senders' WaitGroup to a helper that may wait for it
    if channels.waits_before(close, closer.body, ignore) or concurrency.joined_between(spawn, close, ignore):
        return False  # the closer waits first (wg.Wait(), a receive), or the sender was joined before it started
    frame = scopes.top_level(spawn)
    return concurrency.overlap(
        concurrency.outermost_start(spawn, frame), concurrency.outermost_start(closer.spawn, frame)
    )


def _group_handed_before(sender: channels.Sender, close: Node, stop: Node) -> bool:
    """A statement before ``close`` (after the sender starts) hands the sender's WaitGroup to a call.

    ``if !waitTimeout(&wg, time.Second) { return }; close(ch)``: the helper
    may wait for the senders; what it does is out of sight, so no finding.
    """
    group = channels.group_of(sender)
    if group is None:
        return False
    names = {group.encode(), b"&" + group.encode()}
    for statement in scopes.statements_before(close, stop):
        if statement.start_byte < sender.spawn.end_byte:
            continue
        for arguments in captures("(call_expression arguments: (argument_list) @a)", statement).get("a", []):
            if any(a.text in names for a in arguments.named_children):
                return True
    return False


def _deferred_joins(close: Node) -> list[Node]:
    """``defer wg.Wait()`` (or a deferred closure that waits) after ``defer close(ch)`` in its block: it runs first."""
    statement = scopes.enclosing(close, ("defer_statement",))
    if statement is None or statement.parent is None or statement.parent.type not in ("statement_list", "block"):
        return []
    found = []
    for later in statement.parent.named_children:
        if later.type != "defer_statement" or later.start_byte <= statement.start_byte:
            continue
        call = later.named_children[0] if later.named_children else None
        literal = call.child_by_field_name("function") if call is not None and call.type == "call_expression" else None
        if literal is not None and literal.type == "func_literal":
            body = literal.child_by_field_name("body")
            if body is not None and any(concurrency.is_join(s) for s in goroutines.statements(body)):
                found.append(later)
        elif concurrency.is_join(later):
            found.append(later)
    return found


def _waits_first(waits: list[Node], exit_: Node) -> bool:
    """A deferred join registered before the function leaves at ``exit_``: it runs before the deferred close."""
    return any(exit_.type == "block" or w.end_byte <= exit_.start_byte for w in waits)


def _joined_at(spawn: Node, exit_: Node, ignore: Callable[[Node], bool]) -> bool:
    """Whether the function has joined the goroutine started at ``spawn`` when it leaves at ``exit_``."""
    if exit_.end_byte <= spawn.start_byte:
        return True  # it leaves before the goroutine starts
    if exit_.type != "block":
        if exit_.type == "return_statement" and not ignore(exit_) and concurrency.is_join(exit_):
            return True  # return <-ch: the deferred close runs after the receive
        return concurrency.joined_between(spawn, exit_, ignore)
    return any(
        s.start_byte >= spawn.end_byte and not ignore(s) and concurrency.is_join(s)
        for s in goroutines.statements(exit_)
    )


# -- the fix -------------------------------------------------------------------


def plan_fix(ctx: FileContext, channel: channels.Channel, close: Node) -> tuple[Fix | None, str | None]:
    groups = {channels.group_of(s) for s in channel.senders}
    if channel.own_sends or len(groups) != 1 or None in groups:
        return None, "its senders are not joined by one WaitGroup or errgroup"
    group = groups.pop()
    assert group is not None
    wait = _wait_statement(channel, group)
    if wait is None:
        return None, f"no {group}.Wait() statement after the senders start"
    if len(channel.closes) > 1:
        return None, f"{channel.decl.name} is closed in more than one place"
    statement = channels.statement_of(close)
    if statement is None or not ctx.source.starts_line(statement.start_byte):
        return None, "the close is part of a larger statement"
    trailing = _trailing_comment(ctx, statement)
    if trailing is None:
        return None, "the close shares its line with other code"
    if statement.parent is None or statement.parent.type not in ("statement_list", "block"):
        return None, "the close is not a statement of a block"
    if channel.goroutine_of(wait) is None and any(
        channel.goroutine_of(r) is None and r.start_byte < wait.start_byte for r in channel.receives
    ):
        return None, f"the function reads {channel.decl.name} before {group}.Wait(): with a later close it would block"
    end = ctx.source.data.find(b"\n", wait.end_byte)
    if end < 0:
        return None, "the Wait is on the last line"
    name = channel.decl.name
    indent = ctx.indent(wait)
    moved = f"{indent}close({name}){trailing}\n"
    edits = [statements.delete_lines(ctx, statement), Edit(end + 1, end + 1, moved.encode())]
    message = (
        f"Move close({name}) after {group}.Wait() (check: every sender calls Done only after its last send on"
        f" {name}, nothing adds to {group} once Wait may return, and whatever waited for the early close"
        " can wait for every sender)"
    )
    return ctx.fix(message, edits, Safety.UNSAFE), None


def _trailing_comment(ctx: FileContext, statement: Node) -> str | None:
    """``""`` when nothing follows the statement on its line, `` // why`` for a comment, None for code."""
    data = ctx.source.data
    end = data.find(b"\n", statement.end_byte)
    rest = data[statement.end_byte : end if end >= 0 else len(data)].strip()
    if not rest:
        return ""
    sibling = statement.next_sibling
    if sibling is not None and sibling.type == "comment" and sibling.end_byte - sibling.start_byte == len(rest):
        return " " + rest.decode()
    return None


def _wait_statement(channel: channels.Channel, group: str) -> Node | None:
    """``group.Wait()`` as a statement of the function (or of a goroutine that sends nothing), after every sender."""
    last = max(s.spawn.end_byte for s in channel.senders)
    for call in channels.group_calls(channel.function, "Wait", group):
        statement = channels.statement_of(call)
        if statement is None or statement.type != "expression_statement" or call.start_byte < last:
            continue
        owner = channel.goroutine_of(call)
        if owner in channel.senders or statements.loop_running(statement) is not None:
            continue
        if scopes.enclosing_function(call) not in (channel.function, owner.body if owner else None):
            continue  # inside a callback
        return statement
    return None


RULE = Rule(
    id="close-while-sending",
    summary="close of a channel while another goroutine may still send on it, which panics",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.UNSAFE,
    triggers=(b"make(chan",),
)
