"""What a Go function body does about panics: recovers, handles them on purpose, wants the crash, or cannot panic;
and what a recovered panic in a goroutine would leave undone (its hand-overs, and who waits for them).

Read within the body's package (:class:`gofix_conc.package.File`, whose memo
keeps the answers per node). A deferred call recovers when it is a func
literal that calls ``recover()`` itself, a function of the package that does,
or a helper named in ``helpers`` (by its text, ``safe.Recover``, or import
path and name); ``KNOWN_HELPERS`` recover without configuration.
"""

from __future__ import annotations

from tree_sitter import Node

from gofix_conc import concurrency, goroutines, scopes
from gofix_conc.imports import default_name, imports
from gofix_conc.package import File, Lazy, callee_bodies, in_file, is_channel, is_package, remembered, text
from gofix_conc.source import Source, captures, matches

# A call of recover, whose enclosing function decides whether it recovers:
#   recover()
RECOVER_CALLS = '(call_expression function: (identifier) @f (#eq? @f "recover")) @call'

# Calls, by the name they call:  f(x)   x.f(y)
CALLS = """
[
  (call_expression function: (identifier) @name) @call
  (call_expression function: (selector_expression field: (field_identifier) @name)) @call
]
"""

# Ways out of a loop or a goroutine that skip what follows:
#   return   goto L   break   runtime.Goexit()   t.FailNow()
EXITS = "[(return_statement) (goto_statement) (break_statement)] @exit"

SERVE_LOOPS = frozenset({"Serve", "ServeTLS", "ListenAndServe", "ListenAndServeTLS"})
PROCESS_EXITS = frozenset({"Exit", "Fatal", "Fatalf", "Fatalln"})
BREAKABLE = frozenset({"for_statement", "expression_switch_statement", "type_switch_statement", "select_statement"})
KNOWN_HELPERS = (
    "k8s.io/apimachinery/pkg/util/runtime.HandleCrash",
    "k8s.io/apimachinery/pkg/util/runtime.HandleCrashWithContext",
)


def calls_in(file: File, body: Node) -> dict[str, list[Node]]:
    """CALLS captured in ``body``, once per file (several questions go through the same calls). Read only."""
    return remembered(file, "calls", body, lambda: captures(CALLS, body))


def own_statements(body: Node) -> list[Node]:
    return [s for s in goroutines.statements(body) if s.type != "comment"]


def outside_literals(body: Node, nodes: list[Node]) -> list[Node]:
    """The nodes that run as part of ``body`` itself, not in a func literal nested in it."""
    return [n for n in nodes if scopes.enclosing_function(n) == body.parent]


# -- protection -------------------------------------------------------------


def may_recover(source: Source, siblings: Lazy, helpers: frozenset[str]) -> bool:
    """Whether some file of the package writes ``recover`` or the name of a helper (see :func:`defers_recover`).

    A deferred call recovers through a ``recover()`` in a func literal or a
    function of the package, or by naming a helper (``safe.Recover``, whose
    name ends the helper's text): without these words in any file the
    package can hold, nothing it runs is protected or handles panics.
    """
    words = [b"recover", *(str(h).rsplit(".", 1)[-1].encode() for h in helpers)]
    return any(word in source.data for word in words) or siblings.holds_any(words)  # texts, not parsed


def is_protected(file: File, helpers: frozenset[str], body: Node) -> bool:
    """A top-level defer recovers, or the body only defers calls and then calls a protected function."""
    if has_deferred_recover(file, helpers, body):
        return True
    rest = [s for s in own_statements(body) if s.type != "defer_statement"]
    return len(rest) == 1 and delegates_to_protected(file, helpers, rest[0])


def has_deferred_recover(file: File, helpers: frozenset[str], body: Node) -> bool:
    return any(defers_recover(file, helpers, s) for s in own_statements(body) if s.type == "defer_statement")


def defers_recover(file: File, helpers: frozenset[str], defer: Node) -> bool:
    call = next((c for c in defer.named_children if c.type == "call_expression"), None)
    function = call.child_by_field_name("function") if call is not None else None
    if function is None:
        return False
    if function.type == "func_literal":
        return calls_recover(function)
    if is_configured_helper(file, helpers, function):
        return True
    bodies = callee_bodies(file, function)
    return bodies is not None and all(calls_recover(b.parent) for b in bodies if b.parent is not None)


def calls_recover(function: Node) -> bool:
    """``function`` itself calls recover (a call in a nested func literal recovers nothing)."""
    calls = captures(RECOVER_CALLS, function).get("call", [])
    return any(scopes.enclosing_function(c) == function for c in calls if scopes.resolve(c.named_children[0]) is None)


def is_configured_helper(file: File, helpers: frozenset[str], function: Node) -> bool:
    """The deferred function is listed in ``helpers`` (or known): by its text, or as package path + name."""
    if text(function) in helpers:
        return True
    operand = function.child_by_field_name("operand") if function.type == "selector_expression" else None
    if operand is None or not is_package(file, operand):
        return False
    name = text(function.child_by_field_name("field"))
    imported = next(i for i in imports(file.source) if i.local_name == text(operand))
    return f"{default_name(imported.path)}.{name}" in helpers or f"{imported.path}.{name}" in helpers


def delegates_to_protected(file: File, helpers: frozenset[str], statement: Node) -> bool:
    """``f(a, b.c)`` with f protected: nothing else in the goroutine can panic in practice."""
    call = statement.named_children[0] if statement.type == "expression_statement" else None
    if call is None or call.type != "call_expression":
        return False
    arguments = call.child_by_field_name("arguments")
    simple = ("identifier", "selector_expression", "int_literal", "interpreted_string_literal", "true", "false", "nil")
    if arguments is None or any(a.type not in simple for a in arguments.named_children):
        return False
    bodies = callee_bodies(file, call.child_by_field_name("function"))  # type: ignore[arg-type]
    # One level only: the callee itself must defer the recover (no chains, no recursion).
    return bodies is not None and all(has_deferred_recover(file, helpers, b) for b in bodies)


def handles_panics(file: File, helpers: frozenset[str], body: Node, depth: int) -> bool:
    """A working recover deferred anywhere in the body, or in a package function it calls.

    Whoever wrote one thought about panics here: a recover per item in a loop,
    a deferred closure that cleans up and panics again on purpose, a crash
    handler such as ``HandleCrash``. A second wrapper around that would only
    hide the crash the code asks for. ``defer recover()`` and the like recover
    nothing and do not count.
    """
    return remembered(file, f"handles{depth}", body, lambda: _find_handled_panics(file, helpers, body, depth))


def _find_handled_panics(file: File, helpers: frozenset[str], body: Node, depth: int) -> bool:
    data = body.text  # a defer statement spells its keyword: no query over a body without the word
    defers = captures("(defer_statement) @d", body).get("d", []) if data is None or b"defer" in data else []
    if any(defers_recover(file, helpers, d) for d in defers if in_file(file, d) or d.parent != body):
        return True
    if depth == 0:
        return False
    for call in calls_in(file, body).get("call", []):
        function = call.child_by_field_name("function")
        if function is None or (call.parent is not None and call.parent.type == "defer_statement"):
            continue  # deferred helpers are judged above
        callees = [b for b in callee_bodies(file, function) or [] if b != body]
        if callees and all(handles_panics(file, helpers, callee, depth - 1) for callee in callees):
            return True  # every function the call may be (one, unless the receiver's type is unknown)
    return False


# -- bodies that should crash -------------------------------------------


def runs_for_the_program(file: File, body: Node) -> bool:
    """An endless loop with no way out, or a server's Serve loop: when it dies the process should too."""
    names = calls_in(file, body).get("name", [])
    for statement in own_statements(body):
        if statement.type == "for_statement" and endless(statement):
            return True
        calls = [n for n in names if statement.start_byte <= n.start_byte < statement.end_byte]  # its own calls
        if any(text(n) in SERVE_LOOPS for n in outside_literals(body, calls)):
            return True
    return False


def endless(loop: Node) -> bool:
    """``for { ... }`` that nothing breaks out of, returns from or jumps out of."""
    body = loop.child_by_field_name("body")
    if any(c.is_named and c != body for c in loop.children if c.type != "comment"):
        return False  # a condition or a clause
    label = (
        loop.parent.child_by_field_name("label") if loop.parent and loop.parent.type == "labeled_statement" else None
    )
    for exit in captures(EXITS, loop).get("exit", []):
        if scopes.enclosing_function(exit) != scopes.enclosing_function(loop):
            continue  # a return in a nested func literal leaves only that literal
        if exit.type != "break_statement":
            return False
        target = exit.named_children[0] if exit.named_children else None
        if target is not None:
            if label is not None and text(target) == text(label):
                return False
            continue  # breaks an inner labelled statement
        if next((a for a in scopes.ancestors(exit) if a.type in BREAKABLE), None) == loop:
            return False
    return True


def exits_the_process(file: File, body: Node) -> bool:
    """``os.Exit``, ``log.Fatal``: the goroutine's job is to end the process on its own failure."""
    for name in calls_in(file, body).get("name", []):
        selector = name.parent
        if text(name) in PROCESS_EXITS and selector is not None and selector.type == "selector_expression":
            operand = text(selector.child_by_field_name("operand"))
            if text(name) != "Exit" or operand in ("os", "syscall"):
                return True
    return False


def is_signal_value(value: Node | None) -> bool:
    """``struct{}{}``, ``true``, ``1``: a send that says "done" and carries no result."""
    if value is None:
        return False
    if value.type == "composite_literal":
        body = value.child_by_field_name("body")
        return body is not None and not body.named_children
    return value.type in ("true", "false", "int_literal")


# -- bodies with nothing to recover -------------------------------------------

# Calls that wait, signal or stop, and cannot panic on bad input:
#   wg.Wait()   wg.Done()   t.Stop()   flag.Store(true)   cancel()   close(ch)
QUIET_METHODS = frozenset({"Wait", "Done", "Stop"})
QUIET_STORES = frozenset({"Store", "Add", "Swap"})
QUIET_VALUES = frozenset({"identifier", "true", "false", "int_literal", "nil"})


def panic_free(file: File, body: Node) -> bool:
    """Nothing but channel operations, waits, timer stops, literal atomic stores and cancel calls.

    ``go func() { wg.Wait(); close(done) }()``, a select that cancels on a
    timeout: nothing in it panics on bad input, so a recover there is noise.
    """
    statements = own_statements(body)
    return bool(statements) and all(quiet_statement(file, s) for s in statements)


def quiet_statement(file: File, statement: Node) -> bool:
    kind = statement.type
    if kind in ("comment", "empty_statement", "break_statement", "continue_statement"):
        return True
    if kind == "return_statement":
        return not statement.named_children
    if kind == "send_statement":
        value = statement.child_by_field_name("value")
        return value is not None and (value.type in QUIET_VALUES or is_signal_value(value))
    if kind == "defer_statement":
        call = next((c for c in statement.named_children if c.type == "call_expression"), None)
        return call is not None and quiet_call(file, call)
    if kind == "select_statement":
        for case in (c for c in statement.named_children if c.type in ("communication_case", "default_case")):
            communication = case.child_by_field_name("communication")
            if communication is not None and communication.type == "send_statement":
                if not quiet_statement(file, communication):
                    return False
            elif communication is not None and not quiet_receive(communication):
                return False
            if not all(quiet_statement(file, s) for s in goroutines.statements(case) if s != communication):
                return False
        return True
    if kind != "expression_statement" or not statement.named_children:
        return False
    inner = statement.named_children[0]
    if inner.type == "unary_expression":
        return quiet_receive(inner)
    return inner.type == "call_expression" and quiet_call(file, inner)


def quiet_receive(node: Node) -> bool:
    """``<-ch``, ``v := <-ch``, ``<-ctx.Done()``: a wait, whatever it receives."""
    if node.type in ("receive_statement", "short_var_declaration", "assignment_statement"):
        right = node.child_by_field_name("right")
        if right is None:
            return False
        node = right.named_children[0] if right.type == "expression_list" and right.named_children else right
    if node.type != "unary_expression" or text(node.child_by_field_name("operator")) != "<-":
        return False
    operand = node.child_by_field_name("operand")
    if operand is not None and operand.type == "call_expression":  # <-ctx.Done()
        function = operand.child_by_field_name("function")
        arguments = operand.child_by_field_name("arguments")
        return (
            function is not None
            and function.type == "selector_expression"
            and text(function.child_by_field_name("field")) == "Done"
            and arguments is not None
            and not arguments.named_children
        )
    return operand is not None and operand.type in ("identifier", "selector_expression")


def quiet_call(file: File, call: Node) -> bool:
    function = call.child_by_field_name("function")
    arguments = call.child_by_field_name("arguments")
    values = arguments.named_children if arguments is not None else []
    if function is None:
        return False
    if function.type == "identifier":
        if text(function) == "close":
            return len(values) == 1 and values[0].type in ("identifier", "selector_expression")
        decl = scopes.resolve(function)
        local = decl is not None and decl.kind != "func"
        return local and not values and "cancel" in text(function).lower()  # a context's CancelFunc
    if function.type != "selector_expression":
        return False
    name = text(function.child_by_field_name("field"))
    operand = function.child_by_field_name("operand")
    if operand is None or is_package(file, operand):
        return False
    if name in QUIET_METHODS:
        return not values
    return name in QUIET_STORES and len(values) == 1 and values[0].type in ("true", "false", "int_literal")


# -- what a recovered panic leaves undone: hand-overs and who waits for them ----

# What a goroutine hands to whoever waits for it, by kind (one pattern each: predicates are per pattern):
#   ch <- v     close(ch)     cancel()     wg.Done()     mu.Unlock()     cond.Broadcast()     w.Close()     <-sem
HANDOFFS = """
(send_statement) @send
(call_expression function: (identifier) @f (#eq? @f "close")) @signal
(call_expression function: (identifier) @c (#match? @c "^cancel")) @signal
(call_expression function: (selector_expression
  field: (field_identifier) @d (#match? @d "^(Done|Release)$"))) @signal
(call_expression function: (selector_expression
  field: (field_identifier) @u (#match? @u "^(Unlock|RUnlock)$"))) @unlock
(call_expression function: (selector_expression
  field: (field_identifier) @w (#match? @w "^(Signal|Broadcast)$"))) @wake
(call_expression function: (selector_expression
  field: (field_identifier) @x (#match? @x "^(Close|CloseWrite|CloseSend)$"))) @close
(call_expression function: (selector_expression
  field: (field_identifier) @e (#match? @e "^(CloseWithError|Commit)$"))) @result
(expression_statement (unary_expression operator: "<-")) @receive
"""

# Receiving values in a loop: v := <-ch, case v := <-ch:, for v := range ch
RECEIVES = """
[
  (receive_statement left: (_)) @value
  (short_var_declaration right: (expression_list (unary_expression operator: "<-"))) @value
  (assignment_statement right: (expression_list (unary_expression operator: "<-"))) @value
  (range_clause) @range
]
"""

HANDOFF_KINDS = ("send", "signal", "unlock", "wake", "close", "result", "receive")


def handoffs(file: File, body: Node) -> dict[str, list[Node]]:
    """HANDOFFS by kind; ``Done()`` and the like only as statements (``<-ctx.Done()`` waits). Read only."""

    def by_kind() -> dict[str, list[Node]]:
        found = dict(handoff_captures(file, body))
        for kind in ("signal", "unlock", "wake"):
            found[kind] = [
                h for h in found.get(kind, []) if h.parent is not None and h.parent.type == "expression_statement"
            ]
        return {kind: found.get(kind, []) for kind in HANDOFF_KINDS}  # not the names captured inside them

    return remembered(file, "handoffs", body, by_kind)


# Every HANDOFFS pattern holds one of these words (``Close`` also stands for CloseWrite, CloseWithError...).
HANDOFF_WORDS = (
    *(b"<-", b"close", b"cancel", b"Done", b"Release"),
    *(b"Unlock", b"Signal", b"Broadcast", b"Close", b"Commit"),
)


def handoff_captures(file: File, body: Node) -> dict[str, list[Node]]:
    """HANDOFFS captured in ``body``, once per file (callers of a callee ask again). Read only."""

    def found() -> dict[str, list[Node]]:
        data = body.text
        if data is not None and not any(word in data for word in HANDOFF_WORDS):
            return {}  # nothing a pattern matches is written in it
        return captures(HANDOFFS, body)

    return remembered(file, "handoff-captures", body, found)


def is_release(receive: Node) -> bool:
    """``<-sem`` after some work gives back a slot; ``<-ctx.Done()`` or ``<-t.C`` only waits."""
    operand = receive.named_children[0].child_by_field_name("operand")
    if operand is None or operand.type not in ("identifier", "selector_expression"):
        return False
    return operand.type == "identifier" or text(operand.child_by_field_name("field")) != "C"


def is_deferred(body: Node, node: Node) -> bool:
    return any(a.type == "defer_statement" for a in scopes.ancestors(node) if scopes.contains(body, a))


def starter_variables_written(go: Node, literal: Node) -> list[str]:
    """Variables of the starting function (not its parameters) that the goroutine writes: its results.

    A write into a part (``m.Error = ...``) may reach the starter through a
    pointer, so it counts; a variable assigned as a whole counts only when the
    starter reads it after the ``go`` (or the ``go`` is in a loop of it).
    """
    names = []
    function = scopes.top_level(literal)
    for decl, uses in scopes.captured(literal).items():
        if decl.kind not in ("var", "result"):
            continue
        in_part = any(scopes.is_write(scopes.whole_operand(use)) and scopes.whole_operand(use) != use for use in uses)
        whole = any(scopes.is_write(use) for use in uses)
        if in_part or (whole and read_after(go, decl, function, literal)):
            names.append(decl.name)
    return names


def read_after(go: Node, decl: scopes.Declaration, function: Node, literal: Node) -> bool:
    """The starter uses the variable after the ``go``, or runs the ``go`` in a loop that uses it."""
    loop = scopes.enclosing(go, scopes.LOOPS)
    for use in scopes.references(decl, function):
        if scopes.contains(literal, use) or use == decl.node:
            continue
        if use.start_byte > go.end_byte or (loop is not None and scopes.contains(loop, use)):
            return True
    return decl.kind == "result"


def consuming_loops(file: File, body: Node) -> list[Node]:
    """Loops of the body that take values from a channel (``for v := range ch``, ``v := <-ch``)."""
    found = captures(RECEIVES, body)
    loops: list[Node] = []
    for node in found.get("value", []):
        loop = scopes.enclosing(node, scopes.LOOPS)
        if loop is not None and loop not in loops:
            loops.append(loop)
    for clause in found.get("range", []):
        operand = clause.child_by_field_name("right")
        loop = clause.parent
        if operand is not None and loop is not None and loop not in loops and is_channel(file, operand):
            loops.append(loop)
    return loops


def joined_by_starter(go: Node, body: Node) -> bool:
    """A join after the ``go`` (``wg.Wait()``, ``<-done``, ranging over a channel) on something the goroutine uses."""
    used = {text(n) for part in (go, body) for n in captures(NAMES, part).get("n", [])}
    child = go
    for ancestor in scopes.ancestors(go):
        if ancestor.type == "statement_list":
            later = [s for s in ancestor.named_children if s.start_byte >= child.end_byte]
            if any(concurrency.is_join(s) and joined_names(s) & used for s in later):
                return True
        if ancestor.type in scopes.FUNCTIONS:
            return False
        child = ancestor
    return False


NAMES = "[(identifier) (field_identifier)] @n"


def semaphore_fill(file: File, go: Node, body: Node) -> Node | None:
    """``for n := cap(sem); n > 0; n-- { sem <- token{} }`` after the ``go``, on a ``sem`` the goroutine releases.

    Taking every slot back is a join: it ends only when each goroutine has
    given its slot back with ``<-sem``.
    """
    released = {
        text(r.named_children[0].child_by_field_name("operand"))
        for r in handoff_captures(file, body).get("receive", [])
        if is_release(r)
    }
    if not released:
        return None
    starter = scopes.top_level(go)
    for send in captures("(send_statement) @s", starter).get("s", []):
        loop = scopes.enclosing(send, scopes.LOOPS, stop=())
        if (
            send.start_byte > go.end_byte
            and text(send.child_by_field_name("channel")) in released
            and loop is not None
            and not scopes.contains(loop, go)
        ):
            return send
    return None


def joined_names(statement: Node) -> set[str]:
    """What a join statement waits on, by its last name: ``wg`` for ``s.wg.Wait()``, ``done`` for ``<-done``."""
    targets = [m["channel"][0] for m in matches(concurrency.JOINS, statement) if "channel" in m]
    targets += [m["join"][0].child_by_field_name("function") for m in matches(concurrency.JOINS, statement)]
    targets = [
        t.child_by_field_name("operand")
        if t is not None and t.type == "selector_expression" and text(t.child_by_field_name("field")) == "Wait"
        else t
        for t in targets
    ]
    targets += captures("(range_clause right: (_) @ch)", statement).get("ch", [])
    names = set()
    for target in targets:
        while target is not None and target.type in ("index_expression", "parenthesized_expression"):
            target = target.child_by_field_name("operand") or next(iter(target.named_children), None)
        if target is not None and target.type == "selector_expression":
            target = target.child_by_field_name("field")
        if target is not None and target.type in ("identifier", "field_identifier"):
            names.add(text(target))
    return names
