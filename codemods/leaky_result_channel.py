"""An unbuffered result channel whose receiver can stop waiting: the sender then blocks forever.

## What it does
Finds an unbuffered channel made in a function (`ch := make(chan T)`) that
one goroutine started there sends its result on once (one send, or a send
on each path that is the goroutine's last act: `if err != nil { ch <- r;
return }; ch <- r`), while the function can
stop waiting for it: the only receive is a case of a `select` whose other
case (`<-ctx.Done()`, `<-time.After(d)`, a `default`, another channel) leaves
without receiving (in a waiting loop: leaves the loop), or a `return` comes
between the `go` statement and the receive. Goroutines started in a loop,
each sending once, are reported when only one of them is received from, or
when the receiving loop can be left early. The goroutine may be a func
literal, a local func variable or a function of the package that gets the
channel as an argument (`go fetch(ctx, url, ch)`). The finding is on the
`make(chan ...)` call.

Not reported: buffered channels; a receiver that always receives (no
`return` before the receive, or the other case of the select drains the
channel too, or the select sits in a loop that goes on waiting, or the
other case jumps back before the select with `goto`); a sender
that selects itself (`case ch <- v: case <-ctx.Done():`); a channel that is
closed, ranged over, sent on more than once (a stream), received in another
goroutine or a deferred function, passed to anything but the goroutine,
returned, stored in a field or another variable; a select case on a channel
the sending goroutine itself signals after its send; goroutines started in a
loop of which only some send (`if atomic.AddInt32(&n, 1) == total`). Goroutines started through
`g.Go` (errgroup, `WaitGroup.Go`) are left out.

## Why is this bad?
A send on an unbuffered channel completes only when a receiver takes the
value. Once the function has returned through the timeout or cancellation
path, nothing will ever receive from the channel, so the goroutine blocks in
its send forever, with its stack and everything it references: one leaked
goroutine per timed-out call. Leaked senders like this are the most common
blocking bug in real Go code; they show up as goroutine counts that only go
up.

## Example
```go
func fetch(ctx context.Context, url string) (*Response, error) {
        ch := make(chan result)
        go func() {
                resp, err := get(url)
                ch <- result{resp, err}
        }()
        select {
        case r := <-ch:
                return r.resp, r.err
        case <-ctx.Done():
                return nil, ctx.Err() // the goroutine above blocks forever
        }
}
```

Use instead:
```go
        ch := make(chan result, 1)
```

## What the fix does
Gives the channel a buffer of one (`make(chan T, 1)`): the single send
completes whether or not anyone receives, and the goroutine exits. When the
goroutine is started in a loop of known length (`for _, s := range servers`,
`for i := 0; i < n; i++`), the buffer is the loop's length (`len(servers)`,
`n`), so that every sender can complete.

## Fix safety
With one goroutine sending once, a buffer of one changes a single thing:
the send no longer waits until the receiver has taken the value. The value
still reaches a receiver that receives (a send happens before the receive
that takes it, buffered or not), and no other operation on the channel
exists in the program (it never leaves the function, nobody reads its `len`
or `cap`). So the fix is safe when the goroutine does nothing after its send
(no statement after any of its sends but a `return` of constants, no
deferred call other than a recover handler):
then nobody can observe that the send finished early, except that the
goroutine now exits.

It is unsafe when the goroutine goes on after the send (statements after it,
deferred calls such as `wg.Done()` or `mu.Unlock()`): with the buffer they
run before the receiver has the value, and code that took the send as "the
receiver has it" sees a different order. A buffer of the loop's length for
goroutines started in a loop is unsafe too: the length is evaluated at the
`make`, and a reviewer must check that the loop starts no more goroutines
than that. There is no fix when `len(ch)` or `cap(ch)` is used, when the
loop's length is not known, or when the goroutines are started in nested loops.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import channels, concurrency, goroutines, layout, scopes, statements
from gofix_conc.context import FileContext
from gofix_conc.model import Edit, Finding, Fix, FixKind, Rule, Safety
from gofix_conc.source import captures, spelled

# Statements that leave a select case for good: return, break, goto, and calls that do not come back.
LEAVES = "[(return_statement) (break_statement) (goto_statement) (call_expression)] @leave"
# What a goroutine's `return` after its send may hand back without doing any work (go discards it).
_CONSTANT_VALUES = frozenset({"identifier", "nil", "true", "false", "int_literal", "interpreted_string_literal"})


@dataclass(frozen=True)
class Sender:
    send: Node  # the send statement
    body: Node  # the func literal or declaration running it in the goroutine
    go: Node  # the go statement starting it


@dataclass(frozen=True)
class Leak:
    name: str
    sender: Sender
    receive: Node
    why: str  # how the receiver stops waiting
    loop: Node | None  # the loop starting one sender per iteration, if any
    sizes: list[Node]  # len(ch) and cap(ch) calls
    sends: tuple[Node, ...]  # every send of the goroutine (one per path: each is its last act)


def check(ctx: FileContext) -> Iterator[Finding]:
    # Channels made without a buffer, as the value of a declaration:
    #   ch := make(chan T)    var ch = make(chan T)    ch := make(chan T, 0)
    for call, kind in channels.made(ctx.root):
        if not _unbuffered(call, kind):
            continue  # buffered, or a make(chan<- T) / make(<-chan T)
        function = scopes.enclosing_function(call)
        if function is None or not _may_start_and_receive(function):
            continue  # no goroutine started or no receive in the channel's function: nothing can leak
        decl = _declared(call)
        if decl is None:
            continue  # not the value of a variable of a function
        leak = _leak(ctx, decl, call, function)
        if leak is None:
            continue
        fix, why_not = plan_fix(ctx, call, kind, leak)
        blocked = f"the goroutine sending on {leak.name}"
        if leak.loop is not None:
            blocked = "every goroutine whose send is not received"
        message = f"unbuffered channel {leak.name}: {leak.why}, and {blocked} then blocks forever"
        if why_not:
            message += f" (no fix: {why_not})"
        yield ctx.finding(call, message, fix)


def _may_start_and_receive(function: Node) -> bool:
    """A leak needs a go statement of the channel's function (its sender) and a receive (``<-``) there too."""
    text = function.text or b""
    return b"<-" in text and next(spelled(text, b"go"), None) is not None


def _unbuffered(call: Node, kind: Node) -> bool:
    arguments = call.child_by_field_name("arguments")
    values = [a for a in arguments.named_children if a.type != "comment"] if arguments else []
    if kind.text is None or not kind.text.startswith(b"chan") or kind.text[4:].lstrip().startswith(b"<-"):
        return False  # a send-only or receive-only channel: nobody makes those as result channels
    return len(values) == 1 or (len(values) == 2 and values[1].type == "int_literal" and values[1].text == b"0")


def _declared(call: Node) -> scopes.Declaration | None:
    """The variable ``call`` is the initial value of (``ch := make(...)``, ``var ch = make(...)``)."""
    values = call.parent
    construct = values.parent if values is not None and values.type == "expression_list" else None
    if construct is None or construct.type not in ("short_var_declaration", "var_spec"):
        return None
    if construct.type == "var_spec":
        holder = construct.parent
        while holder is not None and holder.type == "var_spec_list":
            holder = holder.parent
        if holder is None or holder.parent is None or holder.parent.type != "statement_list":
            return None  # a package-level variable
        found = [d for d in scopes.declared_by(holder) if d.construct == construct]
    else:
        found = scopes.declared_by(construct)
    return next((d for d in found if scopes.initial_value(d) == call), None)


# -- who sends, who receives ------------------------------------------------------


def _leak(ctx: FileContext, decl: scopes.Declaration, call: Node, function: Node) -> Leak | None:
    """The single sender, the receive that can be skipped and why; None when the channel is not such a leak."""
    sends: list[Node] = []
    receives: list[Node] = []
    sizes: list[Node] = []
    handed: list[tuple[Node, int]] = []  # (go statement, argument index)
    for ref in scopes.references(decl, function):
        if ref == decl.node:
            continue
        use = _use(ref)
        if use is None:
            return None  # closed, ranged, stored, returned, passed on, written: the receiver may be elsewhere
        kind, node, index = use
        if kind == "send":
            sends.append(node)
        elif kind == "receive":
            receives.append(node)
        elif kind == "size":
            sizes.append(node)
        else:
            handed.append((node, index))
    senders = [_direct_sender(s, function) for s in sends]
    for go, index in handed:
        found = _handed_senders(ctx, go, index, function)
        if found is None:
            return None
        senders += found
    if not senders or any(s is None for s in senders) or len(receives) != 1:
        return None  # no sender of ours, or several receives (the other one may drain it)
    if len(senders) > 1:
        first = senders[0]
        if any(s.go != first.go or s.body != first.body or not _last_act(s) for s in senders):  # type: ignore[union-attr]
            return None  # a stream, or several goroutines
    sends = tuple(s.send for s in senders)  # type: ignore[union-attr]
    sender, receive = senders[-1], receives[0]
    assert sender is not None
    if scopes.enclosing_function(receive) != function or receive.start_byte < sender.go.end_byte:
        return None  # received in another goroutine or a deferred function
    if scopes.contains(sender.go, receive):
        return None
    loops = _loops_between(sender.go, call)
    if len(loops) > 1 or any(scopes.contains(loop, receive) for loop in loops):
        return None  # nested loops of senders, or each iteration receives what it started
    loop = loops[0] if loops else None
    if loop is not None and (len(sends) > 1 or not _unconditional(sender)):
        return None  # how many of the goroutines send is not known (only the last one to finish, only on error)
    why = _skipped(receive, call, sender, loop, function)
    if why is None:
        return None
    return Leak(decl.name, sender, receive, why, loop, sizes, sends)


def _use(ref: Node) -> tuple[str, Node, int] | None:
    """What a use of the channel does: ("send", statement), ("receive", <-ch), ("size", len call), ("go", go, index)."""
    node = ref
    while node.parent is not None and node.parent.type == "parenthesized_expression":
        node = node.parent
    parent = node.parent
    if parent is None:
        return None
    if parent.type == "send_statement" and parent.child_by_field_name("channel") == node:
        return "send", parent, 0
    if parent.type == "unary_expression" and parent.child_by_field_name("operator").type == "<-":  # type: ignore[union-attr]
        return "receive", parent, 0
    if parent.type == "argument_list" and parent.parent is not None and parent.parent.type == "call_expression":
        call = parent.parent
        function = call.child_by_field_name("function")
        arguments = [a for a in parent.named_children if a.type != "comment"]
        if function is not None and function.text in (b"len", b"cap"):
            return "size", call, 0
        if call.parent is not None and call.parent.type == "go_statement" and node in arguments:
            return "go", call.parent, arguments.index(node)
    return None


def _direct_sender(send: Node, function: Node) -> Sender | None:
    """The goroutine of ``function`` that runs a send on the captured channel."""
    literal = scopes.enclosing_function(send)
    if literal is None or literal.type != "func_literal":
        return None
    go = concurrency.goroutine_start(literal)
    if go is None or go.type != "go_statement" or scopes.enclosing_function(go) != function:
        return None  # g.Go, a callback, or a goroutine started by another goroutine
    return Sender(send, literal, go) if _sends_once(send, literal) else None


def _handed_senders(ctx: FileContext, go: Node, index: int, function: Node) -> list[Sender] | None:
    """The sends of ``go f(..., ch, ...)`` on its parameter; None when ``f`` does more with it or is unknown."""
    if scopes.enclosing_function(go) != function:
        return None
    body = goroutines.literal_of(go) or _local_literal(go, function) or goroutines.declared_callee(ctx, go)
    parameter = _parameter(body, index) if body is not None else None
    if body is None or parameter is None:
        return None  # a function of another package, or a variadic parameter
    found = []
    for ref in scopes.references(parameter, body):
        if ref == parameter.node:
            continue
        use = _use(ref)
        if use is None or use[0] != "send" or not _sends_once(use[1], body):
            return None
        found.append(Sender(use[1], body, go))
    return found


def _local_literal(go: Node, function: Node) -> Node | None:
    """The func literal of ``handler := func(...) {...}`` for ``go handler(...)``, when nothing reassigns it."""
    call = goroutines.call_of(go)
    name = call.child_by_field_name("function") if call is not None else None
    decl = scopes.resolve(name) if name is not None and name.type == "identifier" else None
    value = scopes.initial_value(decl) if decl is not None and decl.kind == "var" else None
    if decl is None or value is None or value.type != "func_literal" or scopes.writes(decl, function):
        return None
    return value


def _parameter(function: Node, index: int) -> scopes.Declaration | None:
    params = function.child_by_field_name("parameters")
    position = 0
    for declaration in params.named_children if params is not None else []:
        if declaration.type == "variadic_parameter_declaration":
            return None
        if declaration.type != "parameter_declaration":
            continue
        names = [n for n in declaration.children_by_field_name("name") if n.is_named]
        for name in names or [None]:
            if position == index:
                if name is None or name.text == b"_":
                    return None
                return scopes.Declaration(name.text.decode(), name, "param", declaration)
            position += 1
    return None


def _sends_once(send: Node, body: Node) -> bool:
    """A send the goroutine runs at most once, without a select of its own around it."""
    if scopes.enclosing_function(send) != body:
        return False
    return all(a.type not in ("for_statement", "communication_case") for a in _between(send, body))


def _last_act(sender: Sender) -> bool:
    """The send ends the goroutine: a ``return`` follows it, or it is the last statement of the body.

    A goroutine whose every send is its last act sends at most once
    (``if err != nil { ch <- result{err: err}; return }; ch <- result{v: v}``).
    """
    block = sender.send.parent
    if block is None or block.type != "statement_list":
        return False
    following = [s for s in block.named_children if s.start_byte > sender.send.start_byte and s.type != "comment"]
    if following:
        return following[0].type == "return_statement"
    return block.parent == sender.body.child_by_field_name("body")


def _unconditional(sender: Sender) -> bool:
    """The send is a statement of the goroutine's body, with no return before it: every goroutine sends."""
    block = sender.send.parent
    body = sender.body.child_by_field_name("body")
    if block is None or body is None or block.parent != body:
        return False
    for statement in block.named_children:
        if statement.start_byte >= sender.send.start_byte:
            break
        for ret in captures("(return_statement) @r", statement).get("r", []):
            if scopes.enclosing_function(ret) == sender.body:
                return False
    return True


def _between(node: Node, top: Node) -> Iterator[Node]:
    for ancestor in scopes.ancestors(node):
        if ancestor == top:
            return
        yield ancestor


def _loops_between(go: Node, call: Node) -> list[Node]:
    """The loops around the go statement that do not hold the make: each iteration starts another sender."""
    found = []
    loop = statements.loop_running(go)
    while loop is not None and not scopes.contains(loop, call):
        found.append(loop)
        loop = statements.loop_running(loop)
    return found


# -- how the receiver stops waiting -------------------------------------------------


def _skipped(receive: Node, call: Node, sender: Sender, senders: Node | None, function: Node) -> str | None:
    """How the function can leave without the receive taking every send, or None when it cannot."""
    waiting = statements.loop_running(receive)
    if waiting is not None and scopes.contains(waiting, call):
        waiting = None  # a fresh channel each iteration: the loop's next round does not receive from this one
    case = _case_of(receive)
    if senders is not None and waiting is None:
        return "the goroutines are started in a loop but only one send is received"
    if senders is None and waiting is not None and case is None:
        return None  # one sender received in a loop: not a result channel
    if case is not None:
        why = _select_abandons(case, waiting, sender, function)
        if why is not None:
            return why
    ret = _return_between(senders or sender.go, receive, function)
    if ret is not None:
        return f"the return on line {ret.start_point.row + 1} comes before the receive"
    if waiting is not None and case is None:
        leave = _leave_in(waiting, waiting, function)
        if leave is not None:
            return f"{_what(leave)} leaves the receiving loop early"
    return None


def _case_of(receive: Node) -> Node | None:
    """The select case whose communication is this receive."""
    node = receive
    while node.parent is not None and node.parent.type in ("parenthesized_expression", "receive_statement"):
        node = node.parent
    case = node.parent
    if case is not None and case.type == "communication_case" and case.child_by_field_name("communication") == node:
        return case
    return None


def _select_abandons(case: Node, loop: Node | None, sender: Sender, function: Node) -> str | None:
    """The other case of the select that leaves without receiving (leaves ``loop`` too, when in one)."""
    select = case.parent
    if select is None:
        return None
    for other in select.named_children:
        if other == case or other.type not in ("communication_case", "default_case"):
            continue
        leave = _leave_in(other, loop, function) if loop is not None else None
        if loop is not None and leave is None:
            continue  # the loop goes on waiting
        if loop is None and captures("(goto_statement) @g", other).get("g"):
            leave = _leave_in(other, select, function)
            if leave is None:
                continue  # goto back to a label before the select: it waits again
            return f"the select can take {_describe(other)} instead of the receive ({_what(leave)})"
        if _signalled_by(other, sender):
            continue  # the sender signals that channel itself, after its send has been taken
        if leave is not None:
            return f"the select can take {_describe(other)} and leave the loop ({_what(leave)})"
        return f"the select can take {_describe(other)} instead of the receive"
    return None


def _signalled_by(case: Node, sender: Sender) -> bool:
    """The case waits on a channel the sending goroutine also uses (``close(done)`` after the send)."""
    communication = case.child_by_field_name("communication")
    if communication is None:
        return False
    channel = communication.child_by_field_name("right") if communication.type == "receive_statement" else None
    channel = channel or communication
    operand = channel.child_by_field_name("operand") if channel.type == "unary_expression" else None
    if communication.type == "send_statement":
        operand = communication.child_by_field_name("channel")
    root = scopes.root_identifier(operand) if operand is not None else None
    decl = scopes.resolve(root) if root is not None else None
    return decl is not None and any(r != decl.node for r in scopes.references(decl, sender.body))


def _describe(case: Node) -> str:
    if case.type == "default_case":
        return "its default case"
    communication = case.child_by_field_name("communication")
    if communication is None:
        return "another case"
    if communication.type == "send_statement":
        return f"the send case {communication.text.decode()}"  # type: ignore[union-attr]
    right = communication.child_by_field_name("right") if communication.type == "receive_statement" else communication
    text = right.text.decode() if right is not None and right.text is not None else "another case"
    return text if len(text) <= 40 else "another case"


def _leave_in(node: Node, loop: Node, function: Node) -> Node | None:
    """A statement in ``node`` that leaves ``loop`` (return, a break or goto out of it, panic, t.Fatal)."""
    for leave in captures(LEAVES, node).get("leave", []):
        if scopes.enclosing_function(leave) != function:
            continue
        if leave.type == "return_statement":
            return leave
        if leave.type == "goto_statement":
            label = _goto_target(leave, function)
            if label is None or (not scopes.contains(loop, label) and label.start_byte > loop.start_byte):
                return leave  # a jump forward, out of the loop
            # a jump inside the loop, or back before it: it waits again
        if leave.type == "break_statement":
            target = channels.break_target(leave)
            if target is not None and (target == loop or scopes.contains(target, loop)):
                return leave
        elif leave.type == "call_expression" and channels.never_returns(leave):
            return leave
    return None


def _what(leave: Node) -> str:
    """``the return on line 12``, ``the call on line 40``."""
    word = "call" if leave.type == "call_expression" else leave.type.split("_")[0]
    return f"the {word} on line {leave.start_point.row + 1}"


def _goto_target(goto: Node, function: Node) -> Node | None:
    """The labeled statement ``goto`` jumps to (labels belong to the whole function)."""
    label = next((c for c in goto.named_children if c.type == "label_name"), None)
    for statement in captures("(labeled_statement) @s", function).get("s", []):
        name = statement.child_by_field_name("label")
        same = label is not None and name is not None and name.text == label.text
        if same and scopes.enclosing_function(statement) == function:
            return statement
    return None


def _return_between(start: Node, receive: Node, function: Node) -> Node | None:
    """A return of ``function`` that runs after ``start`` (on a path through it) and before the receive."""
    child = start
    for block in scopes.ancestors(start):
        if block == function:
            break
        if block.type != "statement_list":
            child = block
            continue
        for statement in block.named_children:
            if statement.start_byte < child.end_byte or statement.start_byte >= receive.start_byte:
                continue
            for ret in captures("(return_statement) @r", statement).get("r", []):
                if ret.start_byte >= receive.start_byte or scopes.contains(ret, receive):
                    continue  # return <-ch receives
                if scopes.enclosing_function(ret) == function:
                    return ret
        child = block
    return None


# -- the fix ---------------------------------------------------------------------------


def plan_fix(ctx: FileContext, call: Node, kind: Node, leak: Leak) -> tuple[Fix | None, str | None]:
    """A buffer for every send; or no fix and why."""
    if leak.sizes:
        return None, f"the code reads {leak.sizes[0].text.decode()}, which a buffer changes"  # type: ignore[union-attr]
    if call.start_point.row != call.end_point.row:
        return None, "the make call spans several lines"
    arguments = call.child_by_field_name("arguments")
    values = [a for a in arguments.named_children if a.type != "comment"] if arguments else []
    if leak.loop is None:
        size, safety, note = "1", Safety.SAFE, ""
        after = _work_after(leak.sender, leak.sends)
        if after is not None:
            safety = Safety.UNSAFE
            note = (
                f" (check: the goroutine goes on after the send ({after}); with the buffer that runs before"
                " the receiver has the value)"
            )
    else:
        length = _loop_length(leak.loop, call)
        if length is None:
            return None, "the goroutines are started in a loop whose length is not known at the make"
        size, safety = length, Safety.UNSAFE
        note = f" (check: {length} at the make is at least the number of goroutines the loop starts)"
    if len(values) == 2:
        edit = Edit(values[1].start_byte, values[1].end_byte, size.encode())
    else:
        edit = Edit(kind.end_byte, kind.end_byte, f", {size}".encode())
    padding = layout.realign_comments(ctx.source, [edit])
    if padding is None:
        return None, "trailing comments aligned with the make's line would move"
    return ctx.fix(f"Give {leak.name} a buffer of {size}{note}", [edit, *padding], safety), None


def _work_after(sender: Sender, sends: tuple[Node, ...]) -> str | None:
    """What the goroutine runs after one of its sends (a statement, a deferred call), or None."""
    body = sender.body
    for defer in captures("(defer_statement) @d", body).get("d", []):
        if scopes.enclosing_function(defer) == body and not _recover_only(defer):
            return f"deferred {_short(defer.named_children[0])}"
    for send in sends:
        after = _statement_after(send, body)
        if after is not None:
            return after
    return None


def _statement_after(send: Node, body: Node) -> str | None:
    child = send
    for ancestor in _between(send, body):
        if ancestor.type == "statement_list":
            for statement in ancestor.named_children:
                if statement.start_byte < child.end_byte or statement.type == "comment":
                    continue
                if statement.type == "return_statement":
                    return None if _plain_return(statement) else _short(statement)
                return _short(statement)
        child = ancestor
    return None


def _plain_return(ret: Node) -> bool:
    values = ret.named_children[0].named_children if ret.named_children else []
    return all(v.type in _CONSTANT_VALUES for v in values)


def _recover_only(defer: Node) -> bool:
    """``defer func() { if r := recover(); r != nil {...} }()``: nothing runs unless the goroutine panics."""
    call = defer.named_children[0] if defer.named_children else None
    literal = call.child_by_field_name("function") if call is not None and call.type == "call_expression" else None
    if literal is None or literal.type != "func_literal":
        return False
    body = goroutines.statements(literal.child_by_field_name("body"))  # type: ignore[arg-type]
    code = [s for s in body if s.type != "comment"]
    if len(code) != 1 or code[0].type != "if_statement":
        return False
    header = [code[0].child_by_field_name("initializer"), code[0].child_by_field_name("condition")]
    return any(h is not None and b"recover()" in (h.text or b"") for h in header)


def _short(node: Node) -> str:
    text = (node.text or b"").decode().split("\n")[0].strip()
    return text if len(text) <= 40 else text[:37] + "..."


def _loop_length(loop: Node, call: Node) -> str | None:
    """How many iterations a loop runs, as an expression usable at the make: ``len(xs)``, ``n``."""
    clause = next((c for c in loop.named_children if c.type in ("range_clause", "for_clause")), None)
    if clause is None:
        return None
    if clause.type == "range_clause":
        over = clause.child_by_field_name("right")
        if over is None:
            return None
        if over.type == "int_literal":
            return over.text.decode()  # type: ignore[union-attr]
        if over.type != "identifier" or not _usable_at(over, call):
            return None
        kind = _range_kind(over)
        if kind == "int":
            return over.text.decode()  # type: ignore[union-attr]
        return f"len({over.text.decode()})" if kind == "len" else None  # type: ignore[union-attr]
    init, cond, update = (clause.child_by_field_name(f) for f in ("initializer", "condition", "update"))
    if init is None or cond is None or update is None or update.type != "inc_statement":
        return None
    if init.text is None or not init.text.replace(b" ", b"").endswith(b":=0"):
        return None
    left, right = cond.child_by_field_name("left"), cond.child_by_field_name("right")
    operator = cond.child_by_field_name("operator")
    counter = update.named_children[0] if update.named_children else None
    if left is None or right is None or counter is None or operator is None or operator.type != "<":
        return None
    if left.text != counter.text or not init.text.startswith(left.text):  # type: ignore[union-attr]
        return None
    if right.type == "int_literal" or (
        right.type in ("identifier", "selector_expression") and _visible_at(right, call)
    ):
        return right.text.decode()  # type: ignore[union-attr]
    if right.type == "call_expression" and (right.child_by_field_name("function") or right).text == b"len":
        arguments = right.child_by_field_name("arguments")
        values = arguments.named_children if arguments is not None else []
        if (
            len(values) == 1
            and values[0].type in ("identifier", "selector_expression")
            and _visible_at(values[0], call)
        ):
            return right.text.decode()  # type: ignore[union-attr]
    return None


def _usable_at(expr: Node, call: Node) -> bool:
    """A variable or field (``n``, ``s.items``) usable in place of the make's size."""
    return expr.type in ("identifier", "selector_expression") and _visible_at(expr, call)


def _visible_at(expr: Node, call: Node) -> bool:
    """The variable ``expr`` stands on is declared before the make, in a scope holding it."""
    root = scopes.root_identifier(expr)
    if root is None:
        return False
    decl = scopes.resolve(root)
    if decl is None:
        return root.text not in (b"_",)  # package-level (another file) or a universe name
    if decl.node.start_byte >= call.start_byte:
        return False
    scope = decl.construct.parent
    if decl.kind in ("param", "receiver", "result"):
        scope = scopes.enclosing_function(decl.node)
    return scope is not None and scopes.contains(scope, call)


def _range_kind(ident: Node) -> str | None:
    """``len`` for a variable ranged over by index (slice, array, map, string), ``int`` for a count, else None.

    Functions (range-over-func iterators) and channels have no length; a
    type this file cannot see is not guessed.
    """
    decl = scopes.resolve(ident)
    if decl is None:
        return None
    declared = scopes.declared_type(decl)
    if declared is not None:
        body = scopes.underlying(declared)
        if body is None:
            return None
        if body.type in ("slice_type", "array_type", "map_type"):
            return "len"
        if body.type == "pointer_type" and body.named_children and body.named_children[0].type == "array_type":
            return "len"
        if body.type == "type_identifier" and body.text is not None:
            name = body.text.decode()
            if name == "string":
                return "len"
            return "int" if name.rstrip("0123456789") in ("int", "uint") else None
        return None
    value = scopes.initial_value(decl)
    if value is None:
        return None
    if value.type == "int_literal":
        return "int"
    if value.type == "composite_literal":
        kind = value.child_by_field_name("type")
        return "len" if kind is not None and kind.type in ("slice_type", "array_type", "map_type") else None
    function = value.child_by_field_name("function") if value.type == "call_expression" else None
    if function is not None and function.text in (b"len", b"cap"):
        return "int"
    arguments = value.child_by_field_name("arguments") if function is not None else None
    first = arguments.named_children[0] if arguments is not None and arguments.named_children else None
    if function is not None and function.text == b"make" and first is not None:
        return "len" if first.type in ("slice_type", "map_type") else None
    return None


RULE = Rule(
    id="leaky-result-channel",
    summary="a goroutine sends its result on an unbuffered channel that the receiver can stop waiting on",
    doc=__doc__ or "",
    check=check,
    fix_kind=FixKind.SOMETIMES_UNSAFE,
    triggers=(b"make(chan",),
)
