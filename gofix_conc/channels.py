"""Who sends on, receives from and closes a channel made in a function.

A channel is followed only when the function that makes it
(``ch := make(chan T)``) sees every use of it: sends, receives, ``range``,
``close``, ``len``/``cap``, and goroutines started with it (``go func()
{...}()`` capturing it, ``go func(out chan<- T) {...}(ch)``, ``go
produce(ch)`` of a function of the package, ``g.Go(func() error {...})``).
Anything else (returned, stored, passed to another call, captured by a
function value that may run anywhere, reassigned) *escapes*: code the rule
cannot see may send on it or close it, and the channel is left alone.

On top of that: the goroutines that send on it (:class:`Sender`), whether a
sender closes the channel on every path out of it (an early ``return`` that
skips the ``close``), the loops that consume it until it is closed
(``for v := range ch``, ``for { v, ok := <-ch; if !ok { break } }``) and
whether such a loop has another way out, and the ``WaitGroup`` / errgroup
that joins the senders. Happens-before comes from
:mod:`gofix_conc.concurrency`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tree_sitter import Node

from gofix_conc import concurrency, goroutines, scopes
from gofix_conc.context import FileContext
from gofix_conc.source import captures, matches, spelled

# Calls that end the goroutine or the program from where they stand.
_EXITS = frozenset({b"panic", b"runtime.Goexit", b"os.Exit", b"log.Fatal", b"log.Fatalf", b"log.Fatalln"})
_TEST_EXITS = frozenset({b"Fatal", b"Fatalf", b"FailNow", b"Skip", b"Skipf", b"SkipNow"})
# Statements that break out of the ``for``/``switch``/``select`` around them.
_BREAKABLE = frozenset({"for_statement", "expression_switch_statement", "type_switch_statement", "select_statement"})
_MAX_DEPTH = 2  # go f(ch) where f starts go g(ch): followed this many functions deep
# What follows ``make`` in ``make(chan T)`` / ``make(<-chan T)``: ``(`` and the channel type, with white
# space between (non-ASCII bytes too, in case the grammar takes them for space) or a comment before ``(``.
_MAKE_CHAN = re.compile(rb"[\s\x80-\xff]*(?:/|\([\s\x80-\xff]*(?:chan(?![A-Za-z0-9_])|<-))")
_MADE = scopes.memo()  # file -> its make(chan) calls
_UNWRITTEN = scopes.memo()  # declaring identifier -> whether its function never writes it
_ANALYSED = scopes.memo()  # declaring identifier -> its Channel


@dataclass
class Sender:
    """A goroutine that sends on the channel."""

    spawn: Node  # the go statement or g.Go(...) call, in the channel's function
    body: Node  # the func literal or function declaration the goroutine runs
    name: str  # what the body calls the channel (the variable, or its parameter)
    sends: list[Node] = field(default_factory=list)  # send statements, select sends included
    closes: list[Node] = field(default_factory=list)  # close(ch) calls the goroutine runs
    multiplied: bool = False  # started in a loop or by a callback that may run many times
    in_loop: bool = False  # started in a loop of the channel's function

    @property
    def named(self) -> bool:
        return self.body.type != "func_literal"


@dataclass
class Channel:
    """Everything the channel's function does with one channel variable."""

    decl: scopes.Declaration
    function: Node  # the function (or func literal) that makes the channel
    senders: list[Sender] = field(default_factory=list)
    others: list[Sender] = field(default_factory=list)  # goroutines that use it without sending
    closes: list[Node] = field(default_factory=list)  # every close(ch) call, in senders or not
    receives: list[Node] = field(default_factory=list)  # <-ch and range clauses over ch
    own_sends: list[Node] = field(default_factory=list)  # sends not in a goroutine started here
    escapes: str | None = None  # why code the rule cannot see may use it, or None

    def goroutine_of(self, node: Node) -> Sender | None:
        """The goroutine started here (sending or not) that runs ``node``; None for the function itself."""
        for sender in self.senders + self.others:
            if scopes.contains(sender.body, node):
                inner = concurrency.goroutine_around(node, sender.body)
                if inner is None:
                    return sender
        return None


# -- the channel variable ---------------------------------------------------------


def made(root: Node) -> list[tuple[Node, Node]]:
    """Every ``make(chan T, ...)`` call of the file with its channel type, in source order (memoized per file).

    What the query ``(call_expression function: (identifier) @make (#eq? @make "make")
    arguments: (argument_list . (channel_type) @type)) @call`` captures, found from the
    bytes ``make`` instead of a walk over the whole tree.
    """
    return scopes.remembered(_MADE, root, _made)


def _made(root: Node) -> list[tuple[Node, Node]]:
    found = []
    data = root.text or b""
    for at in spelled(data, b"make"):
        if not _MAKE_CHAN.match(data, at + 4):
            continue  # make([]T), make(map[K]V)
        ident = root.descendant_for_byte_range(at, at + 4)
        call = ident.parent if ident is not None and ident.type == "identifier" else None
        if call is None or call.type != "call_expression" or call.child_by_field_name("function") != ident:
            continue  # make in a comment or a string, or a longer name
        arguments = call.child_by_field_name("arguments")
        if arguments is None or arguments.type != "argument_list" or not arguments.named_children:
            continue
        first = arguments.named_children[0]  # a comment before the type is first too: no match, as in the query
        if first.type == "channel_type":
            found.append((call, first))
    return found


def local_channel(ident: Node) -> scopes.Declaration | None:
    """The local variable ``ident`` names when it is made here with ``make(chan T)``, never reassigned."""
    if ident.type != "identifier":
        return None
    decl = scopes.resolve(ident)
    if decl is None or decl.kind != "var":
        return None
    if scopes.top_level(decl.node).type in ("var_declaration", "const_declaration"):
        return None  # package-level: other functions use it
    value = scopes.initial_value(decl)
    if value is None or value.type != "call_expression":
        return None
    function = value.child_by_field_name("function")
    arguments = value.child_by_field_name("arguments")
    first = arguments.named_children[0] if arguments is not None and arguments.named_children else None
    if function is None or function.text != b"make" or first is None or first.type != "channel_type":
        return None
    if not scopes.remembered(_UNWRITTEN, decl.node, lambda _: _unwritten(decl)):
        return None  # reassigned: which channel a use means depends on the path
    return decl


def _unwritten(decl: scopes.Declaration) -> bool:
    home = scopes.enclosing_function(decl.node)
    return home is not None and not scopes.writes(decl, home)


def analyse(ctx: FileContext, decl: scopes.Declaration) -> Channel:
    """The senders, closes and receives of a local channel (see :func:`local_channel`).

    Memoized per channel: the channel rules share it and only read it.
    """
    return scopes.remembered(_ANALYSED, decl.node, lambda _: _analyse(ctx, decl))


def _analyse(ctx: FileContext, decl: scopes.Declaration) -> Channel:
    home = scopes.enclosing_function(decl.node)
    assert home is not None
    channel = Channel(decl, home)
    _collect(ctx, channel, home, decl, None, 0)
    channel.others = [s for s in channel.senders if not s.sends]
    channel.senders = [s for s in channel.senders if s.sends]
    return channel


def _collect(
    ctx: FileContext,
    channel: Channel,
    scope: Node,
    decl: scopes.Declaration,
    sender: Sender | None,
    depth: int,
) -> None:
    """Sort every use of ``decl`` in ``scope`` (the channel's function, or a sender's function)."""
    for ref in scopes.references(decl, scope):
        if ref == decl.node:
            continue
        if channel.escapes:
            return
        owner = sender
        literal = concurrency.goroutine_around(ref, scope)
        if literal is not None:
            if sender is not None:
                channel.escapes = f"{sender.name} is used by a goroutine the sender starts"
                return
            owner = _sender_for_literal(channel, literal, decl.name)
            if owner is None:
                return
        elif sender is None and (stored := _unseen_literal(ref, scope)) is not None:
            channel.escapes = f"{decl.name} is used by a function value ({_line(stored)}) that may run anywhere"
            return
        _classify(ctx, channel, ref, decl, owner, depth)


def _classify(
    ctx: FileContext, channel: Channel, ref: Node, decl: scopes.Declaration, owner: Sender | None, depth: int
) -> None:
    node, parent = _up(ref)
    name = decl.name
    if parent is None:
        channel.escapes = f"{name} is used in a way the rule does not follow"
        return
    if parent.type == "send_statement" and parent.child_by_field_name("channel") == node:
        (owner.sends if owner is not None else channel.own_sends).append(parent)
        return
    if parent.type == "unary_expression" and parent.child_by_field_name("operator").type == "<-":  # type: ignore[union-attr]
        channel.receives.append(parent)
        return
    if parent.type == "range_clause" and parent.child_by_field_name("right") == node:
        channel.receives.append(parent)
        return
    if parent.type == "binary_expression" and parent.child_by_field_name("operator").type in ("==", "!="):  # type: ignore[union-attr]
        return  # ch != nil
    if parent.type == "argument_list" and parent.parent is not None and parent.parent.type == "call_expression":
        call = parent.parent
        function = call.child_by_field_name("function")
        callee = function.text if function is not None else None
        if callee == b"close":
            channel.closes.append(call)
            if owner is not None:
                owner.closes.append(call)
            return
        if callee in (b"len", b"cap"):
            return
        if call.parent is not None and call.parent.type == "go_statement" and owner is None:
            _go_with(ctx, channel, call.parent, parent, node, depth)
            return
        channel.escapes = f"{name} is passed to {_short(function)}, which may send on it or close it"
        return
    channel.escapes = f"{name} escapes ({_line(parent)}): code the rule cannot see may use it"


def _up(ref: Node) -> tuple[Node, Node | None]:
    node, parent = ref, ref.parent
    while parent is not None and parent.type == "parenthesized_expression":
        node, parent = parent, parent.parent
    return node, parent


def _sender_for_literal(channel: Channel, literal: Node, name: str) -> Sender | None:
    for sender in channel.senders:
        if sender.body == literal:
            return sender
    spawn = concurrency.goroutine_start(literal)
    if spawn is None:
        return None
    sender = Sender(
        spawn, literal, name, multiplied=_multiplied(spawn, channel.function), in_loop=_in_loop(spawn, channel.function)
    )
    channel.senders.append(sender)
    return sender


def _go_with(ctx: FileContext, channel: Channel, go: Node, arguments: Node, argument: Node, depth: int) -> None:
    """``go f(ch)`` / ``go func(out chan<- T) {...}(ch)``: follow the parameter into the function."""
    if depth >= _MAX_DEPTH:
        channel.escapes = f"{channel.decl.name} is handed on through too many goroutines"
        return
    body = goroutines.literal_of(go) or goroutines.declared_callee(ctx, go)
    values = [a for a in arguments.named_children if a.type != "comment"]
    names = goroutines.parameter_names(body) if body is not None else []
    if body is None or body.child_by_field_name("body") is None or argument not in values:
        channel.escapes = f"{channel.decl.name} is passed to a goroutine whose function the rule cannot see"
        return
    position = values.index(argument)
    if position >= len(names) or len(names) != len(values) or names[position] == "_":
        channel.escapes = f"{channel.decl.name} is passed to a goroutine the rule cannot follow"
        return
    param = _parameter(body, names[position])
    if param is None:
        return  # the parameter is never used
    sender = next((s for s in channel.senders if s.body == body and s.spawn == go), None)
    if sender is None:
        sender = Sender(
            go, body, param.name, multiplied=_multiplied(go, channel.function), in_loop=_in_loop(go, channel.function)
        )
        channel.senders.append(sender)
    _collect(ctx, channel, body, param, sender, depth + 1)


def _parameter(function: Node, name: str) -> scopes.Declaration | None:
    params = function.child_by_field_name("parameters")
    body = function.child_by_field_name("body")
    if params is None or body is None:
        return None
    for ident in scopes.named(body, name):
        decl = scopes.resolve(ident)
        if decl is not None and decl.kind == "param" and scopes.contains(params, decl.node):
            return decl
    return None


def _unseen_literal(ref: Node, scope: Node) -> Node | None:
    """A func literal between ``ref`` and ``scope`` that is neither run on the spot nor run at most once."""
    for ancestor in scopes.ancestors(ref):
        if ancestor == scope:
            return None
        if ancestor.type == "func_literal" and not concurrency.runs_at_most_once(ancestor):
            return ancestor
    return None


def _multiplied(spawn: Node, function: Node) -> bool:
    """Whether the go statement may run more than once per call of ``function``."""
    for ancestor in scopes.ancestors(spawn):
        if ancestor == function:
            return False
        if ancestor.type == "for_statement":
            return True
        if ancestor.type == "func_literal" and not concurrency.runs_at_most_once(ancestor):
            return True
    return False


def _in_loop(spawn: Node, function: Node) -> bool:
    return any(a.type == "for_statement" for a in _between(spawn, function))


def _between(node: Node, outer: Node) -> list[Node]:
    found = []
    for ancestor in scopes.ancestors(node):
        if ancestor == outer:
            break
        found.append(ancestor)
    return found


def _short(node: Node | None) -> str:
    return node.text.decode() if node is not None and node.text is not None else "a call"


def _line(node: Node) -> str:
    return f"line {node.start_point.row + 1}"


# -- closing on every path --------------------------------------------------------


def closes_everywhere(sender: Sender) -> Node | None:
    """The first way out of the sender that does not close the channel (None: every way out closes).

    A way out is a ``return`` of the sender's own function, a call that ends
    the goroutine (``runtime.Goexit``, ``t.Fatal``), or the end of its body
    when control can reach it. The channel is closed on that way when a
    ``close(ch)`` statement (or ``defer close(ch)``, or a ``once.Do`` /
    deferred closure holding it) comes before it in the blocks around it.
    """
    for exit_ in exits(sender.body):
        if not _closed_before(exit_, sender):
            return exit_
    return None


def exits(function: Node) -> list[Node]:
    """The ways out of a function: own returns and exiting calls, then its body when its end is reachable."""
    body = function.child_by_field_name("body")
    if body is None:
        return []
    found = [
        r for r in captures("(return_statement) @r", body).get("r", []) if scopes.enclosing_function(r) == function
    ]
    for call in captures("(call_expression function: (_) @f)", body).get("f", []):
        if scopes.enclosing_function(call) != function or scopes.enclosing(call, ("defer_statement",)) is not None:
            continue
        field_ = call.child_by_field_name("field") if call.type == "selector_expression" else None
        if call.text in (b"runtime.Goexit",) or (
            field_ is not None and field_.text in (b"Fatal", b"Fatalf", b"FailNow")
        ):
            found.append(call.parent)  # type: ignore[arg-type]
    if _end_reachable(body):
        found.append(body)
    return sorted(found, key=lambda n: n.start_byte)


def _end_reachable(block: Node) -> bool:
    statements = [s for s in goroutines.statements(block) if s.type != "comment"]
    if not statements:
        return True
    last = statements[-1]
    if last.type in ("return_statement", "goto_statement"):
        return False
    if last.type == "expression_statement" and last.named_children:
        call = last.named_children[0]
        function = call.child_by_field_name("function") if call.type == "call_expression" else None
        if function is not None and function.text in _EXITS:
            return False
    if last.type == "for_statement" and _endless(last):
        return False
    # select {} blocks forever
    return last.type != "select_statement" or any(c.type != "comment" for c in last.named_children)


def _endless(loop: Node) -> bool:
    """``for { ... }`` with no condition and no break out of it; ``for range ticker.C`` / ``time.Tick(d)`` too."""
    clause = next((c for c in loop.named_children if c.type == "range_clause"), None)
    right = clause.child_by_field_name("right") if clause is not None else None
    if right is not None and right.type in ("selector_expression", "call_expression"):
        ticks = right.child_by_field_name("field") if right.type == "selector_expression" else None
        function = right.child_by_field_name("function") if right.type == "call_expression" else None
        if (ticks is not None and ticks.text == b"C") or (function is not None and function.text == b"time.Tick"):
            return not loop_breaks(loop)
    for child in loop.named_children:
        if child.type == "for_clause" and child.child_by_field_name("condition") is None:
            continue  # for i := 0; ; i++
        if child.type not in ("block", "comment"):
            return False
    return not loop_breaks(loop)


def loop_breaks(loop: Node) -> list[Node]:
    """``break`` statements that leave ``loop`` (unlabelled ones of its own, or labelled with its label)."""
    body = loop.child_by_field_name("body")
    if body is None:
        return []
    mine = scopes.enclosing_function(loop)
    return [
        stmt
        for stmt in captures("(break_statement) @b", body).get("b", [])
        if scopes.enclosing_function(stmt) == mine and break_target(stmt) == loop
    ]


def break_target(brk: Node) -> Node | None:
    """The statement a ``break`` leaves: the innermost ``for``/``switch``/``select``, or the one its label names."""
    label = next((c for c in brk.named_children if c.type == "label_name"), None)
    for ancestor in scopes.ancestors(brk):
        if ancestor.type in scopes.FUNCTIONS:
            return None
        if label is None and ancestor.type in _BREAKABLE:
            return ancestor
        if label is not None and ancestor.type == "labeled_statement":
            name = ancestor.child_by_field_name("label")
            if name is not None and name.text == label.text:
                inner = [c for c in ancestor.named_children if c.type not in ("label_name", "comment")]
                return inner[-1] if inner else None
    return None


def never_returns(call: Node) -> bool:
    """A call that does not come back: ``panic``, ``os.Exit``, ``log.Fatal``, ``runtime.Goexit``, ``t.Fatal``."""
    function = call.child_by_field_name("function")
    if function is None:
        return False
    if function.text in _EXITS:
        return True
    field_ = function.child_by_field_name("field") if function.type == "selector_expression" else None
    return field_ is not None and field_.text in _TEST_EXITS


def _label_of(statement: Node) -> str | None:
    parent = statement.parent
    if parent is not None and parent.type == "labeled_statement":
        label = parent.child_by_field_name("label")
        return label.text.decode() if label is not None and label.text is not None else None
    return None


def _closed_before(exit_: Node, sender: Sender) -> bool:
    """Whether a statement that closes the channel runs before ``exit_`` on every path to it."""
    if exit_ == sender.body.child_by_field_name("body"):
        return any(_closes(s, sender) for s in goroutines.statements(exit_))
    child = exit_
    for ancestor in scopes.ancestors(exit_):
        if ancestor.type in ("statement_list", "block"):
            for statement in ancestor.named_children:
                if statement.start_byte >= child.start_byte:
                    break
                if _closes(statement, sender):
                    return True
        if ancestor == sender.body:
            break
        child = ancestor
    return False


def _closes(statement: Node, sender: Sender) -> bool:
    """``close(ch)``, ``defer close(ch)``, ``defer func() { ... close(ch) }()``, ``once.Do(func() { close(ch) })``.

    Also a labelled one (``done: close(ch)``, the target of a ``goto``), and
    an ``if``/``else`` chain each of whose branches closes.
    """
    if statement.type == "labeled_statement":
        inner = [c for c in statement.named_children if c.type not in ("label_name", "comment")]
        return bool(inner) and _closes(inner[-1], sender)
    if statement.type == "if_statement":
        branches = [statement.child_by_field_name("consequence"), statement.child_by_field_name("alternative")]
        return all(b is not None and _branch_closes(b, sender) for b in branches)
    if statement.type not in ("expression_statement", "defer_statement"):
        return False
    return any(scopes.contains(statement, c) and _unconditional_in(c, statement) for c in sender.closes)


def _branch_closes(branch: Node, sender: Sender) -> bool:
    if branch.type == "if_statement":
        return _closes(branch, sender)
    return any(_closes(s, sender) for s in goroutines.statements(branch))


def _unconditional_in(close: Node, statement: Node) -> bool:
    """The close runs whenever ``statement`` (or the closure it runs) runs to its end."""
    for ancestor in scopes.ancestors(close):
        if ancestor == statement:
            return True
        if ancestor.type in (
            "if_statement",
            "for_statement",
            "expression_case",
            "type_case",
            "communication_case",
            "default_case",
        ):
            return False
    return False


# Calls that count a shared number down: n.Add(-1), atomic.AddInt32(&n, -1), atomic.AddUint64(&n, ^uint64(0)).
_COUNTDOWN_CALLS = frozenset({b"Add", b"AddInt32", b"AddInt64", b"AddUint32", b"AddUint64", b"AddUintptr"})


def last_one_closes(sender: Sender) -> bool:
    """Every ``close`` of the sender sits in an ``if`` after the sender counts a shared number down.

    ``if left.Add(-1) == 0 { close(ch) }``, or ``mu.Lock(); left--; last :=
    left == 0; mu.Unlock(); if last { close(ch) }``: the copies of a sender
    started in a loop close the channel once, in the last one to finish.
    """
    if not sender.closes:
        return False
    for close in sender.closes:
        guard = scopes.enclosing(close, ("if_statement",))
        consequence = guard.child_by_field_name("consequence") if guard is not None else None
        if guard is None or consequence is None or not scopes.contains(sender.body, guard):
            return False
        if not any(_counts_down(n) for n in _before(sender.body, consequence.start_byte)):
            return False
    return True


def _before(body: Node, end: int) -> list[Node]:
    found = captures("[(dec_statement) (assignment_statement) (call_expression)] @n", body).get("n", [])
    return [n for n in found if n.start_byte < end and scopes.enclosing_function(n) == body]


def _counts_down(node: Node) -> bool:
    if node.type == "dec_statement":
        return True
    if node.type == "assignment_statement":
        operator = node.child_by_field_name("operator")
        return operator is not None and operator.type == "-="
    function = node.child_by_field_name("function")
    field_ = function.child_by_field_name("field") if function is not None else None
    arguments = node.child_by_field_name("arguments")
    values = [a for a in arguments.named_children if a.type != "comment"] if arguments is not None else []
    if field_ is None or field_.text not in _COUNTDOWN_CALLS or not values or values[-1].text is None:
        return False
    return values[-1].text.startswith((b"-", b"^"))


# -- loops that consume the channel until it is closed -------------------------------


@dataclass(frozen=True)
class ReceiveLoop:
    loop: Node  # the for statement
    channel: Node  # the channel expression it receives from
    until_closed: Node | None  # the ``if !ok { break }`` of a for-ever loop, None for a range


def receive_loop(loop: Node) -> ReceiveLoop | None:
    """``for v := range ch`` or ``for { v, ok := <-ch; if !ok { break } ... }``."""
    clause = next((c for c in loop.named_children if c.type == "range_clause"), None)
    if clause is not None:
        right = clause.child_by_field_name("right")
        while right is not None and right.type == "parenthesized_expression":
            right = right.named_children[0] if right.named_children else None
        return ReceiveLoop(loop, right, None) if right is not None and right.type == "identifier" else None
    if any(c.is_named and c.type not in ("block", "comment") for c in loop.children):
        return None  # a condition or a three-part clause: it can end without the channel
    body = loop.child_by_field_name("body")
    statements = [s for s in goroutines.statements(body) if s.type != "comment"] if body is not None else []
    if not statements:
        return None
    first = statements[0]
    if first.type == "if_statement" and first.child_by_field_name("initializer") is not None:
        received = _receive_ok(first.child_by_field_name("initializer"))  # type: ignore[arg-type]
        check = first
    elif len(statements) > 1 and statements[1].type == "if_statement":
        received = _receive_ok(first)
        check = statements[1]
    else:
        return None
    if received is None or not _leaves_when_not_ok(check, received[1], loop):
        return None
    return ReceiveLoop(loop, received[0], check)


def _receive_ok(statement: Node) -> tuple[Node, str] | None:
    """``v, ok := <-ch`` / ``v, ok = <-ch``: the channel and the name of ``ok``."""
    if statement.type not in ("short_var_declaration", "assignment_statement"):
        return None
    left, right = statement.child_by_field_name("left"), statement.child_by_field_name("right")
    names = [c for c in left.named_children if c.type != "comment"] if left is not None else []
    values = [c for c in right.named_children if c.type != "comment"] if right is not None else []
    if len(names) != 2 or len(values) != 1 or values[0].type != "unary_expression":
        return None
    operator = values[0].child_by_field_name("operator")
    operand = values[0].child_by_field_name("operand")
    if operator is None or operator.type != "<-" or operand is None or operand.type != "identifier":
        return None
    return operand, names[1].text.decode()  # type: ignore[union-attr]


def _leaves_when_not_ok(check: Node, ok: str, loop: Node) -> bool:
    """``if !ok { break }`` (or ``return``) with nothing else in it, and no else."""
    condition = check.child_by_field_name("condition")
    if condition is None or condition.text != f"!{ok}".encode() or check.child_by_field_name("alternative"):
        return False
    consequence = check.child_by_field_name("consequence")
    inner = [s for s in goroutines.statements(consequence) if s.type != "comment"] if consequence else []
    if len(inner) != 1:
        return False
    return inner[0].type == "return_statement" or inner[0] in loop_breaks(loop)


def other_ways_out(found: ReceiveLoop) -> list[Node]:
    """How the loop can end other than by the channel being closed: breaks, returns, gotos, exiting calls."""
    loop = found.loop
    body = loop.child_by_field_name("body")
    if body is None:
        return []
    mine = scopes.enclosing_function(loop)
    skip = found.until_closed
    ways = [b for b in loop_breaks(loop) if skip is None or not scopes.contains(skip, b)]
    for kind in ("return_statement", "goto_statement", "break_statement", "continue_statement"):
        for stmt in captures(f"({kind}) @s", body).get("s", []):
            if scopes.enclosing_function(stmt) != mine or (skip is not None and scopes.contains(skip, stmt)):
                continue
            if kind == "return_statement" or kind == "goto_statement":
                ways.append(stmt)
            elif (
                stmt.named_children
                and stmt.named_children[0].text.decode() != _label_of(loop)  # type: ignore[union-attr]
                and not _labels_inside(stmt, loop)
            ):
                ways.append(stmt)  # break/continue to a loop outside this one
    for call in captures("(call_expression) @c", body).get("c", []):
        if scopes.enclosing_function(call) == mine and never_returns(call):
            ways.append(call)
    return ways


def _labels_inside(stmt: Node, loop: Node) -> bool:
    label = stmt.named_children[0].text
    for ancestor in scopes.ancestors(stmt):
        if ancestor == loop:
            return False
        if ancestor.type == "labeled_statement":
            own = ancestor.child_by_field_name("label")
            if own is not None and own.text == label:
                return True
    return False


# -- joins ---------------------------------------------------------------------------


def group_of(sender: Sender) -> str | None:
    """The WaitGroup (``wg.Done()`` in the sender) or errgroup (``g.Go(...)``) that counts the sender, as written."""
    spawn = sender.spawn
    if spawn.type == "call_expression":
        function = spawn.child_by_field_name("function")
        operand = function.child_by_field_name("operand") if function is not None else None
        return operand.text.decode() if operand is not None and operand.text is not None else None
    if sender.named:
        return None  # wg.Done() on a parameter of the function: not the caller's name
    for call in group_calls(sender.body, "Done"):
        if concurrency.goroutine_around(call, sender.body) is None:
            return _operand(call)
    return None


# Method calls on a group: wg.Done(), wg.Wait(), wg.Add(1), g.Go(f)
GROUP_CALLS = """
(call_expression
  function: (selector_expression operand: (_) @group field: (field_identifier) @method)) @call
"""


def group_calls(within: Node, method: str, group: str | None = None) -> list[Node]:
    """``group.method(...)`` calls under ``within`` (any operand when ``group`` is None)."""
    found = []
    for match in matches(GROUP_CALLS, within):
        call, name = match["call"][0], match["method"][0]
        if name.text == method.encode() and (group is None or _operand(call) == group):
            found.append(call)
    return found


def _operand(call: Node) -> str | None:
    function = call.child_by_field_name("function")
    operand = function.child_by_field_name("operand") if function is not None else None
    return operand.text.decode() if operand is not None and operand.text is not None else None


def waits_before(node: Node, stop: Node, ignore: Callable[[Node], bool] | None = None) -> bool:
    """Whether a statement that waits (``wg.Wait()``, a receive) runs before ``node`` in its blocks, within ``stop``.

    ``ignore`` names statements that do not count, as for :func:`concurrency.joined_between`.
    """
    return any(
        (ignore is None or not ignore(statement)) and concurrency.is_join(statement)
        for statement in scopes.statements_before(node, stop)
    )


def statement_of(call: Node) -> Node | None:
    """The expression or defer statement that is exactly ``call``."""
    parent = call.parent
    if (
        parent is not None
        and parent.type in ("expression_statement", "defer_statement")
        and len(parent.named_children) == 1
    ):
        return parent
    return None


def receives_only_from(statement: Node, channel: Channel) -> bool:
    """A statement (not a loop) whose waits are all receives of single values from ``channel`` itself."""
    if statement.type == "for_statement" or group_calls(statement, "Wait"):
        return False
    receives = captures('(unary_expression operator: "<-" operand: (_) @ch) @r', statement)
    joining = [
        r
        for r, operand in zip(receives.get("r", []), receives.get("ch", []), strict=False)
        if concurrency.is_signal_channel(operand)
    ]
    return bool(joining) and all(r in channel.receives for r in joining)


def sends_once(channel: Channel) -> bool:
    """Whether at most one value is ever sent: one sender started once, with one send not in a loop."""
    if channel.own_sends or len(channel.senders) != 1:
        return False
    sender = channel.senders[0]
    if sender.multiplied or len(sender.sends) != 1:
        return False
    send = sender.sends[0]
    for ancestor in scopes.ancestors(send):
        if ancestor == sender.body:
            return True
        if ancestor.type == "for_statement" or ancestor.type == "func_literal":
            return False
    return False
