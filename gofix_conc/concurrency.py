"""When goroutines run at the same time as other code, as far as the source shows.

There is no happens-before analysis here, only the shapes real code uses:
a goroutine is a func literal started by ``go`` or by ``g.Go(...)``
(``sync.WaitGroup.Go``, errgroup); the code after it runs concurrently until
a join, a statement that waits: ``wg.Wait()``, a receive from a channel a
goroutine can signal on, ``for v := range ch``. Timer channels and calls
(``<-ticker.C``, ``<-ctx.Done()``) are no joins.
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_conc import scopes
from gofix_conc.source import captures, matches

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


def called_on_the_spot(literal: Node) -> bool:
    """``func() {...}()``: the literal runs once, right there."""
    parent = literal.parent
    return parent is not None and parent.type == "call_expression" and parent.child_by_field_name("function") == literal


def goroutine_around(node: Node, stop: Node | None) -> Node | None:
    """The innermost func literal run as a goroutine that holds ``node``, below ``stop``."""
    for ancestor in scopes.ancestors(node):
        if ancestor == stop:
            return None
        if ancestor.type == "func_literal" and goroutine_start(ancestor) is not None:
            return ancestor
    return None


def holds_lock(node: Node, function: Node) -> bool:
    """Whether ``function`` has locked a mutex before ``node`` runs and not unlocked it yet.

    Only the statements of the blocks around ``node`` count, in order:
    ``mu.Lock()`` takes, ``mu.Unlock()`` releases, ``defer mu.Unlock()`` keeps
    the lock to the end; a lock taken and released inside a branch is left alone.
    """
    blocks: list[tuple[Node, Node]] = []
    child = node
    for ancestor in scopes.ancestors(node):
        if ancestor.type == "statement_list":
            blocks.insert(0, (ancestor, child))
        if ancestor == function:
            break
        child = ancestor
    held: set[str] = set()
    for block, inner in blocks:
        for statement in block.named_children:
            if statement.start_byte >= inner.start_byte:
                break
            effect = _lock_effect(statement)
            if effect is not None:
                mutex, locks = effect
                held = held | {mutex} if locks else held - {mutex}
    return bool(held)


def _lock_effect(statement: Node) -> tuple[str, bool] | None:
    """``(mutex, True)`` for ``mu.Lock()``, ``(mutex, False)`` for ``mu.Unlock()``, else None."""
    if statement.type != "expression_statement" or not statement.named_children:
        return None  # defer mu.Unlock() keeps the lock to the end; branches are left alone
    call = statement.named_children[0]
    function = call.child_by_field_name("function") if call.type == "call_expression" else None
    if function is None or function.type != "selector_expression":
        return None
    method, mutex = function.child_by_field_name("field"), function.child_by_field_name("operand")
    if method is None or mutex is None:
        return None
    if method.text in (b"Lock", b"RLock"):
        return mutex.text.decode(), True
    if method.text in (b"Unlock", b"RUnlock"):
        return mutex.text.decode(), False
    return None


def runs_concurrently(use: Node, spawn: Node) -> bool:
    """Whether ``use`` may run after the goroutine starts and before something waits for it."""
    deferred = scopes.enclosing(use, ("defer_statement",), stop=("function_declaration", "method_declaration"))
    if deferred is not None:
        return not joined(spawn)
    if use.start_byte < spawn.end_byte:
        return False
    child = use
    for ancestor in scopes.ancestors(use):
        if ancestor.type == "statement_list":
            for statement in ancestor.named_children:
                if statement.start_byte >= child.start_byte:
                    break
                if statement.start_byte >= spawn.end_byte and is_join(statement):
                    return False
        if (
            ancestor.type == "communication_case"
            and receives_signal(ancestor)
            and ancestor.start_byte >= spawn.end_byte
        ):
            return False  # case v := <-done: the goroutine has signalled
        if ancestor.type in ("function_declaration", "method_declaration"):
            break
        child = ancestor
    return True


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
    """A channel a goroutine may signal on: ``done``, ``s.results``; not ``ticker.C`` or ``ctx.Done()``."""
    while channel.type == "parenthesized_expression" and channel.named_children:
        channel = channel.named_children[0]
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
        if scopes.enclosing_function(clause) == scopes.enclosing_function(statement) and _is_channel(clause):
            return True
    return False


def _is_channel(expr: Node) -> bool:
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
