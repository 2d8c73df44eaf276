"""What a loop that starts goroutines is, as far as the source shows.

A semaphore added to such a loop keeps the program's behaviour only in one
shape: the loop walks a finite collection held in memory, the function waits
for every goroutine after the loop anyway, and the goroutines neither wait
on the loop nor on the code after it. Everything else is one of:

- not unbounded at all: the iteration waits for its goroutine, the goroutine
  can start only once, the loop ends right after the ``go``, the loop runs
  over a small literal or a fixed-size array;
- a design decision a semaphore would break (no fix): a loop fed by a stream
  (accept loop, ``for { select }``, ``range ch``), goroutines that live as
  long as the program, a lock held around the loop, goroutines that feed the
  loop or call the function back, another limiter already in the function,
  a shutdown path, goroutines that wait on a channel;
- something a reviewer must check (unsafe fix).

Each answer is a :class:`Verdict` holding the words a reviewer reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from tree_sitter import Node

from gofix_conc import concurrency, goroutines, scopes
from gofix_conc.context import FileContext
from gofix_conc.source import captures, matches
from gofix_conc.types import Types, constant

# Channel operations, each with the channel it uses:
#   ch <- v      <-ch      for v := range ch      close(ch)
SENDS = "(send_statement channel: (_) @ch) @op"
RECEIVES = '(unary_expression operator: "<-" operand: (_) @ch) @op'
RANGES = "(range_clause right: (_) @ch) @op"
CLOSES = '(call_expression function: (identifier) @fn (#eq? @fn "close") arguments: (argument_list . (_) @ch)) @op'

# Calls by method name: x.Wait(), l.Accept(), g.SetLimit(n), s.Acquire(ctx, 1)
METHOD_CALLS = "(call_expression function: (selector_expression operand: (_) @recv field: (field_identifier) @m)) @c"

# Functions whose goroutines must all run within one timeout.
_SHUTDOWN = re.compile(r"(?:^|[a-z_])(?:[Ss]top|[Cc]lose|[Ss]hutdown|[Kk]ill|[Tt]erminate|[Tt]eardown)")
# Goroutines that run as long as the program: syncLoop, watchPods, pollStatus.
_LIFETIME = re.compile(r"(?:Loop|loop)$|^(?:[Ww]atch|[Pp]oll|[Mm]onitor|[Hh]eartbeat|[Kk]eep[Aa]live)")
_DEADLINES = re.compile(r"(?i)deadline|timeout")
_STREAM_CALLS = frozenset({b"Accept", b"AcceptTCP", b"AcceptUnix", b"Scan", b"Next", b"ReadMsg", b"Recv", b"ReadFrom"})
_CONTEXT_WITH_DEADLINE = re.compile(r"^context\.With(?:Timeout|Deadline)(?:Cause)?\(")


class Outcome(Enum):
    NOT_UNBOUNDED = "not unbounded"
    NO_FIX = "no fix"
    UNSAFE = "unsafe"
    SAFE = "safe"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""  # what a reviewer must check (no fix, unsafe)


@dataclass
class Goroutine:
    """What a ``go`` statement runs: the code it runs, seen from the function that starts it."""

    go: Node
    body: Node | None  # the func literal's body, or the body of a callee declared in this file
    arguments: dict[str, Node] = field(default_factory=dict)  # callee parameter -> argument

    def channel_uses(self, ctx: FileContext, pattern: str) -> list[tuple[Node, str]]:
        """Channel operations of the goroutine on channels from outside it: (operation, channel name)."""
        found: list[tuple[Node, str]] = []
        nodes = [self.body] if self.body is not None else []
        literal = goroutines.literal_of(self.go)
        if literal is None:
            nodes.append(self.go)  # the call's arguments: <-ready is evaluated at the go statement
        for node in nodes:
            for op, channel in _operations(pattern, node):
                if node is self.go and self.body is not None and scopes.contains(self.body, op):
                    continue
                name = _outside_channel(ctx, self, channel)
                if name is not None:
                    found.append((op, name))
        return found


def _operations(pattern: str, node: Node) -> list[tuple[Node, Node]]:
    return [(m["op"][0], m["ch"][0]) for m in matches(pattern, node) if "op" in m and "ch" in m]


def _outside_channel(ctx: FileContext, goroutine: Goroutine, channel: Node) -> str | None:
    """The name of a channel the goroutine did not make itself, else None."""
    root = scopes.root_identifier(channel)
    if channel.type == "call_expression":  # <-ctx.Done(), <-time.After(d)
        return ctx.text(channel)
    if root is None:
        return ctx.text(channel)
    if goroutine.body is not None and goroutine.body.parent is not None:
        decl = scopes.resolve(root)
        holder = goroutine.body.parent  # the func literal or the callee's declaration
        if decl is not None and scopes.contains(goroutine.body, decl.node):
            return None  # made inside the goroutine
        if decl is not None and decl.kind == "param" and scopes.contains(holder, decl.node):
            argument = goroutine.arguments.get(decl.name)
            if argument is None:
                return None if goroutines.literal_of(goroutine.go) is not None else ctx.text(channel)
            return ctx.text(argument)
    return ctx.text(channel)


def goroutine_of(ctx: FileContext, go: Node) -> Goroutine:
    literal = goroutines.literal_of(go)
    if literal is not None:
        return Goroutine(go, literal.child_by_field_name("body"))
    call = goroutines.call_of(go)
    callee = goroutines.declared_callee(ctx, go)
    if call is None or callee is None:
        return Goroutine(go, None)
    args = [a for a in call.child_by_field_name("arguments").named_children if a.type != "comment"]  # type: ignore[union-attr]
    return Goroutine(
        go, callee.child_by_field_name("body"), dict(zip(goroutines.parameter_names(callee), args, strict=False))
    )


def loops_around(go: Node) -> list[Node]:
    """The loops of the function around ``go``, innermost first."""
    found = []
    node: Node | None = go
    while node is not None and (node := scopes.enclosing(node, scopes.LOOPS)) is not None:
        found.append(node)
    return found


def clause_of(loop: Node) -> Node | None:
    return next((c for c in loop.named_children if c.type in ("for_clause", "range_clause")), None)


def in_function(node: Node, function: Node | None) -> bool:
    """Whether ``node`` runs as part of ``function`` itself (not in a func literal of its own)."""
    return scopes.enclosing_function(node) == function


# -- not unbounded ------------------------------------------------------------


def not_unbounded(ctx: FileContext, go: Node, types: Types, fixed: Callable[[Node], bool]) -> bool:
    """The loops start at most a handful of these goroutines at a time, or a handful in all.

    ``fixed`` says whether a loop runs a known, small number of times. Every
    loop around the ``go`` must be bounded: fixed, or left right after the
    ``go``, or starting the goroutine in one of its iterations only.
    """
    loops = loops_around(go)
    if waits_in_iteration(go, loops[0]) or returns_after(go) or counted_against_max(ctx, go, loops[0]):
        return True
    left = broken_after(go)
    once = starts_once(ctx, go, loops)
    bounded_up_to = max(loops.index(left) if left is not None else -1, loops.index(once) if once is not None else -1)
    return all(
        i <= bounded_up_to or fixed(loop) or over_small_literal(ctx, loop, types) for i, loop in enumerate(loops)
    )


def counted_against_max(ctx: FileContext, go: Node, loop: Node) -> bool:
    """``if cur >= max { break }; cur++; go run()`` with ``cur--`` when one ends: a limit of its own.

    The iteration compares a counter with a bound before the ``go`` and leaves
    (break, return) when it is reached, counts the goroutine up, and the file
    counts it down somewhere.
    """
    function = scopes.enclosing_function(go)
    earlier = [s for s in _earlier_in_iteration(go, loop) if in_function(s, function)]
    counted = {ctx.text(n.named_children[0]) for n in earlier if n.type == "inc_statement" and n.named_children}
    if not counted:
        return False
    down = {
        ctx.text(n.named_children[0]) for n in captures("(dec_statement) @d", ctx.root).get("d", []) if n.named_children
    }
    for statement in earlier:
        if statement.type != "if_statement":
            continue
        condition = statement.child_by_field_name("condition")
        consequence = statement.child_by_field_name("consequence")
        operator = condition.child_by_field_name("operator") if condition is not None else None
        if condition is None or consequence is None or operator is None or operator.type not in (">=", ">"):
            continue
        counter = ctx.text(condition.child_by_field_name("left"))  # type: ignore[arg-type]
        leaves = any(s.type in ("break_statement", "return_statement") for s in _statements_of(consequence))
        if leaves and counter in counted and counter in down:
            return True
    return False


def _statements_of(block: Node) -> list[Node]:
    lists = [c for c in block.named_children if c.type == "statement_list"]
    return lists[0].named_children if lists else block.named_children


def _earlier_in_iteration(go: Node, loop: Node) -> list[Node]:
    """Statements that run before ``go`` in the same iteration of ``loop``."""
    earlier: list[Node] = []
    child = go
    for ancestor in scopes.ancestors(go):
        if ancestor == loop:
            break
        if ancestor.type == "statement_list":
            earlier += [s for s in ancestor.named_children if s.end_byte <= child.start_byte]
        child = ancestor
    return earlier


def _later_in_iteration(go: Node, loop: Node) -> list[Node]:
    """Statements that run after ``go`` in the same iteration of ``loop``."""
    later: list[Node] = []
    child = go
    for ancestor in scopes.ancestors(go):
        if ancestor == loop:
            break
        if ancestor.type == "statement_list":
            later += [s for s in ancestor.named_children if s.start_byte >= child.end_byte]
        child = ancestor
    return later


def waits_in_iteration(go: Node, loop: Node) -> bool:
    """``go f(); <-done`` or ``wg.Wait()`` before the next iteration: one goroutine at a time.

    Only statements that always run count: a wait inside ``if sequential {...}`` does not.
    """
    later = _later_in_iteration(go, loop)
    if not later:
        return False  # every wait counted below is a statement after the go in the iteration
    function = scopes.enclosing_function(go)
    used = _declarations_in(go)
    made_here = {d for d in used if scopes.contains(loop, d.node)}
    if _hears_back(go, later, made_here):
        return True
    for statement in later:
        waited = _waits_on(statement)
        if waited is None or not in_function(waited, function):
            continue
        if waited.type == "call_expression":
            return True  # wg.Wait(), g.Wait()
        root = scopes.root_identifier(waited)
        decl = scopes.resolve(root) if root is not None else None
        if decl is not None and decl in used:
            return True  # <-done, with done handed to the goroutine
    return False


def _hears_back(go: Node, later: list[Node], made_here: set[scopes.Declaration]) -> bool:
    """The iteration waits for a channel or pipe of its own that the goroutine sends on, closes or writes.

    ``select { case v := <-got: ... }`` with no default, on ``got`` made in the
    iteration and sent on by the goroutine; ``pr, pw := io.Pipe()`` made in the
    iteration, the goroutine closes ``pw`` and the iteration reads ``pr``.
    """
    told = {
        d
        for pattern in (SENDS, CLOSES)
        for _, channel in _operations(pattern, go)
        if (root := scopes.root_identifier(channel)) is not None and (d := scopes.resolve(root)) in made_here
    }
    for call, method in _method_calls(go):
        receiver = call.child_by_field_name("function").child_by_field_name("operand")  # type: ignore[union-attr]
        decl = scopes.resolve(receiver) if receiver is not None and receiver.type == "identifier" else None
        if method in (b"Close", b"CloseWithError") and decl in made_here and decl is not None:
            value = scopes.initial_value(decl)
            pair = decl.construct if decl.construct.type == "short_var_declaration" else None
            right = pair.child_by_field_name("right") if pair is not None else None
            if value is None and right is not None and "Pipe()" in (right.text or b"").decode():
                left = pair.child_by_field_name("left")  # type: ignore[union-attr]
                readers = [n for n in left.named_children if n != decl.node] if left is not None else []
                told |= {d for n in readers if (d := scopes.resolve(n)) is not None}
                for statement in later:
                    uses = [scopes.resolve(i) for i in captures("(identifier) @id", statement).get("id", [])]
                    if any(u is not None and u in told for u in uses):
                        return True
    for statement in later:
        if statement.type != "select_statement" or captures("(default_case) @d", statement).get("d"):
            continue
        for op, channel in _operations(RECEIVES, statement):
            root = scopes.root_identifier(channel)
            if root is not None and scopes.resolve(root) in told and op.parent is not None:
                return True
    return False


def _waits_on(statement: Node) -> Node | None:
    """The ``x.Wait()`` call or the received channel of a statement that is one wait."""
    value: Node | None = None
    if statement.type == "expression_statement" and statement.named_children:
        value = statement.named_children[0]
    elif statement.type in ("short_var_declaration", "assignment_statement"):
        right = statement.child_by_field_name("right")
        value = right.named_children[0] if right is not None and len(right.named_children) == 1 else None
    if value is None:
        return None
    if value.type == "unary_expression" and value.child_by_field_name("operator").type == "<-":  # type: ignore[union-attr]
        return value.child_by_field_name("operand")
    function = value.child_by_field_name("function") if value.type == "call_expression" else None
    field = (
        function.child_by_field_name("field")
        if function is not None and function.type == "selector_expression"
        else None
    )
    return value if field is not None and field.text == b"Wait" else None


def _following(go: Node) -> Node | None:
    holder = go.parent
    later = [s for s in holder.named_children if s.start_byte >= go.end_byte and s.type != "comment"] if holder else []
    return later[0] if later else None


def returns_after(go: Node) -> bool:
    """``go f(); return``: the loop starts no further goroutine."""
    following = _following(go)
    return following is not None and following.type == "return_statement"


def broken_after(go: Node) -> Node | None:
    """The loop ``go f(); break`` leaves (its label's loop, or the innermost loop)."""
    statement = _following(go)
    if statement is None or statement.type != "break_statement":
        return None
    label = next((c for c in statement.named_children if c.type == "label_name"), None)
    for loop in loops_around(go):
        labeled = loop.parent if loop.parent is not None and loop.parent.type == "labeled_statement" else None
        name = labeled.child_by_field_name("label") if labeled is not None else None
        if label is not None and name is not None and name.text == label.text:
            return loop
    if label is not None:
        return None
    # An unlabeled break leaves the innermost for, switch or select around it.
    breakable = scopes.enclosing(
        statement, ("for_statement", "expression_switch_statement", "type_switch_statement", "select_statement")
    )
    return breakable if breakable is not None and breakable.type == "for_statement" else None


def starts_once(ctx: FileContext, go: Node, loops: list[Node]) -> Node | None:
    """The outermost loop in one run of which the goroutine starts once at most.

    ``if i == 0 { go ... }`` on the counter of a loop; ``if n == 1`` with ``n++``
    the only write; ``if x == nil { x = ...; go ... }`` on a variable from outside the loops.
    """
    for ancestor in scopes.ancestors(go):
        if ancestor == loops[-1]:
            return None
        if ancestor.type != "if_statement":
            continue
        consequence = ancestor.child_by_field_name("consequence")
        condition = ancestor.child_by_field_name("condition")
        if consequence is None or condition is None or not scopes.contains(consequence, go):
            continue
        bounded = _unique_comparison(condition, loops) or _set_inside(ctx, condition, consequence, loops)
        if bounded is not None:
            return bounded
    return None


def _unique_comparison(condition: Node, loops: list[Node]) -> Node | None:
    """``i == K`` with i a counter: true in one iteration at most (also as one term of ``a && i == K``)."""
    if condition.type == "binary_expression" and condition.child_by_field_name("operator").type == "&&":  # type: ignore[union-attr]
        for term in (condition.child_by_field_name("left"), condition.child_by_field_name("right")):
            found = _unique_comparison(term, loops) if term is not None else None
            if found is not None:
                return found
        return None
    if condition.type != "binary_expression" or condition.child_by_field_name("operator").type != "==":  # type: ignore[union-attr]
        return None
    sides = [condition.child_by_field_name("left"), condition.child_by_field_name("right")]
    for variable, other in (sides, sides[::-1]):
        if variable is None or other is None or variable.type != "identifier":
            continue
        if other.type != "int_literal" and not (other.type == "identifier" and _is_constant(other)):
            continue
        decl = scopes.resolve(variable)
        if decl is None:
            continue
        for loop in loops:
            clause = clause_of(loop)
            if clause is not None and clause.type == "for_clause" and scopes.contains(clause, decl.node):
                return loop  # for i := 0; ...; i++ { if i == 0 { go ... } }
        outer = loops[-1]
        writes = scopes.writes(decl, outer)
        counts = all(w.parent is not None and w.parent.type == "inc_statement" for w in writes)
        if writes and counts and not scopes.contains(outer, decl.node):
            return outer  # n++ in the loop, if n == 1 { go ... }
    return None


def _is_constant(ident: Node) -> bool:
    decl = scopes.resolve(ident)
    return decl is not None and decl.kind == "const"


def _set_inside(ctx: FileContext, condition: Node, consequence: Node, loops: list[Node]) -> Node | None:
    """``if !started { started = true; go ... }``, ``if x == nil { x = ...; go ... }``: once."""
    target: Node | None = None
    if condition.type == "unary_expression" and condition.child_by_field_name("operator").type == "!":  # type: ignore[union-attr]
        target = condition.child_by_field_name("operand")
    elif condition.type == "binary_expression" and condition.child_by_field_name("operator").type == "==":  # type: ignore[union-attr]
        right = condition.child_by_field_name("right")
        if right is not None and right.type in ("nil", "false"):
            target = condition.child_by_field_name("left")
    root = scopes.root_identifier(target) if target is not None else None
    decl = scopes.resolve(root) if root is not None else None
    if target is None or (decl is not None and scopes.contains(loops[-1], decl.node)):
        return None  # a variable of the iteration starts afresh each time
    assigned = captures("(assignment_statement left: (expression_list . (_) @lhs)) @a", consequence).get("lhs", [])
    return loops[-1] if any(ctx.text(lhs) == ctx.text(target) for lhs in assigned) else None


def over_small_literal(ctx: FileContext, loop: Node, types: Types) -> bool:
    """``for _, x := range []T{a, b, c}`` or over a fixed-size array: a handful of goroutines."""
    clause = clause_of(loop)
    if clause is None or clause.type != "range_clause":
        return False
    ranged = clause.child_by_field_name("right")
    if ranged is None:
        return False
    limit = int(ctx.option("max-pool-size"))
    entry = ranged.child_by_field_name("operand") if ranged.type == "selector_expression" else None
    decl = scopes.resolve(entry) if entry is not None and entry.type == "identifier" else None
    table = next((a for a in scopes.ancestors(decl.node) if a.type == "range_clause"), None) if decl else None
    table = (
        table
        if table is not None and decl is not None and table.child_by_field_name("left") == decl.node.parent
        else None
    )
    if decl is not None and table is not None and table.type == "range_clause" and table.parent is not None:
        return over_small_literal(ctx, table.parent, types)  # c.parts for each c of a fixed table: fixed too
    if ranged.type == "composite_literal":
        body = ranged.child_by_field_name("body")
        return body is not None and len(body.named_children) <= limit
    if ranged.type == "identifier":
        decl = scopes.resolve(ranged)
        value = scopes.initial_value(decl) if decl is not None else None
        function = scopes.enclosing_function(loop)
        if value is not None and value.type == "composite_literal" and decl is not None and function is not None:
            body = value.child_by_field_name("body")
            written = [w for w in scopes.writes(decl, scopes.top_level(function))]
            if body is not None and not written and len(body.named_children) <= limit:
                return True  # names := []string{"a", "b"}, never appended to
    kind = types.of_expression(ranged)
    if kind is not None and types.kind(kind) == "array":
        length = constant(types.underlying(kind).node.child_by_field_name("length"))
        return length is None or length <= limit  # None: a constant declared elsewhere, fixed all the same
    return False


# -- what a semaphore would break ---------------------------------------------


def no_fix_reason(ctx: FileContext, go: Node, outer: Node, types: Types, own: set[str]) -> str | None:
    """Why no semaphore may be added here, or None."""
    function = scopes.enclosing_function(go)
    if function is None:
        return None
    goroutine = goroutine_of(ctx, go)
    recursion = feeds_loop(ctx, go, goroutine, function)
    if recursion is not None:
        return f"the goroutines feed the loop ({recursion}): a semaphore deadlocks once all its slots wait on the loop"
    for loop in loops_around(go):
        stream = stream_of(ctx, loop, go, types)
        if stream is not None:
            return (
                f"the loop is fed by {stream}: concurrency there is the design, and a semaphore would cap it"
                " and block the loop; a limit is a product decision (e.g. netutil.LimitListener)"
            )
    lifetime = lives_long(ctx, goroutine)
    if lifetime is not None:
        return f"the goroutines run as long as the program ({lifetime}): capping them would starve the rest"
    if concurrency.holds_lock(go, function):
        return "the loop holds a lock: a semaphore acquired under it deadlocks if the goroutines take the lock"
    limiter = other_limiter(ctx, function, go, types, own)
    if limiter is not None:
        return f"the function already limits concurrency ({limiter}): a second limit would change the configured one"
    shutdown = shutdown_path(ctx, go, function, goroutine)
    if shutdown is not None:
        return f"{shutdown}: every goroutine must run within one timeout, and a semaphore turns it into many"
    waited = [
        name
        for op, name in goroutine.channel_uses(ctx, RECEIVES)
        if not _is_release(ctx, op, own) and goroutine.body is not None and scopes.contains(goroutine.body, op)
    ]
    waited += [name for _, name in goroutine.channel_uses(ctx, RANGES)]
    if waited:
        return (
            f"the goroutines wait on {waited[0]}: a semaphore would make the loop wait for it too"
            " (a hang or a deadlock when it is fed or closed later)"
        )
    for _, name in goroutine.channel_uses(ctx, SENDS):
        if name in own:
            continue
        if _read_only_after(ctx, name, function, outer) and _unbuffered(ctx, name, function):
            return f"the goroutines send on {name}, read only after the loop: a semaphore would deadlock"
    return None


def _is_release(ctx: FileContext, op: Node, own: set[str]) -> bool:
    channel = op.child_by_field_name("operand")
    return channel is not None and ctx.text(channel) in own


def stream_of(ctx: FileContext, loop: Node, go: Node, types: Types) -> str | None:
    """What feeds a loop that is not a walk over data: an accept loop, a select loop, a channel."""
    clause = clause_of(loop)
    function = scopes.enclosing_function(go)
    body = loop.child_by_field_name("body")
    if clause is not None and clause.type == "range_clause":
        ranged = clause.child_by_field_name("right")
        if ranged is not None:
            kind = types.of_expression(ranged)
            if (kind is not None and types.kind(kind) == "chan") or _is_channel_expression(ctx, ranged):
                return f"the channel {ctx.text(ranged)}"
    condition = clause.child_by_field_name("condition") if clause is not None and clause.type == "for_clause" else None
    if clause is None:
        condition = next((c for c in loop.named_children if c != body), None)
    if body is not None:
        for call, method in _method_calls(body):
            if method in _STREAM_CALLS and in_function(call, function):
                return f"{ctx.text(call.child_by_field_name('function'))}()"  # type: ignore[arg-type]
        for select in captures("(select_statement) @s", body).get("s", []):
            if in_function(select, function):
                return "a select on channels"
        for op, channel in _operations(RECEIVES, body):
            if in_function(op, function) and op.end_byte <= go.start_byte:
                return f"a receive from {ctx.text(channel)}"
    if condition is not None:
        for call, method in _method_calls(condition):
            if method in _STREAM_CALLS:
                return f"{ctx.text(call)}"
    if clause is None and condition is None:
        return "an endless loop"
    return None


def _is_channel_expression(ctx: FileContext, expr: Node) -> bool:
    if expr.type == "call_expression":
        return ctx.text(expr).endswith(".Done()")
    if expr.type == "selector_expression":
        name = expr.child_by_field_name("field")
        return name is not None and name.text == b"C"  # ticker.C
    if expr.type != "identifier":
        return False
    return concurrency.is_channel_variable(expr)


def lives_long(ctx: FileContext, goroutine: Goroutine) -> str | None:
    """A goroutine with an endless loop of its own that waits for events, or named like one."""
    call = goroutines.call_of(goroutine.go)
    function = call.child_by_field_name("function") if call is not None else None
    names = [function] if function is not None and goroutines.literal_of(goroutine.go) is None else []
    if goroutine.body is not None and goroutines.literal_of(goroutine.go) is not None:
        names += [
            c.child_by_field_name("function")
            for c in captures("(call_expression) @c", goroutine.body).get("c", [])
            if in_function(c, goroutine.body.parent)
        ]
    for name in names:
        if name is None:
            continue
        last = name.child_by_field_name("field") if name.type == "selector_expression" else name
        if last is not None and _LIFETIME.search(ctx.text(last)):
            return f"{ctx.text(name)}()"
    if goroutine.body is None:
        return None
    for loop in captures("(for_statement) @l", goroutine.body).get("l", []):
        if clause_of(loop) is not None or any(c.type != "block" for c in loop.named_children):
            continue  # bounded by a clause or a condition
        body = loop.child_by_field_name("body")
        waits = body is not None and (
            captures("(select_statement) @s", body).get("s") or captures(RECEIVES, body).get("op")
        )
        if waits or (body is not None and b"Sleep(" in (body.text or b"")):
            return "an endless loop waiting for events"
    return None


def feeds_loop(ctx: FileContext, go: Node, goroutine: Goroutine, function: Node) -> str | None:
    """The goroutines call the function back, or send on a channel the loop reads."""
    own = scopes.top_level(function)
    own_name = own.child_by_field_name("name")
    if own_name is not None and function == own:
        for call in captures("(call_expression) @c", go).get("c", []):
            callee = call.child_by_field_name("function")
            last = (
                callee.child_by_field_name("field")
                if callee is not None and callee.type == "selector_expression"
                else callee
            )
            if last is not None and last.text == own_name.text:
                return f"they call {ctx.text(own_name)}"
    read_by_loop: set[str] = set()
    for loop in loops_around(go):
        clause = clause_of(loop)
        ranged = clause.child_by_field_name("right") if clause is not None and clause.type == "range_clause" else None
        if ranged is not None:
            read_by_loop.add(ctx.text(ranged))
        for op, channel in _operations(RECEIVES, loop):
            if in_function(op, function):
                read_by_loop.add(ctx.text(channel))
    for _, name in goroutine.channel_uses(ctx, SENDS):
        if name in read_by_loop:
            return f"they send on {name}, which the loop reads"
    return None


def other_limiter(ctx: FileContext, function: Node, go: Node, types: Types, own: set[str]) -> str | None:
    """A semaphore, errgroup limit or worker pool already in the function (not the one this rule adds)."""
    top = scopes.top_level(function)
    for call, method in _method_calls(top):
        if method in (b"SetLimit", b"Acquire", b"TryAcquire"):
            return ctx.text(call)
    text = top.text or b""
    if b"semaphore.NewWeighted" in text:
        return "semaphore.NewWeighted"
    for send in captures("(send_statement channel: (_) @ch value: (composite_literal) @v) @s", top).get("s", []):
        channel = send.child_by_field_name("channel")
        value = send.child_by_field_name("value")
        if channel is None or value is None or ctx.text(channel) in own:
            continue
        if ctx.text(value).replace(" ", "") == "struct{}{}" and _acquires_before_go(send, function):
            return f"{ctx.text(channel)} <- struct{{}}{{}}"
    for other in captures("(go_statement) @go", top).get("go", []):
        if other != go and _is_pool(ctx, other, types):
            return "a worker pool"
    return None


def _acquires_before_go(send: Node, function: Node) -> bool:
    """A token taken by the function in a loop, before a go in the same iteration (not a completion signal).

    ``done <- struct{}{}`` inside a goroutine, or after the work, tells someone
    a goroutine finished: it limits nothing.
    """
    loop = scopes.enclosing(send, scopes.LOOPS)
    if loop is None or scopes.enclosing_function(send) != scopes.enclosing_function(loop):
        return False
    return any(
        g.start_byte >= send.end_byte and scopes.enclosing_function(g) == scopes.enclosing_function(send)
        for g in captures("(go_statement) @go", loop).get("go", [])
    )


def _is_pool(ctx: FileContext, go: Node, types: Types) -> bool:
    """A goroutine that drains a channel it did not make: a worker of a pool."""
    goroutine = goroutine_of(ctx, go)
    return bool(goroutine.channel_uses(ctx, RANGES))


def shutdown_path(ctx: FileContext, go: Node, function: Node, goroutine: Goroutine) -> str | None:
    """A Stop/Close/Shutdown/Kill function, or goroutines sharing one deadline."""
    name = scopes.top_level(function).child_by_field_name("name")
    if name is not None and _SHUTDOWN.search(ctx.text(name)):
        return f"{ctx.text(name)} is a shutdown path"
    for ident in captures("(identifier) @id", go).get("id", []):
        decl = scopes.resolve(ident)
        if decl is None or scopes.contains(go, decl.node):
            continue
        if _DEADLINES.search(decl.name):
            return f"the goroutines share {decl.name}"
        if decl.construct.type == "short_var_declaration":
            right = decl.construct.child_by_field_name("right")
            value = right.named_children[0] if right is not None and len(right.named_children) == 1 else None
            if value is not None and _CONTEXT_WITH_DEADLINE.match(ctx.text(value)):
                return f"the goroutines share the deadline of {decl.name}"
    return None


def _read_only_after(ctx: FileContext, name: str, function: Node, outer: Node) -> bool:
    reads = [
        op
        for pattern in (RECEIVES, RANGES)
        for op, channel in _operations(pattern, function)
        if ctx.text(channel) == name and in_function(op, function)
    ]
    return bool(reads) and all(op.start_byte >= outer.end_byte for op in reads)


def _unbuffered(ctx: FileContext, name: str, function: Node) -> bool:
    for made in captures("(short_var_declaration) @d", function).get("d", []):
        left = made.child_by_field_name("left")
        right = made.child_by_field_name("right")
        if left is None or right is None or ctx.text(left) != name or len(right.named_children) != 1:
            continue
        arguments = right.named_children[0].child_by_field_name("arguments")
        text = ctx.text(right.named_children[0]).replace(" ", "")
        if text.startswith("make(chan") and arguments is not None:
            values = [a for a in arguments.named_children if a.type != "comment"]
            return len(values) == 1 or (len(values) == 2 and ctx.text(values[1]) in ("0",))
    return False


# -- what makes a fix safe ----------------------------------------------------


def unsafe_reason(ctx: FileContext, go: Node, outer: Node, types: Types, own: set[str]) -> str | None:
    """What a reviewer must check before a semaphore here keeps the behaviour; None when nothing."""
    function = scopes.enclosing_function(go)
    if function is None:
        return "check the goroutines"
    if ctx.is_test_file:
        return "test code: check the test does not exercise this concurrency"
    for loop in loops_around(go):
        collection = walked_collection(ctx, loop, types)
        if collection is None:
            return "check the loop walks a bounded collection in memory, not a count of workers or a stream"
    goroutine = goroutine_of(ctx, go)
    if goroutine.body is None and goroutines.literal_of(go) is None:
        for argument in _arguments(go):
            if _is_channel_expression(ctx, argument) or (
                (kind := types.of_expression(argument)) is not None and types.kind(kind) == "chan"
            ):
                return f"check that the goroutines do not wait on {ctx.text(argument)}"
    for op, name in goroutine.channel_uses(ctx, RECEIVES):
        if goroutine.body is None or not scopes.contains(goroutine.body, op):
            return f"the loop receives from {name} at each go statement: check the goroutines do not feed it"
    for _, name in goroutine.channel_uses(ctx, SENDS):
        if name not in own and not has_room_for_every_iteration(ctx, name, function, outer):
            return f"check that nothing waits to read {name} while the loop blocks"
    for _, name in goroutine.channel_uses(ctx, CLOSES):
        return f"check that nothing waits for {name} to be closed while the loop blocks"
    if goroutine.body is not None:
        for call, method in _method_calls(goroutine.body):
            if method == b"Wait" and in_function(call, goroutine.body.parent):
                return f"the goroutines wait ({ctx.text(call)}): check they never wait for one another"
    for loop in loops_around(go):
        body = loop.child_by_field_name("body")
        for op, channel in _operations(SENDS, body) if body is not None else []:
            if in_function(op, function) and ctx.text(channel) not in own:
                return f"check that the loop's send on {ctx.text(channel)} cannot wait for the goroutines"
    if not joined_after(ctx, go, outer, function):
        return "nothing after the loop waits for the goroutines: the function would block until most have finished"
    return None


def _arguments(go: Node) -> list[Node]:
    call = goroutines.call_of(go)
    arguments = call.child_by_field_name("arguments") if call is not None else None
    return [a for a in arguments.named_children if a.type != "comment"] if arguments is not None else []


def walked_collection(ctx: FileContext, loop: Node, types: Types) -> Node | None:
    """The slice, map or array a loop walks (``range xs``, ``i < len(xs)``), else None."""
    clause = clause_of(loop)
    if clause is None:
        return None
    if clause.type == "range_clause":
        ranged = clause.child_by_field_name("right")
    else:
        condition = clause.child_by_field_name("condition")
        right = condition.child_by_field_name("right") if condition is not None else None
        operator = condition.child_by_field_name("operator") if condition is not None else None
        if right is None or operator is None or operator.type != "<" or right.type != "call_expression":
            return None
        if ctx.text(right.child_by_field_name("function")) != "len":  # type: ignore[arg-type]
            return None
        args = right.child_by_field_name("arguments")
        ranged = args.named_children[0] if args is not None and args.named_children else None
    if ranged is None:
        return None
    kind = types.of_expression(ranged)
    if kind is not None and types.kind(kind) in ("slice", "map", "array", "string"):
        return ranged
    return None


def has_room_for_every_iteration(ctx: FileContext, name: str, function: Node, outer: Node) -> bool:
    """``results := make(chan T, len(xs))`` for a loop over ``xs``: no send ever blocks."""
    clause = clause_of(outer)
    ranged = clause.child_by_field_name("right") if clause is not None and clause.type == "range_clause" else None
    if ranged is None:
        return False
    for made in captures("(short_var_declaration) @d", function).get("d", []):
        left, right = made.child_by_field_name("left"), made.child_by_field_name("right")
        if left is None or right is None or ctx.text(left) != name:
            continue
        text = ctx.text(right).replace(" ", "")
        return text.startswith("make(chan") and text.endswith(f",len({ctx.text(ranged)}))")
    return False


def joined_after(ctx: FileContext, go: Node, outer: Node, function: Node) -> bool:
    """After the loop the function waits for these goroutines: ``wg.Wait()`` or receiving their results."""
    used = _declarations_in(go)
    goroutine = goroutine_of(ctx, go)
    sent = {name for _, name in goroutine.channel_uses(ctx, SENDS)}
    later: list[Node] = []
    child = outer.parent if outer.parent is not None and outer.parent.type == "labeled_statement" else outer
    for ancestor in scopes.ancestors(child):
        if ancestor.type == "statement_list":
            later += [s for s in ancestor.named_children if s.start_byte >= child.end_byte]
        if ancestor == function:
            break
        child = ancestor
    for statement in later:
        for call, method in _method_calls(statement):
            receiver = call.child_by_field_name("function").child_by_field_name("operand")  # type: ignore[union-attr]
            root = scopes.root_identifier(receiver) if receiver is not None else None
            decl = scopes.resolve(root) if root is not None else None
            if method == b"Wait" and in_function(call, function) and decl is not None and decl in used:
                return True
        for op, channel in _operations(RECEIVES, statement):
            if in_function(op, function) and ctx.text(channel) in sent:
                return scopes.enclosing(op, scopes.LOOPS) is not None  # every result, not just one
    return False


def _declarations_in(node: Node) -> set[scopes.Declaration]:
    found = set()
    for ident in captures("(identifier) @id", node).get("id", []):
        decl = scopes.resolve(ident)
        if decl is not None and not scopes.contains(node, decl.node):
            found.add(decl)
    return found


def _method_calls(node: Node) -> list[tuple[Node, bytes]]:
    return [(m["c"][0], m["m"][0].text or b"") for m in matches(METHOD_CALLS, node) if "c" in m and "m" in m]
