"""When goroutines run at the same time as other code, as far as the source shows.

This is the happens-before of the shapes real code uses, not of every
program: a goroutine is a func literal started by ``go`` or by ``g.Go(...)``
(``sync.WaitGroup.Go``, errgroup); the code after it runs concurrently until
a join, a statement that waits: ``wg.Wait()`` (``synctest.Wait()`` too), a
receive from a channel a goroutine can signal on (``<-done``,
``<-chans[i]``), ``for v := range ch``. Timer channels and calls
(``<-ticker.C``, ``<-ctx.Done()``) are no joins. On top of that:

- a goroutine joined in the same iteration that started it does not overlap
  the goroutines of other iterations (``go f(); <-done`` in a loop);
- two goroutines do not overlap when a join of the first comes between their
  starts;
- ``synctest.Run``/``synctest.Test`` return only once every goroutine of
  their bubble has exited: code after them is ordered after those goroutines;
- callbacks that run at most once (``once.Do``, ``t.Run``, ``synctest.Test``,
  ``time.AfterFunc``, ...) do not multiply the goroutines they start;
- a goroutine that takes a token from a channel before a statement and hands
  it on after it, in a ring of channels that goroutines pass it around
  (``<-turn[i]; n++; turn[i+1] <- true``), holds the token there: one
  goroutine at a time.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from tree_sitter import Node

from gofix_conc import scopes
from gofix_conc.source import Source, captures, matches

# Statements that wait for goroutines: wg.Wait(), g.Wait(), a channel receive.
#   wg.Wait()    <-done    v := <-results
JOINS = """
[(call_expression function: (selector_expression field: (field_identifier) @m (#eq? @m "Wait"))) @join
 (unary_expression operator: "<-" operand: (_) @channel) @join]
"""


def goroutine_start(literal: Node) -> Node | None:
    """The ``go`` statement or ``g.Go(...)`` call that runs a func literal in a new goroutine."""
    call = literal.parent
    while call is not None and call.type == "parenthesized_expression":
        call = call.parent
    if call is None:
        return None
    if call.type == "call_expression" and call.child_by_field_name("function") == literal:
        return call.parent if call.parent is not None and call.parent.type == "go_statement" else None
    if call.type == "argument_list" and call.parent is not None:
        function = call.parent.child_by_field_name("function")
        field = function.child_by_field_name("field") if function is not None else None
        if function is not None and function.type == "selector_expression" and field is not None:
            return call.parent if field.text in (b"Go", b"TryGo") else None
    return None


# Where a goroutine may start, read from the text: every go statement begins
# with the keyword ``go`` and every ``g.Go(f)`` names the field ``Go`` or
# ``TryGo``, so a file without these words starts no goroutine. The words are
# matched loosely (in comments, strings and longer words too); the tree says
# which are the keyword or the field. (A literal first character keeps the
# regular expressions fast; what stands before a word is checked after.)
_GO_KEYWORD = re.compile(rb"go(?![A-Za-z0-9_])")
# g.Go(f), g.TryGo(f), g.Go[T](f): the name, then its arguments (after spaces or a comment).
_GO_METHOD = re.compile(rb"Go(?=[ \t\r\n]*[(\[/])")
_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
# Per file, while its Source lives: (go statements, goroutine literals). Weak, so the
# tree is let go of where the engine lets go of the file, not in a rule's check.
_FOUND: weakref.WeakKeyDictionary[Source, tuple[list[Node], list[Node]]] = weakref.WeakKeyDictionary()


def go_statements(source: Source | Node, data: bytes | None = None) -> list[Node]:
    """Every go statement of the file, in source order (the captures of ``(go_statement) @go``).

    Asked with the file's :class:`Source`, the answer is kept while the Source
    lives; asked with its root and text, it is worked out again.
    """
    return _starts(source, data)[0]


def goroutine_literals(source: Source | Node, data: bytes | None = None) -> list[Node]:
    """Every func literal the file runs as a goroutine (:func:`goroutine_start`), in source order."""
    return _starts(source, data)[1]


def outermost(nodes: list[Node]) -> list[Node]:
    """The nodes (in source order) not inside another of them."""
    kept: list[Node] = []
    for node in nodes:
        if not kept or node.start_byte >= kept[-1].end_byte:
            kept.append(node)
    return kept


def _starts(source: Source | Node, data: bytes | None) -> tuple[list[Node], list[Node]]:
    if not isinstance(source, Source):
        return _find_starts(source, data or b"")
    found = _FOUND.get(source)
    if found is None:
        found = _FOUND[source] = _find_starts(source.root, source.data)
    return found


def _find_starts(root: Node, data: bytes) -> tuple[list[Node], list[Node]]:
    statements: list[Node] = []
    literals: list[Node] = []
    words = [w.span() for pattern in (_GO_KEYWORD, _GO_METHOD) for w in pattern.finditer(data)]
    for start, end in words:
        if data[start - 3 : start] == b"Try" and data[start : start + 1] == b"G":
            start -= 3
        if start > 0 and data[start - 1] in _WORD_BYTES:
            continue  # the end of a longer word
        token = root.descendant_for_byte_range(start, end)
        if token is None or token.start_byte != start or token.end_byte != end:
            continue  # part of a comment, a string, a longer token
        parent = token.parent
        if parent is None:
            continue
        if token.type == "go" and parent.type == "go_statement":
            statements.append(parent)
            call = parent.named_children[0] if parent.named_children else None
            function = call.child_by_field_name("function") if call is not None else None
            candidates = [function] if function is not None else []
        elif token.type == "field_identifier" and parent.type == "selector_expression":
            call = parent.parent
            arguments = call.child_by_field_name("arguments") if call is not None else None
            if call is None or call.type != "call_expression" or arguments is None:
                continue
            candidates = []
            for argument in arguments.named_children:
                while argument.type == "parenthesized_expression" and argument.named_children:
                    argument = argument.named_children[0]
                candidates.append(argument)
        else:
            continue
        literals += [c for c in candidates if c.type == "func_literal" and goroutine_start(c) is not None]
    statements.sort(key=lambda n: n.start_byte)
    literals.sort(key=lambda n: n.start_byte)
    return statements, literals


# Functions and methods that call their func-literal argument at most once:
#   once.Do(f)  t.Run(name, f)  synctest.Test(t, f)  time.AfterFunc(d, f)  sync.OnceFunc(f)
_RUNS_ONCE = frozenset({"Do", "Run", "Test", "AfterFunc", "OnceFunc", "OnceValue", "OnceValues"})
# Calls that return only after every goroutine started in their callback has exited.
_BUBBLES = frozenset({b"synctest.Run", b"synctest.Test"})


def called_on_the_spot(literal: Node) -> bool:
    """``func() {...}()``: the literal runs once, right there."""
    parent = literal.parent
    return parent is not None and parent.type == "call_expression" and parent.child_by_field_name("function") == literal


def callback_caller(literal: Node) -> Node | None:
    """The call a func literal is passed to as an argument, if it is."""
    parent = literal.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    if parent is None or parent.type != "argument_list" or parent.parent is None:
        return None
    return parent.parent if parent.parent.type == "call_expression" else None


def runs_at_most_once(literal: Node) -> bool:
    """A func literal called once where it stands, or handed to a function that calls it at most once."""
    if called_on_the_spot(literal):
        return True
    call = callback_caller(literal)
    function = call.child_by_field_name("function") if call is not None else None
    if function is None:
        return False
    name = function.child_by_field_name("field") if function.type == "selector_expression" else function
    return name is not None and name.text is not None and name.text.decode() in _RUNS_ONCE


def goroutine_around(node: Node, stop: Node | None) -> Node | None:
    """The innermost func literal run as a goroutine that holds ``node``, below ``stop``."""
    for ancestor in scopes.ancestors(node):
        if ancestor == stop:
            return None
        if ancestor.type == "func_literal" and goroutine_start(ancestor) is not None:
            return ancestor
    return None


def holds_lock(node: Node, function: Node) -> bool:
    """Whether ``function`` has locked a mutex before ``node`` runs and not unlocked it yet."""
    return bool(held_locks(node, function))


def held_locks(node: Node, function: Node) -> frozenset[str]:
    """The mutexes (as written: ``mu``, ``s.mu``) ``function`` holds when ``node`` runs.

    Only the statements of the blocks around ``node`` count, in order:
    ``mu.Lock()`` takes, ``mu.Unlock()`` releases, ``defer mu.Unlock()`` keeps
    the lock to the end; a lock taken and released inside a branch is left
    alone. The blocks of every func literal up to ``function`` count: this is
    :func:`gofix_conc.locks.held` through literals.
    """
    from gofix_conc import locks  # locks reads goroutine starts from this module

    return frozenset(locks.held(node, function, every_literal=True))


def runs_concurrently(use: Node, spawn: Node) -> bool:
    """Whether ``use`` may run after the goroutine starts and before something waits for it."""
    deferred = scopes.enclosing(use, ("defer_statement",), stop=("function_declaration", "method_declaration"))
    if deferred is not None:
        return not joined(spawn)
    if use.start_byte < spawn.end_byte:
        return False
    return not joined_between(spawn, use)


def joined_between(spawn: Node, later: Node, ignore: Callable[[Node], bool] | None = None) -> bool:
    """Whether a join of the goroutine started at ``spawn`` comes before ``later`` runs.

    ``later`` comes after ``spawn`` in the source; a ``synctest.Run`` holding
    the spawn and not ``later`` is such a join (the bubble's goroutines have
    exited when it returns). ``ignore`` names statements that do not count
    as joins for the caller (a single receive from the channel it studies).
    """
    for call in scopes.ancestors(spawn):
        function = call.child_by_field_name("function") if call.type == "call_expression" else None
        if function is not None and function.text in _BUBBLES and not scopes.contains(call, later):
            return True
    child = later
    for ancestor in scopes.ancestors(later):
        if ancestor.type == "statement_list":
            for statement in ancestor.named_children:
                if statement.start_byte >= child.start_byte:
                    break
                counts = ignore is None or not ignore(statement)
                if statement.start_byte >= spawn.end_byte and counts and is_join(statement):
                    return True
                loop = statement.type == "for_statement" and scopes.contains(statement, spawn)
                if loop and joined_each_iteration(spawn, statement):
                    return True  # go f(); <-done in the loop
        if (
            ancestor.type == "communication_case"
            and receives_signal(ancestor)
            and ancestor.start_byte >= spawn.end_byte
        ):
            return True  # case v := <-done: the goroutine has signalled
        if ancestor.type in ("function_declaration", "method_declaration"):
            break
        child = ancestor
    return False


def overlap(first: Node, second: Node) -> bool:
    """Whether the goroutines started at ``first`` and ``second`` may run at the same time.

    They do not when one was joined before the other started.
    """
    if first.start_byte > second.start_byte:
        first, second = second, first
    return not joined_between(first, second)


def joined_each_iteration(spawn: Node, loop: Node) -> bool:
    """Whether every iteration of ``loop`` waits for the goroutine it started before the next one."""
    child = spawn
    for ancestor in scopes.ancestors(spawn):
        if ancestor == loop:
            return False
        if ancestor.type == "statement_list" and any(
            s.start_byte >= child.end_byte and is_join(s) for s in ancestor.named_children
        ):
            return True
        if ancestor.type in scopes.FUNCTIONS:
            return False
        child = ancestor
    return False


def receives_signal(case: Node) -> bool:
    """A select case that receives from a channel a goroutine may signal on."""
    communication = case.child_by_field_name("communication")
    if communication is None or communication.type == "send_statement":
        return False
    receive = communication.child_by_field_name("right") if communication.type == "receive_statement" else None
    receive = receive or (communication.named_children[0] if communication.named_children else None)
    operand = receive.child_by_field_name("operand") if receive is not None else None
    return operand is not None and is_signal_channel(operand)


def is_signal_channel(channel: Node) -> bool:
    """A channel a goroutine may signal on: ``done``, ``s.results``, ``chans[i]``; not ``ticker.C``, ``ctx.Done()``."""
    while channel.type in ("parenthesized_expression", "index_expression") and channel.named_children:
        channel = channel.child_by_field_name("operand") or channel.named_children[0]
    if channel.type == "identifier":
        return True
    field = channel.child_by_field_name("field") if channel.type == "selector_expression" else None
    return field is not None and field.text != b"C"


def joined(spawn: Node) -> bool:
    """Whether the function waits (wg.Wait, a receive) after starting the goroutine."""
    child = spawn
    for ancestor in scopes.ancestors(spawn):
        later = ancestor.named_children if ancestor.type == "statement_list" else []
        if any(s.start_byte >= child.end_byte and is_join(s) for s in later):
            return True
        if ancestor.type in scopes.FUNCTIONS:
            return False
        child = ancestor
    return False


def is_join(statement: Node) -> bool:
    """A statement that waits for goroutines: Wait(), a receive, ranging over a channel."""
    for match in matches(JOINS, statement):
        join = match["join"][0]
        if scopes.enclosing_function(join) != scopes.enclosing_function(statement):
            continue  # inside a goroutine or callback of its own
        if "channel" not in match or is_signal_channel(match["channel"][0]):
            return True
    for clause in captures("(range_clause right: (_) @ch)", statement).get("ch", []):
        if scopes.enclosing_function(clause) == scopes.enclosing_function(statement) and is_channel_variable(clause):
            return True
    return False


def is_channel_variable(expr: Node) -> bool:
    """A variable declared ``chan T`` or made with ``make(chan T)``."""
    if expr.type != "identifier":
        return False
    decl = scopes.resolve(expr)
    if decl is None:
        return False
    declared = scopes.declared_type(decl)
    if declared is not None:
        return declared.type == "channel_type"
    value = scopes.initial_value(decl)
    return value is not None and value.text is not None and value.text.replace(b" ", b"").startswith(b"make(chan")


# Channel operations as statements of a goroutine, the channel captured:
#   <-turn   v := <-turn   if _, ok := <-turn[i]; !ok {...}   next <- true
TOKEN_RECEIVE = """
(unary_expression operator: "<-" operand: (_) @channel) @receive
"""
TOKEN_SEND = """
(send_statement channel: (_) @channel) @send
"""


def holds_token(node: Node) -> bool:
    """Whether the goroutine running ``node`` holds a token passed around a ring of channels.

    The goroutine received from a channel in a statement before ``node`` (in
    a block around it), some goroutine sends on that channel, and this one
    sends on a channel that some goroutine receives its token from; the
    function itself puts at most one token in, outside loops. Then the
    goroutines take turns: ``<-turn[i]; n++; turn[i+1] <- true``.
    """
    literal = goroutine_around(node, None)
    if literal is None:
        return False
    function = scopes.top_level(literal)
    received, sent = _token_channels(function)
    taken = {_channel_root(c) for c in _receives_before(node, literal)}
    gives = {_channel_root(c) for c in _own(captures(TOKEN_SEND, literal).get("channel", []), literal)}
    if not (taken & sent and gives & received):
        return False
    outside = [
        c
        for c in captures(TOKEN_SEND, function).get("channel", [])
        if goroutine_around(c, None) is None and _channel_root(c) in received | sent
    ]
    return len(outside) <= 1 and not any(scopes.enclosing(c, scopes.LOOPS) for c in outside)


def _token_channels(function: Node) -> tuple[set[str | None], set[str | None]]:
    """The channels goroutines of ``function`` receive from and send on."""
    received: set[str | None] = set()
    sent: set[str | None] = set()
    for kind, into in ((TOKEN_RECEIVE, received), (TOKEN_SEND, sent)):
        for channel in captures(kind, function).get("channel", []):
            if goroutine_around(channel, None) is not None:
                into.add(_channel_root(channel))
    received.discard(None)
    sent.discard(None)
    return received, sent


def _own(nodes: list[Node], literal: Node) -> list[Node]:
    """The nodes run by the goroutine ``literal`` itself, not by a func literal inside it."""
    return [n for n in nodes if scopes.enclosing_function(n) == literal]


def _receives_before(node: Node, literal: Node) -> list[Node]:
    """Channels received from in statements before ``node`` in the blocks around it, within ``literal``."""
    found: list[Node] = []
    child = node
    for ancestor in scopes.ancestors(node):
        if ancestor == literal:
            break
        if ancestor.type == "statement_list":
            for statement in ancestor.named_children:
                if statement.start_byte >= child.start_byte:
                    break
                found += _own(captures(TOKEN_RECEIVE, statement).get("channel", []), literal)
        elif ancestor.type == "if_statement" and child != ancestor.child_by_field_name("initializer"):
            header = ancestor.child_by_field_name("initializer")
            if header is not None:
                found += _own(captures(TOKEN_RECEIVE, header).get("channel", []), literal)
        child = ancestor
    return found


def _channel_root(channel: Node) -> str | None:
    """The variable a channel expression stands on, through one local alias: ``next := chans[i]`` is ``chans``."""
    root = scopes.root_identifier(channel)
    if root is None:
        return None
    decl = scopes.resolve(root)
    value = scopes.initial_value(decl) if decl is not None else None
    if value is not None and value.type in ("index_expression", "selector_expression"):
        aliased = scopes.root_identifier(value)
        if aliased is not None:
            root = aliased
            decl = scopes.resolve(root)
    return f"{root.text.decode() if root.text else ''}@{decl.node.start_byte if decl is not None else -1}"


# -- a shared variable's goroutine and why it races ------------------------------
#
# What non-atomic-counter and concurrent-map-write ask of a write in a
# goroutine: which goroutine runs it (relative to where the variable lives),
# and why another access can run at the same time.


@dataclass(frozen=True)
class Goroutine:
    literal: Node  # the innermost goroutine's func literal holding the write
    spawn: Node  # the outermost go statement / Go call between the write and the variable's scope
    multiplied: str | None  # why several copies may run at once (a loop, a callback), or None


def goroutine_of(node: Node, decl: scopes.Declaration | None, verb: str = "update") -> Goroutine | None:
    """The goroutine ``node`` runs in, when the variable ``decl`` lives outside it (None: package-level)."""
    literal: Node | None = None
    spawn: Node | None = None
    multiplied: str | None = None
    for ancestor in scopes.ancestors(node):
        if decl is not None and scopes.contains(ancestor, decl.node):
            break  # the variable's own scope: the goroutine shares it with this one
        if ancestor.type == "func_literal":
            start = goroutine_start(ancestor)
            if start is not None:
                literal = literal or ancestor
                spawn = start
            elif literal is not None and not runs_at_most_once(ancestor):
                multiplied = multiplied or callback_reason(ancestor, verb)
        elif ancestor.type == "for_statement" and literal is not None and spawn is not None:
            if not joined_each_iteration(spawn, ancestor):
                multiplied = multiplied or f"goroutines started in a loop {verb} it at once"
        elif ancestor.type in ("function_declaration", "method_declaration"):
            break
    if literal is None or spawn is None:
        return None
    return Goroutine(literal, spawn, multiplied)


def callback_reason(literal: Node, verb: str = "update") -> str:
    """What a message says of goroutines started by a callback that may run many times."""
    call = callback_caller(literal)
    function = call.child_by_field_name("function") if call is not None else None
    if function is None or function.text is None:
        return f"goroutines started by a function value that may be called many times {verb} it at once"
    return f"goroutines started by a callback that {function.text.decode()} may call many times {verb} it at once"


def race_reason(node: Node, goroutine: Goroutine, uses: list[Node], shared: bool) -> str | None:
    """Why ``node`` (in ``goroutine``) can run at the same time as one of ``uses``, or None.

    ``uses`` are the other reads and writes of the same variable; ``shared``:
    package-level or a field, whose uses outside this function are unseen.
    """
    token = holds_token(node)
    if goroutine.multiplied and not token:
        return goroutine.multiplied
    frame = scopes.top_level(goroutine.spawn)
    for use in uses:
        if not scopes.contains(frame, use):
            continue  # another function: whether it runs meanwhile is not known here
        if scopes.contains(goroutine.literal, use):
            if goroutine_around(use, goroutine.literal) is None:
                continue  # the same goroutine
            return "another goroutine uses it at the same time"
        owner = goroutine_around(use, None)
        if owner is not None and not scopes.contains(owner, goroutine.literal):
            if token and holds_token(use):
                continue  # both hold the token when they touch it: one at a time
            other = goroutine_start(owner) or owner
            if overlap(spawn_seen_from(use, goroutine), outermost_start(other, frame)):
                return "another goroutine uses it at the same time"
            continue  # one of the two was waited for before the other started
        if runs_concurrently(use, spawn_seen_from(use, goroutine)):
            return "the function uses it while the goroutine may still run"
    if shared and not joined(goroutine.spawn):
        return "the goroutine may outlive the function while other code uses it"
    return None


def spawn_seen_from(use: Node, goroutine: Goroutine) -> Node:
    """The start of the outermost goroutine around the write that does not hold ``use``."""
    spawn = goroutine_start(goroutine.literal) or goroutine.spawn
    for ancestor in scopes.ancestors(goroutine.literal):
        if scopes.contains(ancestor, use):
            break
        if ancestor.type == "func_literal" and (start := goroutine_start(ancestor)) is not None:
            spawn = start
    return spawn


def outermost_start(start: Node, frame: Node) -> Node:
    """The start of the outermost goroutine around ``start`` within ``frame`` (what the parent runs)."""
    for ancestor in scopes.ancestors(start):
        if ancestor == frame:
            break
        if ancestor.type == "func_literal" and (outer := goroutine_start(ancestor)) is not None:
            start = outer
    return start


def runs_alongside(use: Node, spawn: Node) -> bool:
    """Whether ``use`` may run while the goroutine started at ``spawn`` runs.

    After the start and before a join, as :func:`runs_concurrently` reads
    it, or earlier in a loop that starts the goroutine again without waiting
    for it each iteration (the next iteration's ``use`` meets this
    iteration's goroutine).
    """
    if runs_concurrently(use, spawn):
        return True
    for loop in scopes.ancestors(spawn):
        if loop.type in scopes.FUNCTIONS:
            return False
        if loop.type == "for_statement" and scopes.contains(loop, use):
            return not joined_each_iteration(spawn, loop)
    return False
